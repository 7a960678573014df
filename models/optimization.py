"""AdamW with the usual no-decay rule and a warmup-then-linear-decay schedule, shared by every model."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from lightning_app.errors import ConfigError


def parameter_groups(named_parameters: Iterable[tuple[str, nn.Parameter]], weight_decay: float,
                     learning_rate: float, head_prefixes: tuple[str, ...] = (),
                     head_learning_rate: float | None = None) -> list[dict]:
    """Split trainable parameters into AdamW groups.

    Biases and normalisation weights (all 1-D tensors) get no weight decay, as in BERT; parameters whose names
    start with one of `head_prefixes` may take their own learning rate (a freshly initialised head learns faster
    than the pretrained encoder can safely move).
    """
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    for name, parameter in named_parameters:
        if not parameter.requires_grad:
            continue
        is_head = head_learning_rate is not None and name.startswith(head_prefixes)
        groups.setdefault((is_head, parameter.ndim >= 2), []).append(parameter)
    return [
        {"params": params, "weight_decay": weight_decay if decays else 0.0,
         "lr": head_learning_rate if is_head else learning_rate,
         # LearningRateMonitor logs each group as train/lr/<name>
         "name": f"{'head' if is_head else 'body'}{'' if decays else '_no_decay'}"}
        for (is_head, decays), params in sorted(groups.items())
    ]


def warmup_steps_for(total_steps: int, warmup_steps: int, warmup_ratio: float) -> int:
    """Warmup length: explicit steps win; otherwise a ratio of the total optimizer steps."""
    if warmup_steps < 0 or not 0.0 <= warmup_ratio < 1.0:
        raise ConfigError(f"--model.warmup_steps={warmup_steps} / --model.warmup_ratio={warmup_ratio} are invalid; "
                          "pass warmup_steps >= 0 or a warmup_ratio in [0, 1).")
    return warmup_steps if warmup_steps > 0 else int(round(total_steps * warmup_ratio))


def linear_schedule_with_warmup(optimizer: torch.optim.Optimizer, total_steps: int,
                                warmup_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Learning rate rises linearly from 0 over `warmup_steps`, then falls linearly to 0 at `total_steps`."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def adamw_with_linear_schedule(module, learning_rate: float, weight_decay: float, warmup_steps: int,
                               warmup_ratio: float, betas: tuple[float, float], eps: float,
                               head_prefixes: tuple[str, ...] = (), head_learning_rate: float | None = None,
                               param_groups: list[dict] | None = None) -> dict:
    """`configure_optimizers` output for a LightningModule: AdamW (fused on CUDA and CPU) + per-step schedule.

    `param_groups` (e.g. layer-wise learning rates) replaces the default `parameter_groups(...)` split.
    """
    groups = param_groups if param_groups is not None else parameter_groups(
        module.named_parameters(), weight_decay, learning_rate, head_prefixes, head_learning_rate)
    # The fused kernel (one pass over all parameters instead of a dozen element-wise ops per tensor) exists for
    # CUDA and, since torch 2.4, CPU; the Hugging Face Trainer uses it too (`adamw_torch_fused`).
    fusable = all(p.device.type in ("cuda", "cpu") and p.is_floating_point()
                  for group in groups for p in group["params"])
    optimizer = torch.optim.AdamW(groups, lr=learning_rate, betas=betas, eps=eps, fused=fusable or None)
    total = int(module.trainer.estimated_stepping_batches)
    # Estimating builds the train loader before a checkpoint's loader state (its position within the epoch) is
    # restored, and Lightning would then reuse that fresh loader. Dropping it makes fit build it again and restore
    # the saved position: without this, a mid-epoch resume silently replays the epoch from its first batch.
    module.trainer.fit_loop._combined_loader = None
    scheduler = linear_schedule_with_warmup(optimizer, total, warmup_steps_for(total, warmup_steps, warmup_ratio))
    return {"optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step", "name": "train/lr"}}
