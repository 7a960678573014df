"""Reading checkpoints safely: files people download from the internet are hostile until proven otherwise.

A `.ckpt` is a pickle, and unpickling can run code. Every checkpoint this project reads goes through
`load_checkpoint`, which uses `torch.load(weights_only=True)`: tensors and plain data only. Our own checkpoints
need nothing else (tests/lightning_app/test_safe_checkpoint_loading.py loads a real one that way), so the allow-list
of extra types is
empty; a checkpoint that needs any other Python object is refused with one sentence, without running it.

A checkpoint written by an older Lightning release (renamed loop-state keys, ...) is upgraded in memory by
Lightning's own migration, as its Trainer does on resume, so that everything reading it here sees one layout.
Lightning's `pl_legacy_patch` is not needed: it redirects classes for the full unpickler, which
`weights_only=True` never runs (legacy pickled classes are refused above like any other object).
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import lightning
import torch
from lightning.pytorch.utilities.migration import migrate_checkpoint

from foundation.errors import ConfigError

_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")


def load_checkpoint(path: str | Path, option: str = "--ckpt_path", mmap: bool = True) -> dict:
    """The checkpoint at `path`, loaded with `weights_only=True` (memory-mapped: inspecting metadata and shapes
    reads little of a large file); every failure is one `ConfigError` naming the file."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{option} {path} is a directory; pass a .ckpt file (e.g. {path}/checkpoints/last.ckpt).")
    if not path.is_file():
        raise ConfigError(f"{option} {path} does not exist; pass an existing .ckpt file, or `last`/`best` for the "
                          "newest run of this config.")
    try:
        state = _torch_load(path, mmap)
    except pickle.UnpicklingError as error:
        found = _GLOBAL.search(str(error))
        what = f" ({found.group(1)})" if found else ""
        raise ConfigError(f"{option} {path} holds Python objects other than tensors and plain data{what}, which could "
                          "run code when loaded; refused. Use a checkpoint written by this project's `fit`.") from None
    except Exception as error:  # truncated zip, a text file, an old pickle cut short: all "not a checkpoint"
        reason = (str(error).split(".")[0] or type(error).__name__)[:80]
        raise ConfigError(f"{option} {path} is not a readable checkpoint ({reason}): it is truncated or was not "
                          "written by torch.save; pass a complete .ckpt file.") from None
    if not isinstance(state, dict) or "state_dict" not in state:
        raise ConfigError(f"{option} {path} is not a Lightning checkpoint (no state_dict); pass a .ckpt file written "
                          "by this project's `fit`.")
    return _migrated(state, path, option)


def _migrated(state: dict, path: Path, option: str) -> dict:
    """`state` upgraded to this Lightning release's layout; one sentence naming both versions when it cannot be."""
    saved = state.get("pytorch-lightning_version")
    if saved is None:  # not written by a Trainer (e.g. a hand-made dict): nothing to migrate
        return state
    try:
        return migrate_checkpoint(state)[0]
    except Exception as error:  # a migration step found keys it did not expect, or a version it cannot parse
        raise ConfigError(f"{option} {path} was written by Lightning {saved} and cannot be migrated to this "
                          f"Lightning {lightning.__version__} ({type(error).__name__}: {str(error)[:80]}); pass the "
                          f"file as Lightning {saved} wrote it, or a checkpoint from this release's `fit`.") from None


def _torch_load(path: Path, mmap: bool) -> object:
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except RuntimeError as error:
        if mmap and "mmap can only be used" in str(error):  # an old (non-zip) file: load it without mmap
            return torch.load(path, map_location="cpu", weights_only=True)
        raise


def class_path_of(state: dict, key: str = "hyper_parameters") -> str | None:
    """The class a checkpoint's model (or data module, key `datamodule_hyper_parameters`) was built from."""
    recorded = state.get("toolkit", {}).get("model_class" if key == "hyper_parameters" else "data_class")
    return state.get(key, {}).get("_class_path") or recorded


def init_args_of(state: dict, key: str = "hyper_parameters") -> dict:
    """The constructor arguments a checkpoint recorded (Lightning's private `_...` entries left out)."""
    return {name: value for name, value in state.get(key, {}).items() if not name.startswith("_")}


def refuse_foreign_checkpoint(state: dict, ckpt_path: str | Path, model_class_path: str) -> None:
    """A checkpoint must come from the config's model class (compared by class name, so moved modules still load)."""
    saved_class = class_path_of(state)
    if saved_class is None:
        raise ConfigError(f"--ckpt_path {ckpt_path} was not written by this project's CLI (no model class recorded); "
                          "pass a checkpoint from a `python main.py fit` run.")
    if saved_class.rsplit(".", 1)[-1] != model_class_path.rsplit(".", 1)[-1]:
        raise ConfigError(f"--ckpt_path {ckpt_path} holds a {saved_class}, but the config builds a {model_class_path}; "
                          "pass a checkpoint of this config's model, or drop --config to use the checkpoint's own "
                          "settings.")


def check_checkpoint_fits(model, ckpt_path: str | Path, state: dict | None = None) -> None:
    """Refuse a checkpoint whose weights do not fit the built model, before Lightning dumps state-dict errors."""
    state = state if state is not None else load_checkpoint(ckpt_path)
    expected = model.state_dict()
    saved = state.get("state_dict", {})
    for name, tensor in saved.items():
        if name in expected and expected[name].shape != tensor.shape:
            raise ConfigError(f"--ckpt_path {ckpt_path}: {name} has shape {tuple(tensor.shape)} in the checkpoint but "
                              f"{tuple(expected[name].shape)} in this config's model; pass the config that trained "
                              "the checkpoint.")
    missing = [name for name in expected if name not in saved]
    if missing:
        raise ConfigError(f"--ckpt_path {ckpt_path} lacks {len(missing)} of this model's weights (e.g. {missing[0]}); "
                          "pass a checkpoint of this config's model.")
