"""A shuffling sampler whose position survives a restart, for exact mid-epoch resume.

The order of epoch `e` is a pure function of (seed, e), and the iterator reports (epoch, position) through
`state_dict()`. `StatefulDataLoader` saves that state in every checkpoint (via Lightning's stateful-loader
support) and hands it back on resume, so the resumed run continues with the very next example, in the same order.
Under data parallelism `DistributedResumableSampler` takes its place (`shuffle_sampler` picks): every rank reads
its slice of each global batch of the same order, so 2 ranks x batch 4 see exactly the batches that one process
sees with batch 4 x 2 accumulation steps, and the position still survives a restart. (Lightning would otherwise
swap in a plain `DistributedSampler`, whose order differs from the single-process one and is not resumable.)
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from torch.utils.data import DistributedSampler, RandomSampler


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
        return torch.randperm(self.size, generator=epoch_generator(self.seed, self.epoch)).tolist()

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
        self._order = None
        if state["position"] >= self.size:
            # an epoch read to its end: Lightning (a loader with a length is not prefetched past its last batch)
            # saved it before StopIteration, and on resume builds the next epoch's iterator before `set_epoch`
            self.epoch, self.position = state["epoch"] + 1, 0
            return
        self.epoch, self.position = state["epoch"], state["position"]


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


def rank_share(order: list[int], batch_size: int, replicas: int, rank: int) -> list[int]:
    """Rank `rank`'s indices of `order`: its `batch_size` slice of every global batch (`replicas x batch_size`).

    The short tail is dealt out round-robin, so every rank gets the same number of batches (DDP would hang
    otherwise) and every example is read exactly once; only a tail shorter than `replicas` is topped up with
    the first examples of the order, the fewest repeats that give every rank a batch.
    """
    step = replicas * batch_size
    rounds = len(order) // step
    share = [i for k in range(rounds) for i in order[k * step + rank * batch_size: k * step + (rank + 1) * batch_size]]
    tail = order[rounds * step:]
    if 0 < len(tail) < replicas:
        tail = tail + order[: replicas - len(tail)]
    return share + tail[rank::replicas]


class DistributedResumableSampler(DistributedSampler):
    """This rank's share (`rank_share`) of the seeded epoch order, resumable mid-epoch.

    A `DistributedSampler` subclass, so Lightning keeps it instead of swapping in its own. The saved position
    counts examples of the global order (whole global batches). A fit resumes on its own number of ranks (another
    is refused: `lightning_app/checkpointing/resume_differences.py`).
    """

    def __init__(self, data_source, batch_size: int, seed: int = 0, num_replicas: int | None = None,
                 rank: int | None = None):
        super().__init__(data_source, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed)
        self.batch_size = batch_size

    def global_order(self, epoch: int) -> list[int]:
        """The epoch's order over all ranks: the single-process `ResumableShuffleSampler` order."""
        return torch.randperm(len(self.dataset), generator=epoch_generator(self.seed, epoch)).tolist()

    def __iter__(self) -> _RankOrder:
        return _RankOrder(self, self.epoch)

    def __len__(self) -> int:
        return _share_size(len(self.dataset), self.batch_size, self.num_replicas, self.rank)


def _share_size(size: int, batch_size: int, replicas: int, rank: int) -> int:
    rounds, tail = divmod(size, replicas * batch_size)
    return rounds * batch_size + len(range(rank, max(tail, replicas if tail else 0), replicas))


class _RankOrder(_EpochOrder):
    def __init__(self, sampler: DistributedResumableSampler, epoch: int, position: int = 0):
        super().__init__(len(sampler), sampler.seed, epoch, position)
        self.sampler = sampler

    def _permutation(self) -> list[int]:
        s = self.sampler
        return rank_share(s.global_order(self.epoch), s.batch_size, s.num_replicas, s.rank)

    def state_dict(self) -> dict:
        # whole global batches consumed (a batch this rank has started was fetched whole by its loader)
        batches = -(-self.position // self.sampler.batch_size)
        step = self.sampler.batch_size * self.sampler.num_replicas
        return {"epoch": self.epoch, "position": min(batches * step, len(self.sampler.dataset))}

    def load_state_dict(self, state: dict) -> None:
        s = self.sampler
        if state["position"] >= len(s.dataset):  # an epoch read to its end: see `_EpochOrder.load_state_dict`
            self.epoch, self.position, self._order = state["epoch"] + 1, 0, None
            return
        batches = state["position"] // (s.batch_size * s.num_replicas)
        self.epoch, self._order = state["epoch"], None
        self.position = min(batches * s.batch_size, self.size)


def data_parallel_world() -> tuple[int, int] | None:
    """(world size, rank) when training under data parallelism with more than one process, else None."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        return dist.get_world_size(), dist.get_rank()
    return None


def shuffle_sampler(dataset, batch_size: int, seed: int) -> ResumableShuffleSampler | DistributedResumableSampler:
    """The resumable training sampler: this rank's share under data parallelism, the whole order otherwise."""
    world = data_parallel_world()
    if world is None:
        return ResumableShuffleSampler(dataset, seed)
    return DistributedResumableSampler(dataset, batch_size, seed, num_replicas=world[0], rank=world[1])


def eval_sampler(dataset) -> UnrepeatedDistributedSampler | None:
    """Under data parallelism, shard evaluation data without the padding repeats of `DistributedSampler`.

    Lightning's default eval sampler pads every rank to the same length by repeating examples, which would count
    them twice in a token-weighted loss or an F1; with unrepeated shards the metrics synced by torchmetrics equal a
    single-process evaluation exactly. None (sequential) on a single process.
    """
    if data_parallel_world() is not None:
        return UnrepeatedDistributedSampler(dataset, shuffle=False)
    return None
