"""Model and data module rebuilt from a checkpoint alone (export, the causal-LM report).

Class paths come from the checkpoint, so only this project's packages are imported and instantiated from it:
a checkpoint cannot make us import or call anything else.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import lightning as L

from foundation.contract import DataFacts, connect
from foundation.errors import ConfigError
from lightning_app.checkpointing.checkpoints import class_path_of, init_args_of
from lightning_app.checkpointing.run_record import recorded_tokenizer_dir

TRUSTED_PACKAGES = ("models", "data_modules")


def trusted_class(class_path: str | None, base: type, ckpt_path: Path, what: str) -> type:
    """The class at `class_path` if it is one of this project's and a subclass of `base`."""
    if not class_path or class_path.split(".", 1)[0] not in TRUSTED_PACKAGES:
        raise ConfigError(f"--ckpt_path {ckpt_path} names the {what} class {class_path!r}, which is not one of this "
                          f"project's ({', '.join(p + '.*' for p in TRUSTED_PACKAGES)}); pass --config with the config "
                          "that trained it.")
    module_name, _, name = class_path.rpartition(".")
    cls = getattr(importlib.import_module(module_name), name, None)
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise ConfigError(f"--ckpt_path {ckpt_path}: {class_path} is not a {base.__name__}; pass a checkpoint written "
                          "by this project's `fit`.")
    return cls


def rebuild(state: dict, ckpt_path: Path) -> tuple[L.LightningModule, L.LightningDataModule, DataFacts]:
    """(model with the checkpoint's weights, in eval mode; its data module; the facts they agreed on)."""
    model_class = trusted_class(class_path_of(state), L.LightningModule, ckpt_path, "model")
    data_class = trusted_class(class_path_of(state, "datamodule_hyper_parameters"), L.LightningDataModule, ckpt_path,
                               "data")
    data_args = init_args_of(state, "datamodule_hyper_parameters")
    tokenizer_dir = recorded_tokenizer_dir(state)
    if tokenizer_dir is not None:
        data_args["tokenizer"] = str(tokenizer_dir)
        if data_args.get("train_tokenizer"):
            data_args["train_tokenizer"] = False
    model = model_class(**init_args_of(state))
    data = data_class(**data_args)
    facts = connect(model, data)
    model.load_state_dict(state["state_dict"])
    return model.eval(), data, facts
