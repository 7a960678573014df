"""Build a Hugging Face masked-LM network and run its prediction head sparsely.

A pretrained encoder without an MLM head (the embedded all-MiniLM-L6-v2 is a plain `BertModel`) is loaded into
`AutoModelForMaskedLM`: the encoder weights load, the head starts fresh, and its decoder is tied to the word
embeddings, so the exported model is an ordinary `BertForMaskedLM` that `pipeline("fill-mask")` can load.

Sparse prediction (as in cramming, `crammed_bert.py`): the head's transform + vocabulary projection, the most
expensive part of a small BERT, runs only on the ~15% of positions that carry a label.
"""

from __future__ import annotations

import torch
from lightning.pytorch.utilities import rank_zero_info
from torch import nn

from lightning_app.errors import ConfigError
from lightning_app.pretrained import resolve_pretrained
from models.masked_encoder import selected_hidden_states

# model_type -> (attribute of the encoder, attribute of the MLM head) for heads we can run sparsely
_SPARSE_HEADS = {"bert": ("bert", "cls"), "roberta": ("roberta", "lm_head"), "xlm-roberta": ("roberta", "lm_head")}


def build_masked_lm(pretrained_model: str | None, model_config: dict | None) -> nn.Module:
    """An `AutoModelForMaskedLM` from a local dir / hub id / the embedded model, or from a config dict."""
    from transformers import AutoConfig, AutoModelForMaskedLM
    from transformers.utils import logging as hf_logging

    if model_config is not None:
        if pretrained_model is not None:
            raise ConfigError("--model.pretrained_model and --model.model_config are both set; pass one of them "
                              "(model_config trains from random weights).")
        settings = dict(model_config)
        config = AutoConfig.for_model(settings.pop("model_type", "bert"), **settings)
        return AutoModelForMaskedLM.from_config(config)
    directory = resolve_pretrained(pretrained_model, "--model.pretrained_model")
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # we report missing head weights ourselves, in one line
    hf_logging.disable_progress_bar()
    try:
        model, info = AutoModelForMaskedLM.from_pretrained(str(directory), output_loading_info=True)
    finally:
        hf_logging.set_verbosity(verbosity)
        hf_logging.enable_progress_bar()
    if info["missing_keys"]:
        tied = model.get_output_embeddings().weight is model.get_input_embeddings().weight
        rank_zero_info(f"Loaded the encoder from {directory}; it has no MLM head, so a fresh head was initialised"
                       f"{' with its decoder tied to the word embeddings' if tied else ''}.")
    return model



def masked_logits(model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor,
                  sparse: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and targets for the labelled positions only: ((M, V), (M,)), M = number of labels != -100."""
    selected = labels != -100  # (B, T)
    names = _SPARSE_HEADS.get(model.config.model_type)
    if sparse and names is not None:
        encoder, head = getattr(model, names[0]), getattr(model, names[1])
        hidden = selected_hidden_states(encoder, input_ids, attention_mask, selected)  # (M, H), last layer sparse
        return head(hidden), labels[selected]  # (M, H) -> (M, V)
    logits = model(input_ids=input_ids, attention_mask=attention_mask).logits  # (B, T, V)
    return logits[selected], labels[selected]
