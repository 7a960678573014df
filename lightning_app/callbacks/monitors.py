"""Training signals worth a chart, each logged once per optimizer step at that step's number.

The x value of every training scalar is the number of optimizer steps done when it was measured, the same number
validation logs (`TaskModule` logs `step` with the loss): so `train/loss`, `lr-*`, `train/grad_norm` and
throughput of step N sit on one vertical line with the validation after step N.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import lightning as L
import torch
from lightning.fabric.utilities.throughput import measure_flops
from lightning.pytorch.callbacks import LearningRateMonitor, ThroughputMonitor
from lightning.pytorch.trainer.states import RunningStage


def logs_this_step(trainer: L.Trainer) -> bool:
    """Whether the optimizer step now running is one Lightning logs (`log_every_n_steps`, counted from 1)."""
    return (trainer.global_step + 1) % max(1, trainer.log_every_n_steps) == 0


class GradNormMonitor(L.Callback):
    """Logs `train/grad_norm`, the global L2 norm of all gradients before clipping, on the optimizer steps Lightning
    logs (computing it costs a pass over every gradient, so not on the other steps). Lightning's
    `utilities.grad_norm` would also log one norm per parameter tensor (~100 scalars for a small BERT)."""

    def on_before_optimizer_step(self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer) -> None:
        if not logs_this_step(trainer):
            return
        norms = [p.grad.detach().norm() for p in pl_module.parameters() if p.grad is not None]
        if norms:
            pl_module.log("train/grad_norm", torch.stack(norms).norm())


class StepLearningRateMonitor(LearningRateMonitor):
    """Lightning's `LearningRateMonitor` (`lr-AdamW/pg1`, ... one name per parameter group), logging the rates an
    optimizer step uses once, at that step's number.

    Lightning 2.6 logs from `on_train_batch_start`, so under `accumulate_grad_batches` k it writes every logged step
    k times, and at the step count before the step (one left of the loss and of validation); pinned by
    tests/models/test_training_scalars_align.py.
    """

    def on_train_batch_start(self, trainer: L.Trainer, *args, **kwargs) -> None:
        """Nothing here: `on_before_optimizer_step` runs once per optimizer step, before the scheduler moves."""

    def on_before_optimizer_step(self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer) -> None:
        if self.logging_interval == "epoch" or not (logs_this_step(trainer) or trainer.should_stop):
            return
        rates = self._extract_stats(trainer, "step" if self.logging_interval is None else "any")
        for logger in trainer.loggers if rates else ():
            logger.log_metrics(rates, step=trainer.global_step + 1)


class StepThroughputMonitor(ThroughputMonitor):
    """Lightning's `ThroughputMonitor` (`train/device/items_per_sec` = tokens/s with our `length_fn`), with training
    rows at the optimizer step and one validation row per validation at the step it validated, and FLOPs measured.

    Lightning 2.6 logs a validation row per validation batch on the evaluation loop's own batch counter (so they
    land at x values unrelated to training) and training rows one step left of the loss; and it needs
    `flops_per_batch` on the module for FLOPs/s and MFU: this callback sets it from the batch's shape
    (`flops_polynomial`: Lightning's `measure_flops` on a meta-device copy of the network).
    """

    def __init__(self, batch_size_fn: Callable[[Any], int], length_fn: Callable[[Any], int] | None = None,
                 **kwargs):
        super().__init__(batch_size_fn, length_fn, **kwargs)
        self._flops_by_shape: dict[bool, Callable[[int], float] | None] = {}  # training? -> FLOPs of a length

    def _update(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, iter_num: int) -> None:
        pl_module.flops_per_batch = self._flops_for(pl_module, batch, trainer.state.stage == RunningStage.TRAINING)
        super()._update(trainer, pl_module, batch, iter_num)

    def _compute(self, trainer: L.Trainer, iter_num: int | None = None) -> None:
        stage = trainer.state.stage
        if stage == RunningStage.TRAINING:
            super()._compute(trainer, trainer.global_step)  # the step just taken, as `train/loss` of that step
        elif stage != RunningStage.VALIDATING:  # test and predict keep Lightning's own counter
            super()._compute(trainer, iter_num)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking and trainer.is_global_zero and RunningStage.VALIDATING in self._t0s:
            self._log_whole_pass(trainer, RunningStage.VALIDATING)
        super().on_validation_end(trainer, pl_module)

    def _log_whole_pass(self, trainer: L.Trainer, stage: RunningStage) -> None:
        """One row for the whole validation: tokens and examples per second over the pass, at the trained step."""
        elapsed = time.perf_counter() - self._t0s[stage]
        if elapsed <= 0 or not self._samples.get(stage):
            return
        rates = {f"{stage.value}/device/samples_per_sec": self._samples[stage] / elapsed}
        if self.length_fn is not None:
            rates[f"{stage.value}/device/items_per_sec"] = self._lengths[stage] / elapsed
        for logger in trainer.loggers:
            logger.log_metrics(rates, step=trainer.global_step)

    def _flops_for(self, pl_module: L.LightningModule, batch, training: bool) -> int | None:
        ids = batch.get("input_ids") if isinstance(batch, dict) else None
        network = getattr(pl_module, "model", None)
        if ids is None or not isinstance(network, torch.nn.Module) or not hasattr(network, "config"):
            return None  # not one of our task modules: no FLOPs (as Lightning without `flops_per_batch`)
        if training not in self._flops_by_shape:
            self._flops_by_shape[training] = flops_polynomial(network, training)
        per_example = self._flops_by_shape[training]
        return None if per_example is None else round(ids.shape[0] * per_example(ids.shape[1]))


def flops_polynomial(network: torch.nn.Module, training: bool, lengths: tuple[int, int, int] = (4, 8, 16)):
    """FLOPs of one example of length T through the Hugging Face network's dense forward (and backward when
    training), as a function of T: a transformer's FLOPs are k0 + k1 T + k2 T^2 per example (per-token layers,
    attention, per-sequence heads), so three `measure_flops` runs on a meta-device copy (no memory, no compute, ~1 s
    each) give every batch shape exactly. None when the counter cannot trace the network."""
    try:
        with torch.device("meta"):
            model = type(network)(network.config)
        counts = []
        for length in lengths:
            with torch.device("meta"):
                ids = torch.zeros((1, length), dtype=torch.long)
            forward = lambda: model(input_ids=ids).logits  # noqa: E731
            counts.append(measure_flops(model, forward, (lambda logits: logits.sum()) if training else None))
    except Exception:  # a network the FLOP counter cannot trace on meta: throughput without FLOPs
        return None
    (t0, t1, t2), (f0, f1, f2) = lengths, counts

    def per_example(length: int) -> float:  # Lagrange interpolation through the three measured lengths
        return (f0 * (length - t1) * (length - t2) / ((t0 - t1) * (t0 - t2))
                + f1 * (length - t0) * (length - t2) / ((t1 - t0) * (t1 - t2))
                + f2 * (length - t0) * (length - t1) / ((t2 - t0) * (t2 - t1)))
    return per_example
