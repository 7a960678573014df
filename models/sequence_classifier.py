"""Sentence-pair classification (GLUE MRPC) with any `AutoModelForSequenceClassification` encoder.

Logged: `train/loss`, `train/grad_norm`, `train/lr/<group>`; per validation/test epoch `{val,test}/loss`
(example-weighted mean cross-entropy), `{val,test}/accuracy`, `{val,test}/f1` (positive class = paraphrase,
torchmetrics, reduced across processes) and a confusion-matrix image per validation (TensorBoard "Images").
"""

from __future__ import annotations

import csv
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.utilities import rank_zero_info
from torchmetrics import MeanMetric
from torchmetrics.classification import BinaryAccuracy, BinaryConfusionMatrix, BinaryF1Score

from lightning_app.errors import ConfigError
from models.classifier_parts import build_classifier, confusion_figure, layerwise_groups, reconcile_special_tokens
from models.optimization import adamw_with_linear_schedule

EVAL_STAGES = ("val", "test")
HEAD_PREFIXES = ("model.classifier.", "model.score.")  # the freshly initialised layer of every HF classifier


class SequenceClassifier(L.LightningModule):
    """Fine-tunes a BERT-family encoder (BERT, MiniLM, RoBERTa, ModernBERT, ...) on sentence pairs.

    Args:
        pretrained_model: local directory or hub id (e.g. `answerdotai/ModernBERT-base`); None = the embedded
            all-MiniLM-L6-v2. Its tokenizer is used for the data unless `--data.tokenizer` is set.
        model_config: build from random weights instead (tests), e.g. `{model_type: modernbert, hidden_size: 32,
            num_hidden_layers: 2, ...}`.
        num_labels: output classes; MRPC has 2 (must agree with the data).
        learning_rate: peak learning rate of the encoder's top layer.
        head_learning_rate: peak learning rate of the new classification layer; None = `learning_rate`.
        layer_decay: layer-wise lr decay: layer k of L (embeddings = 0) gets `learning_rate * layer_decay**(L+1-k)`;
            1.0 = off.
        weight_decay: AdamW decay on weight matrices (biases and norms get none).
        warmup_steps: linear warmup in optimizer steps; wins over `warmup_ratio` when > 0.
        warmup_ratio: warmup as a share of all optimizer steps; the rate then decays linearly to 0.
        adam_betas: AdamW betas (ModernBERT's recipe uses (0.9, 0.98)).
        adam_epsilon: AdamW epsilon.
        classifier_dropout: dropout before the classifier; None = the model config's value.
        average_both_orders: at validation/test/predict, average P(paraphrase) of (s1, s2) and (s2, s1).
    """

    def __init__(self, pretrained_model: str | None = None, model_config: dict | None = None, num_labels: int = 2,
                 learning_rate: float = 5e-5, head_learning_rate: float | None = None, layer_decay: float = 1.0,
                 weight_decay: float = 0.01, warmup_steps: int = 0, warmup_ratio: float = 0.0,
                 adam_betas: tuple[float, float] = (0.9, 0.999), adam_epsilon: float = 1e-8,
                 classifier_dropout: float | None = None, average_both_orders: bool = False):
        super().__init__()
        self.save_hyperparameters()
        if num_labels < 2:
            raise ConfigError(f"--model.num_labels={num_labels} is below 2; pass 2 for a binary task like MRPC.")
        if not 0.0 < layer_decay <= 1.0:
            raise ConfigError(f"--model.layer_decay={layer_decay} is outside (0, 1]; pass e.g. 0.9, or 1.0 for off.")
        self.model, self._tokenizer_dir = build_classifier(pretrained_model, model_config, num_labels,
                                                           classifier_dropout)
        self.model.train()  # from_pretrained returns eval mode; Lightning expects train mode for fit
        self.eval_metrics = torch.nn.ModuleDict({stage: torch.nn.ModuleDict({
            "loss": MeanMetric(), "accuracy": BinaryAccuracy(), "f1": BinaryF1Score(),
            "confusion": BinaryConfusionMatrix()}) for stage in EVAL_STAGES})
        self._predictions: list[tuple[int, float]] = []

    # --- checks before any training ---------------------------------------------------------------------------
    @property
    def tokenizer_source(self) -> str | None:
        """The tokenizer the data should use when `--data.tokenizer` is not set (None = the embedded one)."""
        if self._tokenizer_dir is False:
            raise ConfigError(f"--model.pretrained_model={self.hparams.pretrained_model!r} has no tokenizer files "
                              "(tokenizer.json / vocab.txt); save the tokenizer into that directory or pass "
                              "--data.tokenizer.")
        return self._tokenizer_dir

    def setup(self, stage: str) -> None:
        datamodule = getattr(self.trainer, "datamodule", None)
        if datamodule is not None:
            self.check_datamodule(datamodule)

    def check_datamodule(self, datamodule) -> None:
        """Hand the model's tokenizer to the data, then check labels, lengths, vocabulary and special tokens."""
        if getattr(datamodule, "tokenizer_name", None) is None and hasattr(datamodule, "model_tokenizer"):
            datamodule.model_tokenizer = self.tokenizer_source
        labels = getattr(datamodule, "num_labels", None)
        if labels is not None and labels != self.hparams.num_labels:
            raise ConfigError(f"--model.num_labels={self.hparams.num_labels} disagrees with the data, which has "
                              f"{labels} labels; pass --model.num_labels {labels}.")
        config = self.model.config
        max_len = getattr(datamodule, "max_seq_length", None)
        if max_len and max_len > config.max_position_embeddings:
            raise ConfigError(f"--data.max_seq_length={max_len} exceeds the model's {config.max_position_embeddings} "
                              f"position embeddings; pass --data.max_seq_length {config.max_position_embeddings} "
                              "or less.")
        tokenizer = datamodule.tokenizer
        if len(tokenizer) > config.vocab_size:
            raise ConfigError(f"the tokenizer has {len(tokenizer)} tokens but the model's vocabulary has "
                              f"{config.vocab_size}; pass --data.tokenizer with the model's own tokenizer.")
        reconcile_special_tokens(config, tokenizer)

    # --- steps ------------------------------------------------------------------------------------------------
    def _logits(self, batch: dict, prefix: str = "") -> torch.Tensor:
        inputs = {k: batch[prefix + k] for k in ("input_ids", "attention_mask", "token_type_ids")
                  if prefix + k in batch}
        return self.model(**inputs).logits.float()  # (B, C)

    def log_probs(self, batch: dict) -> torch.Tensor:
        """(B, C) log-probabilities; with `average_both_orders`, of the mean of both orders' probabilities."""
        log_probs = self._logits(batch).log_softmax(-1)
        if self.hparams.average_both_orders and "swapped_input_ids" in batch:
            swapped = self._logits(batch, "swapped_").log_softmax(-1)
            log_probs = torch.logsumexp(torch.stack([log_probs, swapped]), dim=0) - torch.log(torch.tensor(2.0))
        return log_probs

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss = F.cross_entropy(self._logits(batch), batch["labels"])
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def _eval_step(self, batch: dict, stage: str) -> None:
        log_probs = self.log_probs(batch)
        labels = batch["labels"]
        metrics = self.eval_metrics[stage]
        metrics["loss"].update(F.nll_loss(log_probs, labels), weight=labels.numel())
        positive = log_probs[:, 1].exp()  # (B,) P(paraphrase)
        for name in ("accuracy", "f1", "confusion"):
            metrics[name].update(positive, labels)

    def on_validation_epoch_end(self) -> None:
        self._log_eval("val")

    def on_test_epoch_end(self) -> None:
        self._log_eval("test")

    def _log_eval(self, stage: str) -> None:
        metrics = self.eval_metrics[stage]
        values = {f"{stage}/{name}": metrics[name].compute() for name in ("loss", "accuracy", "f1")}
        confusion = metrics["confusion"].compute().cpu()  # (2, 2): rows = true label, columns = predicted
        for metric in metrics.values():
            metric.reset()
        if self.trainer.sanity_checking:
            return
        self.log_dict(values, prog_bar=stage == "val")
        if stage == "val" and self.trainer.state.fn == "fit":
            rank_zero_info(f"Validation after epoch {self.current_epoch} (step {self.global_step}): "
                           + ", ".join(f"{k} {v:.4f}" for k, v in values.items()))
        experiment = getattr(self.logger, "experiment", None)
        if self.trainer.is_global_zero and hasattr(experiment, "add_figure"):
            experiment.add_figure(f"{stage}/confusion_matrix", confusion_figure(confusion), self.global_step)

    def configure_optimizers(self) -> dict:
        hp = self.hparams
        groups = layerwise_groups(self.named_parameters(), self.model.config.num_hidden_layers, hp.learning_rate,
                                  hp.weight_decay, hp.layer_decay, HEAD_PREFIXES, hp.head_learning_rate)
        return adamw_with_linear_schedule(self, hp.learning_rate, hp.weight_decay, hp.warmup_steps, hp.warmup_ratio,
                                          tuple(hp.adam_betas), hp.adam_epsilon, param_groups=groups)

    # --- predict ----------------------------------------------------------------------------------------------
    def on_predict_epoch_start(self) -> None:
        self._predictions = []

    def predict_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        positive = self.log_probs(batch)[:, 1].exp()  # (B,)
        self._predictions += list(zip(batch["index"].tolist(), positive.tolist()))
        return positive

    def on_predict_epoch_end(self) -> None:
        datamodule = self.trainer.datamodule
        hp = getattr(datamodule, "hparams", {})
        if hp.get("predict_sentence1") is not None:
            probability = self._predictions[0][1]
            print(f"P(paraphrase) = {probability:.4f} for\n  1: {hp['predict_sentence1']}\n  "
                  f"2: {hp['predict_sentence2']}")
            return
        path = Path(hp.get("predict_output") or "mrpc_predictions.tsv")
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
            writer.writerow(["index", "prob_paraphrase", "label"])
            for index, probability in self._predictions:
                writer.writerow([index, f"{probability:.6f}", int(probability >= 0.5)])
        rank_zero_info(f"Wrote {len(self._predictions):,} predictions to {path}")
