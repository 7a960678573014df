"""The one way a model's network is built: from a pretrained directory (or hub id, or the embedded MiniLM), or
from a config dict of random weights — never both, so a run never silently mixes the two."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from foundation.errors import ConfigError
from foundation.hub import EMBEDDED_MODEL_ID, resolve_pretrained


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' loading warnings and progress bars: the caller reports what matters in one line
    (e.g. "a fresh MLM head was initialised") instead of a screen of "weights not initialized" lines."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        hf_logging.enable_progress_bar()


def build_network(model_class, pretrained_model: str | None, model_config: dict | None, **overrides):
    """(network, names of freshly initialised top-level modules, its directory or None).

    Args:
        model_class: an `AutoModelFor...` class, or a concrete `PreTrainedModel` class.
        pretrained_model: local directory or hub id; None = the embedded all-MiniLM-L6-v2 (unless `model_config`).
        model_config: `{model_type: bert, hidden_size: ..., ...}` for random weights.
        overrides: config fields forced either way (e.g. `num_labels`, `is_decoder=True`).
    """
    from transformers import AutoConfig

    if model_config is not None:
        model_config = {name: _typed_scalar(value) for name, value in model_config.items()}
        check_dropouts(model_config)
        if pretrained_model is not None:
            raise ConfigError("--model.pretrained_model and --model.model_config are both set; pass one of them "
                              "(model_config builds random weights; add --model.model_config null to load the "
                              "pretrained model).")
        settings = {**model_config, **overrides}
        model_type = settings.pop("model_type", "bert")
        _check_fields(model_type, [name for name in model_config if name != "model_type"])
        try:
            config = AutoConfig.for_model(model_type, **settings)
            make = getattr(model_class, "from_config", model_class)  # Auto classes: from_config; concrete: the class
            return make(config), [], None
        except ValueError as error:  # transformers' own check, e.g. hidden size not a multiple of the heads
            raise ConfigError(f"--model.model_config: {str(error).strip().rstrip('.')}; fix that field.") from None
    directory = resolve_pretrained(pretrained_model, "--model.pretrained_model")
    try:
        with quiet_transformers():
            network, info = model_class.from_pretrained(str(directory), output_loading_info=True, **overrides)
    except OSError:  # transformers' "no file named model.safetensors, or pytorch_model.bin" (config.json alone)
        raise ConfigError(f"--model.pretrained_model={pretrained_model!r} has no loadable weights (model.safetensors "
                          "or pytorch_model.bin); pass a directory written by `save_pretrained`.") from None
    fresh = sorted({key.split(".")[0] for key in info["missing_keys"]})
    return network, fresh, directory


def own_tokenizer_dir(pretrained_model: str | None, model_config: dict | None) -> str | None:
    """The tokenizer that belongs to a pretrained model's weights (its directory), or None: the embedded model's
    tokenizer is the data's default anyway, and random weights have no tokenizer of their own."""
    if model_config is not None or pretrained_model in (None, EMBEDDED_MODEL_ID):
        return None
    return str(resolve_pretrained(pretrained_model, "--model.pretrained_model"))


def check_dropouts(model_config: dict) -> None:
    """Every dropout-like field of a config dict (hidden_dropout_prob, attention_dropout, ...) is a probability."""
    for name, value in model_config.items():
        if "dropout" in name and value is not None and not (isinstance(value, int | float) and 0 <= value < 1):
            raise ConfigError(f"--model.model_config.{name}={value} is not a probability in [0, 1); pass e.g. 0.1 "
                              "(or 0 for no dropout).")


def _typed_scalar(value):
    """`--model.model_config.hidden_size 48` arrives as the text "48": a number or boolean typed that way is one."""
    if not isinstance(value, str):
        return value
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return {"true": True, "false": False, "null": None}.get(value.lower(), value)


def _check_fields(model_type: str, names: list[str]) -> None:
    """One sentence for a field the model type's config does not have: transformers would keep a misspelt
    `hiden_size` as an unused attribute and build every other field at its default (a BERT-base)."""
    import difflib
    import inspect

    from transformers import AutoConfig, PretrainedConfig

    try:
        default = AutoConfig.for_model(model_type)
    except ValueError:
        raise ConfigError(f"--model.model_config.model_type={model_type!r} is not a model type transformers knows; "
                          "pass e.g. bert or modernbert.") from None
    known = {*default.to_dict(), *inspect.signature(type(default).__init__).parameters,
             *inspect.signature(PretrainedConfig.__init__).parameters, "num_labels"}
    source = inspect.getsource(type(default))  # fields a config still takes under an older name, from its kwargs
    for name in names:
        if name not in known and not re.search(rf"\b{re.escape(name)}\b", source):
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f"did you mean {close[0]}?" if close else f"see the fields of {type(default).__name__}."
            raise ConfigError(f"--model.model_config.{name} is not a field of {type(default).__name__}; check the "
                              f"spelling: {hint}")
