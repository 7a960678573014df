"""`--ckpt_path last|best` look where the run was written and say which file they chose (issues 22 and 23).

Where: `--trainer.default_root_dir`, the logger's `save_dir`, or a ModelCheckpoint `dirpath`, whichever the run
used. What: one line naming the file, its run and its monitored score; `best` is the best of the newest run, and
the line says when an older run of the same config scored better (the rule:
lightning_app/checkpointing/chosen_checkpoint.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cli_helpers import write_tiny_mlm_config
from jsonargparse import Namespace

from lightning_app.checkpointing.checkpoints import load_checkpoint
from lightning_app.checkpointing.chosen_checkpoint import monitored_best
from lightning_app.checkpointing.from_checkpoint import resolve_ckpt_path
from lightning_app.checkpointing.run_dirs import newest_record
from lightning_app.cli import cli_main


def _chosen_line(err: str, which: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith(f"--ckpt_path {which}: ")]
    assert len(lines) == 1, err[-2000:]
    return lines[0]


def test_last_looks_under_the_default_root_dir_the_fit_wrote_into(tmp_path, tiny_bert, small_text, capsys):
    config = str(write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text, max_steps=2))
    elsewhere = tmp_path / "elsewhere"
    cli_main(["fit", "--config", config, "--trainer.default_root_dir", str(elsewhere)])
    last = elsewhere / "custom_mlm" / "version_0" / "checkpoints" / "last.ckpt"
    assert last.is_file() and not (tmp_path / "runs").exists()
    capsys.readouterr()
    cli = cli_main(["validate", "--config", config, "--trainer.default_root_dir", str(elsewhere), "--ckpt_path",
                    "last"])
    assert Path(cli.config.validate.ckpt_path) == last
    line = _chosen_line(capsys.readouterr().err, "last")
    assert line.startswith(f"--ckpt_path last: {last} (run {elsewhere / 'custom_mlm' / 'version_0'}, ")
    assert "step 2" in line
    assert (last.parent.parent / "evaluations" / "last.validate.json").is_file()


def _trainer_config(tmp_path: Path, logger, dirpath: str | None = None, root: str | None = None) -> Namespace:
    callbacks = [Namespace(class_path="lightning.pytorch.callbacks.ModelCheckpoint",
                           init_args=Namespace(dirpath=dirpath, save_last=True))]
    return Namespace(trainer=Namespace(default_root_dir=root, logger=logger, callbacks=callbacks))


def test_last_looks_in_the_checkpoint_callbacks_dirpath_and_in_a_run_without_logger(tmp_path):
    saved = tmp_path / "my_checkpoints" / "last.ckpt"
    saved.parent.mkdir()
    saved.write_bytes(b"")  # `last` is found by name; loading it is the next step's business
    logger = Namespace(class_path="lightning.pytorch.loggers.TensorBoardLogger",
                       init_args=Namespace(save_dir=str(tmp_path / "runs"), name="custom_mlm"))
    assert resolve_ckpt_path("last", _trainer_config(tmp_path, logger, str(saved.parent))) == saved
    no_logger = tmp_path / "plain" / "checkpoints" / "last.ckpt"
    no_logger.parent.mkdir(parents=True)
    no_logger.write_bytes(b"")  # Lightning's `<default_root_dir>/checkpoints` when `logger: false`
    assert resolve_ckpt_path("last", _trainer_config(tmp_path, False, root=str(tmp_path / "plain"))) == no_logger


@pytest.mark.slow  # over ~3 s: kept out of the quick loop (`-m "not slow"`)
def test_best_names_file_run_and_score_and_an_older_run_that_scored_better(tmp_path, tiny_bert, small_text, capsys):
    config = str(write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text))
    cli_main(["fit", "--config", config, "--trainer.max_steps", "6"])  # the real run
    cli_main(["fit", "--config", config, "--trainer.max_steps", "2", "--model.learning_rate", "1e-5"])  # a quick try
    runs = tmp_path / "runs" / "custom_mlm"
    real = monitored_best(newest_record(runs / "version_0" / "checkpoints"))  # as the run's newest file records it
    assert Path(real[3]).is_file()
    capsys.readouterr()
    cli = cli_main(["validate", "--config", config, "--ckpt_path", "best"])
    chosen = Path(cli.config.validate.ckpt_path)
    monitor, _, score, _ = monitored_best(load_checkpoint(chosen))
    assert chosen.parent == runs / "version_1" / "checkpoints" and real[2] < score  # newest run, worse score
    line = _chosen_line(capsys.readouterr().err, "best")
    assert line.startswith(f"--ckpt_path best: {chosen} (run {runs / 'version_1'}, the newest with a checkpoint; ")
    assert f"{monitor} {score:.4f}, the best of that run" in line
    assert f"an older run scored better, {monitor} {real[2]:.4f} in {real[3]}" in line


def _configured(config: str) -> Namespace:
    """The config as `--ckpt_path` sees it (trainer section included)."""
    return cli_main(["--config", config], run=False).config


def _fit_and_find_best(tmp_path, tiny_bert, small_text, save_dir: Path, steps: str = "4") -> tuple[str, Path]:
    config = str(write_tiny_mlm_config(tmp_path, save_dir, tiny_bert, small_text, limit_val_batches=1))
    cli_main(["fit", "--config", config, "--trainer.max_steps", steps])
    return config, resolve_ckpt_path("best", _configured(config))


def test_best_skips_an_unreadable_file_of_the_run_and_says_so(tmp_path, tiny_bert, small_text, capsys):
    config, best = _fit_and_find_best(tmp_path, tiny_bert, small_text, tmp_path / "runs")
    folder = best.parent
    (folder / "backup-copy.ckpt").write_bytes((folder / "last.ckpt").read_bytes()[:100_000])  # a copy cut short
    capsys.readouterr()
    cli = cli_main(["validate", "--config", config, "--ckpt_path", "best"])
    assert Path(cli.config.validate.ckpt_path) == best
    assert f"warning: skipped {folder / 'backup-copy.ckpt'} while looking for the run's best checkpoint" in \
        capsys.readouterr().err


def test_best_follows_a_run_directory_that_was_moved_or_copied(tmp_path, tiny_bert, small_text):
    _, best = _fit_and_find_best(tmp_path, tiny_bert, small_text, tmp_path / "runs")
    relative = best.relative_to(tmp_path / "runs")
    shutil.copytree(tmp_path / "runs", tmp_path / "copy")  # the original stays: best must not resolve into it
    copied = str(write_tiny_mlm_config(tmp_path, tmp_path / "copy", tiny_bert, small_text))
    assert resolve_ckpt_path("best", _configured(copied)) == \
        tmp_path / "copy" / relative
    (tmp_path / "runs").rename(tmp_path / "moved")
    moved = str(write_tiny_mlm_config(tmp_path, tmp_path / "moved", tiny_bert, small_text))
    assert resolve_ckpt_path("best", _configured(moved)) == \
        tmp_path / "moved" / relative


def test_best_of_the_newest_run_is_never_replaced_by_an_older_runs(tmp_path, tiny_bert, small_text, capsys):
    config, _ = _fit_and_find_best(tmp_path, tiny_bert, small_text, tmp_path / "runs")
    _, newest = _fit_and_find_best(tmp_path, tiny_bert, small_text, tmp_path / "runs", steps="2")
    assert newest.parent.parent.name == "version_1"
    newest.unlink()  # the user pruned the newest run down to last.ckpt
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        cli_main(["validate", "--config", config, "--ckpt_path", "best"])
    assert stop.value.code == 2
    assert (f"--ckpt_path best: the newest run with a checkpoint, {newest.parent.parent}, records no best checkpoint "
            "that still exists") in capsys.readouterr().err
