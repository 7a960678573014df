"""A callback the resume test injects into a real training subprocess to kill it at an exact point."""

import os
import signal

import lightning as L


class KillAtStep(L.Callback):
    """Sends SIGKILL to its own process after the first micro-batch of optimizer step `step` (no clean-up runs)."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)

