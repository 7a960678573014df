"""Run directories: find a run's checkpoints from `--ckpt_path last|best`, never overwrite a run (not even one
started at the same moment, or resumed twice at once), and put evaluation results into the run that produced the
checkpoint.

Lightning resolves "last"/"best" only inside the process that trained. Here a new process looks in the newest
`<save_dir>/<name>/version_*/checkpoints/` of the configured TensorBoard logger; a resumed `fit` continues logging
into the checkpoint's own version directory (a new one beside it when the run went on past the checkpoint), and
`validate`/`test`/`predict` write their results into its `evaluations/` folder instead of opening a new version.
A fit holds a lock on its version directory while it runs (`run_lock`), so a second fit cannot resume into it.
"""

from __future__ import annotations

import re
import sys
import tempfile
from itertools import takewhile
from pathlib import Path

from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities.rank_zero import rank_zero_only

from foundation.errors import ConfigError
from lightning_app.checkpointing.checkpoints import load_checkpoint
from lightning_app.checkpointing.run_lock import hold_run

_VERSION = re.compile(r"version_(\d+)")


def versions(run_root: Path) -> list[Path]:
    """`version_N` directories under `run_root`, oldest first."""
    found = [p for p in run_root.glob("version_*") if _VERSION.fullmatch(p.name)]
    return sorted(found, key=lambda p: int(p.name.split("_")[1]))


def claim_version(run_root: Path) -> int:
    """The number of a new `version_N` directory under `run_root`, created here by an exclusive `mkdir`: when
    another process creates the same one first, the next number is tried, so runs started at once never share one."""
    run_root.mkdir(parents=True, exist_ok=True)
    existing = versions(run_root)
    number = int(existing[-1].name.split("_")[1]) + 1 if existing else 0
    while True:
        try:
            (run_root / f"version_{number}").mkdir()
            return number
        except FileExistsError:
            number += 1


def claim_versions_atomically(loggers) -> None:
    """Make each TensorBoardLogger without a fixed version claim it with `claim_version` when it first needs it.

    Lightning's `_get_next_version` lists the directories and picks the next number, and creates the directory only
    only after the data is prepared: two fits started at once both chose `version_0` (issue #22). The private method
    is replaced on the instance; tests/end_to_end/test_concurrent_runs.py fails if Lightning stops calling it. The
    directory
    now exists from that first question (the profiler's set-up); `release_unused_claims` removes it again if the
    run stops before writing into it."""
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger) and logger._version is None and "://" not in str(logger.root_dir):
            logger._get_next_version = _claiming(logger)


def _claiming(logger: TensorBoardLogger):
    listed = logger._get_next_version

    def claimed() -> int:
        if rank_zero_only.rank != 0:  # other ranks get rank 0's directory through Lightning's broadcasts
            return listed()
        root = Path(logger.root_dir)
        missing = list(takewhile(lambda p: not p.exists(), (root, *root.parents)))
        number = claim_version(root)
        claimed.created = [root / f"version_{number}", *missing]  # deepest first
        claimed.lock = hold_run(root / f"version_{number}")  # until the fit is over (`release_run_locks`)
        return number

    claimed.created = []
    return claimed


def later_resume_point(folder: Path, ckpt_path: str | Path, step: int) -> Path | None:
    """`folder`'s `last.ckpt` when it is another file than `ckpt_path`, saved at a later step (or unreadable): a fit
    resumed from `ckpt_path` that writes into `folder` would overwrite it."""
    last = Path(folder) / "last.ckpt"
    if not last.is_file() or last.samefile(ckpt_path):
        return None
    try:
        return last if load_checkpoint(last).get("global_step", -1) > step else None
    except ConfigError:  # cut short or foreign: not worth keeping, but not ours to replace either
        return last


def release_unused_claims(loggers) -> None:
    """Remove the version directory claimed above, and the folders made for it, when the run stopped before writing
    anything there (Lightning asks for the version before the data is prepared, so a bad input fails after the
    claim): a run that failed on bad input leaves nothing behind. A directory someone wrote into is kept."""
    for logger in loggers:
        for directory in getattr(logger.__dict__.get("_get_next_version"), "created", ()):
            try:
                directory.rmdir()
            except OSError:  # not empty: this run's files, or another run's version
                break


def find_checkpoint(run_root: Path, which: str, flat: bool = False) -> Path:
    """The checkpoint file for `which` in {"last", "best"} of the newest run under `run_root` that has one; `flat`:
    `run_root` is itself the checkpoint folder (a ModelCheckpoint `dirpath`, or a run without a logger)."""
    folders = [run_root] if flat else [version / "checkpoints" for version in reversed(versions(run_root))]
    for folder in folders:
        last = folder / "last.ckpt"
        if not last.exists():
            continue
        if which == "last":
            return last
        best = best_in(folder)
        if best is None:  # never another run's best in its place: scores of two runs are not comparable
            run = folder if flat else folder.parent
            raise ConfigError(f"--ckpt_path best: the newest run with a checkpoint, {run}, records no best checkpoint "
                              "that still exists (its best file was removed, or nothing is monitored); pass the path "
                              "of a .ckpt file, or --ckpt_path last.")
        return best
    where = run_root if flat else f"{run_root}/version_*/checkpoints"
    raise ConfigError(f"--ckpt_path {which}: no checkpoint found under {where}; train first with `fit`, or pass the "
                      "path of a .ckpt file.")


def newest_record(folder: Path) -> dict | None:
    """The state of the newest readable checkpoint in `folder` (highest step, then newest file): the one whose
    ModelCheckpoint records are current. A run validated at its last step saves `best` after `last.ckpt` was written
    at that step, so only the later file knows it. An unreadable file (a copy cut short) is skipped, with a line."""
    states = []
    for path in folder.glob("*.ckpt"):
        try:
            state = load_checkpoint(path, "--ckpt_path best")
        except ConfigError as error:
            if rank_zero_only.rank == 0:
                print(f"warning: skipped {path} while looking for the run's best checkpoint: {error}", file=sys.stderr)
            continue
        states.append(((state.get("global_step", -1), path.stat().st_mtime), state))
    return max(states, key=lambda item: item[0])[1] if states else None


def best_in(folder: Path, record: dict | None = None) -> Path | None:
    """The best checkpoint file `folder`'s newest record (`record`, when the caller read it already) names, if it still
    exists. Looked up by name in `folder` first: a run directory moved or copied elsewhere records the old absolute
    path."""
    record = newest_record(folder) if record is None else record
    for key, value in (record or {}).get("callbacks", {}).items():
        if key.startswith("ModelCheckpoint") and value.get("best_model_path"):
            recorded = Path(value["best_model_path"])
            for candidate in (folder / recorded.name, recorded):
                if candidate.is_file():
                    return candidate
            return None
    return None


def run_of(ckpt_path: str | Path) -> tuple[Path, str, int] | None:
    """(save_dir, name, version) when the checkpoint sits in `<save_dir>/<name>/version_N/checkpoints/`."""
    path = Path(ckpt_path).absolute()
    if path.parent.name != "checkpoints":
        return None
    match = _VERSION.fullmatch(path.parent.parent.name)
    if match is None:
        return None
    return path.parents[3], path.parents[2].name, int(match.group(1))


def evaluation_dir(ckpt_path: str | Path) -> Path:
    """Where `validate`/`test`/`predict` of a checkpoint write: its run's `evaluations/`, else beside the file."""
    run = run_of(ckpt_path)
    return (run[0] / run[1] / f"version_{run[2]}" / "evaluations") if run else Path(ckpt_path).absolute().parent


def check_writable(directory: Path, option: str) -> None:
    """One sentence when `directory` cannot be created and written (a file in the way, no permission, a read-only
    filesystem). Probes the nearest existing ancestor with a temporary file, so nothing is left behind."""
    existing = directory.absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"{option}: {existing} is a file, not a directory; pass a directory.")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise ConfigError(f"{option}: {existing} is not writable ({error.strerror}); pass a directory you can write "
                          "to (e.g. --trainer.default_root_dir runs).") from None


def fixed_dirpaths(trainer_config) -> list[Path]:
    """The `dirpath`s the config's callbacks fix (a ModelCheckpoint's), each once."""
    return list(dict.fromkeys(Path(dirpath) for callback in trainer_config.get("callbacks") or []
                              if (dirpath := getattr(getattr(callback, "init_args", None), "dirpath", None))))


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
    for dirpath in fixed_dirpaths(trainer_config):
        if dirpath.is_dir() and any(dirpath.glob("*.ckpt")):
            raise ConfigError(f"ModelCheckpoint dirpath {dirpath} already holds checkpoints of another run; choose a "
                              "new dirpath, or pass --ckpt_path last to resume that run.")


def refuse_to_rewind(trainer_config, ckpt_path: str | Path, step: int) -> None:
    """A fit resumed from an earlier checkpoint must not write over a fixed `ModelCheckpoint.dirpath` whose
    `last.ckpt` went on past it (a run folder gets a new version instead: `BertCLI._resume_into`)."""
    for dirpath in fixed_dirpaths(trainer_config):
        later = later_resume_point(dirpath, ckpt_path, step)
        if later is not None:
            raise ConfigError(f"--ckpt_path {ckpt_path}: ModelCheckpoint dirpath {dirpath} holds a later last.ckpt, "
                              "which this resumed run would overwrite; give it its own dirpath, or pass --ckpt_path "
                              f"{later} to continue the run where it stopped.")
