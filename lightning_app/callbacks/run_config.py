"""The resolved config of every fit, saved in its run directory (a resume adds a file, never overwrites)."""

from __future__ import annotations

from pathlib import Path

import lightning as L
from lightning.pytorch.cli import SaveConfigCallback


class SaveRunConfig(SaveConfigCallback):
    """Saves the resolved config into the run directory on `fit`; a resumed run adds `config.resume1.yaml`, ...
    instead of overwriting the original. Evaluations write their own record (`EvaluationRecord`)."""

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        log_dir = trainer.log_dir  # a collective call under DDP: every rank must make it
        if not self.already_saved and trainer.is_global_zero and log_dir:
            log_dir, attempt = Path(log_dir), 0
            while (log_dir / self.config_filename).exists():
                attempt += 1
                self.config_filename = f"config.resume{attempt}.yaml"
        super().setup(trainer, pl_module, stage)
