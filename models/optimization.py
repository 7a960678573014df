"""The one optimizer surface of every model: AdamW over parameter groups, then a `transformers` schedule.

Groups: biases and normalisation weights (all 1-D tensors) get no weight decay, as in BERT; parameters of the
freshly initialised head (names starting with one of the model's head prefixes) take `head_learning_rate` when
set; with `layer_decay` < 1, transformer layer k of L (embeddings = 0) gets `learning_rate * layer_decay**(L+1-k)`.
LearningRateMonitor logs each group as `train/lr/<name>` (body, body_no_decay, head, layer03, ...).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal

import torch
from torch import nn

from foundation.errors import ConfigError

# The `transformers.get_scheduler` schedules that need nothing but warmup and total steps.
SchedulerName = Literal["linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup",
                        "inverse_sqrt"]
_LAYER = re.compile(r"\.layers?\.(\d+)\.")  # BERT: encoder.layer.3.  ModernBERT: layers.3.


def layer_depth(name: str, num_layers: int) -> int:
    """0 for embeddings, k + 1 for transformer layer k, num_layers + 1 for everything above (pooler, head)."""
    match = _LAYER.search(name)
    if match:
        return int(match.group(1)) + 1
    return 0 if "embeddings" in name else num_layers + 1


def parameter_groups(named_parameters: Iterable[tuple[str, nn.Parameter]], learning_rate: float,
                     weight_decay: float, head_prefixes: tuple[str, ...] = (), head_learning_rate: float | None = None,
                     layer_decay: float = 1.0, num_layers: int = 0) -> list[dict]:
    """AdamW parameter groups as described in the module docstring, in a fixed order (sorted by name)."""
    groups: dict[tuple[str, bool], dict] = {}
    top = num_layers + 1
    for name, parameter in named_parameters:
        if not parameter.requires_grad:
            continue
        is_head = bool(head_prefixes) and name.startswith(head_prefixes) and (
            head_learning_rate is not None or layer_decay != 1.0)
        depth = top if is_head else layer_depth(name, num_layers)
        if is_head:
            lr, label = head_learning_rate or learning_rate, "head"
        elif layer_decay == 1.0:
            lr, label = learning_rate, "body"
        else:
            lr, label = learning_rate * layer_decay ** (top - depth), f"layer{depth:02d}"
        decays = parameter.ndim >= 2
        group = groups.setdefault((label, decays), {"params": [], "weight_decay": weight_decay if decays else 0.0,
                                                    "lr": lr, "name": label + ("" if decays else "_no_decay")})
        group["params"].append(parameter)
    return [groups[key] for key in sorted(groups)]


def warmup_steps_for(total_steps: int, warmup_steps: int, warmup_ratio: float) -> int:
    """Warmup length: explicit steps win; otherwise a ratio of the total optimizer steps."""
    return warmup_steps if warmup_steps > 0 else int(round(total_steps * warmup_ratio))


def adamw_with_schedule(groups: list[dict], learning_rate: float, betas: tuple[float, float], eps: float,
                        scheduler_type: str, total_steps: int, warmup_steps: int) -> dict:
    """`configure_optimizers` output: AdamW (fused on CUDA and CPU) and a per-step `transformers` schedule."""
    from transformers import get_scheduler

    # The fused kernel (one pass over all parameters instead of a dozen element-wise ops per tensor) exists for
    # CUDA and, since torch 2.4, CPU; the Hugging Face Trainer uses it too (`adamw_torch_fused`).
    fusable = all(p.device.type in ("cuda", "cpu") and p.is_floating_point() for g in groups for p in g["params"])
    optimizer = torch.optim.AdamW(groups, lr=learning_rate, betas=betas, eps=eps, fused=fusable or None)
    # Fused AdamW announces it can unscale fp16 gradients itself; Lightning's mixed-precision plugin then refuses
    # gradient clipping outright, also under bf16 where nothing needs unscaling (every config clips at 1.0, so
    # `configs/trainer/gpu.yaml` failed at step 1). Without the flag, a GradScaler (fp16) unscales before clipping,
    # as for any optimizer. Tested with bf16-mixed in tests/models/test_masked_lm.py.
    optimizer._step_supports_amp_scaling = False
    scheduler = get_scheduler(scheduler_type, optimizer, num_warmup_steps=warmup_steps,
                              num_training_steps=total_steps)
    return {"optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step", "name": "train/lr"}}


def check_optimizer_options(learning_rate: float, head_learning_rate: float | None, weight_decay: float,
                            adam_betas: tuple[float, float], adam_epsilon: float, warmup_steps: int,
                            warmup_ratio: float) -> None:
    """One sentence for each optimizer option outside its range, before anything is built or written."""
    checks = [
        (learning_rate > 0, f"--model.learning_rate={learning_rate} must be positive; BERT fine-tuning uses 2e-5 to "
                            "1e-4, pre-training 1e-4 to 1e-3."),
        (head_learning_rate is None or head_learning_rate > 0,
         f"--model.head_learning_rate={head_learning_rate} must be positive (or null = the learning rate)."),
        (weight_decay >= 0, f"--model.weight_decay={weight_decay} must be 0 or more; BERT uses 0.01."),
        (len(adam_betas) == 2 and all(0 <= b < 1 for b in adam_betas),
         f"--model.adam_betas={list(adam_betas)} must be two numbers in [0, 1); pass e.g. [0.9, 0.999]."),
        (adam_epsilon > 0, f"--model.adam_epsilon={adam_epsilon} must be positive; pass e.g. 1e-8."),
        (warmup_steps >= 0, f"--model.warmup_steps={warmup_steps} must be 0 or more."),
        (0 <= warmup_ratio < 1, f"--model.warmup_ratio={warmup_ratio} must be in [0, 1); pass e.g. 0.06."),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
