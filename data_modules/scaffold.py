"""The scaffold every data module stands on: tokenizer choice, cached splits, loaders, checks, the contract.

A subclass says only what is particular to its corpus: which files, how to parse and clean them, how a split
becomes rows (`build_split`), how rows become a batch (`collate_fn`), and its own defaults. Everything else is
here, once: the tokenizer (`--data.tokenizer`, else the model's own, else the module's default), `prepare_data`
tokenizing into the on-disk cache once per node, `setup` loading only the splits the stage needs (safe to call
twice), resumable loaders, option checks before anything is written, and `facts()` for the model
(`foundation.contract`).
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_deprecation
from torch.utils.data import DataLoader
from torchdata.stateful_dataloader import StatefulDataLoader

from data_modules.caching import default_cache_dir
from data_modules.samplers import eval_sampler, shuffle_sampler
from data_modules.tokenizer_loading import load_tokenizer
from foundation.contract import DataFacts
from foundation.errors import ConfigError
from foundation.hub import has_tokenizer_files

# The splits each Lightning stage reads.
STAGE_SPLITS = {"fit": ("train", "validation"), "validate": ("validation",), "test": ("test",),
                "predict": ("predict",)}


def _train_last(splits) -> list[str]:
    """The evaluation splits before the training split: a bad validation file stops the run in seconds, not after
    the (much longer) training split has been tokenized."""
    return sorted(splits, key=lambda split: split == "train")


class IndexedExamples(torch.utils.data.Dataset):
    """Rows of an Arrow dataset, each also reporting its position as `index` (it seeds masks) unless the row
    carries its own `index` (e.g. a GLUE row id)."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict:
        row = self.dataset[index]
        return row if "index" in row else {**row, "index": index}


class TaskDataModule(L.LightningDataModule):
    """Options every data module shares (each subclass documents its own options and defaults).

    Args:
        tokenizer: a local tokenizer directory or hub id; None = the model's own tokenizer when it has one (passed
            by `connect`), else this module's default (the embedded all-MiniLM-L6-v2 bert-base-uncased WordPiece,
            or a tokenizer trained on the corpus where the module says so).
        max_seq_length: tokens per example, special tokens included; must not exceed the model's positions.
        batch_size: training micro-batch size per device.
        eval_batch_size: validation/test/predict batch size per device; None = `batch_size`.
        max_train_samples: keep only the first N training examples (after tokenization), for quick runs (as in
            Hugging Face's scripts); None = all.
        max_eval_samples: the same for the validation and test sets.
        seed: seed of the training order (and, for masked LM, of the masks).
        num_workers: DataLoader worker processes (tokenization uses the fast tokenizer's own threads).
        pad_to_multiple_of: pad each batch's length up to a multiple of this (8 helps tensor cores on GPU).
        cache_dir: where tokenized data is cached; None = `$LBT_CACHE_DIR` or `~/.cache/lightning-bert-toolkit`.
        block_size: deprecated name of `max_seq_length`, accepted for one release.
    """

    def __init__(self, tokenizer: str | None = None, max_seq_length: int = 128, batch_size: int = 8,
                 eval_batch_size: int | None = None, max_train_samples: int | None = None,
                 max_eval_samples: int | None = None, seed: int = 42, num_workers: int = 0,
                 pad_to_multiple_of: int = 1, cache_dir: str | None = None, block_size: int | None = None):
        super().__init__()
        self.length_option = "--data.max_seq_length"
        if block_size is not None:
            rank_zero_deprecation("--data.block_size is deprecated and will be removed; pass --data.max_seq_length "
                                  "(the same number).")
            max_seq_length, self.length_option = block_size, "--data.block_size"
        self.save_hyperparameters()  # records the subclass's arguments as well (they are still local variables)
        self.tokenizer_name = tokenizer
        self.max_seq_length = max_seq_length
        self.batch_size = batch_size
        self.eval_batch_size = batch_size if eval_batch_size is None else eval_batch_size
        self.max_train_samples, self.max_eval_samples = max_train_samples, max_eval_samples
        self.seed, self.num_workers, self.pad_to_multiple_of = seed, num_workers, pad_to_multiple_of
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
        self._check_numbers()
        self._model_tokenizer: str | None = None
        self._tokenizer = None
        self.splits: dict[str, object] = {}

    def _check_numbers(self) -> None:
        for option, value, low in (("batch_size", self.batch_size, 1), ("eval_batch_size", self.eval_batch_size, 1),
                                   ("max_train_samples", self.max_train_samples, 1),
                                   ("max_eval_samples", self.max_eval_samples, 1),
                                   ("num_workers", self.num_workers, 0),
                                   ("pad_to_multiple_of", self.pad_to_multiple_of, 1)):
            if value is not None and value < low:  # None = unset (all samples)
                raise ConfigError(f"--data.{option}={value} must be at least {low}; pass a larger number.")
        if self.max_seq_length < 8:
            raise ConfigError(f"{self.length_option}={self.max_seq_length} leaves almost no room for text after "
                              "the special tokens; pass at least 8 (BERT models allow up to 512).")

    # --- the tokenizer ------------------------------------------------------------------------------------------
    @property
    def tokenizer(self):
        if self._tokenizer is None:
            self._tokenizer = self._load_tokenizer()
            self._check_length_fits_tokenizer()
        return self._tokenizer

    @property
    def tokenizer_option(self) -> str:
        """The option that chose the tokenizer, for error messages."""
        if self.tokenizer_name is None and self._model_tokenizer is not None:
            return "--model.pretrained_model"
        return "--data.tokenizer"

    def follow_model_tokenizer(self, source: str | None) -> None:
        """Contract: use the model's tokenizer unless `--data.tokenizer` is set (see `foundation.contract`)."""
        if source is None or self.tokenizer_name is not None:
            return
        if self.trains_tokenizer:
            raise ConfigError(f"--data.train_tokenizer true would train a new vocabulary, but the model "
                              f"({source}) comes with its own tokenizer; drop --data.train_tokenizer, or train from "
                              "random weights (--model.model_config).")
        if self._tokenizer is not None and source != self._model_tokenizer:
            raise ConfigError("the data was already tokenized before the model's tokenizer was known; call "
                              "foundation.contract.connect(model, data) before trainer.fit (the CLI does).")
        self._model_tokenizer = source

    @property
    def trains_tokenizer(self) -> bool:
        """True when this module trains its own tokenizer (and so cannot take the model's)."""
        return False

    def _load_tokenizer(self):
        if self.tokenizer_name is not None:
            return load_tokenizer(self.tokenizer_name, "--data.tokenizer")
        if self._model_tokenizer is not None:
            if not has_tokenizer_files(Path(self._model_tokenizer)):
                raise ConfigError(f"--model.pretrained_model={self._model_tokenizer!r} has no tokenizer files "
                                  "(tokenizer.json / vocab.txt); save the tokenizer into that directory or pass "
                                  "--data.tokenizer.")
            return load_tokenizer(self._model_tokenizer, "--model.pretrained_model")
        return self.default_tokenizer()

    def default_tokenizer(self):
        """The tokenizer used when neither the user nor the model chose one: the embedded MiniLM's WordPiece."""
        return load_tokenizer(None, "--data.tokenizer")

    def _check_length_fits_tokenizer(self) -> None:
        limit = self._tokenizer.model_max_length
        if limit and limit < 100_000 and self.max_seq_length > limit:
            raise ConfigError(f"{self.length_option}={self.max_seq_length} exceeds the tokenizer's limit of {limit} "
                              f"tokens; pass {self.length_option} {limit} or less.")

    # --- the contract -------------------------------------------------------------------------------------------
    def facts(self) -> DataFacts:
        """What the model may know about this data (`foundation.contract.DataFacts`)."""
        return DataFacts(tokenizer=self.tokenizer, max_length=self.max_seq_length, length_option=self.length_option,
                         tokenizer_option=self.tokenizer_option, **self.extra_facts())

    def extra_facts(self) -> dict:
        """Task-specific `DataFacts` fields (labels, evaluation sets, end token, sample prompts)."""
        return {}

    def training_files(self) -> dict[str, Path]:
        """{split: file} of what `fit` reads (train and validation; one file for both when validation is held out
        of it). Checkpoints record their content hashes, so a resume on edited data and an export's model card can
        say so."""
        return {}

    # --- splits: subclasses implement ---------------------------------------------------------------------------
    def build_split(self, split: str):
        """The Arrow dataset of one split ("train", "validation", "test", "predict"), cached on disk; raise a
        `ConfigError` naming the option to set when the split has no source."""
        raise NotImplementedError

    def describe_split(self, split: str, dataset) -> str:
        """One log line saying what a split holds (subclasses name their files)."""
        return f"{split}: {len(dataset):,} examples"

    def collate_fn(self):
        raise NotImplementedError

    def train_sampler(self, dataset):
        return shuffle_sampler(dataset, self.batch_size, self.seed)

    def stage_splits(self, stage: str) -> tuple[str, ...]:
        """The splits a stage reads (a module with extra evaluation sets adds them)."""
        return STAGE_SPLITS[stage]

    # --- Lightning hooks ----------------------------------------------------------------------------------------
    def _stage(self, stage: str | None) -> str:
        if stage is None and self.trainer is not None and self.trainer.state.fn is not None:
            stage = self.trainer.state.fn.value
        return stage or "fit"

    def prepare_data(self) -> None:
        for split in _train_last(self.stage_splits(self._stage(None))):
            self.build_split(split)  # tokenizes once into the on-disk cache (local rank 0 only under DDP)

    def setup(self, stage: str | None = None) -> None:
        from lightning.pytorch.utilities import rank_zero_info

        wanted = [split for split in self.stage_splits(self._stage(stage)) if split not in self.splits]
        built = {split: self.build_split(split) for split in _train_last(wanted)}
        for split in wanted:  # described in the stage's order
            dataset = built[split]
            limit = self.max_train_samples if split == "train" else self.max_eval_samples
            if limit is not None and split != "predict" and len(dataset) > limit:
                dataset = dataset.select(range(limit))
            self.splits[split] = dataset
            rank_zero_info(self.describe_split(split, dataset))

    def _loader(self, split: str, batch_size: int, shuffle: bool) -> DataLoader:
        """A resumable loader: its position and shuffle order are saved in checkpoints, so a run restarted
        mid-epoch continues with the very next batch (Lightning restores `state_dict()` of stateful loaders)."""
        if split not in self.splits:
            self.setup({"train": "fit", "validation": "validate"}.get(split, split))
        examples = IndexedExamples(self.splits[split])
        sampler = self.train_sampler(examples) if shuffle else eval_sampler(examples)
        return StatefulDataLoader(examples, batch_size=batch_size, sampler=sampler, num_workers=self.num_workers,
                                  persistent_workers=self.num_workers > 0, collate_fn=self.collate_fn(),
                                  pin_memory=torch.cuda.is_available())

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("validation", self.eval_batch_size, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", self.eval_batch_size, shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader("predict", self.eval_batch_size, shuffle=False)
