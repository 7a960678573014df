"""Cache entries verify themselves: a truncated, zeroed or garbled entry is detected on load, removed and rebuilt
with one warning; concurrent writers of one entry produce one complete entry, tokenized once; a full disk stops
with one sentence and leaves no partial entry; left-overs of killed writers are removed."""

from __future__ import annotations

import contextlib
import errno
import multiprocessing
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from cli_helpers import run_bad_input, write_tiny_mlm_config

from data_modules import caching
from data_modules.caching import MANIFEST, cached_rows, entry_problem
from foundation.errors import ConfigError
from foundation.leftovers import this_host

KEY = {"kind": "rows", "source": "test"}
ROWS = [{"input_ids": [i, i + 1, i + 2]} for i in range(3000)]  # three Arrow record batches


def _rows(calls: list | None = None):
    if calls is not None:
        calls.append(1)
    return iter(ROWS)


def _entry(cache: Path) -> Path:
    (entry,) = [p for p in cache.iterdir() if p.is_dir()]
    return entry


def _replace(path: Path, content: bytes) -> None:
    """A new file under the old name, as a later process finds it (rewriting in place would pull the pages from
    under this process's memory map of the first read: SIGBUS)."""
    path.with_name("damaged").write_bytes(content)
    path.with_name("damaged").replace(path)


def _truncate(path: Path) -> None:
    _replace(path, path.read_bytes()[: path.stat().st_size // 2])  # a full disk or a crash cut it short


def _zero(path: Path) -> None:
    _replace(path, bytes(path.stat().st_size))  # same size, all zeros (a filesystem that lost the blocks)


def _garble(path: Path) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 64] = bytes(255 - b for b in data[middle:middle + 64])  # same size, wrong bytes
    _replace(path, bytes(data))


@pytest.mark.parametrize("damage", [_truncate, _zero, _garble], ids=["truncated", "zeroed", "garbled"])
def test_a_damaged_entry_is_detected_removed_and_rebuilt_with_one_warning(damage, tmp_path):
    calls: list = []
    first = cached_rows(tmp_path, KEY, lambda: _rows(calls), "no rows")["input_ids"]
    assert first[:2] == [[0, 1, 2], [1, 2, 3]] and len(calls) == 1
    entry = _entry(tmp_path)
    assert (entry / MANIFEST).is_file() and entry_problem(entry) is None
    damage(entry / "data.arrow")
    assert entry_problem(entry) is not None

    with pytest.warns(UserWarning, match=r"cache entry .*rows-.* is damaged \(data.arrow .*\); removing it") as seen:
        again = cached_rows(tmp_path, KEY, lambda: _rows(calls), "no rows")
    assert len([w for w in seen if "damaged" in str(w.message)]) == 1
    assert len(calls) == 2  # rebuilt from the rows, not read from the damaged file
    assert again["input_ids"] == first and entry_problem(entry) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == [entry.name]  # no partial entry, no lock file left


def test_an_intact_entry_is_read_without_rebuilding(tmp_path, recwarn):
    calls: list = []
    cached_rows(tmp_path, KEY, lambda: _rows(calls), "no rows")
    cached_rows(tmp_path, KEY, lambda: _rows(calls), "no rows")
    assert len(calls) == 1 and not [w for w in recwarn if "damaged" in str(w.message)]


def _write_concurrently(cache: str, record: str, barrier) -> None:
    def slow_rows():
        Path(record, f"tokenized-by-{multiprocessing.current_process().pid}").touch()
        for row in ROWS:
            time.sleep(0.0002)  # ~0.6 s of "tokenization": every writer is inside the race window
            yield row

    barrier.wait()
    cached_rows(Path(cache), KEY, slow_rows, "no rows")


def test_an_entry_another_machine_finished_first_is_used_where_the_lock_does_not_reach(tmp_path, monkeypatch):
    other = tmp_path / "written-by-another-machine"
    cached_rows(other, KEY, _rows, "no rows")
    finished = _entry(other)
    cache = tmp_path / "shared"
    monkeypatch.setattr(caching, "_locked", lambda target: contextlib.nullcontext())  # a flock local to each machine

    def rows_while_the_other_machine_finishes():
        shutil.copytree(finished, cache / finished.name)  # it renames its entry into place while we tokenize
        return _rows()

    rows = cached_rows(cache, KEY, rows_while_the_other_machine_finishes, "no rows")
    assert rows["input_ids"] == [row["input_ids"] for row in ROWS]
    assert sorted(p.name for p in cache.iterdir()) == [finished.name] and entry_problem(cache / finished.name) is None


def test_concurrent_writers_of_one_entry_produce_one_complete_entry_tokenized_once(tmp_path):
    cache, record = tmp_path / "cache", tmp_path / "record"
    record.mkdir()
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(4)
    writers = [context.Process(target=_write_concurrently, args=(str(cache), str(record), barrier))
               for _ in range(4)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=120)
    assert [writer.exitcode for writer in writers] == [0, 0, 0, 0]
    assert len(list(record.iterdir())) == 1  # the others waited on the lock, then found the entry complete
    entry = _entry(cache)
    assert entry_problem(entry) is None and sorted(p.name for p in cache.iterdir()) == [entry.name]
    assert cached_rows(cache, KEY, lambda: pytest.fail("rebuilt"), "no rows")["input_ids"] == [r["input_ids"]
                                                                                               for r in ROWS]


def test_a_full_disk_stops_with_one_sentence_and_no_partial_entry(tmp_path, monkeypatch):
    from datasets.arrow_writer import ArrowWriter

    def disk_full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ArrowWriter, "write", disk_full)
    with pytest.raises(ConfigError) as error:
        cached_rows(tmp_path, KEY, _rows, "no rows")
    assert str(error.value).startswith(f"--data.cache_dir: writing {tmp_path}/rows-")
    assert "failed (No space left on device); free space on that disk" in str(error.value)
    assert list(tmp_path.iterdir()) == []  # no partial entry, no lock file


def test_a_full_disk_while_caching_a_fit_s_data_is_one_sentence(tmp_path, tiny_bert, small_text, monkeypatch, capsys,
                                                                  bad_input_table):
    from datasets.arrow_writer import ArrowWriter

    def disk_full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    config = write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text)
    corpus = tmp_path / "inputs" / "new.txt"  # text no earlier test cached
    corpus.parent.mkdir()
    corpus.write_text(small_text.read_text() + "A line only this test tokenizes.\n")
    argv = ["fit", "--config", str(config), "--data.train_file", str(corpus)]
    monkeypatch.setattr(ArrowWriter, "write", disk_full)
    message = run_bad_input(capsys, argv, tmp_path)  # also: nothing written, no partial entry in the cache
    assert "--data.cache_dir: writing $LBT_CACHE_DIR/mlm-" in message.replace(os.environ["LBT_CACHE_DIR"],
                                                                               "$LBT_CACHE_DIR")
    assert "failed (No space left on device)" in message
    argv[2] = "custom_mlm.yaml"
    bad_input_table.record("full disk while caching the tokenized data", argv, message)


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_leftovers_of_killed_writers_are_removed_and_nothing_else(tmp_path):
    dead, alive = _dead_pid(), multiprocessing.current_process().pid
    host = this_host()
    killed = tmp_path / f".mlm-blocks-0123456789abcdef0123.partial-{host}-{dead}"  # another entry's, writer killed
    killed.mkdir()
    (killed / "data.arrow").write_bytes(b"half")
    running = tmp_path / f".mlm-blocks-fedcba9876543210fedc.partial-{host}-{alive}"  # a writer still at work
    elsewhere = tmp_path / f".mlm-blocks-fedcba9876543210fedd.partial-other_node-{dead}"  # on a shared disk
    for folder in (running, elsewhere):
        folder.mkdir()
    unrelated = [tmp_path / f"notes.partial{dead}.txt", tmp_path / f"keep{dead}"]
    for path in unrelated:
        path.write_text("the user's\n")
    cached_rows(tmp_path, KEY, _rows, "no rows")
    assert not killed.exists()
    assert running.is_dir() and elsewhere.is_dir() and all(path.is_file() for path in unrelated)
