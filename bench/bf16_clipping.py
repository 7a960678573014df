"""Work around Lightning refusing gradient clipping with fused AdamW under mixed precision (GPU suite only).

Fused AdamW sets `optimizer._step_supports_amp_scaling = True` (it can unscale fp16 gradients inside its kernel), and
Lightning's `MixedPrecision.clip_gradients` then raises "does not allow for gradient clipping" for any mixed
precision, bf16 included, where no scaler exists and nothing needs unscaling. Every config clips at 1.0 and
`models/optimization.py` builds fused AdamW, so `--config configs/trainer/gpu.yaml` (bf16-mixed) fails at the first
step. The fix belongs in `adamw_with_linear_schedule` (clear the flag when the precision has no scaler); until then
the suite adds this callback. Clearing the flag is also correct under fp16: GradScaler then unscales before the step.
"""

from __future__ import annotations

import lightning as L


class AllowClippingWithFusedAdamW(L.Callback):
    """Clear `_step_supports_amp_scaling` on the optimizers (and their Lightning wrappers, which copy it)."""

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        wrapped = pl_module.optimizers(use_pl_optimizer=True)
        for optimizer in [*trainer.optimizers, *(wrapped if isinstance(wrapped, list) else [wrapped])]:
            optimizer._step_supports_amp_scaling = False
