"""The part every masked-LM data module shares: tokenizer, loaders, and masking applied per batch.

Masking runs in `on_before_batch_transfer` (main process, before the batch moves to the device) so it can see
the trainer's stage and epoch: training batches get fresh masks every epoch, validation/test batches always the
same masks (epoch fixed to -1), predict batches none (they carry their own [MASK] tokens).
"""

from __future__ import annotations

import math
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader
from torchdata.stateful_dataloader import StatefulDataLoader

from data_modules.base import default_cache_dir, load_tokenizer
from data_modules.collators import PaddingCollator, TokenMasker
from data_modules.samplers import ResumableShuffleSampler, eval_sampler
from lightning_app.errors import ConfigError

EVAL_EPOCH = -1  # the "epoch" evaluation masks are drawn for: one fixed mask per example, forever

DEFAULT_FILL_MASK_PROMPTS = (
    "Machine learning is a type of [MASK].",
    "The capital of France is [MASK].",
    "I will [MASK] you tomorrow.",
)


class IndexedExamples(torch.utils.data.Dataset):
    """Wraps an Arrow dataset of `input_ids` so each example also reports its position (it seeds its mask)."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict:
        return {"input_ids": self.dataset[index]["input_ids"], "index": index}


class MaskedLMDataModule(L.LightningDataModule):
    """Shared constructor arguments of the masked-LM data modules (subclasses document their own).

    Args:
        tokenizer: local tokenizer directory or hub id; None = the embedded all-MiniLM-L6-v2 (bert-base-uncased
            WordPiece). Must match the model's vocabulary.
        batch_size: training micro-batch size per device.
        eval_batch_size: validation/test batch size per device; None = `batch_size`.
        mlm_probability: share of maskable tokens selected per sequence, in (0, 1).
        seed: seed of the masks (training masks also depend on the epoch; evaluation masks never change).
        num_workers: DataLoader worker processes.
        pad_to_multiple_of: pad each batch's length up to a multiple of this (8 helps tensor cores on GPU).
        cache_dir: where tokenized data is cached; None = `$LBT_CACHE_DIR` or `~/.cache/lightning-bert-toolkit`.
        predict_sentences: sentences with [MASK] for `predict` (fill-mask); None = a few built-in prompts.
    """

    def __init__(self, tokenizer: str | None = None, batch_size: int = 8, eval_batch_size: int | None = None,
                 mlm_probability: float = 0.15, seed: int = 42, num_workers: int = 0, pad_to_multiple_of: int = 1,
                 cache_dir: str | None = None, predict_sentences: list[str] | None = None):
        super().__init__()
        if batch_size < 1 or (eval_batch_size is not None and eval_batch_size < 1):
            raise ConfigError(f"--data.batch_size/--data.eval_batch_size must be at least 1, got {batch_size}/"
                              f"{eval_batch_size}; pass a positive batch size.")
        if not 0.0 < mlm_probability < 1.0:
            raise ConfigError(f"--data.mlm_probability={mlm_probability} is outside (0, 1); BERT uses 0.15.")
        self.tokenizer_name = tokenizer
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.mlm_probability = mlm_probability
        self.seed = seed
        self.num_workers = num_workers
        self.pad_to_multiple_of = pad_to_multiple_of
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self.predict_sentences = list(predict_sentences or DEFAULT_FILL_MASK_PROMPTS)
        self._tokenizer = None
        self._masker = None
        self.splits: dict[str, object] = {}

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            self._tokenizer = load_tokenizer(self.tokenizer_name, "--data.tokenizer")
        return self._tokenizer

    @property
    def masker(self) -> TokenMasker:
        if self._masker is None:
            tok = self.tokenizer
            self._masker = TokenMasker(tok.mask_token_id, tok.all_special_ids, len(tok), self.mlm_probability,
                                       self.seed)
        return self._masker

    # --- subclasses implement -------------------------------------------------------------------------------
    def build_splits(self) -> dict[str, object]:
        """Return {"train": ds, "validation": ds, optionally "test": ds}, each an Arrow dataset of `input_ids`."""
        raise NotImplementedError

    # --- Lightning hooks --------------------------------------------------------------------------------------
    def prepare_data(self) -> None:
        self.build_splits()  # tokenizes once and fills the on-disk cache (rank 0 only under DDP)

    def setup(self, stage: str | None = None) -> None:
        if not self.splits:
            self.splits = self.build_splits()

    def _loader(self, split: str, batch_size: int, shuffle: bool) -> StatefulDataLoader:
        """A resumable loader: its position and shuffle order are saved in checkpoints, so a run restarted
        mid-epoch continues with the very next batch (Lightning restores `state_dict()` of stateful loaders)."""
        if split not in self.splits:
            raise ConfigError(f"this data module has no {split} split; pass --data.{split}_file.")
        examples = IndexedExamples(self.splits[split])
        sampler = ResumableShuffleSampler(examples, self.seed) if shuffle else eval_sampler(examples)
        return StatefulDataLoader(examples, batch_size=batch_size, sampler=sampler, num_workers=self.num_workers,
                                  persistent_workers=self.num_workers > 0,
                                  collate_fn=PaddingCollator(self.tokenizer.pad_token_id, self.pad_to_multiple_of),
                                  pin_memory=torch.cuda.is_available())

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("validation", self.eval_batch_size, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", self.eval_batch_size, shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        encoded = self.tokenizer(self.predict_sentences, truncation=True)["input_ids"]
        missing = [s for s, ids in zip(self.predict_sentences, encoded) if self.tokenizer.mask_token_id not in ids]
        if missing:
            raise ConfigError(f"--data.predict_sentences: {missing[0]!r} has no {self.tokenizer.mask_token} token; "
                              f"write {self.tokenizer.mask_token} where the model should fill in a word.")
        examples = [{"input_ids": ids, "index": i} for i, ids in enumerate(encoded)]
        return DataLoader(examples, batch_size=self.eval_batch_size,
                          collate_fn=PaddingCollator(self.tokenizer.pad_token_id))

    def on_before_batch_transfer(self, batch: dict, dataloader_idx: int) -> dict:
        trainer = self.trainer
        if trainer is None or trainer.predicting or "labels" in batch:
            return batch
        epoch = trainer.current_epoch if trainer.training else EVAL_EPOCH
        if trainer.training and trainer.overfit_batches:  # debugging on a fixed batch: its masks stay fixed too
            epoch = 0
        batch["input_ids"], batch["labels"] = self.masker(batch["input_ids"], batch["index"], epoch)
        return batch

    @staticmethod
    def split_sizes(total: int, validation_split_percentage: float, option: str) -> tuple[int, int]:
        """(train, validation) counts for a percentage split; raises if either side would be empty."""
        n_val = math.floor(total * validation_split_percentage / 100 + 0.5)
        if n_val < 1 or total - n_val < 1:
            raise ConfigError(f"{option}={validation_split_percentage} of {total} examples leaves an empty "
                              f"{'validation' if n_val < 1 else 'training'} split; choose a percentage that keeps "
                              "at least one example on each side, or pass --data.validation_file.")
        return total - n_val, n_val
