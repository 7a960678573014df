"""WikiText-2 (Merity et al. 2016) for masked-LM pre-training, either release.

* v1, word level: `wiki.{train,valid,test}.tokens`, rare words already replaced by `<unk>`
  (`../shared/data/wikitext-2/` holds train and valid of this one);
* raw: `wiki.{train,valid,test}.raw` (original text, no `<unk>`).

`<unk>` becomes the tokenizer's own unknown token (one id, never the pieces `<`, `unk`, `>`), blank lines are
dropped, and the text is tokenized, concatenated and cut into blocks with [CLS]/[SEP] (cached memory-mapped).
"""

from __future__ import annotations

from pathlib import Path

from data_modules.masked_lm import MaskedLMDataModule
from data_modules.reading import SEARCH_ROOTS, user_path
from foundation.errors import ConfigError
from foundation.hub import hub_is_reachable
from foundation.leftovers import written_whole

RELEASES = (("tokens", "wikitext-2"), ("raw", "wikitext-2-raw"))  # (file suffix, folder name under a data root)
FILE_SPLITS = {"train": "train", "validation": "valid", "test": "test"}
V1_UNKNOWN = "<unk>"


def find_wikitext2(data_dir: str | None, split: str = "train") -> Path | None:
    """The file of `split` from the first release that has train + valid in `data_dir`, else in the data roots
    (the test file is looked up beside them)."""
    folders = [Path(data_dir).expanduser()] if data_dir else [root / name for root in SEARCH_ROOTS
                                                             for _, name in RELEASES]
    for folder in folders:
        for suffix, _ in RELEASES:
            if all((folder / f"wiki.{name}.{suffix}").is_file() for name in ("train", "valid")):
                path = folder / f"wiki.{FILE_SPLITS[split]}.{suffix}"
                return path if path.is_file() else None
    return None


class WikiText2DataModule(MaskedLMDataModule):
    """WikiText-2 train/validation/test blocks for masked-LM pre-training (module docstring: releases, `<unk>`).

    Files are looked up in `data_dir`, else `../shared/data/wikitext-2[-raw]/`, else the project's `data/`; only
    when none has them and the Hugging Face Hub answers is the `wikitext` dataset downloaded.

    Args:
        data_dir: folder with `wiki.train.tokens` + `wiki.valid.tokens` (v1; `wiki.test.tokens` for `test`) or the
            raw release's `wiki.*.raw`.
    """

    def __init__(self, data_dir: str | None = None, **kwargs):
        data_dir = user_path(data_dir, "--data.data_dir")
        super().__init__(**kwargs)
        self.data_dir = data_dir
        self._files: dict[str, Path] = {}

    def source_files(self, split: str) -> tuple[Path, str, bool]:
        if split not in self._files:
            self._files[split] = find_wikitext2(self.data_dir, split) or self._download(split)
        return self._files[split], "--data.data_dir", False

    def held_out_split(self) -> tuple[float, int]:
        return 0.0, 0  # WikiText-2 has its own validation and test files

    def _download(self, split: str) -> Path:
        name = f"wiki.{FILE_SPLITS[split]}.tokens"
        where = repr(self.data_dir) if self.data_dir else "../shared/data/wikitext-2 or the project's data/"
        if self.data_dir and not Path(self.data_dir).is_dir():
            where += " (a file)" if Path(self.data_dir).exists() else " (no such directory)"
        if self.data_dir or not hub_is_reachable():
            found_others = find_wikitext2(self.data_dir, "train") is not None
            what = f"file {name}" if found_others else "(wiki.train.tokens + wiki.valid.tokens, or the .raw files)"
            missing = self._missing_in_data_dir(split)
            what = f"file {missing[0]}" if len(missing) == 1 else what  # e.g. only wiki.valid.tokens is missing
            raise ConfigError(f"--data.data_dir: WikiText-2 {what} is not in {where} and the Hugging Face Hub is "
                              "unreachable; pass --data.data_dir /path/to/wikitext-2.")
        return self._download_from_hub(split)

    def _missing_in_data_dir(self, split: str) -> list[str]:
        """The files `data_dir` lacks for `split`, of the release whose train file is there (none when `data_dir` is
        not a directory)."""
        folder = Path(self.data_dir or "")
        if not self.data_dir or not folder.is_dir():
            return []
        suffix = next((s for s, _ in RELEASES if (folder / f"wiki.train.{s}").is_file()), RELEASES[0][0])
        names = dict.fromkeys(f"wiki.{FILE_SPLITS[s]}.{suffix}" for s in ("train", "validation", split))
        return [name for name in names if not (folder / name).is_file()]

    def _download_from_hub(self, split: str) -> Path:
        from datasets import load_dataset

        folder = self.cache_dir / "wikitext-2-raw-download"
        path = folder / f"wiki.{FILE_SPLITS[split]}.raw"
        if not path.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            dataset = load_dataset("wikitext", "wikitext-2-raw-v1", split=split)
            with written_whole(path) as partial:
                partial.write_text("".join(dataset["text"]), encoding="utf-8")  # rows keep their newlines
        return path

    def clean_line(self, line: str) -> str:
        # the v1 release's `<unk>` stands for a word the tokenizer never saw: its unknown token, written so the fast
        # tokenizer matches it as one special token instead of splitting `<`, `unk`, `>`
        return line.replace(V1_UNKNOWN, self.tokenizer.unk_token) if V1_UNKNOWN in line else line

    def clean_line_for_training(self, line: str) -> str:
        return line.replace(V1_UNKNOWN, " ")  # the WordPiece trainer must not learn pieces of `<unk>`
