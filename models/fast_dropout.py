"""Cheaper dropout masks on CPU, for the hidden-state dropouts and the attention-probability dropout of BERT.

Stock dropout on CPU draws one Bernoulli(1 - p) per element (`bernoulli_`, ~6.5 ns per element on this project's
2-core machine): 18% of a small BERT's training step. Here the mask comes from 64-bit random words instead:

    w ~ Uniform{0, ..., 2^64 - 1}            one word per 4 elements, from torch's default generator
    s = the four 16-bit slices of w, read as int16, each Uniform{-32768, ..., 32767} and independent
    keep = s < k - 32768,   k = round((1 - p) * 65536)      so P(keep) = k / 65536 =: 1 - p'
    out = x * keep / (1 - p')

E[out] = x * (1 - p') / (1 - p') = x: unbiased for the quantised rate p' = 1 - k / 65536 (|p' - p| <= 2^-17; p = 0.1
becomes p' = 6554 / 65536 = 0.100006...). The words come from `random_` over the full int64 range, which consumes
the default generator like any other torch draw, so `torch.manual_seed` (the toolkit reseeds it every step for exact
resume) fixes the masks, and non-reentrant activation checkpointing replays them. ~8x cheaper than `bernoulli_`.

`use_fast_dropout(model)` swaps a BERT's `nn.Dropout` modules for `FastDropout` and routes its attention through
`fast_dropout_attention` (registered in `transformers.AttentionInterface`), which runs the attention with this mask
in training on CPU and hands everything else (eval, p = 0, CUDA, where SDPA fuses dropout into its kernels) to
the stock SDPA path unchanged. Model types not listed in `FAST_DROPOUT_MODEL_TYPES` are left on the stock path.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

ATTENTION_NAME = "fast_dropout_sdpa"  # the name under which our attention function is registered
FAST_DROPOUT_MODEL_TYPES = ("bert",)  # models whose attention passes `dropout=p` to the AttentionInterface
_SLICES = 65536  # 16-bit slices: p is quantised to multiples of 1 / 65536


def keep_count(p: float) -> int:
    """k = round((1 - p) * 65536): how many of the 65,536 slice values keep an element."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be in [0, 1], got {p}")
    return round((1.0 - p) * _SLICES)


def keep_mask(shape: torch.Size, p: float, device: torch.device | str = "cpu") -> torch.Tensor:
    """Boolean mask of `shape`, each element True with probability k / 65536 (see the module docstring)."""
    count = 1
    for size in shape:
        count *= size
    words = torch.empty((count + 3) // 4, dtype=torch.int64, device=device)
    words.random_(-(2**63), None)  # the full 64-bit range: every bit uniform (the default range leaves the top 0)
    slices = words.view(torch.int16)[:count].view(shape)  # (..., ) four independent 16-bit draws per word
    return slices < keep_count(p) - _SLICES // 2


def fast_dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """Dropout of `x` with the 16-bit mask; identity in eval mode and when p rounds to 0."""
    k = keep_count(p)
    if not training or k == _SLICES:
        return x
    if k == 0:
        return x * 0.0  # p = 1: everything dropped (keeps the graph, like F.dropout)
    return x.mul(keep_mask(x.shape, p, x.device)).mul_(_SLICES / k)  # autograd saves the bool mask only


class FastDropout(nn.Dropout):
    """`nn.Dropout` with the 16-bit mask on CPU; on other devices the stock (fused) kernel."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu":
            return F.dropout(x, self.p, self.training, self.inplace)
        return fast_dropout(x, self.p, self.training)


def _attention_with_fast_dropout(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                                 mask: torch.Tensor | None, scaling: float, p: float,
                                 causal: bool) -> torch.Tensor:
    """dropout(softmax(q k^T * scaling + mask)) v, 16-bit mask: q (B, H, T, D), k/v (B, H, S, D) -> (B, T, H, D)."""
    scores = torch.matmul(query * scaling, key.transpose(-1, -2))  # (B, H, T, S); scaling the smaller operand
    if causal:
        mask = torch.ones(scores.shape[-2:], dtype=torch.bool, device=scores.device).tril(
            scores.shape[-1] - scores.shape[-2])  # (T, S), aligned bottom-right as in SDPA with a cache
    if mask is not None and mask.dtype == torch.bool:  # sdpa_mask: True = attend; (B, 1, T, S)
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    elif mask is not None:  # an additive float mask passed in prepared
        scores = scores + mask
    probs = fast_dropout(scores.softmax(-1), p)  # (B, H, T, S)
    return torch.matmul(probs, value).transpose(1, 2).contiguous()  # (B, T, H, D)


def fast_dropout_attention(module: nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                           attention_mask: torch.Tensor | None, dropout: float = 0.0, scaling: float | None = None,
                           is_causal: bool | None = None, **kwargs) -> tuple[torch.Tensor, None]:
    """An `AttentionInterface` function: our path when training with dropout on CPU, else the stock SDPA one."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if not module.training or keep_count(dropout) == _SLICES or query.device.type != "cpu" \
            or kwargs.get("output_attentions"):
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      is_causal=is_causal, **kwargs)
    causal = is_causal if is_causal is not None else getattr(module, "is_causal", False)
    causal = bool(causal) and attention_mask is None and query.shape[2] > 1  # SDPA's rule for its is_causal flag
    scaling = query.shape[-1] ** -0.5 if scaling is None else scaling
    return _attention_with_fast_dropout(query, key, value, attention_mask, scaling, dropout, causal), None


def register_fast_dropout_attention() -> None:
    """Register the attention function and, for its masks, SDPA's boolean mask builder (idempotent)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(ATTENTION_NAME, fast_dropout_attention)
    AttentionMaskInterface.register(ATTENTION_NAME, sdpa_mask)  # unregistered names would get no mask at all


def use_fast_dropout(model: nn.Module) -> bool:
    """Switch a supported Hugging Face model to the 16-bit dropout masks in place; True if it was switched.

    Parameters, state-dict keys and eval-mode outputs are unchanged. Other model types (RoBERTa, ModernBERT, ...) are
    left as they are, and so is the attention of a model that does not run on SDPA (eager with attention outputs,
    FlashAttention): only its hidden-state dropouts change then.
    """
    if getattr(model.config, "model_type", None) not in FAST_DROPOUT_MODEL_TYPES:
        return False
    for parent in model.modules():
        for name, child in parent.named_children():
            if type(child) is nn.Dropout:
                replacement = FastDropout(child.p, child.inplace)
                replacement.train(child.training)
                setattr(parent, name, replacement)
    if model.config._attn_implementation == "sdpa":
        register_fast_dropout_attention()
        model.config._attn_implementation = ATTENTION_NAME
    return True
