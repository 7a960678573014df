"""The on-disk cache of tokenized data: keyed by content, written atomically, read memory-mapped.

A cache entry's key holds the input files' content hashes, the tokenizer's fingerprint and every option that
changes the output, so an edited file or a new option never reuses a stale entry. Entries are written into a
private temporary directory and renamed into place: a crash, Ctrl-C or a tokenization error leaves nothing a later
run would trust (the temporary directory is removed on errors, and left-overs of killed processes are cleaned).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

from foundation.errors import ConfigError

WRITER_BATCH = 1_000  # rows per Arrow record batch: bounded memory while writing


def default_cache_dir() -> Path:
    """Where tokenized datasets are cached: `$LBT_CACHE_DIR`, else `~/.cache/lightning-bert-toolkit`."""
    if "LBT_CACHE_DIR" in os.environ:
        return Path(os.environ["LBT_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "lightning-bert-toolkit"


def tokenizer_fingerprint(tokenizer) -> str:
    """A short hash of everything that changes how the tokenizer splits text (vocabulary, normalizer, special
    tokens). Truncation and padding are left out: a fast tokenizer switches them with every call's arguments, so
    they would give the same tokenizer a different fingerprint after its first use."""
    if tokenizer.is_fast:
        state = json.loads(tokenizer.backend_tokenizer.to_str())
        state.pop("truncation", None)
        state.pop("padding", None)
        text = json.dumps(state, sort_keys=True)
    else:
        text = json.dumps(tokenizer.get_vocab(), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def file_fingerprint(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def key_digest(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:20]


def cached_rows(cache_dir: Path, key: dict, rows: Callable[[], Iterable[dict]], empty_message: str,
                features=None):
    """The memory-mapped Arrow dataset for `key`, written row by row from `rows()` on the first call.

    Args:
        cache_dir: the cache root.
        key: everything the rows depend on (a "kind" entry names the directory).
        rows: a callable returning the rows (dicts of lists/ints); called only when the entry is missing.
        empty_message: the `ConfigError` raised when `rows()` yields nothing.
        features: the `datasets.Features` of a row; None = inferred from the first rows.
    """
    from datasets import Dataset
    from datasets.arrow_writer import ArrowWriter

    target = cache_dir / f"{key.get('kind', 'rows')}-{key_digest(key)}"
    if not (target / "data.arrow").is_file():
        def write(directory: str) -> None:
            with ArrowWriter(path=str(Path(directory) / "data.arrow"), features=features,
                             writer_batch_size=WRITER_BATCH) as out:
                for row in rows():
                    out.write(row)
                count, _ = out.finalize()
            if count == 0:
                raise ConfigError(empty_message)

        save_directory_atomically(target, write)
    return Dataset.from_file(str(target / "data.arrow"))  # memory-mapped: pages are read on demand


def save_directory_atomically(target: Path, save: Callable[[str], object]) -> None:
    """`save(path)` into a private temporary directory, then rename it to `target`.

    On any error (or Ctrl-C) the temporary directory is removed, so no half-written entry is ever left for a later
    run to trust; temporary directories of processes that no longer exist are removed first.
    """
    _check_writable(target.parent)
    _remove_orphans(target)
    partial = target.with_name(f"{target.name}.partial{os.getpid()}")
    partial.mkdir(parents=True, exist_ok=True)
    try:
        save(str(partial))
        if target.exists():  # another process (a DDP rank) finished first; its copy is identical
            shutil.rmtree(partial)
        else:
            partial.replace(target)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def _check_writable(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / f".write-test{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as error:
        file = next((p for p in (directory, *directory.parents) if p.exists() and not p.is_dir()), None)
        what = f"{file} is a file, not a directory" if file else f"{directory} is not writable ({error.strerror})"
        raise ConfigError(f"--data.cache_dir: {what}; pass a writable directory with --data.cache_dir or set "
                          "$LBT_CACHE_DIR.") from error


def _remove_orphans(target: Path) -> None:
    for leftover in target.parent.glob(f"{target.name}.partial*"):
        pid = leftover.name.rsplit(".partial", 1)[-1]
        if pid.isdigit() and not _process_exists(int(pid)):
            shutil.rmtree(leftover, ignore_errors=True)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
