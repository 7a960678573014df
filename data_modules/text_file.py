"""A user's own plain-text corpus for masked-LM fine-tuning (what `run_mlm_no_trainer.py --train_file` does)."""

from __future__ import annotations

import random
from pathlib import Path

from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn

from data_modules.base import (
    cached_dataset,
    file_fingerprint,
    read_text_lines,
    resolve_data_file,
    tokenizer_fingerprint,
)
from data_modules.masked_lm_base import MaskedLMDataModule
from lightning_app.errors import ConfigError

SAMPLE_FILE = "custom-txt/train.txt"  # Tiny Shakespeare, first 1,500 lines (data/PROVENANCE.md)


class CustomTextDataModule(MaskedLMDataModule):
    """Masked-LM data from `.txt` files: one example per line, or all text grouped into fixed-size blocks.

    Blank lines are skipped. Without `validation_file`, a seeded `validation_split_percentage` of the lines is
    held out (split before grouping, so no block straddles train and validation).

    Args:
        train_file: the training `.txt`; None = `custom-txt/train.txt` from `data_dir`, `../shared/data`, or the
            sample shipped in the project's `data/`.
        validation_file: a separate validation `.txt`; None = split off `validation_split_percentage` of train.
        test_file: an optional `.txt` for `test`.
        data_dir: a folder holding `train.txt` (used when `train_file` is None).
        validation_split_percentage: percent of training lines held out for validation when there is no
            `validation_file`, in (0, 100).
        max_seq_length: tokens per example including [CLS]/[SEP]; must not exceed the model's positions.
        line_by_line: True = one example per line (truncated to `max_seq_length`); False = concatenate all text
            and cut it into blocks of `max_seq_length` (the last, shorter block is kept).
        split_seed: seed of the train/validation split (independent of the mask seed).
        tokenizer: see `MaskedLMDataModule`.
        batch_size: see `MaskedLMDataModule`.
        eval_batch_size: see `MaskedLMDataModule`.
        mlm_probability: see `MaskedLMDataModule`.
        seed: see `MaskedLMDataModule`.
        num_workers: see `MaskedLMDataModule`.
        pad_to_multiple_of: see `MaskedLMDataModule`.
        cache_dir: see `MaskedLMDataModule`.
        predict_sentences: see `MaskedLMDataModule`.
    """

    def __init__(self, train_file: str | None = None, validation_file: str | None = None,
                 test_file: str | None = None, data_dir: str | None = None,
                 validation_split_percentage: float = 5.0, max_seq_length: int = 128, line_by_line: bool = False,
                 split_seed: int = 42, tokenizer: str | None = None, batch_size: int = 8,
                 eval_batch_size: int | None = None, mlm_probability: float = 0.15, seed: int = 42,
                 num_workers: int = 0, pad_to_multiple_of: int = 1, cache_dir: str | None = None,
                 predict_sentences: list[str] | None = None):
        super().__init__(tokenizer, batch_size, eval_batch_size, mlm_probability, seed, num_workers,
                         pad_to_multiple_of, cache_dir, predict_sentences)
        self.save_hyperparameters()
        if not 0 < validation_split_percentage < 100:
            raise ConfigError(f"--data.validation_split_percentage={validation_split_percentage} is outside (0, 100); "
                              "pass e.g. 5 (percent of lines held out), or pass --data.validation_file.")
        if max_seq_length < 3:
            raise ConfigError(f"--data.max_seq_length={max_seq_length} leaves no room for text after [CLS] and "
                              "[SEP]; pass at least 8 (BERT models allow up to 512).")
        self.train_file, self.validation_file, self.test_file = train_file, validation_file, test_file
        self.data_dir = data_dir
        self.validation_split_percentage = validation_split_percentage
        self.max_seq_length = max_seq_length
        self.line_by_line = line_by_line
        self.split_seed = split_seed

    def build_splits(self) -> dict[str, object]:
        limit = self.tokenizer.model_max_length
        if limit and limit < 100_000 and self.max_seq_length > limit:
            raise ConfigError(f"--data.max_seq_length={self.max_seq_length} exceeds the tokenizer's limit of {limit} "
                              f"tokens; pass --data.max_seq_length {limit} or less.")
        train_path = resolve_data_file(self.train_file, self.data_dir, SAMPLE_FILE, "--data.train_file")
        train_lines = _non_blank(read_text_lines(train_path, "--data.train_file"), train_path)
        sources = {"train": (train_path, train_lines)}
        if self.validation_file is not None:
            path = resolve_data_file(self.validation_file, None, "", "--data.validation_file")
            sources["validation"] = (path, _non_blank(read_text_lines(path, "--data.validation_file"), path))
        else:
            sources["train"], sources["validation"] = self._split(train_path, train_lines)
        if self.test_file is not None:
            path = resolve_data_file(self.test_file, None, "", "--data.test_file")
            sources["test"] = (path, _non_blank(read_text_lines(path, "--data.test_file"), path))
        return {split: self._tokenized(split, path, lines) for split, (path, lines) in sources.items()}

    def _split(self, path: Path, lines: list[str]):
        n_train, n_val = self.split_sizes(len(lines), self.validation_split_percentage,
                                          "--data.validation_split_percentage")
        order = list(range(len(lines)))
        random.Random(self.split_seed).shuffle(order)
        held_out = set(order[:n_val])
        train = [line for i, line in enumerate(lines) if i not in held_out]
        validation = [line for i, line in enumerate(lines) if i in held_out]
        return (path, train), (path, validation)

    def _tokenized(self, split: str, path: Path, lines: list[str]):
        key = {"kind": "text", "split": split, "file": file_fingerprint(path), "lines": len(lines),
               "tokenizer": tokenizer_fingerprint(self.tokenizer), "max_seq_length": self.max_seq_length,
               "line_by_line": self.line_by_line, "split_seed": self.split_seed,
               "split_pct": None if split == "test" or self.validation_file else self.validation_split_percentage}
        build = self._line_examples if self.line_by_line else self._block_examples
        dataset = cached_dataset(self.cache_dir, key, lambda: build(lines, path))
        rank_zero_info(f"{split}: {len(dataset):,} examples from {path}")
        return dataset

    def _line_examples(self, lines: list[str], path: Path) -> dict[str, list]:
        encoded = self.tokenizer(lines, truncation=False)["input_ids"]
        too_long = sum(len(ids) > self.max_seq_length for ids in encoded)
        if too_long:
            rank_zero_warn(f"{path}: {too_long} of {len(lines)} lines are longer than max_seq_length="
                           f"{self.max_seq_length} tokens and were truncated; set line_by_line: false to keep all "
                           "text.")
        return {"input_ids": [ids[: self.max_seq_length - 1] + ids[-1:] if len(ids) > self.max_seq_length else ids
                              for ids in encoded]}

    def _block_examples(self, lines: list[str], path: Path) -> dict[str, list]:
        tok = self.tokenizer
        pieces = tok(lines, add_special_tokens=False)["input_ids"]
        stream = [token for ids in pieces for token in ids]
        body = self.max_seq_length - 2  # room for [CLS] ... [SEP]
        blocks = [[tok.cls_token_id, *stream[i: i + body], tok.sep_token_id] for i in range(0, len(stream), body)]
        return {"input_ids": blocks}


def _non_blank(lines: list[str], path: Path) -> list[str]:
    kept = [line.strip() for line in lines if line.strip()]
    if not kept:
        raise ConfigError(f"{path} has only blank lines; pass a file with text in it.")
    return kept
