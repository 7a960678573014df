"""The matmul FLOPs of every training step of a `main.py fit`, for a bench's matmul floor: those FLOPs at the
machine's peak matmul rate are the least time any implementation of the same computation can take.

    python main.py fit --config ... --trainer.callbacks '[{"class_path": "flop_count.TrainingFlops",
                                                            "init_args": {"out": "flops.json"}}]'   # bench/ on the path

torch's `FlopCounterMode` counts the operators it has formulas for (matmuls, attention, convolutions) in the forward
and the backward of each step; element-wise work counts nothing. Counting slows the run: its time is not a figure.
"""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L
from torch.utils.flop_counter import FlopCounterMode


class TrainingFlops(L.Callback):
    """Writes {"steps": training batches counted, "flops": their FLOPs} to `out` when training ends."""

    def __init__(self, out: str):
        self.out = Path(out)
        self.steps, self.flops = 0, 0
        self._counter: FlopCounterMode | None = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._counter = FlopCounterMode(display=False)
        self._counter.__enter__()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._counter.__exit__(None, None, None)
        self.steps += 1
        self.flops += self._counter.get_total_flops()

    def on_train_end(self, trainer, pl_module) -> None:
        self.out.write_text(json.dumps({"steps": self.steps, "flops": self.flops}))
