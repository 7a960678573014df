"""A checkpoint's recorded settings become the config: `validate --ckpt_path X` needs nothing else.

Precedence, lowest first: `--config` files < the checkpoint's model and data settings < options typed on the
command line. Where a config file's data setting differs from the run's and the user did not type it, the run's
setting is used and one warning line names each difference, so a run is never scored on the demo data by accident.
"""

from __future__ import annotations

import json
from pathlib import Path

from foundation.errors import ConfigError
from lightning_app.checkpoints import class_path_of, init_args_of, refuse_foreign_checkpoint
from lightning_app.command_line import CommandLine
from lightning_app.rebuild import TRUSTED_PACKAGES
from lightning_app.run_dirs import find_checkpoint
from lightning_app.run_record import recorded_tokenizer_dir

PATH_OPTIONS = ("_file", "data_dir", "tokenizer", "cache_dir")


def resolve_ckpt_path(value: str, configured) -> Path:
    """`last`/`best` of the newest run of the configured logger, or the path given."""
    if value not in ("last", "best"):
        return Path(value)
    if configured is None:
        raise ConfigError(f"--ckpt_path {value} needs --config to know where the runs are; pass the path of a .ckpt "
                          "file instead.")
    logger = configured.trainer.get("logger")
    init = getattr(logger, "init_args", None)
    if init is None or "save_dir" not in init:
        raise ConfigError(f"--ckpt_path {value} needs a TensorBoardLogger in the config (trainer.logger) to know where "
                          "the run lives; pass the path of a .ckpt file instead.")
    return find_checkpoint(Path(init.save_dir) / (init.get("name") or "lightning_logs"), value)


def checkpoint_settings(state: dict, path: Path, configured, line: CommandLine) -> tuple[list[str], list[str]]:
    """(`--model`/`--data` arguments carrying the checkpoint's settings, the differences worth a warning)."""
    model_class = class_path_of(state)
    data_class = class_path_of(state, "datamodule_hyper_parameters")
    if model_class is None:
        raise ConfigError(f"--ckpt_path {path} was not written by this project's CLI (no model class recorded); "
                          "pass a checkpoint from a `python main.py fit` run.")
    if configured is not None:
        refuse_foreign_checkpoint(state, path, configured.model.class_path)
    config_classes = {getattr(configured, section).class_path for section in ("model", "data")} if configured else set()
    for recorded in (model_class, data_class):
        if recorded is not None and recorded not in config_classes and recorded.split(".")[0] not in TRUSTED_PACKAGES:
            raise ConfigError(f"--ckpt_path {path} names the class {recorded!r}, which is not one of this project's "
                              "(models.*, data_modules.*); pass --config with the config that trained it.")
    args = ["--model", json.dumps({"class_path": model_class, "init_args": init_args_of(state)})]
    differences: list[str] = []
    if data_class is not None:
        data_args = init_args_of(state, "datamodule_hyper_parameters")
        if configured is not None:
            differences = _data_differences(configured.data, data_class, data_args, line)
        tokenizer_dir = recorded_tokenizer_dir(state)
        if tokenizer_dir is not None and not line.typed("data.tokenizer"):
            data_args["tokenizer"] = str(tokenizer_dir)  # exactly the tokenizer the run used, trained or loaded
            if data_args.get("train_tokenizer"):
                data_args["train_tokenizer"] = False
        args += ["--data", json.dumps({"class_path": data_class, "init_args": data_args})]
    elif configured is None:
        raise ConfigError(f"--ckpt_path {path} records no data module; pass --config (or --data) with the data to "
                          "score.")
    if differences:
        differences = [f"--ckpt_path {path.name} was trained with other data settings than the config; using the "
                       f"run's {', '.join(differences)} (type an option to override it)"]
    return args, differences


def _data_differences(configured_data, data_class: str, recorded: dict, line: CommandLine) -> list[str]:
    """`name=run value (config: value)` for each data setting where the config differs from the run."""
    if line.typed("data"):
        return []
    found = []
    if configured_data.class_path.rsplit(".", 1)[-1] != data_class.rsplit(".", 1)[-1]:
        found.append(f"data class {data_class} (config: {configured_data.class_path})")
        return found
    config_args = dict(configured_data.get("init_args") or {})
    for name, value in recorded.items():
        if line.typed(f"data.{name}") or name not in config_args:
            continue
        if _normalized(name, value) != _normalized(name, config_args[name]):
            found.append(f"{name}={value} (config: {config_args[name]})")
    return found


def _normalized(name: str, value):
    if isinstance(value, str) and name.endswith(PATH_OPTIONS):
        return str(Path(value).expanduser().absolute())
    if isinstance(value, tuple):
        return list(value)
    return value
