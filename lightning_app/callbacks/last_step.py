"""A fit that reaches `max_steps` between validations is validated at that step, inside the fit."""

from __future__ import annotations

import lightning as L


class ValidateAtLastStep(L.Callback):
    """Asks the fit loop to stop at the optimizer step that reaches `max_steps`.

    Lightning then runs the validation loop before it stops, as it does for early stopping, so the run's last
    figure is logged at its last step and a `ModelCheckpoint` that monitors a validation metric sees the final
    weights as a candidate for `best`. Without it, a step-bounded run that ends mid-epoch is scored by nobody
    during the fit: `--ckpt_path best` then names an older checkpoint, or none at all. Where a validation falls on
    that step anyway, it runs once.
    """

    def on_train_batch_end(self, trainer: L.Trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if 0 < trainer.max_steps <= trainer.global_step and trainer.enable_validation:
            trainer.should_stop = True
