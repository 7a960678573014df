"""Turkish-English sentence pairs (Tatoeba, `tr-en/tur.txt`) as text for a small causal language model.

Each `English<TAB>Turkish` line becomes one text per direction, e.g. `Translate to Turkish: I am here.\\nBuradayım.`
Texts end with the tokenizer's end token and are concatenated and cut into `max_seq_length` blocks (the last,
shorter block is kept). The validation split is held out over pairs (`data_modules.splits`), so both directions of
a pair stay on the same side. Extra evaluation sets (a `val_small`-style file, the first lines of WikiText-2
validation as an out-of-domain set) are scored as whole texts, one per example.
"""

from __future__ import annotations

from pathlib import Path

from datasets import Dataset
from torch.utils.data import DataLoader

from data_modules.bpe import trained_bpe
from data_modules.caching import cached_rows, file_fingerprint, key_digest, tokenizer_fingerprint
from data_modules.collators import PaddingCollator
from data_modules.masked_lm import BLOCK_FEATURES
from data_modules.reading import read_text_lines, resolve_data_file, user_path
from data_modules.scaffold import STAGE_SPLITS, TaskDataModule
from data_modules.splits import check_percentage, held_out_mask
from data_modules.streaming_text import iter_blocks
from foundation.errors import ConfigError

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


class TranslationTextDataModule(TaskDataModule):
    """Blocks of templated translation pairs for causal LM training.

    Args:
        corpus_file: the `English<TAB>Turkish` file; None = `tr-en/tur.txt` from `data_dir` or `../shared/data`.
        data_dir: a folder holding `tur.txt`.
        test_file: `English<TAB>Turkish` pairs for `test` (test perplexity over blocks, like validation).
        directions: which texts each pair yields: "en-tr" (`Translate to Turkish: ...`), "tr-en", or both.
        templates: override the text template per direction; `{en}` and `{tr}` are filled in.
        validation_split_percentage: percent of pairs held out for validation, in (0, 100).
        split_seed: seed of that split.
        vocab_size: size of the byte-level BPE tokenizer trained on the training texts when neither `tokenizer`
            nor the model gives one (the uncased English vocabulary mangles Turkish letters).
        extra_eval_files: named extra validation sets {name: path}; lines are `English<TAB>Turkish` pairs
            (templated like training) or plain text.
        ood_eval_lines: score the first N non-blank lines of WikiText-2 validation as the set `val_wikitext`
            (0 = off; skipped when that file is not found).
        batch_size: training blocks per step.
        eval_batch_size: validation batch size.
        predict_prompts: prompts `predict` continues.
    """

    def __init__(self, corpus_file: str | None = None, data_dir: str | None = None, test_file: str | None = None,
                 directions: list[str] | None = None, templates: dict[str, str] | None = None,
                 validation_split_percentage: float = 5.0, split_seed: int = 42, vocab_size: int = 8000,
                 extra_eval_files: dict[str, str] | None = None, ood_eval_lines: int = 400, batch_size: int = 1,
                 eval_batch_size: int = 16, predict_prompts: list[str] | None = None, **kwargs):
        corpus_file, data_dir, test_file = (user_path(value, f"--data.{name}") for name, value in (
            ("corpus_file", corpus_file), ("data_dir", data_dir), ("test_file", test_file)))
        super().__init__(batch_size=batch_size, eval_batch_size=eval_batch_size, **kwargs)
        self.directions = list(directions or ["en-tr"])
        self.templates = {**TEMPLATES, **(templates or {})}
        unknown = [d for d in self.directions if d not in self.templates]
        if unknown:
            raise ConfigError(f"--data.directions: unknown direction {unknown[0]!r}; use en-tr and/or tr-en.")
        check_percentage(validation_split_percentage)
        self.corpus_file, self.data_dir, self.test_file = corpus_file, data_dir, test_file
        self.validation_split_percentage, self.split_seed = validation_split_percentage, split_seed
        self.vocab_size = vocab_size
        self.extra_eval_files = dict(extra_eval_files or {})
        self.ood_eval_lines = ood_eval_lines
        if predict_prompts is not None and len(predict_prompts) == 0:
            raise ConfigError("--data.predict_prompts is empty; pass at least one prompt (or drop the option for "
                              "the built-in examples).")
        self.predict_prompts = list(predict_prompts or ["Translate to Turkish: God will help us.\n"])

    # --- text ---------------------------------------------------------------------------------------------------
    def training_files(self) -> dict[str, Path]:
        return {"train": self.corpus_path(), "validation": self.corpus_path()}  # validation is held out of it

    def corpus_path(self) -> Path:
        option = "--data.data_dir" if self.corpus_file is None and self.data_dir else "--data.corpus_file"
        return resolve_data_file(self.corpus_file, self.data_dir, "tr-en/tur.txt", option)

    def templated(self, pairs: list[tuple[str, str]]) -> list[str]:
        return [self.templates[d].format(en=en, tr=tr) for en, tr in pairs for d in self.directions]

    def split_texts(self) -> dict[str, list[str]]:
        """{"train": texts, "validation": texts} from the held-out split over pairs."""
        pairs = read_pairs(self.corpus_path(), "--data.corpus_file")
        mask = held_out_mask(len(pairs), self.validation_split_percentage, self.split_seed,
                             "--data.validation_split_percentage")
        return {split: self.templated([pair for i, pair in enumerate(pairs) if mask[i] == (split == "validation")])
                for split in ("train", "validation")}

    def eval_texts(self) -> dict[str, list[str]]:
        """Extra evaluation sets, scored per text: {"val_<name>": texts}."""
        sets = {}
        for name, file in self.extra_eval_files.items():
            option = f"--data.extra_eval_files.{name}"
            lines = [ln for ln in read_text_lines(resolve_data_file(file, None, "", option), option) if ln.strip()]
            sets[f"val_{name}"] = [self.templates[self.directions[0]].format(en=ln.split("\t")[0].strip(),
                                                                           tr=ln.split("\t")[1].strip())
                                   if ln.count("\t") == 1 else ln.strip() for ln in lines]
        if self.ood_eval_lines > 0:
            try:
                path = resolve_data_file(None, None, OOD_FILE, "--data.ood_eval_lines")
            except ConfigError:
                return sets  # no WikiText-2 copy here: the out-of-domain set is optional
            lines = [ln.strip() for ln in read_text_lines(path, "--data.ood_eval_lines") if ln.strip()]
            sets["val_wikitext"] = lines[: self.ood_eval_lines]
        return sets

    # --- tokenizer and the contract -----------------------------------------------------------------------------
    def default_tokenizer(self):
        # everything its training text (the templated training pairs) depends on
        text = {**self._source_key("train"), "directions": self.directions, "templates": self.templates}
        return trained_bpe(self.cache_dir / f"bpe-{key_digest(text)}-{self.vocab_size}",
                           lambda: self.split_texts()["train"], self.vocab_size)

    @property
    def end_token_id(self) -> int:
        tok = self.tokenizer
        return tok.eos_token_id if tok.eos_token_id is not None else tok.sep_token_id

    @property
    def eval_set_names(self) -> list[str]:
        """Metric prefix per validation loader, in order: "val" for the held-out pairs, then the extras."""
        extras = [f"val_{name}" for name in self.extra_eval_files]
        if self.ood_eval_lines > 0 and _found(OOD_FILE):
            extras.append("val_wikitext")
        return ["val", *extras]

    def extra_facts(self) -> dict:
        return {"eval_set_names": tuple(self.eval_set_names), "end_token_id": self.end_token_id,
                "sample_prompts": tuple(self.predict_prompts)}

    def encode(self, texts: list[str]) -> list[list[int]]:
        """Token ids of each text followed by the end token (no [CLS]/[SEP] wrapping). Every text is cut into blocks
        afterwards, so the tokenizer's "longer than the specified maximum" warning is not meant for it (verbose=False).
        """
        encoded = self.tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]
        return [ids + [self.end_token_id] for ids in encoded]

    def per_text(self, encoded: list[list[int]]) -> list[list[int]]:
        """One example per text, preceded by the end token (the model's "start") and cut to the block size."""
        return [([self.end_token_id] + ids)[: self.max_seq_length] for ids in encoded]

    # --- splits -------------------------------------------------------------------------------------------------
    def stage_splits(self, stage: str) -> tuple[str, ...]:
        extras = tuple(self.eval_set_names[1:]) if stage in ("fit", "validate") else ()
        return STAGE_SPLITS[stage] + extras

    def build_split(self, split: str):
        if split == "predict":
            return Dataset.from_dict({"input_ids": self._prompt_ids()})
        base = {"tokenizer": tokenizer_fingerprint(self.tokenizer), "max_seq_length": self.max_seq_length,
                "directions": self.directions, "templates": self.templates}
        if split.startswith("val_"):
            texts = self.eval_texts()[split]
            key = {"kind": "translation-eval", "name": split, "texts": texts, **base}
            return cached_rows(self.cache_dir, key, lambda: ({"input_ids": ids} for ids in self.per_text(
                self.encode(texts))), f"{split}: no texts to score.", BLOCK_FEATURES)
        key = {"kind": "translation", "split": split, **base, **self._source_key(split)}
        return cached_rows(self.cache_dir, key, lambda: ({"input_ids": block} for block in iter_blocks(
            self._texts(split), self.tokenizer, self.max_seq_length, wrap=False, end_token_id=self.end_token_id)),
                           f"{split}: the corpus has no text.", BLOCK_FEATURES)

    def _source_key(self, split: str) -> dict:
        if split == "test":
            return {"file": file_fingerprint(self._test_path())}
        return {"file": file_fingerprint(self.corpus_path()), "split_seed": self.split_seed,
                "pct": self.validation_split_percentage}

    def _texts(self, split: str) -> list[str]:
        if split == "test":
            return self.templated(read_pairs(self._test_path(), "--data.test_file"))
        return self.split_texts()[split]

    def _test_path(self) -> Path:
        if self.test_file is None:
            raise ConfigError("there is no test file; pass --data.test_file with English<TAB>Turkish pairs to score.")
        return resolve_data_file(self.test_file, None, "", "--data.test_file")

    def _prompt_ids(self) -> list[list[int]]:
        encoded = [[self.end_token_id] + ids for ids in self.tokenizer(self.predict_prompts,
                                                                       add_special_tokens=False)["input_ids"]]
        too_long = [p for p, ids in zip(self.predict_prompts, encoded) if len(ids) >= self.max_seq_length]
        if too_long:
            raise ConfigError(f"--data.predict_prompts: {too_long[0][:40]!r}... has more tokens than the context of "
                              f"{self.max_seq_length}; shorten the prompt or raise {self.length_option}.")
        return encoded

    def describe_split(self, split: str, dataset) -> str:
        unit = "prompts" if split == "predict" else "texts" if split.startswith("val_") else (
            f"blocks of {self.max_seq_length} tokens")
        return f"{split}: {len(dataset):,} {unit}"

    # --- loaders ------------------------------------------------------------------------------------------------
    def collate_fn(self):
        return PaddingCollator(self.tokenizer.pad_token_id, self.pad_to_multiple_of)

    def val_dataloader(self) -> list[DataLoader]:
        names = ["validation", *self.eval_set_names[1:]]
        return [self._loader(name, self.eval_batch_size, shuffle=False) for name in names]

    def predict_dataloader(self) -> DataLoader:
        return self._loader("predict", 1, shuffle=False)  # one prompt at a time: no padding inside a prompt


def _found(relative: str) -> bool:
    try:
        resolve_data_file(None, None, relative, "")
    except ConfigError:
        return False
    return True
