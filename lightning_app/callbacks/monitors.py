"""Training signals worth a chart: the gradient norm."""

from __future__ import annotations

import lightning as L
import torch


class GradNormMonitor(L.Callback):
    """Logs `train/grad_norm`, the global L2 norm of all gradients before clipping, every `log_every_n_steps`
    optimizer steps (computing it costs a pass over every gradient, so not on the other steps)."""

    def on_before_optimizer_step(self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer) -> None:
        if trainer.global_step % max(1, trainer.log_every_n_steps) != 0:
            return
        norms = [p.grad.detach().norm() for p in pl_module.parameters() if p.grad is not None]
        if norms:
            pl_module.log("train/grad_norm", torch.stack(norms).norm())
