"""What every masked-LM data module shares: text files -> cached examples, a trained or given tokenizer, masks.

Text flows in bounded memory: files are read in pieces (`record_files.iter_texts`), an optional validation split is
held out line by line (`splits`), lines are cleaned (`clean_line`), tokenized in chunks and cut into blocks or kept
one per line (`streaming_text`), and written into a memory-mapped Arrow cache (`caching`).

Masking runs in `on_before_batch_transfer` (main process, before the batch moves to the device) so it can see
the trainer's stage and epoch: training batches get fresh masks every epoch, validation/test batches always the
same masks (epoch fixed to -1), predict batches none (they carry their own [MASK] tokens).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from datasets import Dataset, Features, Sequence, Value
from lightning.pytorch.utilities import rank_zero_warn

from data_modules.caching import cached_rows, file_fingerprint, key_digest, tokenizer_fingerprint
from data_modules.collators import PaddingCollator, TokenMasker
from data_modules.record_files import iter_texts
from data_modules.scaffold import TaskDataModule
from data_modules.splits import held_out_mask
from data_modules.streaming_text import iter_blocks, iter_line_examples
from data_modules.wordpiece import trained_wordpiece
from foundation.errors import ConfigError

EVAL_EPOCH = -1  # the "epoch" evaluation masks are drawn for: one fixed mask per example, forever
DEFAULT_FILL_MASK_PROMPTS = (
    "Machine learning is a type of [MASK].",
    "The capital of France is [MASK].",
    "I will [MASK] you tomorrow.",
)
BLOCK_FEATURES = Features({"input_ids": Sequence(Value("int32"))})


class MaskedLMDataModule(TaskDataModule):
    """Masked-LM text data (see the module docstring); the subclasses say where the text is.

    Args:
        mlm_probability: share of maskable tokens selected per sequence, in (0, 1).
        train_tokenizer: train a WordPiece tokenizer of `vocab_size` on the training text (saved under `cache_dir`
            and reused next run) instead of using `tokenizer` or the model's.
        vocab_size: vocabulary size of the trained WordPiece tokenizer (only with `train_tokenizer`).
        predict_sentences: sentences with [MASK] for `predict` (fill-mask); None = a few built-in prompts.
    """

    def __init__(self, mlm_probability: float = 0.15, train_tokenizer: bool = False, vocab_size: int = 8000,
                 predict_sentences: list[str] | None = None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 < mlm_probability < 1.0:
            raise ConfigError(f"--data.mlm_probability={mlm_probability} is outside (0, 1); BERT uses 0.15.")
        if train_tokenizer and self.tokenizer_name is not None:
            raise ConfigError("--data.tokenizer and --data.train_tokenizer true disagree (one loads a tokenizer, the "
                              "other trains one); pass only one of them.")
        self.mlm_probability = mlm_probability
        self.train_tokenizer, self.vocab_size = train_tokenizer, vocab_size
        if predict_sentences is not None and len(predict_sentences) == 0:
            raise ConfigError("--data.predict_sentences is empty; pass at least one sentence with [MASK] (or drop the "
                              "option for the built-in examples).")
        self.predict_sentences = list(predict_sentences or DEFAULT_FILL_MASK_PROMPTS)
        self.line_by_line = False  # CustomTextDataModule makes this an option
        self._masker = None

    # --- where the text is: subclasses implement --------------------------------------------------------------
    def source_files(self, split: str) -> tuple[Path, str, bool]:
        """(file, the option that named it, whether validation is held out of that file) for a split."""
        raise NotImplementedError

    def held_out_split(self) -> tuple[float, int]:
        """(percentage, seed) of the validation split held out of the training file."""
        raise NotImplementedError

    def training_files(self) -> dict[str, Path]:
        return {split: self.source_files(split)[0] for split in ("train", "validation")}

    def clean_line(self, line: str) -> str:
        """Per-line clean-up before tokenization (WikiText maps its `<unk>` here)."""
        return line

    def clean_line_for_training(self, line: str) -> str:
        """The line the WordPiece trainer sees; by default the same as `clean_line`."""
        return self.clean_line(line)

    # --- tokenizer ------------------------------------------------------------------------------------------------
    @property
    def trains_tokenizer(self) -> bool:
        return self.train_tokenizer

    def default_tokenizer(self):
        if not self.train_tokenizer:
            return super().default_tokenizer()
        train, _, held_out = self.source_files("train")
        # everything its training text depends on: the same file with another split must not reuse a vocabulary
        # learnt from lines that are validation lines now
        text = {"file": file_fingerprint(train), "held_out": self.held_out_split() if held_out else None,
                "clean": type(self).clean_line_for_training.__qualname__}
        directory = self.cache_dir / f"wordpiece-{key_digest(text)}-{self.vocab_size}"
        return trained_wordpiece(directory, lambda: self.split_texts("train", for_tokenizer=True), self.vocab_size)

    @property
    def masker(self) -> TokenMasker:
        if self._masker is None:
            tok = self.tokenizer
            self._masker = TokenMasker(tok.mask_token_id, tok.all_special_ids, len(tok), self.mlm_probability,
                                       self.seed)
        return self._masker

    def extra_facts(self) -> dict:
        return {"sample_prompts": tuple(self.predict_sentences)}

    # --- text -> rows ---------------------------------------------------------------------------------------------
    def split_texts(self, split: str, for_tokenizer: bool = False, first_pieces_only: bool = False) -> Iterator[str]:
        """The cleaned, non-blank texts of one split, streamed from disk (held-out lines decided on the fly)."""
        path, option, held_out = self.source_files(split)
        mask = self._held_out_mask(path, option) if held_out else None
        clean = self.clean_line_for_training if for_tokenizer else self.clean_line
        for index, first, text in _numbered(iter_texts(path, option)):
            if mask is not None and bool(mask[index]) != (split == "validation"):
                continue
            if first or not first_pieces_only:
                yield clean(text)

    def _held_out_mask(self, path: Path, option: str) -> bytearray:
        count = sum(1 for _, first, _ in _numbered(iter_texts(path, option)) if first)
        percentage, seed = self.held_out_split()
        return held_out_mask(count, percentage, seed, "--data.validation_split_percentage")

    def build_split(self, split: str):
        if split == "predict":
            return self._predict_rows()
        path, option, held_out = self.source_files(split)
        key = {"kind": "mlm-lines" if self.line_by_line else "mlm-blocks", "split": split, "file": file_fingerprint(
            path), "tokenizer": tokenizer_fingerprint(self.tokenizer), "max_seq_length": self.max_seq_length,
               "clean": type(self).clean_line.__qualname__, "held_out": self.held_out_split() if held_out else None}
        return cached_rows(self.cache_dir, key, lambda: self._rows(split, path), f"{option}: {path} has no text "
                           "after dropping blank lines; pass a file with text in it.", BLOCK_FEATURES)

    def _rows(self, split: str, path: Path) -> Iterator[dict]:
        if not self.line_by_line:
            for block in iter_blocks(self.split_texts(split), self.tokenizer, self.max_seq_length):
                yield {"input_ids": block}
            return
        counter: dict = {}
        texts = self.split_texts(split, first_pieces_only=True)
        for ids in iter_line_examples(texts, self.tokenizer, self.max_seq_length, counter):
            yield {"input_ids": ids}
        if counter.get("truncated"):
            name = self.length_option.removeprefix("--data.")
            rank_zero_warn(f"{path}: {counter['truncated']} of {counter['texts']} lines are longer than "
                           f"{name}={self.max_seq_length} tokens and were truncated; set line_by_line: false to keep "
                           "all text.")

    def _predict_rows(self):
        tok = self.tokenizer
        encoded = tok(self.predict_sentences, truncation=True, max_length=self.max_seq_length)["input_ids"]
        missing = [s for s, ids in zip(self.predict_sentences, encoded) if tok.mask_token_id not in ids]
        if missing:
            raise ConfigError(f"--data.predict_sentences: {missing[0]!r} has no {tok.mask_token} token; write "
                              f"{tok.mask_token} where the model should fill in a word.")
        return Dataset.from_dict({"input_ids": encoded})

    def describe_split(self, split: str, dataset) -> str:
        if split == "predict":
            return f"predict: {len(dataset)} sentences with {self.tokenizer.mask_token}"
        path, _, held_out = self.source_files(split)
        unit = "lines" if self.line_by_line else f"blocks of {self.max_seq_length} tokens"
        return f"{split}: {len(dataset):,} {unit} from {path}" + (" (held-out lines)" if held_out and
                                                                  split == "validation" else "")

    # --- batches --------------------------------------------------------------------------------------------------
    def collate_fn(self):
        return PaddingCollator(self.tokenizer.pad_token_id, self.pad_to_multiple_of)

    def on_before_batch_transfer(self, batch: dict, dataloader_idx: int) -> dict:
        trainer = self.trainer
        if trainer is None or trainer.predicting or "labels" in batch:
            return batch
        epoch = trainer.current_epoch if trainer.training else EVAL_EPOCH
        if trainer.training and trainer.overfit_batches:  # debugging on a fixed batch: its masks stay fixed too
            epoch = 0
        batch["input_ids"], batch["labels"] = self.masker(batch["input_ids"], batch["index"], epoch)
        return batch


def _numbered(pieces: Iterator[tuple[int, str]]) -> Iterator[tuple[int, bool, str]]:
    """(0-based index of the non-blank line, whether this is the line's first piece, text) for each piece."""
    index, last_number = -1, None
    for number, text in pieces:
        first = number != last_number
        if first:
            index, last_number = index + 1, number
        yield index, first, text
