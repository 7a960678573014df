"""`bench/flop_count.py`: the matmul FLOPs of every training step, forward and backward."""

from __future__ import annotations

import json

import lightning as L
import torch

from bench.flop_count import TrainingFlops


class _OneLinear(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(8, 4, bias=False)

    def training_step(self, batch, batch_idx):
        return self.linear(batch).square().sum()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_each_step_counts_its_forward_and_weight_gradient_matmuls(tmp_path):
    batches = [torch.randn(5, 8) for _ in range(3)]  # inputs need no gradient: one backward matmul per step
    trainer = L.Trainer(accelerator="cpu", max_epochs=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False,
                        callbacks=[TrainingFlops(str(tmp_path / "flops.json"))])
    trainer.fit(_OneLinear(), train_dataloaders=torch.utils.data.DataLoader(batches, batch_size=None))
    counted = json.loads((tmp_path / "flops.json").read_text())
    assert counted == {"steps": 3, "flops": 3 * 2 * (2 * 5 * 8 * 4)}  # (5x8)@(8x4) forward, (4x5)@(5x8) backward
