"""A shuffling sampler whose position survives a restart, for exact mid-epoch resume.

The order of epoch `e` is a pure function of (seed, e), and the iterator reports (epoch, position) through
`state_dict()`. `StatefulDataLoader` saves that state in every checkpoint (via Lightning's stateful-loader
support) and hands it back on resume, so the resumed run continues with the very next example, in the same order.
It subclasses `RandomSampler` so that Lightning still recognises it as shuffling and swaps in a
`DistributedSampler` (itself seeded by epoch) when training on several devices.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from torch.utils.data import RandomSampler


class ResumableShuffleSampler(RandomSampler):
    """Shuffles `data_source` anew every epoch (Lightning calls `set_epoch`), reproducibly under `seed`."""

    def __init__(self, data_source, seed: int = 0):
        super().__init__(data_source)
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> _EpochOrder:
        return _EpochOrder(len(self.data_source), self.seed, self.epoch)

    def __len__(self) -> int:
        return len(self.data_source)


class _EpochOrder:
    """Iterator over one epoch's permutation that can report and restore its position."""

    def __init__(self, size: int, seed: int, epoch: int, position: int = 0):
        self.size, self.seed, self.epoch, self.position = size, seed, epoch, position
        self._order: list[int] | None = None

    def _permutation(self) -> list[int]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return torch.randperm(self.size, generator=generator).tolist()

    def __iter__(self) -> _EpochOrder:
        return self

    def __next__(self) -> int:
        if self.position >= self.size:
            raise StopIteration
        if self._order is None:
            self._order = self._permutation()
        self.position += 1
        return self._order[self.position - 1]

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.position, self._order = state["epoch"], state["position"], None


def eval_sampler(dataset) -> UnrepeatedDistributedSampler | None:
    """Under data parallelism, shard evaluation data without the padding repeats of `DistributedSampler`.

    Lightning's default eval sampler pads every rank to the same length by repeating examples, which would count
    them twice in a token-weighted loss or an F1; with unrepeated shards the metrics synced by torchmetrics equal a
    single-process evaluation exactly. None (sequential) on a single process.
    """
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        return UnrepeatedDistributedSampler(dataset, shuffle=False)
    return None
