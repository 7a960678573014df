"""Evaluation results and predictions, written into the run that produced the checkpoint (no new version dir)."""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from lightning.pytorch.utilities import rank_zero_info

from foundation.leftovers import written_whole


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to a temporary file beside `path`, then rename it into place: never a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with written_whole(path) as partial:
        partial.write_text(text, encoding="utf-8")


class EvaluationRecord(L.Callback):
    """After `validate`/`test`, writes `<output_dir>/<name>.json`: the metrics, the checkpoint and its step.

    Args:
        output_dir: where to write (the CLI passes the checkpoint's run `evaluations/` folder).
        name: file stem, e.g. `epoch2-step66.validate`.
        ckpt_path: the checkpoint evaluated (recorded in the file).
        ckpt_step: that checkpoint's step, recorded as the evaluation's (`validate`/`test` restore weights only, so
            the trainer's step stays 0).
    """

    def __init__(self, output_dir: str, name: str, ckpt_path: str | None = None, ckpt_step: int | None = None):
        self.output_dir, self.name, self.ckpt_path, self.ckpt_step = Path(output_dir), name, ckpt_path, ckpt_step

    def _write(self, trainer: L.Trainer, prefix: str) -> None:
        if not trainer.is_global_zero or trainer.sanity_checking:
            return
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith(prefix)}
        step = self.ckpt_step if self.ckpt_path else trainer.global_step
        record = {"subcommand": trainer.state.fn.value, "ckpt_path": self.ckpt_path, "global_step": step,
                  "metrics": metrics}
        path = self.output_dir / f"{self.name}.json"
        write_atomically(path, json.dumps(record, indent=1) + "\n")
        rank_zero_info(f"Wrote {path}")

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.state.fn == "validate":
            self._write(trainer, "val")

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._write(trainer, "test")


class PredictionFiles(BasePredictionWriter):
    """Collects every rank's predictions, and rank 0 writes the model's prediction files once, complete.

    The files are the model's `prediction_files(rows)` (MRPC: GLUE's `MRPC.tsv` and the probabilities; masked LM:
    fill-mask JSON lines; causal LM: generations), in `output_dir`.

    Args:
        output_dir: a new or empty folder for the files.
    """

    def __init__(self, output_dir: str):
        super().__init__(write_interval="batch")
        self.output_dir = Path(output_dir)
        self._rows: list[dict] = []

    def on_predict_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._rows = []

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, batch_idx,
                           dataloader_idx) -> None:
        self._rows += pl_module.prediction_rows(prediction, batch)

    def on_predict_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        rows = self._rows
        if trainer.world_size > 1 and torch.distributed.is_initialized():
            gathered: list[list[dict]] = [[] for _ in range(trainer.world_size)]
            torch.distributed.all_gather_object(gathered, rows)
            rows = [row for part in gathered for row in part]
        if not trainer.is_global_zero:
            return
        rows.sort(key=lambda row: row["index"])
        for name, text in pl_module.prediction_files(rows).items():
            write_atomically(self.output_dir / name, text)
        rank_zero_info(f"Wrote {len(rows):,} predictions to {self.output_dir}")
