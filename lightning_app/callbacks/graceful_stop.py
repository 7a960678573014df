"""Ctrl-C, SIGTERM and SLURM's requeue signal stop a run at an optimizer-step boundary, with `last.ckpt` written.

A signal only sets a flag. The run goes on to the end of the optimizer step in progress (every micro-batch of the
gradient-accumulation window), writes `last.ckpt` there, and exits with status 128 + the signal number. A
checkpoint taken inside an accumulation window would record loader batches whose gradients were never applied,
and resuming from it would skip them; at the boundary, `--ckpt_path last` resumes to bit-identical weights.
SIGTERM is what `kill`, `timeout`, Kubernetes and SLURM preemption send. A second Ctrl-C aborts at once.
Under SLURM, the requeue signal (SIGUSR1 by default, `#SBATCH --signal=SIGUSR1@90`) also requeues the job.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import lightning as L
from lightning.pytorch.plugins.environments import SLURMEnvironment
from lightning.pytorch.utilities import rank_zero_info


class StopRequested(Exception):
    """A stop signal was honoured at an optimizer-step boundary; `last.ckpt` is on disk."""

    def __init__(self, signum: int, path: Path, step: int):
        super().__init__(f"Stopped by {signal.Signals(signum).name} at step {step}; saved {path}. Resume with the "
                         "same command and --ckpt_path last.")
        self.signum, self.path, self.step = signum, path, step


class GracefulStop(L.Callback):
    """See the module docstring. Installed for the duration of training only; previous handlers are restored.

    A signal the process was started with as ignored (SIGINT in a background job) stays ignored.
    """

    def __init__(self):
        self._previous: dict[int, object] = {}
        self._requested: int | None = None
        self._step_at_start = 0

    def _signals(self, trainer: L.Trainer) -> list[int]:
        signals = [signal.SIGINT, signal.SIGTERM]
        environment = getattr(trainer.strategy, "cluster_environment", None)
        if isinstance(environment, SLURMEnvironment) and environment.auto_requeue:
            signals.append(environment.requeue_signal or signal.SIGUSR1)
        return signals

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._requested = None
        for signum in self._signals(trainer):
            current = signal.getsignal(signum)
            if current == signal.SIG_IGN:
                continue
            self._previous[signum] = current
            signal.signal(signum, self._request)

    def _request(self, signum: int, frame) -> None:
        if self._requested is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # the second Ctrl-C: abort now, without a checkpoint
        self._requested = signum
        rank_zero_info(f"Received {signal.Signals(signum).name}: finishing this optimizer step, then saving last.ckpt "
                       "and stopping (Ctrl-C again aborts at once).")

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:
        self._step_at_start = trainer.global_step

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch,
                           batch_idx: int) -> None:
        if trainer.global_step == self._step_at_start:
            return  # inside an accumulation window: the optimizer has not stepped yet
        requested = self._requested is not None
        if trainer.world_size > 1:  # every rank stops at the same step, or none does
            requested = trainer.strategy.reduce_boolean_decision(requested, all=False)
        if not requested:
            return
        signum = self._requested or signal.SIGTERM
        path = self._last_checkpoint_path(trainer)
        trainer.save_checkpoint(path)
        if signum not in (signal.SIGINT, signal.SIGTERM) and trainer.is_global_zero:
            _requeue()
        raise StopRequested(signum, path, trainer.global_step)

    @staticmethod
    def _last_checkpoint_path(trainer: L.Trainer) -> Path:
        callback = trainer.checkpoint_callback
        if callback is not None and callback.dirpath:
            return Path(callback.dirpath) / "last.ckpt"
        return Path(trainer.log_dir or trainer.default_root_dir) / "checkpoints" / "last.ckpt"

    def _restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._restore()

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self._restore()


def _requeue() -> None:
    job = os.environ.get("SLURM_ARRAY_JOB_ID", os.environ.get("SLURM_JOB_ID"))
    if job:
        task = os.environ.get("SLURM_ARRAY_TASK_ID")
        subprocess.run(["scontrol", "requeue", f"{job}_{task}" if task else job], check=False)
