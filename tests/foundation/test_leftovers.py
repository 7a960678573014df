"""Temporary files of killed writers: removed only when written on this machine by a process that no longer runs.
A disk may be shared by several machines (a cluster's home or scratch), where another machine's process id means
nothing here: its temporary file may be a checkpoint being written there right now."""

from __future__ import annotations

import os
import socket
import subprocess

from foundation.leftovers import (
    PARTIAL,
    leftover_pattern,
    remove_leftovers,
    temporary_sibling,
    this_host,
    written_whole,
)


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_only_this_machines_dead_writers_lose_their_files(tmp_path):
    dead, host = _dead_pid(), this_host()
    gone = [tmp_path / f".last.ckpt.partial-{host}-{dead}",  # this machine, writer killed
            tmp_path / f".last.ckpt.partial-{dead}"]  # the name before the host was added
    kept = [tmp_path / f".last.ckpt.partial-{host}-{os.getpid()}",  # this machine, writer at work
            tmp_path / f".last.ckpt.partial-gpu_node_17-{dead}",  # another machine: its pid means nothing here
            tmp_path / f".last.ckpt.replaced-{host}-{dead}",  # another kind
            tmp_path / f"last.ckpt.partial-{host}-{dead}"]  # not the pattern (no leading dot)
    for path in gone + kept:
        path.write_bytes(b"half")
    assert sorted(remove_leftovers(tmp_path, PARTIAL)) == sorted(gone)
    assert all(path.is_file() for path in kept)


def test_a_temporary_name_names_this_machine_and_process_even_with_dashes_in_the_host(tmp_path, monkeypatch):
    monkeypatch.setattr(socket, "gethostname", lambda: "gpu-node-17.cluster")
    partial = temporary_sibling(tmp_path / "last.ckpt")
    match = leftover_pattern("partial", "last.ckpt").fullmatch(partial.name)
    assert match is not None and match.group("host") == "gpu_node_17.cluster"
    assert int(match.group("pid")) == os.getpid()
    assert leftover_pattern("partial", "other.ckpt").fullmatch(partial.name) is None


def test_written_whole_renames_into_place_or_leaves_nothing(tmp_path):
    target = tmp_path / "record.json"
    with written_whole(target) as partial:
        partial.write_text("whole\n")
    assert target.read_text() == "whole\n"
    try:
        with written_whole(target) as partial:
            partial.write_text("half")
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    assert target.read_text() == "whole\n" and [p.name for p in tmp_path.iterdir()] == ["record.json"]
