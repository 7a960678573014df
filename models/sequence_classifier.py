"""Sentence-pair classification (GLUE MRPC) with any `AutoModelForSequenceClassification` encoder.

Logged: `train/loss`; per validation/test pass `{val,test}/loss` (example-weighted mean cross-entropy),
`{val,test}/accuracy`, `{val,test}/f1` (positive class = paraphrase, torchmetrics, reduced across processes) and
a confusion-matrix image per validation (TensorBoard "Images").
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from lightning.pytorch.utilities import rank_zero_info
from torchmetrics import MeanMetric, MetricCollection
from torchmetrics.classification import BinaryAccuracy, BinaryConfusionMatrix, BinaryF1Score

from foundation.contract import DataFacts
from foundation.errors import ConfigError
from models.building import build_network
from models.figures import confusion_figure
from models.masked_encoder import use_cls_only_last_layer
from models.optimization import parameter_groups
from models.special_tokens import reconcile_special_tokens
from models.task_module import TaskModule

EVAL_STAGES = ("val", "test")


def eval_metrics() -> MetricCollection:
    """The metrics of one evaluation stage; each is updated with (P(paraphrase), label). Add a metric here."""
    return MetricCollection({"accuracy": BinaryAccuracy(), "f1": BinaryF1Score()})


class SequenceClassifier(TaskModule):
    """Fine-tunes a BERT-family encoder (BERT, MiniLM, RoBERTa, ModernBERT, ...) on sentence pairs.

    Args:
        pretrained_model: local directory or hub id (e.g. `answerdotai/ModernBERT-base`); None = the embedded
            all-MiniLM-L6-v2. Its own tokenizer is used for the data unless `--data.tokenizer` is set.
        model_config: build from random weights instead (tests), e.g. `{model_type: modernbert, hidden_size: 32,
            num_hidden_layers: 2, ...}`.
        num_labels: output classes; must agree with the data (MRPC has 2).
        layer_decay: layer-wise lr decay: layer k of L (embeddings = 0) gets `learning_rate * layer_decay**(L+1-k)`;
            1.0 = off.
        classifier_dropout: dropout before the classifier, in [0, 1); None = the model config's value.
        average_both_orders: at validation/test/predict, average P(paraphrase) of (s1, s2) and (s2, s1).
    """

    head_prefixes = ("model.classifier.", "model.score.")  # the freshly initialised layer of every HF classifier

    def __init__(self, pretrained_model: str | None = None, model_config: dict | None = None, num_labels: int = 2,
                 layer_decay: float = 1.0, classifier_dropout: float | None = None,
                 average_both_orders: bool = False, **kwargs):
        super().__init__(**kwargs)
        if num_labels < 2:
            raise ConfigError(f"--model.num_labels={num_labels} is below 2; pass 2 for a binary task like MRPC.")
        if not 0.0 < layer_decay <= 1.0:
            raise ConfigError(f"--model.layer_decay={layer_decay} is outside (0, 1]; pass e.g. 0.9, or 1.0 for off.")
        if classifier_dropout is not None and not 0.0 <= classifier_dropout < 1.0:
            raise ConfigError(f"--model.classifier_dropout={classifier_dropout} is outside [0, 1); pass e.g. 0.1.")
        from transformers import AutoModelForSequenceClassification

        extra = {"num_labels": num_labels}
        if classifier_dropout is not None:
            extra["classifier_dropout"] = classifier_dropout
        self.model, fresh, directory = build_network(AutoModelForSequenceClassification, pretrained_model,
                                                     model_config, **extra)
        if directory is not None:
            rank_zero_info(f"Loaded {self.model.config.model_type} from {directory}; newly initialised: "
                           f"{', '.join(fresh) or '-'}.")
        self.model.train()  # from_pretrained returns eval mode; Lightning expects train mode for fit
        # BERT: the last layer at [CLS] only (models/masked_encoder.py); in training too with fast_dropout
        use_cls_only_last_layer(self.model, in_training=self.hparams.fast_dropout)
        self.eval_loss = torch.nn.ModuleDict({stage: MeanMetric() for stage in EVAL_STAGES})
        self.eval_metrics = torch.nn.ModuleDict({stage: eval_metrics() for stage in EVAL_STAGES})
        self.eval_confusion = torch.nn.ModuleDict({stage: BinaryConfusionMatrix() for stage in EVAL_STAGES})

    def configure_for(self, facts: DataFacts) -> None:
        """Check the labels, name them in the config (exported models say `equivalent`), and make the config's
        special-token ids those of the data's tokenizer."""
        if facts.num_labels is not None and facts.num_labels != self.hparams.num_labels:
            raise ConfigError(f"--model.num_labels={self.hparams.num_labels} disagrees with the data, which has "
                              f"{facts.num_labels} labels; pass --model.num_labels {facts.num_labels}.")
        if facts.label_names is not None:
            self.model.config.id2label = dict(enumerate(facts.label_names))
            self.model.config.label2id = {name: i for i, name in enumerate(facts.label_names)}
        reconcile_special_tokens(self.model.config, facts.tokenizer)

    def parameter_groups(self) -> list[dict]:
        hp = self.hparams
        return parameter_groups(self.named_parameters(), hp.learning_rate, hp.weight_decay, self.head_prefixes,
                                hp.head_learning_rate, hp.layer_decay, self.model.config.num_hidden_layers)

    # --- steps ------------------------------------------------------------------------------------------------
    def logits(self, batch: dict, prefix: str = "") -> torch.Tensor:
        """(B, C) float logits of one sentence order ("" or "swapped_")."""
        inputs = {k: batch[prefix + k] for k in ("input_ids", "attention_mask", "token_type_ids")
                  if prefix + k in batch}
        return self.model(**inputs).logits.float()

    def log_probs(self, batch: dict) -> torch.Tensor:
        """(B, C) log-probabilities; with `average_both_orders`, of the mean of both orders' probabilities."""
        log_probs = self.logits(batch).log_softmax(-1)
        if self.hparams.average_both_orders and "swapped_input_ids" in batch:
            swapped = self.logits(batch, "swapped_").log_softmax(-1)
            log_probs = torch.logsumexp(torch.stack([log_probs, swapped]), dim=0) - torch.log(torch.tensor(2.0))
        return log_probs

    def training_loss(self, batch: dict) -> tuple[torch.Tensor, dict]:
        return F.cross_entropy(self.logits(batch), batch["labels"]), {}

    def eval_update(self, batch: dict, stage: str, dataloader_idx: int) -> None:
        log_probs = self.log_probs(batch)
        labels = batch["labels"]
        self.eval_loss[stage].update(F.nll_loss(log_probs, labels), weight=labels.numel())
        positive = log_probs[:, 1].exp()  # (B,) P(paraphrase)
        self.eval_metrics[stage].update(positive, labels)
        self.eval_confusion[stage].update(positive, labels)

    def eval_values(self, stage: str) -> dict[str, dict[str, torch.Tensor]]:
        values = {"loss": self.eval_loss[stage].compute(), **self.eval_metrics[stage].compute()}
        confusion = self.eval_confusion[stage].compute().cpu()  # (2, 2): rows = true label, columns = predicted
        for metric in (self.eval_loss[stage], self.eval_metrics[stage], self.eval_confusion[stage]):
            metric.reset()
        experiment = getattr(self.logger, "experiment", None)
        if not self.trainer.sanity_checking and self.trainer.is_global_zero and hasattr(experiment, "add_figure"):
            experiment.add_figure(f"{stage}/confusion_matrix", confusion_figure(confusion), self.global_step)
        return {stage: values}

    # --- predict ----------------------------------------------------------------------------------------------
    def predict_step(self, batch: dict, batch_idx: int) -> list[dict]:
        positive = self.log_probs(batch)[:, 1].exp()  # (B,)
        return [{"index": index, "prob_equivalent": round(p, 6), "prediction": int(p >= 0.5)}
                for index, p in zip(batch["index"].tolist(), positive.tolist())]

    def prediction_files(self, rows: list[dict]) -> dict[str, str]:
        """GLUE's submission file `MRPC.tsv` (`index<TAB>prediction`) and the probabilities beside it."""
        names = self.model.config.id2label
        if len(rows) == 1:
            row = rows[0]
            rank_zero_info(f"P({names.get(1, 1)}) = {row['prob_equivalent']:.4f} -> {names.get(row['prediction'])}")
        return {"MRPC.tsv": "index\tprediction\n" + "".join(f"{r['index']}\t{r['prediction']}\n" for r in rows),
                "MRPC.probabilities.tsv": "index\tprob_equivalent\tlabel\n" + "".join(
                    f"{r['index']}\t{r['prob_equivalent']:.6f}\t{names.get(r['prediction'])}\n" for r in rows)}
