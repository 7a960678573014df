"""Interrupted writes leave nothing behind: the `.last.ckpt.partial-<pid>` of a killed process is removed the next
time a run opens its directory (only that pattern, only when the pid is dead); a checkpoint write that fails (full
disk) stops the run with one sentence and leaves no partial file."""

from __future__ import annotations

import errno
import subprocess
from pathlib import Path

import pytest
import torch
from cli_helpers import write_tiny_mlm_config

from foundation.errors import ConfigError
from foundation.leftovers import this_host
from lightning_app.checkpointing.checkpoint_io import AtomicCheckpointIO
from lightning_app.cli import cli_main


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


@pytest.mark.slow  # over ~3 s: kept out of the quick loop (`-m "not slow"`)
def test_resume_removes_partial_checkpoints_of_killed_processes_and_nothing_else(tmp_path, tiny_bert, small_text):
    config = write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text, max_steps=2,
                                   limit_val_batches=1)
    cli_main(["fit", "--config", str(config)])
    checkpoints = tmp_path / "runs" / "custom_mlm" / "version_0" / "checkpoints"
    dead = _dead_pid()
    killed = checkpoints / f".last.ckpt.partial-{this_host()}-{dead}"  # a SIGKILL mid-write leaves this (262 MB)
    killed.write_bytes(b"\0" * 4096)
    kept = [checkpoints / ".last.ckpt.partial-1",  # a writer that is still alive (pid 1 always is)
            checkpoints / f"last.ckpt.partial-{dead}",  # not our pattern (no leading dot)
            checkpoints / f".notes.partial-{dead}.txt", checkpoints / "notes.txt"]
    for path in kept:
        path.write_text("not ours to delete\n")

    resumed = cli_main(["fit", "--config", str(config), "--ckpt_path", "last", "--trainer.max_steps", "4"])
    assert resumed.trainer.global_step == 4
    assert not killed.exists()
    assert all(path.read_text() == "not ours to delete\n" for path in kept)


def test_a_full_disk_during_a_checkpoint_write_stops_with_one_sentence_and_no_partial_file(tmp_path, tiny_bert,
                                                                                         small_text, monkeypatch,
                                                                                         capsys, bad_input_table):
    config = write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text, max_steps=4,
                                   limit_val_batches=1)

    def disk_full(obj, path, *args, **kwargs):
        Path(path).write_bytes(b"the first blocks of a checkpoint")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(SystemExit) as stop:
        cli_main(["fit", "--config", str(config)])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert stop.value.code == 2 and "Traceback" not in err
    assert lines[-1].startswith("error: writing the checkpoint ") and [ln for ln in lines if "error:" in ln] == \
        [lines[-1]]
    assert "last.ckpt failed (No space left on device); free space on that disk" in lines[-1]
    assert not [p for p in tmp_path.rglob("*") if ".partial" in p.name]
    bad_input_table.record("full disk while writing a checkpoint", ["fit", "--config", "custom_mlm.yaml"], lines[-1])


def test_a_failed_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    io = AtomicCheckpointIO()
    target = tmp_path / "last.ckpt"
    io.save_checkpoint({"global_step": 1}, target)

    def no_permission(obj, path, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(torch, "save", no_permission)
    with pytest.raises(ConfigError, match=r"last.ckpt failed \(Permission denied\); .* make .* writable"):
        io.save_checkpoint({"global_step": 2}, target)
    monkeypatch.undo()
    assert torch.load(target, weights_only=True)["global_step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


def test_ctrl_c_before_training_ends_with_one_line_and_status_130(tmp_path, tiny_bert, small_text, capsys,
                                                                  monkeypatch):
    """Ctrl-C while the data is tokenized (before GracefulStop or Lightning handle it): no traceback."""

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("lightning_app.parsing.lightning_cli.check_before_fit", interrupted)
    config = write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text)
    with pytest.raises(SystemExit) as stop:
        cli_main(["fit", "--config", str(config)])
    assert stop.value.code == 130
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1].startswith("Interrupted (Ctrl-C) before training; nothing is left")
    assert "Traceback" not in err
