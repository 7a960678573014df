"""A user's own text for masked LM: plain `.txt` (one paragraph or sentence per line) or `.json`/`.jsonl`/`.csv`
with a `text` column, as `run_mlm.py --train_file` reads them, of any size (streamed, bounded memory)."""

from __future__ import annotations

from pathlib import Path

from data_modules.masked_lm import MaskedLMDataModule
from data_modules.reading import resolve_data_file, user_path
from data_modules.splits import check_percentage
from foundation.errors import ConfigError

SAMPLE_FILE = "custom-txt/train.txt"  # Tiny Shakespeare, first 1,500 lines (data/PROVENANCE.md)


class CustomTextDataModule(MaskedLMDataModule):
    """Masked-LM data from your own files: all text grouped into fixed-size blocks, or one example per line.

    Blank lines are skipped. Without `validation_file`, a seeded `validation_split_percentage` of the lines is held
    out (before grouping, so no block straddles train and validation).

    Args:
        train_file: the training file (`.txt`, or `.json`/`.jsonl`/`.csv` with a `text` column); None =
            `custom-txt/train.txt` from `data_dir`, `../shared/data`, or the sample shipped in the project's `data/`.
        validation_file: a separate validation file; None = hold out `validation_split_percentage` of train.
        test_file: a file for `test` (test perplexity).
        data_dir: a folder holding `train.txt` (used when `train_file` is None).
        validation_split_percentage: percent of training lines held out for validation when there is no
            `validation_file`, in (0, 100).
        line_by_line: True = one example per line (truncated to `max_seq_length`, with a warning that counts them);
            False = concatenate all text and cut it into blocks of `max_seq_length` (the last, shorter block kept).
        split_seed: seed of the train/validation split (independent of the mask seed).
    """

    def __init__(self, train_file: str | None = None, validation_file: str | None = None,
                 test_file: str | None = None, data_dir: str | None = None,
                 validation_split_percentage: float = 5.0, line_by_line: bool = False, split_seed: int = 42,
                 **kwargs):
        train_file, validation_file, test_file, data_dir = (
            user_path(value, f"--data.{name}") for name, value in (("train_file", train_file),
                                                                   ("validation_file", validation_file),
                                                                   ("test_file", test_file), ("data_dir", data_dir)))
        super().__init__(**kwargs)
        check_percentage(validation_split_percentage)
        self.train_file, self.validation_file, self.test_file = train_file, validation_file, test_file
        self.data_dir = data_dir
        self.validation_split_percentage = validation_split_percentage
        self.line_by_line = line_by_line
        self.split_seed = split_seed

    def source_files(self, split: str) -> tuple[Path, str, bool]:
        if split == "test":
            if self.test_file is None:
                raise ConfigError("there is no test file; pass --data.test_file with the text to score.")
            return resolve_data_file(self.test_file, None, "", "--data.test_file"), "--data.test_file", False
        if split == "validation" and self.validation_file is not None:
            return (resolve_data_file(self.validation_file, None, "", "--data.validation_file"),
                    "--data.validation_file", False)
        return self.train_path(), "--data.train_file", self.validation_file is None

    def train_path(self) -> Path:
        option = "--data.data_dir" if self.train_file is None and self.data_dir else "--data.train_file"
        return resolve_data_file(self.train_file, self.data_dir, SAMPLE_FILE, option)

    def held_out_split(self) -> tuple[float, int]:
        return self.validation_split_percentage, self.split_seed


class StreamingTextDataModule(CustomTextDataModule):
    """Deprecated name of `CustomTextDataModule` (which streams corpora of any size now), kept for one release.

    Unlike `CustomTextDataModule` it never falls back to the shipped sample: `train_file` is required.
    """

    def train_path(self) -> Path:
        if self.train_file is None:
            raise ConfigError("--data.train_file is not set; pass the path of your .txt corpus.")
        return super().train_path()

