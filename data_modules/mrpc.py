"""GLUE MRPC: sentence-pair paraphrase classification from the GLUE TSV files.

The MSR/GLUE files start with a UTF-8 byte-order mark and their sentences contain bare `"` characters, so a CSV
reader with quoting on merges rows (pandas' default loses ~10% of train). Here every line is split on tabs and
nothing else: 3,668 train / 408 dev rows, checked in tests/test_mrpc.py.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_info
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
from data_modules.collators import pad_sequences
from data_modules.length_grouped import LengthGroupedSampler
from data_modules.samplers import ResumableShuffleSampler, eval_sampler
from lightning_app.errors import ConfigError

NUM_LABELS = 2  # 1 = paraphrase ("equivalent"), 0 = not
UNLABELLED = -1


def read_pairs(path: Path, option: str) -> tuple[list[tuple[str, str]], list[int], list[int]]:
    """Parse a pair TSV: GLUE labelled (`Quality  #1 ID  #2 ID  #1 String  #2 String`), GLUE test (`index ...`,
    no labels), or a header-less file of `sentence1<TAB>sentence2` lines. Returns (pairs, labels, row ids)."""
    lines = read_text_lines(path, option)
    header = lines[0].split("\t")
    if header[0] in ("Quality", "index"):
        labelled, body, first = header[0] == "Quality", lines[1:], 2
    else:
        labelled, body, first = False, lines, 1
    columns = 5 if header[0] in ("Quality", "index") else 2
    pairs, labels, ids = [], [], []
    for number, line in enumerate(body, start=first):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != columns:
            raise ConfigError(f"{option}: {path} line {number} has {len(fields)} tab-separated columns, expected "
                              f"{columns}; fix that line (sentences must not contain tabs).")
        if columns == 2:
            pairs.append((fields[0], fields[1]))
            labels.append(UNLABELLED)
            ids.append(len(ids))
            continue
        if labelled and fields[0] not in ("0", "1"):
            raise ConfigError(f"{option}: {path} line {number} has label {fields[0]!r}, expected 0 or 1; fix the "
                              "Quality column of that line.")
        pairs.append((fields[3], fields[4]))
        labels.append(int(fields[0]) if labelled else UNLABELLED)
        ids.append(len(ids) if labelled else int(fields[0]) if fields[0].isdigit() else len(ids))
    if not pairs:
        raise ConfigError(f"{option}: {path} has no sentence pairs; pass a file with at least one row.")
    return pairs, labels, ids


class PairCollator:
    """Dynamic padding of pair examples; eval examples also carry the swapped order (`swapped_*`)."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def _pad(self, examples: list[dict], prefix: str) -> dict[str, torch.Tensor]:
        ids = [e[f"{prefix}input_ids"] for e in examples]
        input_ids = pad_sequences(ids, self.pad_id)  # (B, T), T = longest pair in this batch
        lengths = torch.tensor([len(x) for x in ids])
        out = {f"{prefix}input_ids": input_ids,
               f"{prefix}attention_mask": (torch.arange(input_ids.shape[1])[None, :] < lengths[:, None]).long()}
        if f"{prefix}token_type_ids" in examples[0]:
            out[f"{prefix}token_type_ids"] = pad_sequences([e[f"{prefix}token_type_ids"] for e in examples], 0)
        return out

    def __call__(self, examples: list[dict]) -> dict[str, torch.Tensor]:
        batch = self._pad(examples, "")
        if "swapped_input_ids" in examples[0]:
            batch.update(self._pad(examples, "swapped_"))
        batch["labels"] = torch.tensor([e["labels"] for e in examples], dtype=torch.long)
        batch["index"] = torch.tensor([e["index"] for e in examples], dtype=torch.long)
        return batch


class MRPCDataModule(L.LightningDataModule):
    """MRPC sentence pairs, tokenized as pairs (`[CLS] s1 [SEP] s2 [SEP]`), truncated and padded per batch.

    Args:
        data_dir: folder with `train.tsv`, `dev.tsv` (and optionally `test.tsv`); None = `mrpc/` under
            `../shared/data` or the project's `data/`.
        train_file: explicit training TSV (wins over `data_dir`).
        validation_file: explicit validation TSV; None = `dev.tsv`.
        test_file: labelled TSV for `test`; None = `test.tsv` beside the others when it exists and has labels.
        predict_file: TSV of pairs for `predict` (GLUE test format or `sentence1<TAB>sentence2` lines); None =
            `test.tsv` when present.
        predict_sentence1: with `predict_sentence2`, one raw pair for `predict` (wins over `predict_file`).
        predict_sentence2: the second sentence of that pair.
        predict_output: the TSV `predict` writes for a file: `index<TAB>prob_paraphrase<TAB>label` (label = 1 when
            the probability is at least 0.5); `index` is the file's index column, else the row number from 0.
        tokenizer: local tokenizer directory or hub id; None = the model's own tokenizer (a `SequenceClassifier`
            hands it over), else the embedded all-MiniLM-L6-v2.
        max_seq_length: tokens per pair including special tokens; longer pairs lose tokens from the longer sentence.
        batch_size: training batch size per device.
        eval_batch_size: validation/test/predict batch size; None = 2 x `batch_size`.
        group_by_length: batch training pairs of similar length (less padding; order still random, see
            `LengthGroupedSampler`).
        both_orders: also train on (s2, s1) for every pair; paraphrase is symmetric, so this doubles the data.
        seed: seed of the shuffling.
        num_workers: DataLoader worker processes.
        cache_dir: where tokenized data is cached; None = `$LBT_CACHE_DIR` or `~/.cache/lightning-bert-toolkit`.
    """

    num_labels = NUM_LABELS

    def __init__(self, data_dir: str | None = None, train_file: str | None = None,
                 validation_file: str | None = None, test_file: str | None = None, predict_file: str | None = None,
                 predict_sentence1: str | None = None, predict_sentence2: str | None = None,
                 predict_output: str = "mrpc_predictions.tsv",
                 tokenizer: str | None = None, max_seq_length: int = 128, batch_size: int = 32,
                 eval_batch_size: int | None = None, group_by_length: bool = True, both_orders: bool = False,
                 seed: int = 42, num_workers: int = 0, cache_dir: str | None = None):
        super().__init__()
        self.save_hyperparameters()
        if batch_size < 1 or (eval_batch_size is not None and eval_batch_size < 1):
            raise ConfigError(f"--data.batch_size/--data.eval_batch_size must be at least 1, got {batch_size}/"
                              f"{eval_batch_size}; pass a positive batch size.")
        if max_seq_length < 8:
            raise ConfigError(f"--data.max_seq_length={max_seq_length} leaves almost no room for two sentences; "
                              "pass at least 8 (GLUE uses 128).")
        if (predict_sentence1 is None) != (predict_sentence2 is None):
            raise ConfigError("--data.predict_sentence1 and --data.predict_sentence2 go together; pass both "
                              "sentences of the pair.")
        self.data_dir, self.tokenizer_name, self.max_seq_length = data_dir, tokenizer, max_seq_length
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size or 2 * batch_size
        self.model_tokenizer: str | None = None  # set by the model (SequenceClassifier.check_datamodule)
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self._tokenizer = None
        self.splits: dict[str, object] = {}

    # --- tokenizer ------------------------------------------------------------------------------------------
    def tokenizer_source(self) -> str | None:
        if self.tokenizer_name is not None:
            return self.tokenizer_name
        model = self.trainer.lightning_module if self.trainer is not None else None
        return getattr(model, "tokenizer_source", None) or self.model_tokenizer

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            self._tokenizer = load_tokenizer(self.tokenizer_source(), "--data.tokenizer")
        return self._tokenizer

    # --- files -------------------------------------------------------------------------------------------------
    def _sources(self) -> dict[str, tuple[Path, str]]:
        """split -> (file, option naming it); missing required splits raise a ConfigError."""
        hp = self.hparams
        sources = {"train": (resolve_data_file(hp.train_file, hp.data_dir, "mrpc/train.tsv", "--data.train_file"),
                             "--data.train_file"),
                   "validation": (resolve_data_file(hp.validation_file, hp.data_dir, "mrpc/dev.tsv",
                                                    "--data.validation_file"), "--data.validation_file")}
        beside = sources["validation"][0].parent / "test.tsv"
        if hp.test_file is not None or beside.is_file():
            sources["test"] = (resolve_data_file(hp.test_file, None, "", "--data.test_file") if hp.test_file
                               else beside, "--data.test_file")
        if hp.predict_file is not None or beside.is_file():
            sources["predict"] = (resolve_data_file(hp.predict_file, None, "", "--data.predict_file")
                                  if hp.predict_file else beside, "--data.predict_file")
        return sources

    def _tokenized(self, split: str, path: Path, option: str):
        key = {"kind": "mrpc", "split": split, "file": file_fingerprint(path), "max_seq_length": self.max_seq_length,
               "tokenizer": tokenizer_fingerprint(self.tokenizer), "both_orders": self.hparams.both_orders,
               "format": 1}
        dataset = cached_dataset(self.cache_dir, key, lambda: self._encode(split, *read_pairs(path, option)))
        labels = list(dataset["labels"])
        rank_zero_info(f"{split}: {len(dataset):,} pairs from {path}"
                       + (f" ({sum(labels):,} paraphrases)" if UNLABELLED not in labels else ""))
        return dataset

    def _encode(self, split: str, pairs: list[tuple[str, str]], labels: list[int], ids: list[int]) -> dict:
        first, second = [p[0] for p in pairs], [p[1] for p in pairs]
        tok = self.tokenizer
        kwargs = {"truncation": "longest_first", "max_length": self.max_seq_length}
        forward, backward = tok(first, second, **kwargs), tok(second, first, **kwargs)
        keep = [k for k in ("input_ids", "token_type_ids") if k in forward]
        if split == "train":  # training: optionally both orders as separate examples
            columns = {k: list(forward[k]) + (list(backward[k]) if self.hparams.both_orders else []) for k in keep}
            repeat = 2 if self.hparams.both_orders else 1
            return {**columns, "labels": labels * repeat, "index": ids * repeat}
        # evaluation/predict: one example per pair, carrying both orders (the model may average them)
        return {**{k: list(forward[k]) for k in keep}, **{f"swapped_{k}": list(backward[k]) for k in keep},
                "labels": labels, "index": ids}

    # --- Lightning hooks --------------------------------------------------------------------------------------
    def build_splits(self) -> dict[str, object]:
        splits = {split: self._tokenized(split, path, option) for split, (path, option) in self._sources().items()}
        if "test" in splits and UNLABELLED in splits["test"]["labels"]:
            del splits["test"]  # an unlabelled test.tsv is for predict only
        return splits

    def prepare_data(self) -> None:
        self.build_splits()

    def setup(self, stage: str | None = None) -> None:
        if not self.splits:
            self.splits = self.build_splits()

    def train_dataloader(self) -> DataLoader:
        data = self.splits["train"].with_format(None)
        if self.hparams.group_by_length:
            lengths = [len(ids) for ids in data["input_ids"]]
            sampler = LengthGroupedSampler(data, lengths, self.batch_size, self.hparams.seed)
        else:
            sampler = ResumableShuffleSampler(data, self.hparams.seed)
        return self._loader(data, self.batch_size, sampler)

    def _loader(self, data, batch_size: int, sampler) -> StatefulDataLoader:
        return StatefulDataLoader(data, batch_size=batch_size, sampler=sampler, num_workers=self.hparams.num_workers,
                                  persistent_workers=self.hparams.num_workers > 0,
                                  collate_fn=PairCollator(self.tokenizer.pad_token_id),
                                  pin_memory=torch.cuda.is_available())

    def _eval_loader(self, split: str, missing: str) -> StatefulDataLoader:
        if split not in self.splits:
            raise ConfigError(missing)
        data = self.splits[split].with_format(None)
        return self._loader(data, self.eval_batch_size, eval_sampler(data))

    def val_dataloader(self) -> DataLoader:
        return self._eval_loader("validation", "there is no validation split; pass --data.validation_file.")

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader("test", "there is no labelled test split; pass --data.test_file with a labelled "
                                         "GLUE TSV (score unlabelled pairs with predict).")

    def predict_dataloader(self) -> DataLoader:
        hp = self.hparams
        if hp.predict_sentence1 is not None:
            encoded = self._encode("predict", [(hp.predict_sentence1, hp.predict_sentence2)], [UNLABELLED], [0])
            rows = [{k: v[i] for k, v in encoded.items()} for i in range(1)]
            return DataLoader(rows, batch_size=1, collate_fn=PairCollator(self.tokenizer.pad_token_id))
        return self._eval_loader("predict", "there is nothing to predict; pass --data.predict_file with a TSV of "
                                            "pairs, or --data.predict_sentence1 and --data.predict_sentence2.")
