"""WikiText-2 (Merity et al. 2016) for masked-LM pre-training, either release.

* v1, word level: `wiki.train.tokens` / `wiki.valid.tokens`, rare words already replaced by `<unk>`
  (`../shared/data/wikitext-2/` holds this one);
* raw: `wiki.train.raw` / `wiki.valid.raw` (original text, no `<unk>`).

`<unk>` becomes the tokenizer's own unknown token (one id, never the pieces `<`, `unk`, `>`), blank lines are
dropped, and the text is tokenized, concatenated and cut into blocks with [CLS]/[SEP] by the streaming path of
`StreamingTextDataModule` (cached as a memory-mapped Arrow file).
"""

from __future__ import annotations

from pathlib import Path

from data_modules.base import SEARCH_ROOTS
from data_modules.streaming_text import StreamingTextDataModule
from lightning_app.errors import ConfigError
from lightning_app.pretrained import hub_is_reachable

RELEASES = (("tokens", "wikitext-2"), ("raw", "wikitext-2-raw"))  # (file suffix, folder name under a data root)
V1_UNKNOWN = "<unk>"


def find_wikitext2(data_dir: str | None) -> dict[str, Path] | None:
    """{"train": ..., "validation": ...} of the first release found in `data_dir`, else the data roots."""
    folders = [Path(data_dir).expanduser()] if data_dir else [root / name for root in SEARCH_ROOTS
                                                             for _, name in RELEASES]
    for folder in folders:
        for suffix, _ in RELEASES:
            files = {"train": folder / f"wiki.train.{suffix}", "validation": folder / f"wiki.valid.{suffix}"}
            if all(path.is_file() for path in files.values()):
                return files
    return None


class WikiText2DataModule(StreamingTextDataModule):
    """WikiText-2 train/validation blocks for masked-LM pre-training (module docstring: releases, `<unk>`).

    Files are looked up in `data_dir`, else `../shared/data/wikitext-2[-raw]/`, else the project's `data/`; only
    when none has them and the Hugging Face Hub answers is the `wikitext` dataset downloaded.

    Args:
        data_dir: folder with `wiki.train.tokens` + `wiki.valid.tokens` (v1) or `wiki.train.raw` +
            `wiki.valid.raw` (raw release).
        block_size: tokens per example including [CLS] and [SEP].
        train_tokenizer: train a WordPiece tokenizer of `vocab_size` on the training split (saved under
            `cache_dir`, reused next run) instead of loading `tokenizer`.
        vocab_size: vocabulary size of the trained WordPiece tokenizer.
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

    def __init__(self, data_dir: str | None = None, block_size: int = 128, train_tokenizer: bool = False,
                 vocab_size: int = 8000, tokenizer: str | None = None, batch_size: int = 8,
                 eval_batch_size: int | None = None, mlm_probability: float = 0.15, seed: int = 42,
                 num_workers: int = 0, pad_to_multiple_of: int = 1, cache_dir: str | None = None,
                 predict_sentences: list[str] | None = None):
        super().__init__(None, None, 5, block_size, train_tokenizer, vocab_size, tokenizer, batch_size,
                         eval_batch_size, mlm_probability, seed, num_workers, pad_to_multiple_of, cache_dir,
                         predict_sentences)
        self.save_hyperparameters()
        self.data_dir = data_dir
        self._files: dict[str, Path] | None = None

    def source_files(self) -> dict[str, Path]:
        if self._files is None:
            self._files = find_wikitext2(self.data_dir) or self._download()
        return self._files

    def _download(self) -> dict[str, Path]:
        where = repr(self.data_dir) if self.data_dir else "../shared/data/wikitext-2 or the project's data/"
        if self.data_dir or not hub_is_reachable():
            raise ConfigError(f"--data.data_dir: WikiText-2 (wiki.train.tokens + wiki.valid.tokens, or wiki.train.raw "
                              f"+ wiki.valid.raw) is not in {where} and the Hugging Face Hub is unreachable; pass "
                              "--data.data_dir /path/to/wikitext-2.")
        from datasets import load_dataset

        folder = self.cache_dir / "wikitext-2-raw-download"
        files = {"train": folder / "wiki.train.raw", "validation": folder / "wiki.valid.raw"}
        if not all(path.is_file() for path in files.values()):
            folder.mkdir(parents=True, exist_ok=True)
            dataset = load_dataset("wikitext", "wikitext-2-raw-v1")
            for split, path in files.items():
                path.write_text("".join(dataset[split]["text"]), encoding="utf-8")  # rows keep their newlines
        return files

    def clean_line(self, line: str) -> str:
        # the v1 release's `<unk>` stands for a word the tokenizer never saw: its unknown token, written so the fast
        # tokenizer matches it as one special token instead of splitting `<`, `unk`, `>`
        return line.replace(V1_UNKNOWN, self.tokenizer.unk_token) if V1_UNKNOWN in line else line

    def clean_line_for_training(self, line: str) -> str:
        return line.replace(V1_UNKNOWN, " ")  # the WordPiece trainer must not learn pieces of `<unk>`
