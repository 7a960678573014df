"""The fit's vital numbers, once: trainable parameters, effective batch size, the HPARAMS table."""

from __future__ import annotations

import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_info

# Columns of TensorBoard's HPARAMS table; each shows the latest value of that scalar in the run.
HPARAMS_TABLE_METRICS = ("val/loss", "val/perplexity", "val/masked_accuracy", "val/accuracy", "val/f1")


class FitSummary(L.Callback):
    """Logs trainable parameters and the effective batch size (micro-batch x accumulation x devices) at fit start.

    Both go to the console and to the logger (`train/effective_batch_size`, `train/trainable_parameters`), so a
    learning rate can always be read against the batch it was tuned for.
    """

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        trainable = sum(p.numel() for p in pl_module.parameters() if p.requires_grad)
        micro_batch = getattr(trainer.datamodule, "batch_size", None)
        summary = f"Trainable parameters: {trainable:,}"
        metrics = {"train/trainable_parameters": float(trainable)}
        if micro_batch is not None:
            effective = micro_batch * trainer.accumulate_grad_batches * trainer.world_size
            metrics["train/effective_batch_size"] = float(effective)
            summary += (f" | effective batch size {effective} = batch {micro_batch} x accumulation "
                        f"{trainer.accumulate_grad_batches} x devices {trainer.world_size}")
        rank_zero_info(summary)
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=trainer.global_step)
            if isinstance(logger, TensorBoardLogger) and trainer.is_global_zero:
                write_hparams_table(logger, {**pl_module.hparams, **getattr(trainer.datamodule, "hparams", {})})


def write_hparams_table(logger: TensorBoardLogger, params: dict) -> None:
    """Declare the run's hyperparameters and metric columns for the HPARAMS tab without logging fake values
    (Lightning's own `log_hyperparams(params, metrics)` would log placeholder values as real scalars).

    Uses `logger._sanitize_params` and the writer's `_get_file_writer`, private APIs pinned by
    tests/test_extending.py.
    """
    from lightning.fabric.utilities.logger import _convert_params, _flatten_dict
    from torch.utils.tensorboard.summary import hparams

    flat = logger._sanitize_params(_flatten_dict(_convert_params(params)))
    experiment, start, end = hparams(flat, dict.fromkeys(HPARAMS_TABLE_METRICS, 0.0))
    writer = logger.experiment._get_file_writer()
    for summary in (experiment, start, end):
        writer.add_summary(summary)
