"""The on-disk cache of tokenized data: keyed by content, written atomically, checked on load, read memory-mapped.

A cache entry's key holds the input files' content hashes, the tokenizer's fingerprint and every option that
changes the output, so an edited file or a new option never reuses a stale entry. Entries are written into a
private temporary directory and renamed into place under a lock on `<entry>.lock`: a crash, Ctrl-C or a
tokenization error leaves nothing a later run would trust (the temporary directory is removed on errors, and
left-overs of killed processes are removed by the next run that opens the cache), and runs started at once write
one entry, not two halves of one. Each entry records the size and SHA-256 of its files (`manifest.json`); an entry
that no longer matches (cut short by a full disk, overwritten) is removed and rebuilt with one warning.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from lightning.pytorch.utilities import rank_zero_warn

from foundation.errors import ConfigError
from foundation.leftovers import PARTIAL, remove_leftovers, temporary_sibling

WRITER_BATCH = 1_000  # rows per Arrow record batch: bounded memory while writing
MANIFEST = "manifest.json"  # {"files": {name: {"size": bytes, "sha256": hex}}}: what the entry should contain
# errors of the cache's own disk (not of reading the user's input files, which their own checks report)
WRITE_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS)


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
    """The memory-mapped Arrow dataset for `key`, written row by row from `rows()` when the entry is missing or
    damaged.

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
    if entry_problem(target) is not None:
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


def entry_problem(target: Path) -> str | None:
    """What is wrong with the cache entry `target` ("missing", a file of the wrong size or content), or None."""
    try:
        recorded = json.loads((target / MANIFEST).read_text())["files"]
    except FileNotFoundError:
        return "missing" if not target.exists() else f"no {MANIFEST}: cut short, or written by an older release"
    except (OSError, ValueError, KeyError, TypeError):
        return f"its {MANIFEST} is unreadable"
    for name, expected in recorded.items():
        path = target / name
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != expected.get("size"):
            return f"{name} has {path.stat().st_size:,} bytes, {expected.get('size'):,} were written"
        if _sha256(path) != expected.get("sha256"):
            return f"{name} is not what was written (SHA-256 differs)"
    return None


def save_directory_atomically(target: Path, save: Callable[[str], object]) -> None:
    """`save(path)` into a private temporary directory, record its files in `manifest.json`, then rename it to
    `target`, all under `target`'s lock; skipped when `target` is intact (another process finished it first).

    On any error (or Ctrl-C) the temporary directory is removed, so no half-written entry is ever left for a later
    run to trust; a full disk stops with one sentence. A damaged `target` is removed first, with one warning.
    """
    _check_writable(target.parent)
    remove_leftovers(target.parent, PARTIAL)
    with _locked(target):
        problem = entry_problem(target)
        if problem is None:
            return
        if problem != "missing":
            rank_zero_warn(f"The cache entry {target} is damaged ({problem}); removing it and building it again.")
            shutil.rmtree(target) if target.is_dir() and not target.is_symlink() else target.unlink()
        partial = temporary_sibling(target)
        shutil.rmtree(partial, ignore_errors=True)  # our own, from an earlier attempt in this process
        try:
            partial.mkdir(parents=True)
            save(str(partial))
            _write_manifest(partial)
            partial.replace(target)
        except BaseException as error:
            shutil.rmtree(partial, ignore_errors=True)
            if isinstance(error, OSError) and error.errno in (errno.ENOTEMPTY, errno.EEXIST) \
                    and entry_problem(target) is None:
                return  # another machine finished it first, where the shared disk's lock does not reach across
            if isinstance(error, OSError) and error.errno in WRITE_ERRORS:
                raise ConfigError(f"--data.cache_dir: writing {target} failed ({error.strerror}); free space on "
                                  "that disk, or pass another directory with --data.cache_dir or set "
                                  "$LBT_CACHE_DIR.") from None
            raise


@contextmanager
def _locked(target: Path) -> Iterator[None]:
    """An exclusive `fcntl.flock` on `<target>.lock` (released by the kernel if the process dies), removed again
    by its holder: a waiter that then gets the lock of a removed file retries on the new one."""
    lock = target.with_name(f"{target.name}.lock")
    while True:
        handle = open(lock, "a")
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            if os.path.samestat(os.fstat(handle.fileno()), os.stat(lock)):
                break
        except FileNotFoundError:
            pass
        handle.close()
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)
        handle.close()  # releases the lock


def _write_manifest(directory: Path) -> None:
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    record = {str(p.relative_to(directory)): {"size": p.stat().st_size, "sha256": _sha256(p)} for p in files}
    (directory / MANIFEST).write_text(json.dumps({"files": record}, indent=1))


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


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
