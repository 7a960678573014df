"""A resumed fit never overwrites a run (an audit of resume paths, 2026-12-04): a run that went on past the
checkpoint continues in a new run beside it; a run being trained cannot be resumed by a second process; and
`fit --ckpt_path last` whose newest run has no checkpoint yet starts that run again instead of extending an older one.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path

import pytest
import yaml
from cli_helpers import lockable, write_tiny_mlm_config

from lightning_app.checkpointing.checkpoints import load_checkpoint
from lightning_app.cli import cli_main


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _keeping_every_validation(config_path: Path, **init_args) -> str:
    config = yaml.safe_load(config_path.read_text())
    for callback in config["trainer"]["callbacks"][:2]:
        callback["init_args"].update(init_args)
    config["trainer"]["callbacks"][0]["init_args"]["save_top_k"] = -1  # epoch 0's checkpoint stays
    config_path.write_text(yaml.safe_dump(config))
    return str(config_path)


def test_resuming_an_earlier_checkpoint_of_a_run_continues_in_a_new_run(tmp_path, tiny_bert, small_text, capsys):
    config = _keeping_every_validation(write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text,
                                                             max_steps=6, limit_val_batches=1))
    cli_main(["fit", "--config", config])
    run = tmp_path / "runs" / "custom_mlm" / "version_0"
    last = run / "checkpoints" / "last.ckpt"
    earlier = next(path for path in (run / "checkpoints").glob("epoch0-*.ckpt"))  # step 4, the best after epoch 0
    before = _digest(last)
    capsys.readouterr()
    resumed = cli_main(["fit", "--config", config, "--ckpt_path", str(earlier), "--trainer.max_steps", "5"])
    assert f"{run} went on to a later last.ckpt; continuing from this checkpoint in a new run beside it" in \
        capsys.readouterr().err
    assert _digest(last) == before and load_checkpoint(last)["global_step"] == 6  # the run is as it was
    branch = tmp_path / "runs" / "custom_mlm" / "version_1"
    assert Path(resumed.trainer.log_dir) == branch
    assert load_checkpoint(branch / "checkpoints" / "last.ckpt")["global_step"] == 5
    assert not (run / "config.resume1.yaml").exists()


def test_resuming_the_newest_checkpoint_continues_the_run_itself(tmp_path, tiny_bert, small_text, capsys):
    config = str(write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text, max_steps=2,
                                       limit_val_batches=1))
    cli_main(["fit", "--config", config])
    with small_text.open("a") as edited:  # the user adds a line to the corpus between the two fits
        edited.write("A line added after the first fit.\n")
    capsys.readouterr()
    resumed = cli_main(["fit", "--config", config, "--ckpt_path", "last", "--trainer.max_steps", "4"])
    err = capsys.readouterr().err
    assert "resume: trainer.max_steps 2 -> 4 (typed): the run continues with 4" in err
    assert f"resume: the train file {small_text} changed since the checkpoint was saved" in err
    run = tmp_path / "runs" / "custom_mlm" / "version_0"
    assert Path(resumed.trainer.log_dir) == run and (run / "config.resume1.yaml").is_file()
    assert load_checkpoint(run / "checkpoints" / "last.ckpt")["global_step"] == 4
    assert lockable(run)  # the fit is over: the run is free again


def test_a_run_being_trained_holds_its_directory_and_a_second_resume_is_refused(tmp_path, tiny_bert, small_text,
                                                                                capsys):
    probe = {"class_path": "tests.cli_helpers.RunLockProbe"}
    config = str(write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text, [probe], max_steps=2,
                                       limit_val_batches=1))
    first = cli_main(["fit", "--config", config])
    assert next(c for c in first.trainer.callbacks if type(c).__name__ == "RunLockProbe").lockable is False
    run = tmp_path / "runs" / "custom_mlm" / "version_0"
    last = run / "checkpoints" / "last.ckpt"
    before = _digest(last)
    descriptor = os.open(run, os.O_RDONLY)  # another process training this run holds its lock
    fcntl.flock(descriptor, fcntl.LOCK_EX)
    try:
        with pytest.raises(SystemExit) as stop:
            cli_main(["fit", "--config", config, "--ckpt_path", "last", "--trainer.max_steps", "4"])
    finally:
        os.close(descriptor)
    assert stop.value.code == 2
    assert f"{run} is being trained by another process right now" in capsys.readouterr().err
    assert _digest(last) == before and not (run / "config.resume1.yaml").exists()


def test_last_starts_the_newest_run_again_when_it_stopped_before_its_first_checkpoint(tmp_path, tiny_bert,
                                                                                     small_text, capsys):
    config = str(write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text, max_steps=2,
                                       limit_val_batches=1))
    cli_main(["fit", "--config", config])  # an earlier, finished experiment
    finished = tmp_path / "runs" / "custom_mlm" / "version_0" / "checkpoints" / "last.ckpt"
    before = _digest(finished)
    preempted = tmp_path / "runs" / "custom_mlm" / "version_1"
    preempted.mkdir()  # a later run killed while tokenizing: its config, no checkpoint
    (preempted / "config.yaml").write_text(yaml.safe_dump({"fit": "killed before its first save"}))
    capsys.readouterr()
    cli = cli_main(["fit", "--config", config, "--ckpt_path", "last"])
    err = capsys.readouterr().err
    assert f"--ckpt_path last: the newest run, {preempted}, has no checkpoint yet" in err
    assert cli.config.fit.ckpt_path is None and cli.trainer.global_step == 2
    assert _digest(finished) == before
    assert Path(cli.trainer.log_dir).name == "version_2"


def test_an_earlier_checkpoint_is_refused_where_its_dirpath_holds_a_later_last_ckpt(tmp_path, tiny_bert,
                                                                                  small_text, capsys):
    config_path = _keeping_every_validation(
        write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text, max_steps=6, limit_val_batches=1),
        dirpath=str(tmp_path / "fixed"))
    cli_main(["fit", "--config", config_path])
    earlier = next((tmp_path / "fixed").glob("epoch0-*.ckpt"))
    before = _digest(tmp_path / "fixed" / "last.ckpt")
    capsys.readouterr()
    with pytest.raises(SystemExit):
        cli_main(["fit", "--config", config_path, "--ckpt_path", str(earlier)])
    assert f"ModelCheckpoint dirpath {tmp_path / 'fixed'} holds a later last.ckpt" in capsys.readouterr().err
    assert _digest(tmp_path / "fixed" / "last.ckpt") == before


def test_a_fixed_checkpoint_dirpath_is_held_while_a_fit_writes_into_it(tmp_path, tiny_bert, small_text, capsys):
    config = _keeping_every_validation(
        write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text, max_steps=2, limit_val_batches=1),
        dirpath=str(tmp_path / "fixed"))
    (tmp_path / "fixed").mkdir()
    descriptor = os.open(tmp_path / "fixed", os.O_RDONLY)  # another fit of this config writing there right now
    fcntl.flock(descriptor, fcntl.LOCK_EX)
    try:
        with pytest.raises(SystemExit) as stop:
            cli_main(["fit", "--config", config])
    finally:
        os.close(descriptor)
    assert stop.value.code == 2 and not any((tmp_path / "fixed").iterdir())
    assert f"ModelCheckpoint dirpath {tmp_path / 'fixed'} is being written by another fit right now" in \
        capsys.readouterr().err
    cli_main(["fit", "--config", config])  # alone, it runs; and lets go of the folder when it ends
    assert (tmp_path / "fixed" / "last.ckpt").is_file() and lockable(tmp_path / "fixed")
