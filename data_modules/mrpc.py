"""GLUE MRPC: sentence-pair paraphrase classification (files: `data_modules.pair_files`)."""

from __future__ import annotations

from pathlib import Path

from datasets import Dataset

from data_modules.caching import cached_rows, file_fingerprint, tokenizer_fingerprint
from data_modules.collators import PairCollator
from data_modules.length_grouped import length_grouped_sampler
from data_modules.pair_files import UNLABELLED, PairFile, read_pairs, require_labels
from data_modules.reading import resolve_data_file, user_path
from data_modules.scaffold import TaskDataModule
from foundation.errors import ConfigError

LABEL_NAMES = ("not_equivalent", "equivalent")  # GLUE's names; 1 = paraphrase


class MRPCDataModule(TaskDataModule):
    """MRPC sentence pairs, tokenized as pairs (`[CLS] s1 [SEP] s2 [SEP]`), truncated and padded per batch.

    Args:
        data_dir: folder with `train.tsv`, `dev.tsv` (and optionally `test.tsv`); None = `mrpc/` under
            `../shared/data` or the project's `data/`.
        train_file: explicit training file (GLUE TSV, or `.json`/`.jsonl`/`.csv` with sentence1, sentence2, label);
            wins over `data_dir`.
        validation_file: explicit validation file; None = `dev.tsv`.
        test_file: a file for `test`; None = `test.tsv` beside `dev.tsv` when present. Labelled -> test metrics;
            GLUE's unlabelled test set -> use `predict`.
        predict_file: pairs for `predict` (GLUE test format, `sentence1<TAB>sentence2` lines, or json/csv); None =
            `test.tsv` beside `dev.tsv` when present.
        predict_sentence1: with `predict_sentence2`, one raw pair for `predict` (wins over `predict_file`).
        predict_sentence2: the second sentence of that pair.
        batch_size: training batch size per device.
        eval_batch_size: validation/test/predict batch size; None = 2 x `batch_size`.
        group_by_length: batch training pairs of similar length (less padding; order still random, see
            `LengthGroupedSampler`).
        both_orders: also train on (s2, s1) for every pair; paraphrase is symmetric, so this doubles the data.
    """

    num_labels = len(LABEL_NAMES)

    def __init__(self, data_dir: str | None = None, train_file: str | None = None,
                 validation_file: str | None = None, test_file: str | None = None, predict_file: str | None = None,
                 predict_sentence1: str | None = None, predict_sentence2: str | None = None, batch_size: int = 32,
                 eval_batch_size: int | None = None, group_by_length: bool = True, both_orders: bool = False,
                 **kwargs):
        data_dir, train_file, validation_file, test_file, predict_file = (
            user_path(value, f"--data.{name}") for name, value in (
                ("data_dir", data_dir), ("train_file", train_file), ("validation_file", validation_file),
                ("test_file", test_file), ("predict_file", predict_file)))
        eval_batch_size = 2 * batch_size if eval_batch_size is None else eval_batch_size
        super().__init__(batch_size=batch_size, eval_batch_size=eval_batch_size, **kwargs)
        if (predict_sentence1 is None) != (predict_sentence2 is None):
            raise ConfigError("--data.predict_sentence1 and --data.predict_sentence2 go together; pass both "
                              "sentences of the pair.")
        self.data_dir, self.train_file, self.validation_file = data_dir, train_file, validation_file
        self.test_file, self.predict_file = test_file, predict_file
        self.predict_pair = (predict_sentence1, predict_sentence2) if predict_sentence1 is not None else None
        self.group_by_length, self.both_orders = group_by_length, both_orders

    def extra_facts(self) -> dict:
        return {"num_labels": self.num_labels, "label_names": LABEL_NAMES}

    # --- files -----------------------------------------------------------------------------------------------------
    def training_files(self) -> dict[str, Path]:
        return {split: self.source(split)[0] for split in ("train", "validation")}

    def source(self, split: str) -> tuple[Path, str]:
        """(file, the option that names it) of a split; a missing optional split names the option to set."""
        if split in ("train", "validation"):
            explicit = self.train_file if split == "train" else self.validation_file
            relative = "mrpc/train.tsv" if split == "train" else "mrpc/dev.tsv"
            option = f"--data.{split}_file" if explicit or not self.data_dir else "--data.data_dir"
            return resolve_data_file(explicit, self.data_dir, relative, option), option
        explicit = self.test_file if split == "test" else self.predict_file
        option = f"--data.{split}_file"
        if explicit is not None:
            return resolve_data_file(explicit, None, "", option), option
        beside = self.source("validation")[0].parent / "test.tsv"
        if not beside.is_file():
            what = "a labelled TSV to score" if split == "test" else "a TSV of pairs (or predict_sentence1/2)"
            raise ConfigError(f"there is no {split} file (no test.tsv beside {beside.parent / 'dev.tsv'}); pass "
                              f"{option} with {what}.")
        return beside, option

    # --- rows ------------------------------------------------------------------------------------------------------
    def build_split(self, split: str):
        if split == "predict" and self.predict_pair is not None:
            return Dataset.from_dict(self._encode("predict", PairFile([self.predict_pair], [UNLABELLED], [0], [1])))
        path, option = self.source(split)
        key = {"kind": "mrpc", "split": split, "file": file_fingerprint(path), "max_seq_length": self.max_seq_length,
               "tokenizer": tokenizer_fingerprint(self.tokenizer), "both_orders": self.both_orders, "format": 2}

        def rows():
            found = read_pairs(path, option)
            if split in ("train", "test"):
                require_labels(found, path, option, "training" if split == "train" else "`test` (metrics)")
            encoded = self._encode(split, found)
            return ({name: column[i] for name, column in encoded.items()} for i in range(len(encoded["labels"])))

        return cached_rows(self.cache_dir, key, rows, f"{option}: {path} has no sentence pairs.")

    def _encode(self, split: str, found: PairFile) -> dict:
        first, second = [p[0] for p in found.pairs], [p[1] for p in found.pairs]
        labels, ids = found.labels, found.ids
        kwargs = {"truncation": "longest_first", "max_length": self.max_seq_length}
        forward, backward = self.tokenizer(first, second, **kwargs), self.tokenizer(second, first, **kwargs)
        keep = [k for k in ("input_ids", "token_type_ids") if k in forward]
        if split == "train":  # training: optionally both orders as separate examples
            repeat = 2 if self.both_orders else 1
            columns = {k: list(forward[k]) + (list(backward[k]) if self.both_orders else []) for k in keep}
            return {**columns, "labels": labels * repeat, "index": ids * repeat}
        # evaluation/predict: one example per pair, carrying both orders (the model may average them)
        return {**{k: list(forward[k]) for k in keep}, **{f"swapped_{k}": list(backward[k]) for k in keep},
                "labels": labels, "index": ids}

    def describe_split(self, split: str, dataset) -> str:
        if split == "predict" and self.predict_pair is not None:
            return "predict: 1 pair from --data.predict_sentence1/2"
        labels = dataset["labels"]
        positives = f" ({sum(labels):,} paraphrases)" if UNLABELLED not in labels else ""
        return f"{split}: {len(dataset):,} pairs from {self.source(split)[0]}{positives}"

    # --- batches ---------------------------------------------------------------------------------------------------
    def collate_fn(self):
        return PairCollator(self.tokenizer.pad_token_id, self.pad_to_multiple_of)

    def train_sampler(self, dataset):
        if not self.group_by_length:
            return super().train_sampler(dataset)
        lengths = [len(ids) for ids in self.splits["train"]["input_ids"]]
        return length_grouped_sampler(dataset, lengths, self.batch_size, self.seed)
