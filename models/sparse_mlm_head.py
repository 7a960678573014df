"""Running a Hugging Face masked-LM head only on the positions that carry a label (sparse prediction).

As in cramming (`crammed_bert.py`): the head's transform + vocabulary projection, the most expensive part of a
small BERT, runs only on the ~15% of positions that are masked, and so does BERT's last layer (MosaicBERT's trick,
`models/masked_encoder.py`); the loss equals the dense head's (tested).
"""

from __future__ import annotations

import torch
from torch import nn

from models.masked_encoder import selected_hidden_states

# model_type -> (attribute of the encoder, attribute of the MLM head) for heads we can run sparsely
_SPARSE_HEADS = {"bert": ("bert", "cls"), "roberta": ("roberta", "lm_head"), "xlm-roberta": ("roberta", "lm_head")}


def masked_logits(model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor,
                  sparse: bool = True, sparse_last_layer: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and targets for the labelled positions only: ((M, V), (M,)), M = number of labels != -100.

    `sparse_last_layer`: run BERT's last layer at those positions only too. Same function; in training with
    dropout it draws the layer's masks for M rows instead of all, so the run differs mask for mask from a dense one.
    """
    selected = labels != -100  # (B, T)
    names = _SPARSE_HEADS.get(model.config.model_type)
    if sparse and names is not None:
        encoder, head = getattr(model, names[0]), getattr(model, names[1])
        if sparse_last_layer:
            hidden = selected_hidden_states(encoder, input_ids, attention_mask, selected)  # (M, H)
        else:
            hidden = encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state[selected]
        return head(hidden), labels[selected]  # (M, H) -> (M, V)
    logits = model(input_ids=input_ids, attention_mask=attention_mask).logits  # (B, T, V)
    return logits[selected], labels[selected]
