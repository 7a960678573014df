"""Length-grouped shuffling: batches of similar-length examples, in a random, seeded, resumable order.

Each epoch: a seeded permutation is cut into mega-batches of `mega_batches x batch_size` examples; each mega-batch
is sorted by length (longest first) and cut into batches; the batches are then shuffled. Padding per batch drops to
near zero while every batch still mixes examples from across the data set (the scheme of HF's
`LengthGroupedSampler`, here with exact mid-epoch resume from `ResumableShuffleSampler`).
"""

from __future__ import annotations

import torch

from data_modules.samplers import ResumableShuffleSampler, _EpochOrder


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
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(self.size, generator=generator).tolist()
        group = s.batch_size * s.mega_batches
        batches = []
        for start in range(0, self.size, group):
            ranked = sorted(order[start: start + group], key=lambda i: -s.lengths[i])
            batches += [ranked[i: i + s.batch_size] for i in range(0, len(ranked), s.batch_size)]
        # a short batch must stay last, or it would shift every later batch's boundary in the loader
        full = [b for b in batches if len(b) == s.batch_size]
        short = [b for b in batches if len(b) < s.batch_size]
        shuffled = [full[i] for i in torch.randperm(len(full), generator=generator).tolist()]
        return [i for batch in shuffled + short for i in batch]
