"""The speed tricks of `models/`, each switched off alone inside a `main.py fit` child (bench/ablation.py).

A trick with its own option is switched off on the command line; the others have none (they ride on
`fast_dropout`, or are always on), so here they are undone by replacing one function in the child before the CLI
builds the model. Each replacement calls the stock path the trick's tests compare against.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F


def unfused_next_token_head_losses(model, input_ids, attention_mask, with_bce: bool = True):
    """`models/causal_head.py`'s losses through full (N, V) logits: BERT's head, then CE (and BCE) on them."""
    from models.bce_term import next_token_losses
    from models.fused_lm_loss import IGNORE_INDEX

    logits = model(input_ids=input_ids, attention_mask=attention_mask).logits[:, :-1]  # (B, T-1, V)
    targets = input_ids[:, 1:].masked_fill(attention_mask[:, 1:] == 0, IGNORE_INDEX).reshape(-1)  # (N,)
    logits = logits.reshape(-1, logits.shape[-1]).float()  # (N, V)
    if with_bce:
        ce, bce = next_token_losses(logits, targets)
    else:
        ce, bce = F.cross_entropy(logits, targets, ignore_index=IGNORE_INDEX), torch.zeros(())
    return ce, bce, int((targets != IGNORE_INDEX).sum())


def _dense_last_layer(masked_logits):
    @functools.wraps(masked_logits)
    def wrapper(*args, **kwargs):
        return masked_logits(*args, **{**kwargs, "sparse_last_layer": False})
    return wrapper


def _cls_only_not_in_training(use_cls_only_last_layer):
    @functools.wraps(use_cls_only_last_layer)
    def wrapper(model, in_training: bool = True):
        return use_cls_only_last_layer(model, in_training=False)
    return wrapper


def switch_off(trick: str) -> None:
    """Undo `trick` in this process (tricks with a command-line option need nothing here)."""
    import models.causal_lm
    import models.masked_lm
    import models.sequence_classifier
    import models.task_module

    if trick == "fused_next_token_losses":
        models.causal_lm.next_token_head_losses = unfused_next_token_head_losses
    elif trick == "fast_dropout_masks":  # the stock nn.Dropout and attention dropout; the sparse layers stay
        models.task_module.use_fast_dropout = lambda model: False
    elif trick == "sparse_last_layer":
        models.masked_lm.masked_logits = _dense_last_layer(models.masked_lm.masked_logits)
    elif trick == "cls_only_last_layer":
        models.sequence_classifier.use_cls_only_last_layer = _cls_only_not_in_training(
            models.sequence_classifier.use_cls_only_last_layer)
