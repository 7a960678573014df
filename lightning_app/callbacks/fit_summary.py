"""The fit's vital numbers, once: trainable parameters and effective batch size (the HPARAMS table's columns are
the task's own metrics, declared by the model at its first validation: models/metric_columns.py)."""

from __future__ import annotations

import lightning as L
from lightning.pytorch.utilities import rank_zero_info


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

