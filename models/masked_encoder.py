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
so the attention is one batched call of the model's own attention function. A sequence classifier reads [CLS]
only (BERT's pooler takes position 0): `use_cls_only_last_layer` runs its last layer on those B rows the same way.
"""

from __future__ import annotations

import types

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


def selected_hidden_states(encoder: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor | None,
                           selected: torch.Tensor, token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
    """The encoder's last hidden states at the (B, T) `selected` positions: (M, H). Any other encoder (RoBERTa,
    ModernBERT, a compiled BERT) runs whole and is indexed afterwards."""
    if not _subset_applies(encoder, selected):
        return encoder(input_ids=input_ids, attention_mask=attention_mask,
                       token_type_ids=token_type_ids).last_hidden_state[selected]
    from transformers.masking_utils import create_bidirectional_mask

    hidden = encoder.embeddings(input_ids=input_ids, token_type_ids=token_type_ids)  # (B, T, H)
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


def use_cls_only_last_layer(model: nn.Module, in_training: bool = True) -> bool:
    """A BERT sequence classifier reads the last layer at [CLS] only (its pooler takes position 0): run that layer
    on the B [CLS] rows, as the masked LM runs it on the labelled rows. Same logits and gradients (float rounding),
    and most of one layer's work less (MiniLM: 6 layers, so ~14% of the encoder). Applied to the model's own
    `BertModel` (its `forward`, on this instance only); returns whether it was. Inputs the shortcut does not handle
    (`inputs_embeds`, `position_ids`, hidden-state or attention outputs) take the stock forward, and so does training
    when `in_training` is False: with dropout, the layer's masks are then drawn exactly as the stock forward draws
    them (the rows that matter get the same values), so a run is comparable mask for mask with an earlier one."""
    encoder = getattr(model, "bert", None)
    if model.config.model_type != "bert" or encoder is None or encoder.pooler is None:
        return False
    encoder.forward = types.MethodType(_cls_only_forward, encoder)
    encoder.cls_only_in_training = in_training
    return True


def _cls_only_forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                      inputs_embeds=None, **kwargs):
    """BertModel.forward for a classifier: last_hidden_state (B, 1, H) holds [CLS] only, pooler_output as usual."""
    from transformers.modeling_outputs import BaseModelOutputWithPoolingAndCrossAttentions

    extra = {k: v for k, v in kwargs.items() if k != "return_dict" and v not in (None, False)}
    selected = None
    if input_ids is not None and inputs_embeds is None and position_ids is None and not extra:
        selected = torch.zeros_like(input_ids, dtype=torch.bool)
        selected[:, 0] = True  # (B, T): [CLS]
    if self.training and not self.cls_only_in_training:
        selected = None
    if selected is None or not _subset_applies(self, selected):
        return type(self).forward(self, input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                                  position_ids=position_ids, inputs_embeds=inputs_embeds, **kwargs)
    cls = selected_hidden_states(self, input_ids, attention_mask, selected, token_type_ids)[:, None]  # (B, 1, H)
    return BaseModelOutputWithPoolingAndCrossAttentions(last_hidden_state=cls, pooler_output=self.pooler(cls))
