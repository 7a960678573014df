"""Model FLOPs utilisation: nanoGPT's FLOPs-per-token formula and dense peak FLOP/s looked up by device name.

    flops_per_token = 6 N + 12 L H Q T        (karpathy/nanoGPT `estimate_mfu`, after PaLM appendix B)

N = parameters without the position embeddings, L layers, H heads, Q head size, T sequence length; 6N is forward
(2N) plus backward (4N), the second term the attention scores and their weighted sum. MFU = tokens/s x
flops_per_token / peak. The formula counts the model, not what an implementation skips (a sparse MLM head, a
last layer run on the labelled rows only), so two implementations of one model compare by their tokens/s.

Peaks are the dense (no 2:4 sparsity) tensor-core figures of the datasheets, per precision; a device not listed
gets None (no MFU printed), never another card's number.
"""

from __future__ import annotations

import torch

# lower-case substrings of torch.cuda.get_device_name() -> dense bf16/fp16 tensor-core FLOP/s
_BF16_PEAKS = (
    ("h100 pcie", 756e12),  # 1,513 "with sparsity" / 2
    ("h100 nvl", 835e12),  # 1,671 with sparsity / 2
    ("h100", 989.4e12),  # SXM5 ("NVIDIA H100 80GB HBM3")
    ("h200", 989.4e12),  # same compute as H100 SXM, more memory
    ("a100", 312e12),
    ("l40s", 362e12),
    ("l4", 121e12),
    ("a10g", 70e12),
)


def peak_flops_per_s(device_name: str, precision: str) -> float | None:
    """Dense peak FLOP/s of `device_name` at a bf16/fp16 `precision` ("bf16-mixed", ...); None if unknown."""
    if not precision.startswith(("bf16", "16")):
        return None  # fp32 peaks depend on TF32 settings: not reported
    name = device_name.lower()
    return next((peak for key, peak in _BF16_PEAKS if key in name), None)


def flops_per_token(model: torch.nn.Module, sequence_length: int) -> float:
    """nanoGPT's 6 N + 12 L H Q T for a Hugging Face encoder/decoder (`config` with the usual BERT names)."""
    config = model.config
    position = sum(p.numel() for name, p in model.named_parameters() if "position_embeddings" in name)
    params = sum(p.numel() for p in model.parameters()) - position
    head_size = config.hidden_size // config.num_attention_heads
    return 6 * params + 12 * config.num_hidden_layers * config.num_attention_heads * head_size * sequence_length
