"""What every model shares: the optimizer surface, its side of the data contract, and evaluation reporting.

A task model subclasses `TaskModule`, builds `self.model` (a Hugging Face network), and implements:
`training_loss(batch)`, `eval_update(batch, stage, dataloader_idx)`, `eval_values(stage)`, and optionally
`configure_for(facts)` (build what depends on the data), `prediction_files(rows)` and `export_pretrained(...)`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_info
from torchmetrics import MeanMetric

from foundation.contract import DataFacts, TaskData, connect
from foundation.errors import ConfigError
from models.building import own_tokenizer_dir
from models.fast_dropout import use_fast_dropout
from models.metric_columns import declare_metric_columns
from models.optimization import (
    SchedulerName,
    adamw_with_schedule,
    check_optimizer_options,
    parameter_groups,
    warmup_steps_for,
)


def perplexity(loss: torch.Tensor) -> torch.Tensor:
    """exp(loss), or inf where exp would overflow float32 (as Hugging Face's scripts report it)."""
    return torch.exp(loss) if loss < 80 else torch.tensor(math.inf, device=loss.device)


class TaskModule(L.LightningModule):
    """Options every model shares (each task documents its own options).

    Args:
        learning_rate: peak learning rate (of the top layer, where `layer_decay` applies).
        head_learning_rate: peak learning rate of the freshly initialised head; None = `learning_rate`.
        weight_decay: AdamW decay on weight matrices (biases and normalisation weights get none).
        adam_betas: AdamW betas.
        adam_epsilon: AdamW epsilon.
        warmup_steps: linear warmup in optimizer steps; wins over `warmup_ratio` when > 0.
        warmup_ratio: warmup as a share of all optimizer steps, in [0, 1).
        lr_scheduler_type: the schedule after warmup (`transformers.get_scheduler`); linear decays to 0 at the last
            optimizer step.
        fast_dropout: cheaper BERT training steps that draw other (equally distributed) dropout masks than a stock
            run: masks from 16-bit random slices on CPU, ~8x cheaper than `bernoulli_` (`models/fast_dropout.py`),
            and the last layer only where the loss reads it (`models/masked_encoder.py`). False = runs comparable
            mask for mask with earlier ones (evaluation takes the sparse last layer either way: it is exact).
    """

    head_prefixes: tuple[str, ...] = ()  # parameter-name prefixes of the freshly initialised head
    flops_per_batch: float | None = None  # for ThroughputMonitor's MFU; benchmarks set it for a fixed shape

    def __init__(self, learning_rate: float = 5e-5, head_learning_rate: float | None = None,
                 weight_decay: float = 0.01, adam_betas: tuple[float, float] = (0.9, 0.999),
                 adam_epsilon: float = 1e-8, warmup_steps: int = 0, warmup_ratio: float = 0.0,
                 lr_scheduler_type: SchedulerName = "linear", fast_dropout: bool = False):
        super().__init__()
        check_optimizer_options(learning_rate, head_learning_rate, weight_decay, tuple(adam_betas), adam_epsilon,
                                warmup_steps, warmup_ratio)
        self.save_hyperparameters()  # records the subclass's arguments as well (they are still local variables)
        self.facts: DataFacts | None = None
        self.last_validated_step: int | None = None
        self.train_epoch_loss = MeanMetric()
        self._metric_columns_declared = False  # TensorBoard's HPARAMS columns, written at the first validation

    # --- the data contract (foundation.contract) ----------------------------------------------------------------
    def tokenizer_source(self) -> str | None:
        return own_tokenizer_dir(self.hparams.get("pretrained_model"), self.hparams.get("model_config"))

    def connect(self, facts: DataFacts) -> None:
        self.facts = facts
        self.configure_for(facts)
        self._check_fits(facts)
        if self.hparams.fast_dropout:
            use_fast_dropout(self.model)

    def configure_for(self, facts: DataFacts) -> None:
        """Build what depends on the data (vocabulary rows, labels, metrics); nothing by default."""

    def _check_fits(self, facts: DataFacts) -> None:
        positions = self.model.config.max_position_embeddings
        if facts.max_length > positions:
            raise ConfigError(f"{facts.length_option}={facts.max_length} exceeds the model's {positions} position "
                              f"embeddings; pass {facts.length_option} {positions} or less.")
        rows = self.model.get_input_embeddings().num_embeddings
        if facts.vocab_size > rows:
            raise ConfigError(f"{facts.tokenizer_option}: the tokenizer has {facts.vocab_size:,} tokens but the "
                              f"model's embedding has {rows:,} rows; pass the model's own tokenizer with "
                              "--data.tokenizer (or build from --model.model_config without vocab_size, which takes "
                              "the tokenizer's).")

    def setup(self, stage: str) -> None:
        datamodule = getattr(self.trainer, "datamodule", None)
        if self.facts is None and isinstance(datamodule, TaskData):  # used without the CLI: connect here
            connect(self, datamodule)

    # --- optimizer and schedule ---------------------------------------------------------------------------------
    def parameter_groups(self) -> list[dict]:
        hp = self.hparams
        return parameter_groups(self.named_parameters(), hp.learning_rate, hp.weight_decay, self.head_prefixes,
                                hp.head_learning_rate)

    def configure_optimizers(self) -> dict:
        hp = self.hparams
        total = int(self.trainer.estimated_stepping_batches)
        return adamw_with_schedule(self.parameter_groups(), hp.learning_rate, tuple(hp.adam_betas), hp.adam_epsilon,
                                   hp.lr_scheduler_type, total, warmup_steps_for(total, hp.warmup_steps,
                                                                                hp.warmup_ratio))

    # --- training -----------------------------------------------------------------------------------------------
    def training_loss(self, batch: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(loss to minimise, extra scalars to log as train/<name>)."""
        raise NotImplementedError

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss, extras = self.training_loss(batch)
        self.log("train/loss", loss, prog_bar=True)
        # A logged `step` is the loggers' x value (Lightning's default, the step count before this batch's optimizer
        # step, put train scalars one left of the validation after the same step). Among the callback metrics it
        # also names checkpoints (`filename="step{step}"`): keep it the optimizer step this batch completes (a stale
        # value from the last validation once named the step-2,000 checkpoint step1000.ckpt and overwrote it).
        self.log("step", float(self.global_step + 1))
        if extras:
            self.log_dict({f"train/{name}": value for name, value in extras.items()})
        self.train_epoch_loss.update(loss.detach())
        return loss

    def on_train_epoch_end(self) -> None:
        if self.train_epoch_loss.update_count:
            step = {"step": float(self.global_step)} if self.loggers else {}
            self.log_dict({"train/loss_epoch": self.train_epoch_loss.compute(), **step})
        self.train_epoch_loss.reset()

    # --- evaluation ---------------------------------------------------------------------------------------------
    def eval_update(self, batch: dict, stage: str, dataloader_idx: int) -> None:
        raise NotImplementedError

    def eval_values(self, stage: str) -> dict[str, dict[str, torch.Tensor]]:
        """{set name: {metric name: value}} for the sets of `stage` ("val" or "test"); resets the metrics."""
        raise NotImplementedError

    def validation_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> None:
        self.eval_update(batch, "val", dataloader_idx)

    def test_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> None:
        self.eval_update(batch, "test", dataloader_idx)

    def on_validation_epoch_end(self) -> None:
        self._report("val")

    def on_test_epoch_end(self) -> None:
        self._report("test")

    def _report(self, stage: str) -> None:
        """Log a stage's metrics at the current optimizer step (a logged `step` sets Lightning's x value: the step
        the console line and the checkpoint name show) and print one line per evaluation set."""
        results = self.eval_values(stage)
        trainer = self.trainer
        logged = {f"{name}/{metric}": value for name, values in results.items() for metric, value in values.items()}
        if trainer.sanity_checking:
            self._report_sanity_pass(logged)
            return
        main = {key: value for key, value in logged.items() if key.startswith(f"{stage}/")}
        rest = {key: value for key, value in logged.items() if key not in main}
        self.log_dict(main, prog_bar=True, sync_dist=True, add_dataloader_idx=False)
        step = {"step": float(self.global_step)} if self.loggers else {}  # sets the loggers' x value
        self.log_dict({**rest, **step}, sync_dist=True, add_dataloader_idx=False)
        if not self._metric_columns_declared and trainer.is_global_zero:
            self._metric_columns_declared = declare_metric_columns(self.logger, sorted(logged))
        if trainer.state.fn == "fit" or stage == "test":
            when = f"after epoch {self.current_epoch}" if trainer.state.fn == "fit" else "of the test set"
            for name in results:
                values = {key: value for key, value in logged.items() if key.startswith(f"{name}/")}
                rank_zero_info(f"{'Validation' if stage == 'val' else 'Test'} {when} (step {self.global_step}): "
                               + _summary(values))
        if stage == "val":
            self.last_validated_step = self.global_step

    def _report_sanity_pass(self, logged: dict[str, torch.Tensor]) -> None:
        """The validation before training: logged at step 0 when it covered the whole validation set (Lightning
        logs nothing during its sanity check)."""
        if self.trainer.num_sanity_val_steps != float("inf"):
            return  # a few batches only: a smoke test, not a figure
        if self.global_step > 0:
            rank_zero_info(f"Validation at resume (step {self.global_step}): {_summary(logged)}")
            return
        scalars = {name: float(value) for name, value in logged.items()}
        for logger in self.loggers:
            logger.log_metrics(scalars, step=0)
        rank_zero_info(f"Validation before training (step 0): {_summary(logged)}")

    # --- predictions and export ---------------------------------------------------------------------------------
    def prediction_rows(self, output, batch: dict) -> list[dict]:
        """One JSON-able row per example of a `predict_step` output, each with the example's `index`."""
        return list(output)

    def prediction_files(self, rows: list[dict]) -> dict[str, str]:
        """{file name: content} of a whole predict run's rows (gathered from every rank, ordered by `index`)."""
        return {"predictions.jsonl": "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)}

    def export_pretrained(self, directory: Path, tokenizer) -> Path:
        """Write a Hugging Face directory (network + tokenizer) that `transformers.pipeline` loads."""
        self.model.save_pretrained(directory)
        tokenizer.save_pretrained(directory)
        return directory


def _summary(values: dict[str, torch.Tensor]) -> str:
    return ", ".join(f"{name} {float(v):.2f}" if name.endswith("perplexity") else f"{name} {float(v):.4f}"
                     for name, v in values.items())
