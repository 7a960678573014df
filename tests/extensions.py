"""Code a user writes on top of the project: a new corpus module and a model with its own optimizer.
Used by tests/end_to_end/test_extending_the_project.py (by class path, as a user's YAML would name them)."""

from __future__ import annotations

from pathlib import Path

import torch

from data_modules.masked_lm import MaskedLMDataModule
from data_modules.reading import resolve_data_file
from models import MaskedLanguageModel


class EnglishSentencesDataModule(MaskedLMDataModule):
    """Masked LM on the English side of an `English<TAB>Turkish` file, one sentence per example.

    Args:
        pairs_file: the tab-separated pairs (`tr-en/tur.txt` under ../shared/data when None).
        validation_split_percentage: percent of lines held out for validation.
    """

    def __init__(self, pairs_file: str | None = None, validation_split_percentage: float = 10.0, **kwargs):
        super().__init__(**kwargs)
        self.pairs_file, self.validation_split_percentage = pairs_file, validation_split_percentage
        self.line_by_line = True

    def source_files(self, split: str) -> tuple[Path, str, bool]:
        return resolve_data_file(self.pairs_file, None, "tr-en/tur.txt", "--data.pairs_file"), "--data.pairs_file", True

    def held_out_split(self) -> tuple[float, int]:
        return self.validation_split_percentage, self.seed

    def clean_line(self, line: str) -> str:
        return line.split("\t")[0]


class SGDMaskedLanguageModel(MaskedLanguageModel):
    """A model that writes its own `configure_optimizers` (SGD + a step schedule sized by the trainer)."""

    def configure_optimizers(self):
        optimizer = torch.optim.SGD(self.parameters(), lr=self.hparams.learning_rate, momentum=0.9)
        total = int(self.trainer.estimated_stepping_batches)  # builds the train loader early: the resume trap
        schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(1, total // 3), gamma=0.5)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
