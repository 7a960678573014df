"""A fit holds its run's version directory while it writes into it: a second fit resuming the same run at the same
time (a restarted job racing the old one) stops with one sentence instead of overwriting its `last.ckpt`."""

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
    """An exclusive `flock` on a run's version directory; released by `release()`, or when collected."""

    def __init__(self, descriptor: int):
        self.descriptor: int | None = descriptor

    def release(self) -> None:
        if self.descriptor is not None:
            os.close(self.descriptor)  # closing the descriptor drops the lock
            self.descriptor = None

    __del__ = release


def hold_run(run_dir: Path) -> RunLock | None:
    """A lock on a run's version directory while a fit writes into it (rank 0 only; the kernel drops it when the
    process ends, even by SIGKILL), or one sentence when another process holds it: two fits writing one run would
    overwrite each other's `last.ckpt` and mix their logs."""
    if fcntl is None or rank_zero_only.rank != 0:
        return None
    descriptor = os.open(run_dir, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(descriptor)
        raise ConfigError(f"--ckpt_path: {run_dir} is being trained by another process right now; wait for it to "
                          "finish (or stop it: it saves last.ckpt), then resume with --ckpt_path last.") from None
    return RunLock(descriptor)


def release_run_locks(loggers) -> None:
    """Release the locks `run_dirs.claim_versions_atomically` took for these loggers' new versions (the fit is
    over)."""
    for logger in loggers:
        lock = getattr(logger.__dict__.get("_get_next_version"), "lock", None)
        if lock is not None:
            lock.release()
