"""Length-grouped shuffling: batches of similar-length examples, in a random, seeded, resumable order.

Each epoch: a seeded permutation is cut into mega-batches of `mega_batches x batch_size` examples; each mega-batch
is sorted by length (longest first) and cut into batches; the batches are then shuffled. Padding per batch drops to
near zero while every batch still mixes examples from across the data set (the scheme of HF's
`LengthGroupedSampler`, here with exact mid-epoch resume from `ResumableShuffleSampler`).

Under data parallelism the grouping is done on global batches (`ranks x batch_size`), and each rank reads its slice
of every global batch (`DistributedLengthGroupedSampler`): the ranks of one step hold pairs of similar length, so
none waits for a longer one, and Lightning keeps the sampler instead of swapping in a plain `DistributedSampler`.
"""

from __future__ import annotations

import torch

from data_modules.samplers import (
    DistributedResumableSampler,
    ResumableShuffleSampler,
    _EpochOrder,
    data_parallel_world,
    epoch_generator,
)


def length_grouped_order(lengths: list[int], batch_size: int, mega_batches: int, seed: int, epoch: int) -> list[int]:
    """The epoch's indices, so that consecutive runs of `batch_size` are batches of similar length."""
    generator = epoch_generator(seed, epoch)
    order = torch.randperm(len(lengths), generator=generator).tolist()
    group = batch_size * mega_batches
    batches = []
    for start in range(0, len(order), group):
        ranked = sorted(order[start: start + group], key=lambda i: -lengths[i])
        batches += [ranked[i: i + batch_size] for i in range(0, len(ranked), batch_size)]
    # a short batch must stay last, or it would shift every later batch's boundary in the loader
    full = [b for b in batches if len(b) == batch_size]
    short = [b for b in batches if len(b) < batch_size]
    shuffled = [full[i] for i in torch.randperm(len(full), generator=generator).tolist()]
    return [i for batch in shuffled + short for i in batch]


class LengthGroupedSampler(ResumableShuffleSampler):
    """Yields indices so that consecutive runs of `batch_size` form length-grouped batches.

    Args:
        data_source: the dataset (only its length is used).
        lengths: token count of each example.
        batch_size: the loader's batch size (the grouping is aligned to it).
        seed: seed of the order; epoch `e` uses (seed, e), so a restarted run sees the same batches.
        mega_batches: batches per sorted group; larger = less padding, less randomness.
    """

    def __init__(self, data_source, lengths: list[int], batch_size: int, seed: int = 0, mega_batches: int = 50):
        super().__init__(data_source, seed)
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.mega_batches = mega_batches

    def __iter__(self) -> _EpochOrder:
        return _GroupedEpochOrder(self, self.epoch)


class _GroupedEpochOrder(_EpochOrder):
    def __init__(self, sampler: LengthGroupedSampler, epoch: int, position: int = 0):
        super().__init__(len(sampler.lengths), sampler.seed, epoch, position)
        self.sampler = sampler

    def _permutation(self) -> list[int]:
        s = self.sampler
        return length_grouped_order(s.lengths, s.batch_size, s.mega_batches, self.seed, self.epoch)


class DistributedLengthGroupedSampler(DistributedResumableSampler):
    """This rank's slice of every length-grouped global batch; with one rank, the `LengthGroupedSampler` order.

    Args:
        data_source: the dataset (only its length is used).
        lengths: token count of each example.
        batch_size: the loader's (per-rank) batch size.
        seed: seed of the order, shared by all ranks.
        num_replicas, rank: the data-parallel world (default: from `torch.distributed`).
        mega_batches: global batches per sorted group.
    """

    def __init__(self, data_source, lengths: list[int], batch_size: int, seed: int = 0,
                 num_replicas: int | None = None, rank: int | None = None, mega_batches: int = 50):
        super().__init__(data_source, batch_size, seed, num_replicas=num_replicas, rank=rank)
        self.lengths = list(lengths)
        self.mega_batches = mega_batches

    def global_order(self, epoch: int) -> list[int]:
        step = self.batch_size * self.num_replicas
        return length_grouped_order(self.lengths, step, self.mega_batches, self.seed, epoch)


def length_grouped_sampler(dataset, lengths: list[int], batch_size: int, seed: int):
    """The length-grouped training sampler: this rank's share under data parallelism, the whole order otherwise."""
    world = data_parallel_world()
    if world is None:
        return LengthGroupedSampler(dataset, lengths, batch_size, seed)
    return DistributedLengthGroupedSampler(dataset, lengths, batch_size, seed, num_replicas=world[0], rank=world[1])
