"""A fit holds its run's version directory, and any fixed `ModelCheckpoint.dirpath`, while it writes into them: a
second fit into the same place at the same time (a restarted job racing the old one, two runs of one config with a
fixed dirpath) stops with one sentence instead of overwriting its checkpoints."""

from __future__ import annotations

import os
from pathlib import Path

from lightning.pytorch.utilities.rank_zero import rank_zero_only

from foundation.errors import ConfigError

try:
    import fcntl
except ImportError:  # not on Windows: runs there are not locked
    fcntl = None


class RunLock:
    """An exclusive `flock` on a directory; released by `release()`, or when collected. `made`: the directory was
    created for the lock, and is removed again on release if nothing was written into it."""

    def __init__(self, descriptor: int, made: Path | None = None):
        self.descriptor: int | None = descriptor
        self.made = made

    def release(self) -> None:
        if self.descriptor is not None:
            os.close(self.descriptor)  # closing the descriptor drops the lock
            self.descriptor = None
            if self.made is not None and self.made.is_dir() and not any(self.made.iterdir()):
                self.made.rmdir()

    __del__ = release


def hold_run(run_dir: Path) -> RunLock | None:
    """A lock on a run's version directory while a fit writes into it (rank 0 only; the kernel drops it when the
    process ends, even by SIGKILL), or one sentence when another process holds it: two fits writing one run would
    overwrite each other's `last.ckpt` and mix their logs."""
    return _hold(run_dir, f"--ckpt_path: {run_dir} is being trained by another process right now; wait for it to "
                          "finish (or stop it: it saves last.ckpt), then resume with --ckpt_path last.")


def hold_checkpoint_dir(dirpath: Path) -> RunLock | None:
    """The same for a fixed `ModelCheckpoint.dirpath` (created here if missing): two fits started at once would
    otherwise both write into it, the second one's `last.ckpt` as `last-v1.ckpt`, which `--ckpt_path last` never
    finds."""
    made = None if dirpath.exists() else dirpath
    if fcntl is not None and rank_zero_only.rank == 0:
        dirpath.mkdir(parents=True, exist_ok=True)
    lock = _hold(dirpath, f"ModelCheckpoint dirpath {dirpath} is being written by another fit right now; give this "
                          "run its own dirpath, or wait for that fit to finish.")
    if lock is not None:
        lock.made = made
    return lock


def _hold(directory: Path, refusal: str) -> RunLock | None:
    if fcntl is None or rank_zero_only.rank != 0:
        return None
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(descriptor)
        raise ConfigError(refusal) from None
    return RunLock(descriptor)


def release_run_locks(loggers) -> None:
    """Release the locks `run_dirs.claim_versions_atomically` took for these loggers' new versions (the fit is
    over)."""
    for logger in loggers:
        lock = getattr(logger.__dict__.get("_get_next_version"), "lock", None)
        if lock is not None:
            lock.release()
