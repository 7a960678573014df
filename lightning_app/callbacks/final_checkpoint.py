"""A fit that ends normally leaves `last.ckpt` at the step it ended at."""

from __future__ import annotations

import lightning as L


class LastCheckpointAtEnd(L.Callback):
    """Writes `last.ckpt` of every `save_last` ModelCheckpoint at the final step when its last save was earlier.

    Lightning 2.6's `ModelCheckpoint.on_train_end` writes `last.ckpt` only when it wrote none during the run (the
    end-of-training save, Lightning-AI/pytorch-lightning#8126, came back in that form): with `every_n_train_steps:
    20`, the 66-step main job ended with `last.ckpt` at step 60, so `--ckpt_path last` scored and exported weights
    six steps old, and resuming the finished run trained those steps again. A fit bounded by `max_steps` is saved at
    the batch that reaches it, before the epoch loop winds up, so a larger `max_steps` resumes mid-epoch exactly; an
    epoch-bounded fit at its end. The callback's own bookkeeping is left as it was, so its saves at that step (a
    `step{step}.ckpt`, the top-k file after the last validation) still happen. A stopped run (signal, NaN,
    exception) does not get here: `GracefulStop` writes its own `last.ckpt`, the others keep the last good one.
    tests/lightning_app/test_last_checkpoint_at_end.py fails when Lightning starts doing this itself.
    """

    def __init__(self):
        self._written: dict[int, int] = {}  # id(ModelCheckpoint) -> the step of the last.ckpt written here

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch,
                           batch_idx: int) -> None:
        if 0 < trainer.max_steps <= trainer.global_step:
            self._save_last(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._save_last(trainer)

    def _save_last(self, trainer: L.Trainer) -> None:
        step = trainer.global_step
        for checkpoint in trainer.checkpoint_callbacks:
            every = checkpoint._every_n_train_steps
            if (not checkpoint.save_last or checkpoint._should_skip_saving_checkpoint(trainer)
                    or self._written.get(id(checkpoint)) == step or (every >= 1 and step % every == 0)):
                continue  # off, saved at this step already, or about to save here itself (last.ckpt included)
            saved_at = checkpoint._last_global_step_saved
            checkpoint._last_checkpoint_saved = ""  # else `save_last="link"` points last.ckpt at an older file
            checkpoint._save_last_checkpoint(trainer, checkpoint._monitor_candidates(trainer))
            checkpoint._last_global_step_saved = saved_at
            self._written[id(checkpoint)] = step
