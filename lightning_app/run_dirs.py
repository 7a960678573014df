"""Find a run's checkpoints from `--ckpt_path last|best`, across separate invocations of the CLI.

Lightning resolves "last"/"best" only inside the process that trained. Here a new process looks in the newest
`<save_dir>/<name>/version_*/checkpoints/` of the configured TensorBoard logger, and a resumed `fit` continues
logging into that same version directory instead of starting a new one.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from lightning_app.errors import ConfigError


def read_checkpoint(path: str | Path) -> dict:
    """A checkpoint opened memory-mapped: these checks read its metadata and tensor shapes, not its weights, so a
    large checkpoint costs little before Lightning loads it for real."""
    return torch.load(path, map_location="cpu", weights_only=False, mmap=True)


def versions(run_root: Path) -> list[Path]:
    """`version_N` directories under `run_root`, oldest first."""
    found = [p for p in run_root.glob("version_*") if re.fullmatch(r"version_\d+", p.name)]
    return sorted(found, key=lambda p: int(p.name.split("_")[1]))


def find_checkpoint(run_root: Path, which: str) -> tuple[Path, Path]:
    """(checkpoint file, its version dir) for `which` in {"last", "best"} of the newest run that has one."""
    for version in reversed(versions(run_root)):
        last = version / "checkpoints" / "last.ckpt"
        if not last.exists():
            continue
        if which == "last":
            return last, version
        best = _best_from(last)
        if best is not None:
            return best, version
    raise ConfigError(f"--ckpt_path {which}: no checkpoint found under {run_root}/version_*/checkpoints; train first "
                      "with `fit`, or pass the path of a .ckpt file.")


def _best_from(last: Path) -> Path | None:
    state = read_checkpoint(last)
    for key, value in state.get("callbacks", {}).items():
        if key.startswith("ModelCheckpoint") and value.get("best_model_path"):
            best = Path(value["best_model_path"])
            if not best.is_absolute() and not best.exists():
                best = last.parent / best.name
            return best if best.exists() else None
    return None


def refuse_to_overwrite(trainer_config) -> None:
    """A fresh `fit` must not write into a directory that already holds another run's checkpoints or logs.

    TensorBoardLogger picks a new `version_N` by itself; this catches an explicit `version` or a fixed
    `ModelCheckpoint.dirpath` that would otherwise mix two runs' files (or replace `last.ckpt`).
    """
    logger = trainer_config.get("logger")
    init = getattr(logger, "init_args", None)
    if init is not None and init.get("version") is not None and "save_dir" in init:
        version = init.version if isinstance(init.version, str) else f"version_{init.version}"
        run_dir = Path(init.save_dir) / (init.get("name") or "lightning_logs") / version
        if run_dir.is_dir() and any(run_dir.iterdir()):
            raise ConfigError(f"--trainer.logger.init_args.version: {run_dir} already holds a run; drop the version "
                              "to start a new one, or pass --ckpt_path last to resume it.")
    for callback in trainer_config.get("callbacks") or []:
        dirpath = getattr(getattr(callback, "init_args", None), "dirpath", None)
        if dirpath and Path(dirpath).is_dir() and any(Path(dirpath).glob("*.ckpt")):
            raise ConfigError(f"ModelCheckpoint dirpath {dirpath} already holds checkpoints of another run; choose a "
                              "new dirpath, or pass --ckpt_path last to resume that run.")


def refuse_foreign_checkpoint(ckpt_path: str | Path, model_class_path: str) -> None:
    """A checkpoint must come from the config's model class (compared by class name, so moved modules still load)."""
    state = read_checkpoint(ckpt_path)
    saved_class = state.get("hyper_parameters", {}).get("_class_path")
    if saved_class is None:
        raise ConfigError(f"--ckpt_path {ckpt_path} was not written by this project's CLI (no model class recorded); "
                          "pass a checkpoint from a `python main.py fit` run.")
    if saved_class.rsplit(".", 1)[-1] != model_class_path.rsplit(".", 1)[-1]:
        raise ConfigError(f"--ckpt_path {ckpt_path} holds a {saved_class}, but the config builds a {model_class_path}; "
                          "pass a checkpoint of this config's model, or the config that trained it.")


def check_checkpoint_fits(model, ckpt_path: str | Path) -> None:
    """Refuse a checkpoint whose weights do not fit the built model, before Lightning dumps state-dict errors."""
    state = read_checkpoint(ckpt_path)
    expected = model.state_dict()
    for name, tensor in state.get("state_dict", {}).items():
        if name in expected and expected[name].shape != tensor.shape:
            raise ConfigError(f"--ckpt_path {ckpt_path}: {name} has shape {tuple(tensor.shape)} in the checkpoint but "
                              f"{tuple(expected[name].shape)} in this config's model; pass the config that trained "
                              "the checkpoint.")
    missing = [name for name in expected if name not in state.get("state_dict", {})]
    if missing:
        raise ConfigError(f"--ckpt_path {ckpt_path} lacks {len(missing)} of this model's weights (e.g. {missing[0]}); "
                          "pass a checkpoint of this config's model.")
