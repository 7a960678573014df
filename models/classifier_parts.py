"""The pieces of `SequenceClassifier` that are ours: building the network, special-token reconciliation,
layer-wise learning-rate groups and the confusion-matrix figure."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import torch
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from torch import nn

from lightning_app.errors import ConfigError
from lightning_app.pretrained import EMBEDDED_MODEL_ID, resolve_pretrained
from models.fast_dropout import use_fast_dropout
from models.masked_encoder import use_cls_only_last_layer

TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer.model", "spiece.model", "vocab.json")
SPECIAL_TOKENS = ("pad", "cls", "sep", "bos", "eos")
_LAYER = re.compile(r"\.layers?\.(\d+)\.")  # BERT: encoder.layer.3.  ModernBERT: layers.3.


def build_classifier(pretrained_model: str | None, model_config: dict | None, num_labels: int,
                     classifier_dropout: float | None) -> tuple[nn.Module, str | None | bool]:
    """(network, tokenizer directory): None = the embedded tokenizer, False = the model directory has none."""
    from transformers import AutoConfig, AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    extra = {"num_labels": num_labels}
    if classifier_dropout is not None:
        extra["classifier_dropout"] = classifier_dropout
    if model_config is not None:
        if pretrained_model is not None:
            raise ConfigError("--model.pretrained_model and --model.model_config are both set; pass one of them "
                              "(model_config trains from random weights).")
        settings = {**model_config, **extra}
        config = AutoConfig.for_model(settings.pop("model_type", "bert"), **settings)
        model = AutoModelForSequenceClassification.from_config(config)
        use_fast_dropout(model)  # BERT: 16-bit dropout masks on CPU (models/fast_dropout.py)
        use_cls_only_last_layer(model)  # BERT: last layer at [CLS] only (models/masked_encoder.py)
        return model, None
    directory = resolve_pretrained(pretrained_model, "--model.pretrained_model")
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # we report the fresh head ourselves, in one line
    hf_logging.disable_progress_bar()
    try:
        model, info = AutoModelForSequenceClassification.from_pretrained(str(directory), output_loading_info=True,
                                                                         **extra)
    finally:
        hf_logging.set_verbosity(verbosity)
        hf_logging.enable_progress_bar()
    use_fast_dropout(model)  # BERT: 16-bit dropout masks on CPU (models/fast_dropout.py)
    use_cls_only_last_layer(model)  # BERT: last layer at [CLS] only (models/masked_encoder.py)
    fresh = sorted({key.split(".")[0] for key in info["missing_keys"]})
    rank_zero_info(f"Loaded {model.config.model_type} from {directory}; newly initialised: {', '.join(fresh) or '-'}.")
    if pretrained_model is None or pretrained_model == EMBEDDED_MODEL_ID:
        return model, None
    has_tokenizer = any((Path(directory) / name).exists() for name in TOKENIZER_FILES)
    return model, str(directory) if has_tokenizer else False


def reconcile_special_tokens(config, tokenizer) -> dict[str, tuple]:
    """Make the model config's special-token ids those of the tokenizer; warn about each change.

    ModernBERT's config ships bos/eos ids although its tokenizer has no such tokens, and a config paired with another
    tokenizer (a BERT vocabulary in tests, a retrained tokenizer) has pad/cls/sep ids that point at the wrong rows.
    Ids the tokenizer lacks are unset in the config. Returns {name: (old, new)} of what changed.
    """
    changed = {}
    for name in SPECIAL_TOKENS:
        attribute = f"{name}_token_id"
        old = getattr(config, attribute, None)
        new = getattr(tokenizer, attribute, None)
        if name in ("cls", "sep") and not hasattr(config, attribute):
            continue  # BERT configs do not carry cls/sep ids; nothing reads them
        if old != new:
            setattr(config, attribute, new)
            changed[attribute] = (old, new)
    if changed:
        rank_zero_warn("Model config special tokens reconciled with the tokenizer: "
                       + ", ".join(f"{k} {old} -> {new}" for k, (old, new) in changed.items()) + ".")
    return changed


def layer_depth(name: str, num_layers: int) -> int:
    """0 for embeddings, k + 1 for transformer layer k, num_layers + 1 for everything above (pooler, head)."""
    match = _LAYER.search(name)
    if match:
        return int(match.group(1)) + 1
    return 0 if "embeddings" in name else num_layers + 1


def layerwise_groups(named_parameters: Iterable[tuple[str, nn.Parameter]], num_layers: int, learning_rate: float,
                     weight_decay: float, layer_decay: float, head_prefixes: tuple[str, ...],
                     head_learning_rate: float | None) -> list[dict]:
    """AdamW groups: per depth (lr x layer_decay**(top - depth)), decay only on matrices, the new head apart."""
    groups: dict[tuple, dict] = {}
    top = num_layers + 1
    for name, parameter in named_parameters:
        if not parameter.requires_grad:
            continue
        is_head = name.startswith(head_prefixes)
        depth = top if is_head else layer_depth(name, num_layers)
        lr = (head_learning_rate or learning_rate) if is_head else learning_rate * layer_decay ** (top - depth)
        decays = parameter.ndim >= 2
        label = "head" if is_head else "body" if layer_decay == 1.0 else f"layer{depth:02d}"
        key = (label, decays)
        if key not in groups:  # LearningRateMonitor logs each group as train/lr/<name>
            groups[key] = {"params": [], "weight_decay": weight_decay if decays else 0.0, "lr": lr,
                           "name": label + ("" if decays else "_no_decay")}
        groups[key]["params"].append(parameter)
    return [groups[key] for key in sorted(groups)]


def confusion_figure(confusion: torch.Tensor):
    """A matplotlib figure of a (2, 2) confusion matrix (rows = true label, columns = prediction)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(3.2, 3.0), dpi=100)
    axes.imshow(confusion.numpy(), cmap="Blues")
    for (row, col), count in zip([(0, 0), (0, 1), (1, 0), (1, 1)], confusion.flatten().tolist()):
        axes.text(col, row, str(count), ha="center", va="center",
                  color="white" if count > confusion.max().item() / 2 else "black")
    axes.set_xticks([0, 1], ["not", "para"])
    axes.set_yticks([0, 1], ["not", "para"])
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    figure.tight_layout()
    return figure
