"""The two things exact mid-epoch resume needs from the application, for every model
(tests/end_to_end/test_exact_resume_after_signals.py).

1. Random draws depend on where the run is, not on its history (`DeterministicStepSeed`).
2. The train loader's saved position is restored (`LoaderPositionOnResume`): computing
   `trainer.estimated_stepping_batches` (e.g. for a learning-rate schedule in `configure_optimizers`) builds the
   train loader before a checkpoint's loader state is restored, and Lightning would then reuse that fresh loader,
   silently replaying the epoch from its first batch. Dropping it before the fit loop starts makes Lightning build
   the loader again and restore its position. A model that writes its own `configure_optimizers` needs nothing.
"""

from __future__ import annotations

import lightning as L
import torch


class DeterministicStepSeed(L.Callback):
    """Reseeds the global RNGs before every training batch from (seed, optimizer step, micro-batch, rank).

    Why it exists: dropout (and any other draw from the global RNG, in any model) otherwise depends on every draw
    since the process started, so a run resumed from a checkpoint would draw different dropout masks than one that
    never stopped, and `--ckpt_path last` would not end with the same weights. Reseeded per batch, draws depend only
    on where the run is. It overrides the global RNG for every model; a model that seeds its own generators, or a
    run that does not need bit-identical resumes, can switch it off with `--deterministic_step_seed null`.

    Args:
        seed: base of every batch's seed; null takes the run's `seed_everything` (0 when that is false).
    """

    def __init__(self, seed: int | None = None):
        self.seed = seed

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:
        step_seed = hash((self.seed, trainer.global_step, batch_idx, trainer.global_rank)) % (2**63 - 1)
        torch.manual_seed(step_seed)


class LoaderPositionOnResume(L.Callback):
    """Makes the fit loop rebuild its train loader, so a restored loader position is applied (see above).

    Uses Lightning's private `fit_loop._combined_loader`; tests/end_to_end/test_extending_the_project.py fails loudly
    if a
    Lightning upgrade renames it.
    """

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        trainer.fit_loop._combined_loader = None
