"""Batch assembly: dynamic padding and exact-count MLM masking.

Masking rule (documented, tested in tests/data_modules/test_masking_counts.py). For each sequence with `m` maskable
tokens
(everything except special tokens and padding):
  * `n = round_half_up(p * m)` positions are selected, at least 1 when `m > 0` (short lines would otherwise
    often get no prediction target at all);
  * of those, `round_half_up(0.8 * n)` become [MASK], `min(round_half_up(0.1 * n), rest)` become a random
    non-special token, and the remainder stay unchanged (BERT's 80/10/10);
  * labels are the original ids at the selected positions and -100 elsewhere.
Random draws come from a generator seeded by (seed, epoch, example index), so a mask depends only on the
example and the epoch: it is reproducible under a seed, independent of batch composition, worker count and
data-parallel sharding, and the same after a resume.
"""

from __future__ import annotations

import torch

IGNORE_INDEX = -100
_MIX = 0x9E3779B97F4A7C15  # golden-ratio constant: spreads nearby seeds over the 64-bit space


def round_half_up(x: torch.Tensor) -> torch.Tensor:
    return torch.floor(x + 0.5).long()


def example_generator(seed: int, epoch: int, index: int) -> torch.Generator:
    """A CPU generator that depends only on (seed, epoch, example index)."""
    mixed = (seed * _MIX + (epoch + 1) * 1_000_003 + index * 7_919) % (2**63 - 1)
    return torch.Generator().manual_seed(mixed)


def pad_sequences(sequences: list[list[int]], pad_id: int, pad_to_multiple_of: int = 1) -> torch.Tensor:
    """Right-pad to the longest sequence (rounded up to a multiple, for tensor-core friendly shapes)."""
    length = max(len(s) for s in sequences)
    length = -(-length // pad_to_multiple_of) * pad_to_multiple_of
    out = torch.full((len(sequences), length), pad_id, dtype=torch.long)
    for row, sequence in enumerate(sequences):
        out[row, : len(sequence)] = torch.as_tensor(sequence, dtype=torch.long)
    return out


class PaddingCollator:
    """Turns examples `{"input_ids": [...], "index": i}` into `input_ids`, `attention_mask` and `index` tensors
    (and `num_tokens`, the non-padding token count)."""

    def __init__(self, pad_id: int, pad_to_multiple_of: int = 1):
        self.pad_id = pad_id
        self.pad_to_multiple_of = pad_to_multiple_of

    def __call__(self, examples: list[dict]) -> dict[str, torch.Tensor]:
        input_ids = pad_sequences([e["input_ids"] for e in examples], self.pad_id, self.pad_to_multiple_of)
        lengths = torch.tensor([len(e["input_ids"]) for e in examples])
        attention_mask = (torch.arange(input_ids.shape[1])[None, :] < lengths[:, None]).long()
        return {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "index": torch.tensor([e["index"] for e in examples], dtype=torch.long),
            "num_tokens": int(lengths.sum()),  # a plain int: counting tokens later costs no device sync
        }


class TokenMasker:
    """Exact-count 80/10/10 masking (see the module docstring).

    Args:
        mask_token_id: id of [MASK].
        special_token_ids: ids never selected (CLS, SEP, PAD, UNK, MASK, ...).
        vocab_size: number of token ids; random replacements are drawn from the non-special ones.
        mlm_probability: share of maskable tokens to select, in (0, 1).
        seed: base seed of the per-example generators.
    """

    def __init__(self, mask_token_id: int, special_token_ids: list[int], vocab_size: int,
                 mlm_probability: float = 0.15, seed: int = 0):
        if not 0.0 < mlm_probability < 1.0:
            raise ValueError(f"mlm_probability must be in (0, 1), got {mlm_probability}")
        self.mask_token_id = mask_token_id
        self.special_token_ids = torch.tensor(sorted(set(special_token_ids)), dtype=torch.long)
        allowed = torch.ones(vocab_size, dtype=torch.bool)
        allowed[self.special_token_ids[self.special_token_ids < vocab_size]] = False
        self.replacement_ids = allowed.nonzero().squeeze(1)  # (V',) ids a random replacement may take
        self.mlm_probability = mlm_probability
        self.seed = seed

    def __call__(self, input_ids: torch.Tensor, index: torch.Tensor, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Mask a (B, T) batch; returns (masked input ids, labels), both (B, T)."""
        batch, length = input_ids.shape
        scores = torch.empty(batch, length)
        replacements = torch.empty(batch, length, dtype=torch.long)
        for row, example_index in enumerate(index.tolist()):
            generator = example_generator(self.seed, epoch, example_index)
            scores[row] = torch.rand(length, generator=generator)
            replacements[row] = torch.randint(len(self.replacement_ids), (length,), generator=generator)
        maskable = ~torch.isin(input_ids, self.special_token_ids)
        return apply_mask(input_ids, maskable, scores, self.replacement_ids[replacements],
                          self.mask_token_id, self.mlm_probability)


def apply_mask(input_ids: torch.Tensor, maskable: torch.Tensor, scores: torch.Tensor, random_tokens: torch.Tensor,
               mask_token_id: int, mlm_probability: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The deterministic part of masking: given uniform `scores` and candidate `random_tokens` (all (B, T)),
    select the lowest-scoring maskable positions and apply 80/10/10 by rank."""
    scores = scores.masked_fill(~maskable, 2.0)  # unmaskable positions sort last
    rank = scores.argsort(dim=1).argsort(dim=1)  # (B, T): 0 = first choice
    maskable_count = maskable.sum(dim=1)
    selected_count = round_half_up(mlm_probability * maskable_count.double())
    selected_count = torch.where(maskable_count > 0, selected_count.clamp(min=1), 0)
    mask_count = round_half_up(0.8 * selected_count.double())
    random_count = torch.minimum(round_half_up(0.1 * selected_count.double()), selected_count - mask_count)
    selected = rank < selected_count[:, None]
    to_mask = rank < mask_count[:, None]
    to_random = (rank >= mask_count[:, None]) & (rank < (mask_count + random_count)[:, None])
    labels = torch.where(selected, input_ids, IGNORE_INDEX)
    masked = torch.where(to_mask, mask_token_id, input_ids)
    masked = torch.where(to_random, random_tokens, masked)
    return masked, labels


class PairCollator:
    """Dynamic padding of sentence-pair examples; evaluation examples also carry the swapped order (`swapped_*`)."""

    def __init__(self, pad_id: int, pad_to_multiple_of: int = 1):
        self.pad_id = pad_id
        self.pad_to_multiple_of = pad_to_multiple_of

    def _pad(self, examples: list[dict], prefix: str) -> dict[str, torch.Tensor]:
        ids = [e[f"{prefix}input_ids"] for e in examples]
        input_ids = pad_sequences(ids, self.pad_id, self.pad_to_multiple_of)  # (B, T), T = longest pair here
        lengths = torch.tensor([len(x) for x in ids])
        out = {f"{prefix}input_ids": input_ids,
               f"{prefix}attention_mask": (torch.arange(input_ids.shape[1])[None, :] < lengths[:, None]).long()}
        if f"{prefix}token_type_ids" in examples[0]:
            out[f"{prefix}token_type_ids"] = pad_sequences([e[f"{prefix}token_type_ids"] for e in examples], 0,
                                                           self.pad_to_multiple_of)
        return out

    def __call__(self, examples: list[dict]) -> dict[str, torch.Tensor]:
        batch = self._pad(examples, "")
        if "swapped_input_ids" in examples[0]:
            batch.update(self._pad(examples, "swapped_"))
        batch["labels"] = torch.tensor([e["labels"] for e in examples], dtype=torch.long)
        batch["index"] = torch.tensor([e["index"] for e in examples], dtype=torch.long)
        batch["num_tokens"] = int(batch["attention_mask"].sum())
        return batch


def batch_size(batch: dict) -> int:
    """Examples in a collated batch (for Lightning's `ThroughputMonitor`)."""
    return int(batch["input_ids"].shape[0])


def token_count(batch: dict) -> int:
    """Non-padding tokens in a collated batch (for `ThroughputMonitor`; computed on the CPU copy, no device sync)."""
    return int(batch["num_tokens"]) if "num_tokens" in batch else int(batch["attention_mask"].sum())
