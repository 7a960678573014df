"""Masking properties: exact counts, 80/10/10 by rank, special tokens untouched, seeded and batch-independent."""

import torch

from data_modules.collators import IGNORE_INDEX, TokenMasker, apply_mask

CLS, SEP, PAD, MASK = 101, 102, 0, 103


def _batch(lengths: list[int], width: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    batch = torch.full((len(lengths), width), PAD)
    for row, length in enumerate(lengths):
        batch[row, :length] = torch.randint(1000, 30000, (length,), generator=generator)
        batch[row, 0], batch[row, length - 1] = CLS, SEP
    return batch


def _masker(probability=0.15, seed=0):
    return TokenMasker(MASK, [CLS, SEP, PAD, MASK, 100], 30522, probability, seed)


def test_exact_counts_and_80_10_10_split():
    lengths = [128, 100, 67, 20, 5, 3]
    ids = _batch(lengths, 128)
    masked, labels = _masker()(ids, torch.arange(len(lengths)), epoch=0)
    replaced = drawn = 0
    for row, length in enumerate(lengths):
        maskable = length - 2
        n = max(1, int(0.15 * maskable + 0.5))
        selected = labels[row] != IGNORE_INDEX
        assert selected.sum() == n
        n_mask = int(0.8 * n + 0.5)
        n_random = min(int(0.1 * n + 0.5), n - n_mask)
        assert (masked[row][selected] == MASK).sum() == n_mask
        # unchanged + random = the rest; random ones differ from the original unless they drew the same id
        changed = (masked[row] != ids[row]) & selected & (masked[row] != MASK)
        assert changed.sum() <= n_random
        replaced, drawn = replaced + int(changed.sum()), drawn + n_random
        assert torch.equal(labels[row][selected], ids[row][selected])
        assert torch.equal(masked[row][~selected], ids[row][~selected])  # nothing else touched
    assert replaced >= drawn - 1  # the 10% random share is drawn (one may hit its own id among ~30k)


def test_rank_split_exact_with_given_scores():
    ids = _batch([102], 102)
    maskable = torch.ones_like(ids, dtype=torch.bool)
    maskable[0, 0] = maskable[0, -1] = False
    scores = torch.rand(ids.shape, generator=torch.Generator().manual_seed(1))
    random_tokens = torch.full_like(ids, 7)  # a marker id that never occurs in the batch
    masked, labels = apply_mask(ids, maskable, scores, random_tokens, MASK, 0.15)
    assert (labels != IGNORE_INDEX).sum() == 15  # round(0.15 * 100)
    assert (masked == MASK).sum() == 12 and (masked == 7).sum() == 2  # 80% and 10% of 15, rounded half up


def test_special_and_padding_never_selected():
    ids = _batch([30, 10, 64], 64)
    for seed in range(20):
        masked, labels = _masker(0.5, seed)(ids, torch.arange(3), epoch=seed)
        special = torch.isin(ids, torch.tensor([CLS, SEP, PAD]))
        assert (labels[special] == IGNORE_INDEX).all()
        assert torch.equal(masked[special], ids[special])


def test_random_replacements_are_not_special():
    ids = _batch([128] * 64, 128)
    masked, labels = _masker(0.5)(ids, torch.arange(64), epoch=0)
    replaced = (labels != IGNORE_INDEX) & (masked != MASK) & (masked != ids)
    assert replaced.sum() > 0
    assert not torch.isin(masked[replaced], torch.tensor([CLS, SEP, PAD, MASK, 100])).any()


def test_masks_depend_on_seed_epoch_and_example_only():
    ids = _batch([40, 50, 60, 70], 70)
    index = torch.tensor([10, 11, 12, 13])
    first = _masker()(ids, index, epoch=0)
    again = _masker()(ids, index, epoch=0)
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    next_epoch = _masker()(ids, index, epoch=1)
    assert not torch.equal(first[1], next_epoch[1])  # dynamic: fresh masks every epoch
    other_seed = _masker(seed=1)(ids, index, epoch=0)
    assert not torch.equal(first[1], other_seed[1])
    # the same example gets the same mask whatever batch it lands in
    alone = _masker()(ids[2:3, :60], index[2:3], epoch=0)
    assert torch.equal(alone[1][0], first[1][2, :60])


def test_masker_uses_tokenizer_special_ids(embedded_tokenizer):
    tokenizer = embedded_tokenizer
    masker = TokenMasker(tokenizer.mask_token_id, tokenizer.all_special_ids, len(tokenizer))
    encoded = tokenizer(["the quick brown fox jumps over the lazy dog"] * 4, return_tensors="pt")
    masked, labels = masker(encoded["input_ids"], torch.arange(4), epoch=0)
    assert (labels[:, 0] == IGNORE_INDEX).all() and (labels[:, -1] == IGNORE_INDEX).all()
    assert ((labels != IGNORE_INDEX).sum(1) == 1).all()  # round(0.15 * 9) = 1
