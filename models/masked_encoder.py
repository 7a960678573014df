"""BERT's encoder for masked-LM training, with its last layer run only where a label is (MosaicBERT's trick).

The MLM loss reads the last layer's output at the M labelled positions only (~15% of the tokens). Every earlier
layer feeds all positions through attention, but the last layer's output at an unlabelled position is read by
nothing, so its query projection, attention rows, output projection and feed-forward block can skip those rows:

    K, V = hidden W_k, hidden W_v                    (B, T, H): keys and values still come from every position
    q_m  = hidden_m W_q                              (M, H): queries only at the labelled positions m
    a_m  = softmax(q_m K^T * scaling + mask_b) V     (M, H): each query attends within its own sequence b
    out_m = FFN(LayerNorm(a_m W_o + hidden_m)) ...   (M, H): BertSelfOutput + BertIntermediate + BertOutput

This is exactly the dense layer's output at those rows (same parameters, same function), so loss and gradients are
unchanged up to float rounding; for a 3-layer BERT at 15% masking it removes ~20% of the step's FLOPs. MosaicBERT
does the same (`subset_idx` of its last `BertLayer`, mosaicml/examples `bert_layers.py`). The queries are grouped
per sequence into a (B, Q, H) block, Q = the most labels in one sequence (equal counts under exact-count masking),
so the attention is one batched call of the model's own attention function.
"""

from __future__ import annotations

import torch
from torch import nn

from models.fast_dropout import ATTENTION_NAME

_ATTENTIONS = ("sdpa", "eager", ATTENTION_NAME)  # attention functions that take a (B, 1, Q, T) mask


def _subset_applies(encoder: nn.Module, selected: torch.Tensor) -> bool:
    """Whether the last layer can run on the labelled rows: a plain BERT encoder, not compiled, some labels."""
    config = encoder.config
    return (config.model_type == "bert" and not config.is_decoder and not config.add_cross_attention
            and config._attn_implementation in _ATTENTIONS and getattr(encoder, "_compiled_call_impl", None) is None
            and bool(selected.any()))


def selected_hidden_states(encoder: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                           selected: torch.Tensor) -> torch.Tensor:
    """The encoder's last hidden states at the (B, T) `selected` positions: (M, H). Any other encoder (RoBERTa,
    ModernBERT, a compiled BERT) runs whole and is indexed afterwards."""
    if not _subset_applies(encoder, selected):
        return encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state[selected]
    from transformers.masking_utils import create_bidirectional_mask

    hidden = encoder.embeddings(input_ids=input_ids)  # (B, T, H)
    mask = create_bidirectional_mask(config=encoder.config, inputs_embeds=hidden, attention_mask=attention_mask)
    layers = encoder.encoder.layer
    for layer in layers[:-1]:  # BertModel.forward's loop (checkpointing, when enabled, happens inside each call)
        hidden = layer(hidden, mask)
    return _layer_at_rows(layers[-1], hidden, mask, selected)


def _layer_at_rows(layer: nn.Module, hidden: torch.Tensor, mask: torch.Tensor | None,
                   selected: torch.Tensor) -> torch.Tensor:
    """One `BertLayer` evaluated only at the selected rows: hidden (B, T, H), selected (B, T) -> (M, H)."""
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
    from transformers.models.bert.modeling_bert import eager_attention_forward

    attention = layer.attention.self
    batch, length, _ = hidden.shape
    heads, size = attention.num_attention_heads, attention.attention_head_size
    row_batch = selected.nonzero()[:, 0]  # (M,) the sequence of each labelled row
    slot = selected.cumsum(1)[selected] - 1  # (M,) its place among its sequence's labels
    width = int(selected.sum(1).max())  # Q
    rows = hidden[selected]  # (M, H)

    def split_heads(x: torch.Tensor) -> torch.Tensor:  # (B, N, h*d) -> (B, h, N, d)
        return x.view(batch, x.shape[1], heads, size).transpose(1, 2)

    keys, values = split_heads(attention.key(hidden)), split_heads(attention.value(hidden))  # (B, h, T, d)
    projected = attention.query(rows)  # (M, H), in the autocast dtype if any
    queries = projected.new_zeros(batch, width, heads * size).index_put((row_batch, slot), projected)  # (B, Q, H)
    key_mask = None if mask is None else mask[:, :, :1, :].expand(batch, 1, width, length)  # padding: row-independent
    function = ALL_ATTENTION_FUNCTIONS.get_interface(attention.config._attn_implementation, eager_attention_forward)
    context, _ = function(attention, split_heads(queries), keys, values, key_mask,
                          dropout=attention.dropout.p if attention.training else 0.0, scaling=attention.scaling)
    context = context.reshape(batch, width, heads * size)[row_batch, slot]  # (B, Q, h, d) -> (M, H)
    attended = layer.attention.output(context, rows)  # dense, dropout, LayerNorm(+ residual)
    return layer.output(layer.intermediate(attended), attended)  # the feed-forward block, (M, H)
