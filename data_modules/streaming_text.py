"""Pre-training data from plain-text corpora of any size: streamed, tokenized in chunks, cut into blocks.

The file is read line by line and tokenized `CHUNK_LINES` lines at a time; full blocks are appended to an Arrow
file on disk as they are made, and training reads that file memory-mapped. Neither the text nor the token stream
is ever held whole in memory, so resident memory stays bounded on corpora larger than RAM (bench/README.md
measures a 100 MB corpus). The Arrow file is cached, keyed by the corpus content, tokenizer and options.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from lightning.pytorch.utilities import rank_zero_info

from data_modules.base import file_fingerprint, resolve_data_file, tokenizer_fingerprint
from data_modules.masked_lm_base import MaskedLMDataModule
from data_modules.wordpiece import trained_wordpiece
from lightning_app.errors import ConfigError

CHUNK_LINES = 2_000  # lines per tokenizer call: large enough for the fast tokenizer's batching, small in memory
WRITER_BATCH = 1_000  # blocks per Arrow record batch


def iter_text_lines(path: Path, option: str) -> Iterator[str]:
    """Yield the stripped non-blank lines of a UTF-8 file, one at a time (a BOM and CRLF are accepted)."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if b"\x00" in raw:
                raise ConfigError(f"{option}: {path} line {number} contains NUL bytes; pass a UTF-8 text file.")
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8").strip()
            except UnicodeDecodeError as error:
                raise ConfigError(f"{option}: {path} line {number} is not valid UTF-8; re-save the file as UTF-8 "
                                  f"(e.g. `iconv -f latin1 -t utf-8`).") from error
            if line:
                yield line


def iter_blocks(lines: Iterable[str], tokenizer, block_size: int) -> Iterator[list[int]]:
    """Tokenize `lines` in chunks, concatenate, and yield `[CLS] + (block_size - 2) ids + [SEP]` blocks.

    The last, shorter block is kept (it is padded in the batch). Memory: one chunk of lines plus less than one
    block of carried-over ids.
    """
    body = block_size - 2
    carry: list[int] = []
    chunk: list[str] = []
    for line in _with_end_marker(lines):
        if line is not None:
            chunk.append(line)
            if len(chunk) < CHUNK_LINES:
                continue
        for ids in tokenizer(chunk, add_special_tokens=False, verbose=False)["input_ids"] if chunk else []:
            carry.extend(ids)
        chunk = []
        start = 0
        while len(carry) - start >= body:
            yield [tokenizer.cls_token_id, *carry[start: start + body], tokenizer.sep_token_id]
            start += body
        carry = carry[start:]
    if carry:
        yield [tokenizer.cls_token_id, *carry, tokenizer.sep_token_id]


def _with_end_marker(lines: Iterable[str]) -> Iterator[str | None]:
    yield from lines
    yield None  # flushes the last partial chunk


def cached_block_file(cache_dir: Path, key: dict, blocks: Callable[[], Iterable[list[int]]], option: str):
    """A memory-mapped Arrow dataset of `input_ids` blocks for `key`, written block by block on the first call."""
    from datasets import Dataset, Features, Sequence, Value
    from datasets.arrow_writer import ArrowWriter

    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    target = cache_dir / f"blocks-{digest}" / "data.arrow"
    if not target.is_file():
        partial = target.parent.with_name(target.parent.name + f".tmp{os.getpid()}")
        partial.mkdir(parents=True, exist_ok=True)
        features = Features({"input_ids": Sequence(Value("int32"))})
        with ArrowWriter(features=features, path=str(partial / "data.arrow"), writer_batch_size=WRITER_BATCH) as out:
            for block in blocks():
                out.write({"input_ids": block})
            count, _ = out.finalize()
        if count == 0:
            shutil.rmtree(partial)
            raise ConfigError(f"{option}: the file has no text after dropping blank lines; pass a file with text.")
        if target.parent.exists():  # another process (a DDP rank) finished first; its copy is identical
            shutil.rmtree(partial)
        else:
            partial.replace(target.parent)
    return Dataset.from_file(str(target))  # memory-mapped: pages are read on demand, not loaded


class StreamingTextDataModule(MaskedLMDataModule):
    """Masked-LM pre-training on `.txt` corpora of any size, cut into fixed-size blocks, read memory-mapped.

    Without `validation_file`, every line whose number modulo 100 is below `validation_split_percentage` goes to
    validation (decided while streaming, so the corpus is read once and never shuffled in memory).

    Args:
        train_file: the training `.txt` (one paragraph or sentence per line; blank lines are dropped).
        validation_file: a separate validation `.txt`; None = hold out lines of `train_file` (see above).
        validation_split_percentage: whole percent of training lines held out when there is no
            `validation_file`, in [1, 99].
        block_size: tokens per example including [CLS] and [SEP]; must not exceed the model's positions.
        train_tokenizer: train a WordPiece tokenizer of `vocab_size` on the training split (saved under
            `cache_dir` and reused next run) instead of loading `tokenizer`.
        vocab_size: vocabulary size of the trained WordPiece tokenizer (only with `train_tokenizer`).
        tokenizer: see `MaskedLMDataModule` (ignored with `train_tokenizer`).
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
                 validation_split_percentage: int = 5, block_size: int = 128, train_tokenizer: bool = False,
                 vocab_size: int = 8000, tokenizer: str | None = None, batch_size: int = 8,
                 eval_batch_size: int | None = None, mlm_probability: float = 0.15, seed: int = 42,
                 num_workers: int = 0, pad_to_multiple_of: int = 1, cache_dir: str | None = None,
                 predict_sentences: list[str] | None = None):
        super().__init__(tokenizer, batch_size, eval_batch_size, mlm_probability, seed, num_workers,
                         pad_to_multiple_of, cache_dir, predict_sentences)
        self.save_hyperparameters()
        if block_size < 8:
            raise ConfigError(f"--data.block_size={block_size} leaves almost no room for text after [CLS] and "
                              "[SEP]; pass at least 8 (BERT models allow up to 512).")
        if not 1 <= validation_split_percentage <= 99:
            raise ConfigError(f"--data.validation_split_percentage={validation_split_percentage} is outside "
                              "[1, 99]; pass e.g. 5, or pass --data.validation_file.")
        self.train_file, self.validation_file = train_file, validation_file
        self.validation_split_percentage = validation_split_percentage
        self.block_size = block_size
        self.train_tokenizer = train_tokenizer
        self.vocab_size = vocab_size

    # --- hooks the corpus-specific subclasses override --------------------------------------------------------
    def source_files(self) -> dict[str, Path | None]:
        """{"train": path, "validation": path or None (= hold lines out of train)}."""
        train = resolve_data_file(self.train_file, None, "", "--data.train_file") if self.train_file else None
        if train is None:
            raise ConfigError("--data.train_file is not set; pass the path of your .txt corpus.")
        validation = (resolve_data_file(self.validation_file, None, "", "--data.validation_file")
                      if self.validation_file else None)
        return {"train": train, "validation": validation}

    def clean_line(self, line: str) -> str:
        """Per-line text clean-up before tokenization (WikiText maps its `<unk>` here)."""
        return line

    # --- tokenizer and splits -----------------------------------------------------------------------------------
    @property
    def tokenizer(self):
        if self._tokenizer is None and self.train_tokenizer:
            train = self.source_files()["train"]
            directory = self.cache_dir / f"wordpiece-{file_fingerprint(train)}-{self.vocab_size}"
            self._tokenizer = trained_wordpiece(directory, lambda: self.split_lines("train", for_tokenizer=True),
                                                self.vocab_size)
        return super().tokenizer

    def split_lines(self, split: str, for_tokenizer: bool = False) -> Iterator[str]:
        """The cleaned, non-blank lines of one split, streamed from disk."""
        files = self.source_files()
        held_out = files["validation"] is None
        path = files["train"] if held_out else files[split]
        option = "--data.train_file" if path == files["train"] else "--data.validation_file"
        for number, line in enumerate(iter_text_lines(path, option)):
            if held_out and (number % 100 < self.validation_split_percentage) != (split == "validation"):
                continue
            yield self.clean_line(line) if not for_tokenizer else self.clean_line_for_training(line)

    def clean_line_for_training(self, line: str) -> str:
        """The line the WordPiece trainer sees; by default the same as `clean_line`."""
        return self.clean_line(line)

    def build_splits(self) -> dict[str, object]:
        files = self.source_files()
        tokenizer = self.tokenizer
        splits = {}
        for split in ("train", "validation"):
            key = {"kind": "blocks", "split": split, "tokenizer": tokenizer_fingerprint(tokenizer),
                   "block_size": self.block_size, "class": type(self).__name__,
                   "files": {name: file_fingerprint(path) for name, path in files.items() if path is not None},
                   "held_out_pct": self.validation_split_percentage if files["validation"] is None else None}
            splits[split] = cached_block_file(self.cache_dir, key, lambda s=split: iter_blocks(
                self.split_lines(s), tokenizer, self.block_size), f"--data.{split}_file")
            rank_zero_info(f"{split}: {len(splits[split]):,} blocks of {self.block_size} tokens")
        return splits
