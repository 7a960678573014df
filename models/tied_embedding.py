"""A word embedding tied to the output layer returns its gradient sparse: one row per input token, not (V, H).

The decoder's (V, H) gradient is dense anyway, and autograd adds the embedding's part into it before the shared
parameter's .grad is written, so .grad stays dense (fused AdamW, clipping, DDP and FSDP see what they saw before).
The dense alternative zero-fills a second (V, H) tensor, scatters the batch's rows into it and adds the two: at
batch 1 x 128 tokens and V = 30,522, ~7 ms of a ~45 ms CPU step of the causal LM. An untied embedding is left dense:
its gradient would stay sparse, which fused AdamW does not take.
"""

from __future__ import annotations

import types

import torch
import torch.nn.functional as F
from torch import nn


def use_sparse_embedding_gradient(model: nn.Module) -> bool:
    """Let `model`'s word embedding, when tied to its output layer, return its gradient sparse; whether it does.

    The module keeps `sparse=False` and only its lookup asks for a sparse gradient: DDP expects a sparse .grad from
    every `nn.Embedding(sparse=True)` (torch's `produces_sparse_gradient`), but a tied weight's summed gradient is
    dense, and its reducer stops with "Expected variable to have sparse gradient" (tests/models/test_tied_embedding.py
    notices if that changes). A compiled network is left alone (sparse gradients and `torch.compile` do not mix), and
    so is a ModernBERT of transformers 4.x that may compile its embeddings itself (`reference_compile`).
    """
    embedding, decoder = model.get_input_embeddings(), model.get_output_embeddings()
    compiled = getattr(model.base_model, "_compiled_call_impl", None) is not None \
        or getattr(model.config, "reference_compile", False) is not False
    if decoder is None or decoder.weight is not embedding.weight or type(embedding) is not nn.Embedding or compiled:
        return False
    embedding.forward = types.MethodType(_lookup_with_sparse_gradient, embedding)
    return True


def _lookup_with_sparse_gradient(self: nn.Embedding, input_ids: torch.Tensor) -> torch.Tensor:
    """`nn.Embedding.forward` with `sparse=True` for this call only."""
    return F.embedding(input_ids, self.weight, self.padding_idx, self.max_norm, self.norm_type,
                       self.scale_grad_by_freq, sparse=True)
