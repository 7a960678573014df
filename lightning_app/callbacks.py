"""Callbacks the CLI adds to every run: fit summary, Ctrl-C checkpoint, saved configs, seeding, loss guard, speed."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

import lightning as L
import torch
from lightning.pytorch.cli import SaveConfigCallback
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn


class FitSummary(L.Callback):
    """Logs trainable parameters and the effective batch size (micro-batch x accumulation x devices) at fit start.

    Both go to the console and to the logger (`train/effective_batch_size`, `train/trainable_parameters`), so a
    learning rate can always be read against the batch it was tuned for.
    """

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        trainable = sum(p.numel() for p in pl_module.parameters() if p.requires_grad)
        micro_batch = getattr(trainer.datamodule, "batch_size", None)
        pl_module.effective_batch_size = None
        summary = f"Trainable parameters: {trainable:,}"
        if micro_batch is not None:
            effective = micro_batch * trainer.accumulate_grad_batches * trainer.world_size
            pl_module.effective_batch_size = effective
            summary += (f" | effective batch size {effective} = batch {micro_batch} x accumulation "
                        f"{trainer.accumulate_grad_batches} x devices {trainer.world_size}")
        rank_zero_info(summary)
        for logger in trainer.loggers:
            metrics = {"train/trainable_parameters": float(trainable)}
            if pl_module.effective_batch_size is not None:
                metrics["train/effective_batch_size"] = float(pl_module.effective_batch_size)
            logger.log_metrics(metrics, step=trainer.global_step)
            if isinstance(logger, TensorBoardLogger) and trainer.is_global_zero:
                _write_hparams_table(logger, {**pl_module.hparams, **getattr(trainer.datamodule, "hparams", {})})


# Columns of TensorBoard's HPARAMS table; each shows the latest value of that scalar in the run.
HPARAMS_TABLE_METRICS = ("val/loss", "val/perplexity", "val/masked_accuracy", "val/accuracy", "val/f1")


def _write_hparams_table(logger: TensorBoardLogger, params: dict) -> None:
    """Declare the run's hyperparameters and metric columns for the HPARAMS tab without logging fake values
    (Lightning's own `hp_metric` would log a -1 placeholder; configs set `default_hp_metric: false`)."""
    from lightning.fabric.utilities.logger import _convert_params, _flatten_dict
    from torch.utils.tensorboard.summary import hparams

    flat = logger._sanitize_params(_flatten_dict(_convert_params(params)))
    experiment, start, end = hparams(flat, dict.fromkeys(HPARAMS_TABLE_METRICS, 0.0))
    writer = logger.experiment._get_file_writer()
    for summary in (experiment, start, end):
        writer.add_summary(summary)


class CheckpointOnInterrupt(L.Callback):
    """On Ctrl-C, writes `last.ckpt` beside the run's other checkpoints, so `--ckpt_path last` resumes from the
    exact optimizer step where the run stopped instead of from the last end-of-epoch checkpoint."""

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        callback = trainer.checkpoint_callback
        if not isinstance(exception, KeyboardInterrupt) or callback is None or trainer.state.fn != "fit":
            return
        path = Path(callback.dirpath) / "last.ckpt"
        trainer.save_checkpoint(path)
        rank_zero_info(f"Interrupted at step {trainer.global_step}; saved {path}. Resume with --ckpt_path last.")


class SaveRunConfig(SaveConfigCallback):
    """Saves the resolved config into the run directory; a resumed run adds `config.resume1.yaml`, ... instead
    of overwriting the original."""

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        log_dir = trainer.log_dir  # a collective call under DDP: every rank must make it
        if not self.already_saved and trainer.is_global_zero and log_dir:
            log_dir, attempt = Path(log_dir), 0
            while (log_dir / self.config_filename).exists():
                attempt += 1
                self.config_filename = f"config.resume{attempt}.yaml"
        super().setup(trainer, pl_module, stage)


class FillMaskSamples(L.Callback):
    """Prints fill-mask predictions for the data module's `predict_sentences` when fit ends, and logs them as
    TensorBoard text after every validation, so a run's progress can be read as well as plotted.

    Args:
        top_k: candidates shown per [MASK].
    """

    def __init__(self, top_k: int = 5):
        self.top_k = top_k

    def _samples(self, trainer: L.Trainer, pl_module: L.LightningModule) -> list[str]:
        datamodule = trainer.datamodule
        tokenizer = datamodule.tokenizer
        encoded = tokenizer(datamodule.predict_sentences, padding=True, return_tensors="pt").to(pl_module.device)
        was_training = pl_module.training
        pl_module.eval()
        results = pl_module.fill_mask(encoded["input_ids"], encoded["attention_mask"], tokenizer, self.top_k)
        pl_module.train(was_training)
        lines = []
        for sentence, result in zip(datamodule.predict_sentences, results):
            for candidates in result["masks"]:
                lines.append(f"{sentence} -> " + ", ".join(f"{tok} ({p:.3f})" for tok, p in candidates))
        return lines

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        text = "\n\n".join(self._samples(trainer, pl_module))
        for logger in trainer.loggers:
            experiment = getattr(logger, "experiment", None)
            if hasattr(experiment, "add_text"):
                experiment.add_text("samples/fill_mask", text, global_step=trainer.global_step)

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero:
            rank_zero_info("Fill-mask after training:\n  " + "\n  ".join(self._samples(trainer, pl_module)))


class DeterministicStepSeed(L.Callback):
    """Reseeds the global RNGs before every training batch from (seed, optimizer step, micro-batch, rank).

    Dropout and any other global-RNG draw then depend only on where the run is, not on its history, so a run
    resumed from any checkpoint takes exactly the same random decisions as one that never stopped.
    """

    def __init__(self, seed: int = 42):
        self.seed = seed

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:
        step_seed = hash((self.seed, trainer.global_step, batch_idx, trainer.global_rank)) % (2**63 - 1)
        torch.manual_seed(step_seed)


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN/inf loss and the guard was set to stop."""


class NonFiniteLossGuard(L.Callback):
    """Stops the run (or skips the optimizer step) when the training loss is NaN or infinite.

    Stopping raises before the bad step is applied and before any checkpoint is written, so the last checkpoint on
    disk is the last good one; the message names the step and batch.

    Args:
        action: "stop" ends the run with a message; "skip" drops that optimizer step's gradients and goes on.
    """

    def __init__(self, action: Literal["stop", "skip"] = "stop"):
        self.action = action
        self.skipped = 0
        self._bad_batch: int | None = None

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:
        self._batch_idx = batch_idx

    def on_before_backward(self, trainer: L.Trainer, pl_module: L.LightningModule, loss: torch.Tensor) -> None:
        if torch.isfinite(loss).all():
            return
        where = f"step {trainer.global_step} (epoch {trainer.current_epoch}, batch {self._batch_idx})"
        if self.action == "stop":
            last = getattr(trainer.checkpoint_callback, "last_model_path", "") or "none written yet"
            raise NonFiniteLossError(f"train/loss is {loss.item()} at {where}; stopped before applying it (last good "
                                     f"checkpoint: {last}). Lower the learning rate, check the data, or pass "
                                     "--nonfinite_loss.action skip.")
        self._bad_batch = self._batch_idx
        self.skipped += 1
        rank_zero_warn(f"train/loss is {loss.item()} at {where}; skipping this optimizer step.")

    def on_after_backward(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._bad_batch is not None:
            for parameter in pl_module.parameters():
                parameter.grad = None  # AdamW leaves parameters without gradients untouched
            self._bad_batch = None


class TokensPerSecond(L.Callback):
    """Shows training throughput (non-padding tokens per second) in the progress bar and logs
    `train/tokens_per_s`, averaged over each `log_every_n_steps` window (one host sync per window)."""

    def __init__(self):
        self._tokens = None
        self._started = None

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:
        if self._started is None:
            self._started = time.perf_counter()
        mask = batch.get("attention_mask") if isinstance(batch, dict) else None
        count = mask.sum() if mask is not None else None
        if count is not None:
            self._tokens = count if self._tokens is None else self._tokens + count

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch,
                           batch_idx: int) -> None:
        if self._tokens is None or (batch_idx + 1) % max(1, trainer.log_every_n_steps) != 0:
            return
        elapsed = time.perf_counter() - self._started
        pl_module.log("train/tokens_per_s", float(self._tokens) / max(elapsed, 1e-9), prog_bar=True)
        self._tokens, self._started = None, None


class GradNormMonitor(L.Callback):
    """Logs `train/grad_norm`, the global L2 norm of all gradients before clipping, every `log_every_n_steps`
    optimizer steps (computing it costs a pass over every gradient, so not on the other steps)."""

    def on_before_optimizer_step(self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer) -> None:
        if trainer.global_step % max(1, trainer.log_every_n_steps) != 0:
            return
        norms = [p.grad.detach().norm() for p in pl_module.parameters() if p.grad is not None]
        if norms:
            pl_module.log("train/grad_norm", torch.stack(norms).norm())
