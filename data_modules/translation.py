"""Turkish-English sentence pairs (Tatoeba, `tr-en/tur.txt`) as text for a small causal language model.

Each `English<TAB>Turkish` line becomes one text per direction, e.g. `Translate to Turkish: I am here.\\nBuradayım.`
Texts end with the tokenizer's end token and are concatenated and cut into `block_size` blocks (the last, shorter
block is kept). The train/validation split is drawn over pairs with a seed, so both directions of a pair stay on the
same side. Extra evaluation sets (a `val_small`-style file, the first lines of WikiText-2 validation as an
out-of-domain set) are scored as whole texts, one per example.
"""

from __future__ import annotations

import random
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader
from torchdata.stateful_dataloader import StatefulDataLoader

from data_modules.base import (
    cached_dataset,
    default_cache_dir,
    file_fingerprint,
    load_tokenizer,
    read_text_lines,
    resolve_data_file,
    tokenizer_fingerprint,
)
from data_modules.bpe import trained_bpe
from data_modules.collators import PaddingCollator
from data_modules.masked_lm_base import IndexedExamples
from data_modules.samplers import ResumableShuffleSampler, eval_sampler
from lightning_app.errors import ConfigError

TEMPLATES = {"en-tr": "Translate to Turkish: {en}\n{tr}", "tr-en": "Translate to English: {tr}\n{en}"}
OOD_FILE = "wikitext-2/wiki.valid.tokens"


def read_pairs(path: Path, option: str) -> list[tuple[str, str]]:
    """(english, turkish) per non-blank line; a line without exactly one tab is an error naming the line."""
    pairs = []
    for number, line in enumerate(read_text_lines(path, option), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 2 or not fields[0].strip() or not fields[1].strip():
            raise ConfigError(f"{option}: {path} line {number} is not `English<TAB>Turkish`; fix or delete that line.")
        pairs.append((fields[0].strip(), fields[1].strip()))
    return pairs


class TranslationTextDataModule(L.LightningDataModule):
    """Blocks of templated translation pairs for causal LM training.

    Args:
        corpus_file: the `English<TAB>Turkish` file; None = `tr-en/tur.txt` from `data_dir` or `../shared/data`.
        data_dir: a folder holding `tur.txt`.
        directions: which texts each pair yields: "en-tr" (`Translate to Turkish: ...`), "tr-en", or both.
        templates: override the text template per direction; `{en}` and `{tr}` are filled in.
        validation_split_percentage: percent of pairs held out for validation, in (0, 100).
        split_seed: seed of that split.
        block_size: tokens per training block.
        tokenizer: a local tokenizer directory or hub id; None = train a byte-level BPE tokenizer of `vocab_size`
            on the training texts (cached and reused), since the uncased English vocabulary mangles Turkish.
        vocab_size: size of the trained tokenizer.
        extra_eval_files: named extra validation sets {name: path}; lines are `English<TAB>Turkish` pairs
            (templated like training) or plain text.
        ood_eval_lines: score the first N non-blank lines of WikiText-2 validation as the set `val_wikitext`
            (0 = off; skipped with a warning-free no-op when that file is not found).
        batch_size: training blocks per step.
        eval_batch_size: validation batch size.
        num_workers: DataLoader workers.
        cache_dir: tokenized-data cache; None = `$LBT_CACHE_DIR` or `~/.cache/lightning-bert-toolkit`.
        predict_prompts: prompts `predict` continues.
    """

    def __init__(self, corpus_file: str | None = None, data_dir: str | None = None,
                 directions: list[str] | None = None, templates: dict[str, str] | None = None,
                 validation_split_percentage: float = 5.0, split_seed: int = 42, block_size: int = 128,
                 tokenizer: str | None = None, vocab_size: int = 8000,
                 extra_eval_files: dict[str, str] | None = None, ood_eval_lines: int = 400, batch_size: int = 1,
                 eval_batch_size: int = 16, num_workers: int = 0, cache_dir: str | None = None,
                 predict_prompts: list[str] | None = None):
        super().__init__()
        self.save_hyperparameters()
        self.directions = list(directions or ["en-tr"])
        self.templates = {**TEMPLATES, **(templates or {})}
        unknown = [d for d in self.directions if d not in self.templates]
        if unknown:
            raise ConfigError(f"--data.directions: unknown direction {unknown[0]!r}; use en-tr and/or tr-en.")
        if not 0 < validation_split_percentage < 100:
            raise ConfigError(f"--data.validation_split_percentage={validation_split_percentage} is outside (0, 100); "
                              "pass e.g. 5.")
        if block_size < 8 or batch_size < 1 or eval_batch_size < 1:
            raise ConfigError("--data.block_size must be at least 8 and --data.batch_size/--data.eval_batch_size at "
                              "least 1; pass positive values (the recipe uses block 128, batch 1).")
        self.corpus_file, self.data_dir = corpus_file, data_dir
        self.validation_split_percentage, self.split_seed = validation_split_percentage, split_seed
        self.block_size, self.tokenizer_name, self.vocab_size = block_size, tokenizer, vocab_size
        self.extra_eval_files = dict(extra_eval_files or {})
        self.ood_eval_lines = ood_eval_lines
        self.batch_size, self.eval_batch_size, self.num_workers = batch_size, eval_batch_size, num_workers
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self.predict_prompts = list(predict_prompts or ["Translate to Turkish: God will help us.\n"])
        self._tokenizer = None
        self.splits: dict[str, object] = {}

    # --- text -------------------------------------------------------------------------------------------------
    def corpus_path(self) -> Path:
        return resolve_data_file(self.corpus_file, self.data_dir, "tr-en/tur.txt", "--data.corpus_file")

    def split_texts(self) -> dict[str, list[str]]:
        """{"train": texts, "validation": texts} from a seeded split over pairs."""
        pairs = read_pairs(self.corpus_path(), "--data.corpus_file")
        order = list(range(len(pairs)))
        random.Random(self.split_seed).shuffle(order)
        n_val = round(len(pairs) * self.validation_split_percentage / 100)
        if n_val < 1 or n_val >= len(pairs):
            raise ConfigError(f"--data.validation_split_percentage={self.validation_split_percentage} of "
                              f"{len(pairs)} pairs leaves an empty split; use a larger corpus or another percentage.")
        held_out = set(order[:n_val])
        return {split: [self.templates[d].format(en=en, tr=tr) for i, (en, tr) in enumerate(pairs)
                        if (i in held_out) == (split == "validation") for d in self.directions]
                for split in ("train", "validation")}

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            if self.tokenizer_name is not None:
                self._tokenizer = load_tokenizer(self.tokenizer_name, "--data.tokenizer")
            else:
                key = f"bpe-{file_fingerprint(self.corpus_path())}-{self.split_seed}-{self.vocab_size}"
                self._tokenizer = trained_bpe(self.cache_dir / key, lambda: self.split_texts()["train"],
                                              self.vocab_size)
        return self._tokenizer

    @property
    def end_token_id(self) -> int:
        tok = self.tokenizer
        return tok.eos_token_id if tok.eos_token_id is not None else tok.sep_token_id

    def encode(self, texts: list[str]) -> list[list[int]]:
        """Token ids of each text followed by the end token (no [CLS]/[SEP] wrapping)."""
        return [ids + [self.end_token_id] for ids in self.tokenizer(texts, add_special_tokens=False)["input_ids"]]

    def eval_texts(self) -> dict[str, list[str]]:
        """Extra evaluation sets, scored per text: {"val_<name>": texts}."""
        sets = {}
        for name, file in self.extra_eval_files.items():
            path = resolve_data_file(file, None, "", f"--data.extra_eval_files.{name}")
            lines = [ln for ln in read_text_lines(path, f"--data.extra_eval_files.{name}") if ln.strip()]
            sets[f"val_{name}"] = [self.templates[self.directions[0]].format(en=ln.split("\t")[0].strip(),
                                                                           tr=ln.split("\t")[1].strip())
                                   if ln.count("\t") == 1 else ln.strip() for ln in lines]
        if self.ood_eval_lines > 0:
            try:
                path = resolve_data_file(None, None, OOD_FILE, "--data.ood_eval_lines")
                lines = [ln.strip() for ln in read_text_lines(path, "--data.ood_eval_lines") if ln.strip()]
                sets["val_wikitext"] = lines[: self.ood_eval_lines]
            except ConfigError:
                pass  # optional set: only scored when WikiText-2 is beside the project
        return sets

    # --- Lightning hooks ----------------------------------------------------------------------------------------
    def _build(self) -> dict[str, object]:
        texts = self.split_texts()
        base = {"corpus": file_fingerprint(self.corpus_path()), "tokenizer": tokenizer_fingerprint(self.tokenizer),
                "directions": self.directions, "templates": [self.templates[d] for d in self.directions],
                "split": [self.validation_split_percentage, self.split_seed], "block": self.block_size}
        splits = {split: cached_dataset(self.cache_dir, {"kind": "translation", "split": split, **base},
                                        lambda t=texts[split]: {"input_ids": self.blocks(self.encode(t))})
                  for split in texts}
        for name, eval_texts in self.eval_texts().items():
            splits[name] = cached_dataset(self.cache_dir, {"kind": "translation-eval", "name": name,
                                                           "texts": eval_texts, **base},
                                          lambda t=eval_texts: {"input_ids": self.per_text(self.encode(t))})
        return splits

    def blocks(self, encoded: list[list[int]]) -> list[list[int]]:
        stream = [token for ids in encoded for token in ids]
        return [stream[i: i + self.block_size] for i in range(0, len(stream), self.block_size)]

    def per_text(self, encoded: list[list[int]]) -> list[list[int]]:
        """One example per text, preceded by the end token (the model's "start") and cut to the block size."""
        return [([self.end_token_id] + ids)[: self.block_size] for ids in encoded]

    def prepare_data(self) -> None:
        self._build()

    def setup(self, stage: str | None = None) -> None:
        if not self.splits:
            self.splits = self._build()

    @property
    def eval_set_names(self) -> list[str]:
        """Metric prefix per validation dataloader, in order: "val" for the held-out pairs, then the extras."""
        return ["val", *[name for name in self.splits if name.startswith("val_")]]

    def _loader(self, dataset, batch_size: int, shuffle: bool) -> StatefulDataLoader:
        examples = IndexedExamples(dataset)
        sampler = ResumableShuffleSampler(examples, self.split_seed) if shuffle else eval_sampler(examples)
        return StatefulDataLoader(examples, batch_size=batch_size, sampler=sampler, num_workers=self.num_workers,
                                  collate_fn=PaddingCollator(self.tokenizer.pad_token_id))

    def train_dataloader(self) -> StatefulDataLoader:
        return self._loader(self.splits["train"], self.batch_size, shuffle=True)

    def val_dataloader(self) -> list[StatefulDataLoader]:
        names = ["validation", *self.eval_set_names[1:]]
        return [self._loader(self.splits[name], self.eval_batch_size, shuffle=False) for name in names]

    def predict_dataloader(self) -> DataLoader:
        encoded = [[self.end_token_id] + ids for ids in self.tokenizer(self.predict_prompts,
                                                                       add_special_tokens=False)["input_ids"]]
        too_long = [p for p, ids in zip(self.predict_prompts, encoded) if len(ids) >= self.block_size]
        if too_long:
            raise ConfigError(f"--data.predict_prompts: {too_long[0][:40]!r}... has more tokens than the context of "
                              f"{self.block_size}; shorten the prompt or raise --data.block_size.")
        examples = [{"input_ids": torch.tensor(ids), "index": i} for i, ids in enumerate(encoded)]
        return DataLoader(examples, batch_size=1)
