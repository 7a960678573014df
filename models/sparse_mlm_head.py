"""Running a Hugging Face masked-LM head only on the positions that carry a label (sparse prediction).

As in cramming (`crammed_bert.py`): the head's transform + vocabulary projection, the most expensive part of a
small BERT, runs only on the ~15% of positions that are masked; the loss equals the dense head's (tested).
"""

from __future__ import annotations

import torch
from torch import nn

# model_type -> (attribute of the encoder, attribute of the MLM head) for heads we can run sparsely
_SPARSE_HEADS = {"bert": ("bert", "cls"), "roberta": ("roberta", "lm_head"), "xlm-roberta": ("roberta", "lm_head")}


def masked_logits(model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor,
                  sparse: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and targets for the labelled positions only: ((M, V), (M,)), M = number of labels != -100."""
    selected = labels != -100  # (B, T)
    names = _SPARSE_HEADS.get(model.config.model_type)
    if sparse and names is not None:
        encoder, head = getattr(model, names[0]), getattr(model, names[1])
        hidden = encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (B, T, H)
        return head(hidden[selected]), labels[selected]  # (M, H) -> (M, V)
    logits = model(input_ids=input_ids, attention_mask=attention_mask).logits  # (B, T, V)
    return logits[selected], labels[selected]
