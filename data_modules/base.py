"""What every data module shares: finding the data, reading text strictly, loading tokenizers, caching tokenization.

Data resolution is the same for every corpus (DEVELOPERS.md): an explicit file or `data_dir` first; else
`../shared/data` beside the project; else the small samples shipped in the project's `data/`; else (public corpora
only) the canonical Hugging Face dataset when the Hub answers; else one sentence naming the option to set.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from lightning_app.errors import ConfigError
from lightning_app.pretrained import resolve_pretrained

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SEARCH_ROOTS = (PROJECT_ROOT.parent / "shared" / "data", PROJECT_ROOT / "data")


def default_cache_dir() -> Path:
    """Where tokenized datasets are cached: `$LBT_CACHE_DIR`, else `~/.cache/lightning-bert-toolkit`."""
    if "LBT_CACHE_DIR" in os.environ:
        return Path(os.environ["LBT_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "lightning-bert-toolkit"


def resolve_data_file(explicit: str | None, data_dir: str | None, relative: str, option: str) -> Path:
    """Find one corpus file by the project's resolution order, or raise a `ConfigError` naming `option`.

    Args:
        explicit: the file the user named (wins over everything).
        data_dir: a directory that holds `relative`'s file name.
        relative: the file's path below a data root, e.g. `custom-txt/train.txt`.
        option: the option to name in the error, e.g. `--data.train_file`.
    """
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(f"{option}: file {str(path)!r} does not exist; pass the path of an existing file.")
        return path
    if data_dir is not None:
        path = Path(data_dir).expanduser() / Path(relative).name
        if not path.is_file():
            raise ConfigError(f"--data.data_dir: {str(path)!r} does not exist; point data_dir at the folder that "
                              f"holds {Path(relative).name}.")
        return path
    for root in SEARCH_ROOTS:
        if (root / relative).is_file():
            return root / relative
    raise ConfigError(f"{option} is not set and {relative} was found neither in ../shared/data nor in the project's "
                      f"data/; pass {option} /path/to/{Path(relative).name}.")


def read_text_lines(path: Path, option: str) -> list[str]:
    """Read a UTF-8 text file (a BOM and CRLF endings are accepted) into lines, failing clearly on bad bytes."""
    raw = path.read_bytes()
    if not raw.strip():
        raise ConfigError(f"{option}: {path} is empty; pass a file with text in it.")
    if b"\x00" in raw[:4096]:
        raise ConfigError(f"{option}: {path} looks binary (it contains NUL bytes); pass a UTF-8 text file.")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise ConfigError(f"{option}: {path} line {line} is not valid UTF-8; re-save the file as UTF-8 "
                          f"(e.g. `iconv -f latin1 -t utf-8`).") from error
    return text.splitlines()


def load_tokenizer(name_or_path: str | None, option: str = "--data.tokenizer"):
    """A fast tokenizer from a local directory, a hub id, or None for the embedded MiniLM (bert-base-uncased)."""
    from transformers import AutoTokenizer

    directory = resolve_pretrained(name_or_path, option, need="tokenizer_config.json")
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(directory), use_fast=True)
    except (OSError, ValueError, TypeError) as error:
        raise ConfigError(f"{option}: no usable tokenizer in {directory} ({error.__class__.__name__}); pass a "
                          "directory with tokenizer.json or vocab.txt.") from error
    if len(tokenizer) <= len(tokenizer.all_special_tokens):  # transformers accepts a config without any vocab
        raise ConfigError(f"{option}: {directory} has a tokenizer config but no vocabulary (vocab.txt / "
                          "tokenizer.json); pass the complete directory written by `save_pretrained`.")
    return tokenizer


def tokenizer_fingerprint(tokenizer) -> str:
    """A short hash of everything that changes how the tokenizer splits text (vocab, normalizer, special tokens)."""
    state = tokenizer.backend_tokenizer.to_str() if tokenizer.is_fast else json.dumps(tokenizer.get_vocab())
    return hashlib.sha256(state.encode()).hexdigest()[:16]


def file_fingerprint(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def cached_dataset(cache_dir: Path, key: dict, build: Callable[[], dict[str, list]]):
    """Return the Arrow dataset for `key`, building and saving it on the first call.

    The key holds file content hashes, the tokenizer fingerprint and every option that changes the output, so
    an edited file or a new option never reuses a stale cache. Saved datasets are memory-mapped on load, which
    keeps large corpora out of RAM.
    """
    from datasets import Dataset, disable_progress_bars, load_from_disk

    disable_progress_bars()  # one log line per split says what was loaded; per-shard bars are noise

    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    target = cache_dir / f"{key.get('kind', 'dataset')}-{digest}"
    if (target / "dataset_info.json").exists():
        return load_from_disk(str(target))
    save_directory_atomically(target, Dataset.from_dict(build()).save_to_disk)
    return load_from_disk(str(target))


def save_directory_atomically(target: Path, save: Callable[[str], object]) -> None:
    """`save(path)` into a private temporary directory, then rename it to `target`, so a crash never leaves a
    half-written cache that later runs would trust."""
    partial = target.with_name(target.name + f".partial{os.getpid()}")
    save(str(partial))
    if target.exists():  # another process (a DDP rank) finished first; its copy is identical
        shutil.rmtree(partial)
    else:
        partial.replace(target)


def saved_or_trained_tokenizer(directory: Path, train: Callable[[], object], description: str):
    """The tokenizer saved in `directory`; if there is none, `train()` one, save it there, and say so.

    The directory's name should encode everything the tokenizer depends on (corpus fingerprint, vocabulary size),
    so a changed corpus trains a new one instead of reusing a stale one.
    """
    from lightning.pytorch.utilities import rank_zero_info
    from transformers import AutoTokenizer

    if not (directory / "tokenizer.json").is_file():
        tokenizer = train()
        save_directory_atomically(directory, tokenizer.save_pretrained)
        rank_zero_info(f"Trained {description} with {len(tokenizer):,} tokens; saved in {directory}")
    return AutoTokenizer.from_pretrained(str(directory), use_fast=True)
