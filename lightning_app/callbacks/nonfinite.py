"""Stop (or skip the step) on a NaN/inf training loss, before it is applied."""

from __future__ import annotations

from typing import Literal

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_warn


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN/inf loss and the guard was set to stop."""


class NonFiniteLossGuard(L.Callback):
    """Stops the run (or skips the optimizer step) when the training loss is NaN or infinite.

    Stopping raises before the bad step is applied and before any checkpoint is written, so the last checkpoint on
    disk is the last good one; the message names the step and batch.

    Args:
        action: "stop" ends the run with a message; "skip" drops that optimizer step's gradients and goes on.
    """

    def __init__(self, action: Literal["stop", "skip"] = "stop"):
        self.action = action
        self.skipped = 0
        self._bad_batch: int | None = None
        self._batch_idx = 0

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:
        self._batch_idx = batch_idx

    def on_before_backward(self, trainer: L.Trainer, pl_module: L.LightningModule, loss: torch.Tensor) -> None:
        if torch.isfinite(loss).all():
            return
        where = f"step {trainer.global_step} (epoch {trainer.current_epoch}, batch {self._batch_idx})"
        if self.action == "stop":
            last = getattr(trainer.checkpoint_callback, "last_model_path", "") or "none written yet"
            raise NonFiniteLossError(f"train/loss is {loss.item()} at {where}; stopped before applying it (last good "
                                     f"checkpoint: {last}). Lower the learning rate, check the data, or pass "
                                     "--nonfinite_loss.action skip.")
        self._bad_batch = self._batch_idx
        self.skipped += 1
        rank_zero_warn(f"train/loss is {loss.item()} at {where}; skipping this optimizer step.")

    def on_after_backward(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._bad_batch is not None:
            for parameter in pl_module.parameters():
                parameter.grad = None  # AdamW leaves parameters without gradients untouched
            self._bad_batch = None
