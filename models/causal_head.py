"""A `BertLMHeadModel`'s next-token losses through the fused head (`models/fused_lm_loss.py`): the model-side glue
of the causal LM's fast path."""

from __future__ import annotations

import torch
from torch import nn

from models.fused_lm_loss import IGNORE_INDEX, fused_linear_next_token_losses


def next_token_head_losses(model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                           with_bce: bool = True) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(CE, BCE, number of predicted tokens) of a `BertLMHeadModel` on a (B, T) batch, through the fused losses.

    The same as `model(...).logits` followed by `next_token_losses`: BERT's head is `cls.predictions.transform`
    then `cls.predictions.decoder` (weight tied to the word embeddings, so its gradient reaches them). The last
    position (no next token) is never projected, and without gradients only rows with a target are.
    """
    hidden = model.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state[:, :-1]  # (B, T-1, H)
    targets = input_ids[:, 1:].masked_fill(attention_mask[:, 1:] == 0, IGNORE_INDEX).reshape(-1)  # (N,)
    hidden = hidden.reshape(-1, hidden.shape[-1])  # (N, H)
    if not torch.is_grad_enabled():  # padding rows carry no loss: skip them entirely
        kept = targets != IGNORE_INDEX
        hidden, targets = hidden[kept], targets[kept]
    head = model.cls.predictions
    ce, bce = fused_linear_next_token_losses(head.transform(hidden), head.decoder.weight, head.decoder.bias,
                                             targets, with_bce)
    return ce, bce, int((targets != IGNORE_INDEX).sum())

