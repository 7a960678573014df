"""Training samplers under data parallelism, with the ranks simulated in one process: every example once per
epoch across ranks, length grouping kept, the single-process batches reproduced, and resumable positions."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

import pytest
import torch
from lightning.pytorch.trainer.connectors.data_connector import _DataConnector
from torch.utils.data import DataLoader

from data_modules import samplers
from data_modules.length_grouped import DistributedLengthGroupedSampler, LengthGroupedSampler, length_grouped_sampler
from data_modules.samplers import DistributedResumableSampler, ResumableShuffleSampler, shuffle_sampler

LENGTHS = torch.randint(8, 120, (1001,), generator=torch.Generator().manual_seed(0)).tolist()


def _rank_batches(sampler_of_rank, replicas: int, batch_size: int, epoch: int) -> list[list[list[int]]]:
    """[rank][batch] -> indices, as each rank's loader would cut its sampler's stream."""
    per_rank = []
    for rank in range(replicas):
        sampler = sampler_of_rank(rank)
        sampler.set_epoch(epoch)
        stream = list(iter(sampler))
        assert len(stream) == len(sampler)
        per_rank.append([stream[i: i + batch_size] for i in range(0, len(stream), batch_size)])
    return per_rank


@pytest.mark.parametrize("size", [1001, 64, 70, 9])
@pytest.mark.parametrize("replicas", [2, 3, 4])
def test_every_example_is_seen_once_per_epoch_across_ranks_with_equal_batch_counts(size, replicas):
    lengths = LENGTHS[:size]
    for epoch in (0, 1):
        ranks = _rank_batches(lambda r: DistributedLengthGroupedSampler(range(size), lengths, 8, seed=5,
                                                                        num_replicas=replicas, rank=r),
                              replicas, 8, epoch)
        assert len({len(batches) for batches in ranks}) == 1  # unequal counts would hang DDP at the last step
        seen = Counter(i for batches in ranks for batch in batches for i in batch)
        tail = size % (replicas * 8)
        repeats = replicas - tail if 0 < tail < replicas else 0  # only a tail too short to give each rank one
        assert set(seen) == set(range(size)) and sum(seen.values()) == size + repeats
        assert all(batch for batches in ranks for batch in batches)


def test_grouping_survives_ranks_and_each_step_holds_similar_lengths():
    def padded(batch):
        return len(batch) * max(LENGTHS[i] for i in batch) - sum(LENGTHS[i] for i in batch)

    ranks = _rank_batches(lambda r: DistributedLengthGroupedSampler(range(1001), LENGTHS, 16, seed=1, num_replicas=2,
                                                                    rank=r), 2, 16, epoch=0)
    grouped = sum(padded(b) for batches in ranks for b in batches)
    order = torch.randperm(1001, generator=torch.Generator().manual_seed(9)).tolist()
    shuffled = sum(padded(order[i: i + 16]) for i in range(0, 1001, 16))
    assert grouped < 0.2 * shuffled
    # the two ranks of one step hold neighbours of one sorted global batch: neither waits long for the other
    longest = [[max(LENGTHS[i] for i in b) for b in batches] for batches in ranks]
    assert all(abs(a - b) <= 20 for a, b in zip(*longest, strict=True))


def test_one_rank_gives_the_single_process_order_and_the_epoch_changes_it():
    one = DistributedLengthGroupedSampler(range(1001), LENGTHS, 8, seed=3, num_replicas=1, rank=0)
    assert list(iter(one)) == list(iter(LengthGroupedSampler(range(1001), LENGTHS, 8, seed=3)))
    one.set_epoch(1)
    assert list(iter(one)) != list(iter(LengthGroupedSampler(range(1001), LENGTHS, 8, seed=3)))
    plain = DistributedResumableSampler(range(100), 4, seed=2, num_replicas=1, rank=0)
    assert list(iter(plain)) == list(iter(ResumableShuffleSampler(range(100), seed=2)))


def test_two_ranks_read_the_micro_batches_of_one_process_accumulating_two():
    single = list(iter(ResumableShuffleSampler(range(96), seed=7)))
    micro = [single[i: i + 4] for i in range(0, 96, 4)]
    ranks = _rank_batches(lambda r: DistributedResumableSampler(range(96), 4, seed=7, num_replicas=2, rank=r),
                          2, 4, epoch=0)
    assert ranks[0] == micro[0::2] and ranks[1] == micro[1::2]


def test_a_saved_position_resumes_at_the_next_global_batch_on_any_number_of_ranks():
    ranks = [DistributedResumableSampler(range(100), 4, seed=2, num_replicas=2, rank=r) for r in range(2)]
    full = [list(iter(s)) for s in ranks]
    started = iter(ranks[0])
    for _ in range(3 * 4):  # three batches of rank 0 = three global batches of 8
        next(started)
    state = started.state_dict()
    assert state["position"] == 24
    for rank, sampler in enumerate(ranks):
        resumed = iter(sampler)
        resumed.load_state_dict(state)
        assert list(resumed) == full[rank][12:]
    single = iter(ResumableShuffleSampler(range(100), seed=2))  # the same state, read by one process
    single.load_state_dict(state)
    assert list(single) == list(iter(ResumableShuffleSampler(range(100), seed=2)))[24:]


def test_an_epoch_read_to_its_end_resumes_as_the_next_epoch_from_its_start():
    for make in (lambda: ResumableShuffleSampler(range(30), seed=1),
                 lambda: DistributedResumableSampler(range(30), 4, seed=1, num_replicas=2, rank=0)):
        finished = iter(make())
        list(finished)
        state = finished.state_dict()
        assert state == {"epoch": 0, "position": 30}
        following = make()
        following.set_epoch(1)
        resumed = iter(make())  # on resume Lightning builds the iterator of a fresh sampler before `set_epoch`
        resumed.load_state_dict(state)
        assert list(resumed) == list(iter(following)) != list(iter(make()))


def test_the_samplers_follow_the_process_group_and_lightning_keeps_them(monkeypatch):
    assert type(shuffle_sampler(range(10), 2, 0)) is ResumableShuffleSampler
    assert type(length_grouped_sampler(range(10), [1] * 10, 2, 0)) is LengthGroupedSampler
    monkeypatch.setattr(samplers, "data_parallel_world", lambda: (2, 1))
    monkeypatch.setattr("data_modules.length_grouped.data_parallel_world", lambda: (2, 1))
    plain, grouped = shuffle_sampler(range(10), 2, 0), length_grouped_sampler(range(10), [1] * 10, 2, 0)
    assert (plain.num_replicas, plain.rank, grouped.num_replicas, grouped.rank) == (2, 1, 2, 1)
    # Lightning swaps in its own sampler unless the loader's already is a DistributedSampler (upstream rule)
    trainer = SimpleNamespace(_accelerator_connector=SimpleNamespace(use_distributed_sampler=True,
                                                                     is_distributed=True))
    connector = _DataConnector(trainer)
    assert connector._requires_distributed_sampler(DataLoader(range(10), sampler=ResumableShuffleSampler(range(10))))
    for kept in (plain, grouped):
        assert not connector._requires_distributed_sampler(DataLoader(range(10), batch_size=2, sampler=kept))
