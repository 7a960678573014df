"""Checkpoints from other Lightning releases load through Lightning's own migration: one with the loop-state keys of
Lightning 1.9 resumes and validates; one whose contents no migration fits stops with one sentence naming the file
and both versions."""

from __future__ import annotations

from pathlib import Path

import lightning
import pytest
import torch
from cli_helpers import run_bad_input, write_small_text, write_tiny_mlm_config
from conftest import TINY_BERT

from lightning_app.checkpointing.checkpoints import load_checkpoint
from lightning_app.cli import cli_main

# The fit-loop keys of Lightning 2.x and the names Lightning 1.9 wrote for them (undoing its 2.0.0 migrations).
LIGHTNING_1_9_KEYS = {
    "epoch_loop.automatic_optimization.optim_progress": "epoch_loop.batch_loop.optimizer_loop.optim_progress",
    "epoch_loop.automatic_optimization.state_dict": "epoch_loop.batch_loop.optimizer_loop.state_dict",
    "epoch_loop.manual_optimization.optim_step_progress": "epoch_loop.batch_loop.manual_loop.optim_step_progress",
    "epoch_loop.manual_optimization.state_dict": "epoch_loop.batch_loop.manual_loop.state_dict",
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    """(config, last.ckpt) of a tiny masked-LM run of 2 optimizer steps."""
    root = tmp_path_factory.mktemp("migration")
    write_small_text(root)
    config = write_tiny_mlm_config(root, root / "runs", dict(TINY_BERT), root / "small.txt", max_steps=2,
                                   limit_val_batches=1)
    cli_main(["fit", "--config", str(config)])
    return config, root / "runs" / "custom_mlm" / "version_0" / "checkpoints" / "last.ckpt"


def _rewritten(source: Path, target: Path, version: str, old_keys: bool) -> Path:
    state = torch.load(source, map_location="cpu", weights_only=True)
    fit_loop = state["loops"]["fit_loop"]
    if old_keys:
        for new, old in LIGHTNING_1_9_KEYS.items():
            fit_loop[old] = fit_loop.pop(new)
        fit_loop["epoch_loop.batch_loop.optimizer_loop.optim_progress"]["optimizer_position"] = 1
        fit_loop["epoch_loop.batch_loop.state_dict"] = {}
    state["pytorch-lightning_version"] = version
    target.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, target)
    return target


def test_a_lightning_1_9_checkpoint_is_migrated_on_load(trained, tmp_path):
    old = _rewritten(trained[1], tmp_path / "old.ckpt", "1.9.5", old_keys=True)
    state = load_checkpoint(old)
    assert state["pytorch-lightning_version"] == lightning.__version__
    assert state["legacy_pytorch-lightning_version"] == "1.9.5"
    assert "epoch_loop.automatic_optimization.optim_progress" in state["loops"]["fit_loop"]


def test_a_lightning_1_9_checkpoint_resumes_and_validates(trained, tmp_path):
    config, last = trained
    old = _rewritten(last, tmp_path / "old" / "last.ckpt", "1.9.5", old_keys=True)
    validated = cli_main(["validate", "--ckpt_path", str(old)])
    assert float(validated.trainer.callback_metrics["val/loss"]) > 0
    resumed = cli_main(["fit", "--config", str(config), "--ckpt_path", str(old), "--trainer.max_steps", "4",
                        "--trainer.logger.init_args.save_dir", str(tmp_path / "runs")])
    assert resumed.trainer.global_step == 4  # continued from step 2 of the old-format checkpoint


def test_a_checkpoint_no_migration_fits_stops_with_one_sentence(trained, tmp_path, capsys, bad_input_table):
    # claims Lightning 1.5.0 but holds 2.x loop state: the 1.6.0 migration finds none of the keys it upgrades
    odd = _rewritten(trained[1], tmp_path / "inputs" / "odd.ckpt", "1.5.0", old_keys=False)
    argv = ["validate", "--ckpt_path", str(odd)]
    message = run_bad_input(capsys, argv, tmp_path)
    assert f"--ckpt_path {odd} was written by Lightning 1.5.0 and cannot be migrated to this Lightning " \
           f"{lightning.__version__}" in message
    bad_input_table.record("checkpoint that no Lightning migration fits", argv, message)
