"""One progress bar for the whole run, counted in optimizer steps; a model summary without a FLOPs count of 0."""

from __future__ import annotations

import logging

import lightning as L
from lightning.pytorch.callbacks import ModelSummary, TQDMProgressBar
from lightning.pytorch.utilities.model_summary.model_summary import _format_summary_table

TOKENS_PER_S = "train/device/items_per_sec"  # ThroughputMonitor's name for tokens/s when its length_fn counts tokens
log = logging.getLogger("lightning.pytorch.callbacks.model_summary")  # where Lightning's own summary logs
MFU = "train/device/mfu"  # ThroughputMonitor's model FLOPs utilisation, when the device's peak FLOPs are known


class RunProgressBar(TQDMProgressBar):
    """Lightning's tqdm bar, counting optimizer steps of the whole run (`steps done/total`, ETA to the end of the
    run, also for step-based runs), with the epoch in the description and without the `v_num` entry.

    Args:
        refresh_rate: redraw every N optimizer steps (a batch-1 causal LM step is faster than a redraw).
        leave: keep finished validation/test bars on screen.
    """

    def __init__(self, refresh_rate: int = 1, leave: bool = False):
        super().__init__(refresh_rate=refresh_rate, leave=leave)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.train_progress_bar = self.init_train_tqdm()
        total = trainer.max_steps if trainer.max_steps > 0 else trainer.estimated_stepping_batches
        self.train_progress_bar.reset(total=None if total == float("inf") else int(total))
        self.train_progress_bar.initial = trainer.global_step  # a resumed run: the rate counts new steps only
        self.train_progress_bar.n = trainer.global_step
        self.train_progress_bar.unit = "step"

    def on_train_epoch_start(self, trainer: L.Trainer, *_) -> None:
        self.train_progress_bar.set_description(f"Epoch {trainer.current_epoch}")

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch,
                           batch_idx: int) -> None:
        bar = self.train_progress_bar
        step = trainer.global_step
        if bar.n != step and (step % self.refresh_rate == 0 or step == bar.total):
            bar.n = step
            bar.set_postfix(self.get_metrics(trainer, pl_module), refresh=False)
            bar.refresh()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.train_progress_bar.set_postfix(self.get_metrics(trainer, pl_module))

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict:
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        tokens = trainer.logged_metrics.get(TOKENS_PER_S)  # from ThroughputMonitor, when the config has one
        if tokens is not None:
            metrics["tok/s"] = f"{float(tokens):,.0f}"
        mfu = trainer.logged_metrics.get(MFU)
        if mfu is not None:
            metrics["MFU"] = f"{float(mfu):.1%}"
        return metrics


class RunModelSummary(ModelSummary):
    """Lightning's plain-text model summary without its `Total FLOPs: 0` line.

    Lightning counts FLOPs only by running the module's `example_input_array`; ours have none (FLOPs are measured
    per batch shape by `StepThroughputMonitor`), so Lightning 2.6 prints 0, which misleads. Uses Lightning's private
    `_format_summary_table`, pinned by tests/lightning_app/test_quiet_console.py.
    """

    @staticmethod
    def summarize(summary_data, total_parameters: int, trainable_parameters: int, model_size: float,
                  total_training_modes: dict[str, int], total_flops: int, **summarize_kwargs) -> None:
        table = _format_summary_table(total_parameters, trainable_parameters, model_size, total_training_modes,
                                      total_flops, *summary_data)
        if not total_flops:
            table = table.rsplit("\n", 1)[0]  # the last line is the FLOPs count
        log.info("\n" + table)
