"""The CLI as a user drives it: configs parse, resume after Ctrl-C, validate reproduces, export, clear errors."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from cli_helpers import default_signal_dispositions
from conftest import PROJECT_ROOT
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from lightning_app.cli import cli_main
from lightning_app.tools.export import export_checkpoint

CONFIGS = sorted((PROJECT_ROOT / "configs").glob("*.yaml"))


def _tiny_fit_args(tmp_path: Path, tiny_bert: dict, small_text: Path) -> list[str]:
    return ["--config", str(PROJECT_ROOT / "configs" / "custom_mlm.yaml"),
            "--model.init_args.model_config", json.dumps(tiny_bert), "--model.init_args.learning_rate", "1e-3",
            "--data.init_args.train_file", str(small_text), "--trainer.logger.init_args.save_dir", str(tmp_path),
            "--trainer.enable_progress_bar", "false", "--trainer.log_every_n_steps", "1"]


# Configs whose weights cannot exist on this offline machine: they must stop with one sentence instead.
NEEDS_DOWNLOADED_WEIGHTS = {"mrpc.yaml": "pass --model.pretrained_model /path/to/ModernBERT-base"}


# Configs that are stacked after a task config rather than used alone.
STACKED_ON = {"debug.yaml": "custom_mlm.yaml"}


@pytest.mark.parametrize("config", CONFIGS, ids=[c.name for c in CONFIGS])
def test_every_config_parses(config, capsys):
    if config.name in STACKED_ON:
        cli = cli_main(["--config", str(config.parent / STACKED_ON[config.name]), "--config", str(config)], run=False)
        assert cli.model is not None and cli.datamodule is not None and cli.trainer.fast_dev_run
        return
    if config.name in NEEDS_DOWNLOADED_WEIGHTS:
        with pytest.raises(SystemExit) as exit_info:
            cli_main(["--config", str(config)], run=False)
        assert exit_info.value.code == 2
        message = capsys.readouterr().err.strip().splitlines()
        assert len(message) == 1 and NEEDS_DOWNLOADED_WEIGHTS[config.name] in message[0]
        return
    cli = cli_main(["--config", str(config)], run=False)
    assert cli.model is not None and cli.datamodule is not None


def test_print_config_documents_options(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["fit", "--config", str(PROJECT_ROOT / "configs" / "custom_mlm.yaml"), "--print_config"])
    assert exit_info.value.code == 0
    printed = capsys.readouterr().out
    assert "validation_split_percentage: 20" in printed and "class_path: models.MaskedLanguageModel" in printed


def test_accumulate_below_one_is_rejected(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["fit", "--config", str(PROJECT_ROOT / "configs" / "custom_mlm.yaml"),
                  "--trainer.accumulate_grad_batches", "0"])
    assert exit_info.value.code == 2
    assert "--trainer.accumulate_grad_batches=0 must be at least 1" in capsys.readouterr().err


def test_ckpt_path_last_without_a_run(tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli_main(["validate", "--config", str(PROJECT_ROOT / "configs" / "custom_mlm.yaml"),
                  "--trainer.logger.init_args.save_dir", str(tmp_path), "--ckpt_path", "last"])
    assert "no checkpoint found" in capsys.readouterr().err


@pytest.mark.slow  # over ~3 s: kept out of the quick loop (`-m "not slow"`)
def test_validate_best_reproduces_logged_perplexity_and_exports(tmp_path, tiny_bert, small_text):
    args = _tiny_fit_args(tmp_path, tiny_bert, small_text)
    fit = cli_main(["fit", *args, "--trainer.max_epochs", "2", "--trainer.num_sanity_val_steps", "0"])
    run_dir = Path(fit.trainer.log_dir)
    assert (run_dir / "config.yaml").exists()
    events = EventAccumulator(str(run_dir)).Reload()
    tags = set(events.Tags()["scalars"])
    assert {"train/loss", "train/masked_accuracy", "train/grad_norm", "train/lr/body", "val/loss", "val/perplexity",
            "val/masked_accuracy", "train/effective_batch_size"} <= tags
    logged = {e.step: e.value for e in events.Scalars("val/perplexity")}
    assert "_hparams_/experiment" in events.PluginTagToContent("hparams")  # the HPARAMS table
    assert "samples/fill_mask/text_summary" in events.Tags()["tensors"]  # fill-mask samples per validation

    scalars = cli_main(["report", str(run_dir)])  # for people who do not open TensorBoard
    assert (run_dir / "curves.png").stat().st_size > 10_000
    assert scalars["val/perplexity"][-1][1] == pytest.approx(events.Scalars("val/perplexity")[-1].value)

    validate = cli_main(["validate", *args, "--ckpt_path", "best"])
    best_ckpt = Path(validate.trainer.ckpt_path)
    step = torch.load(best_ckpt, map_location="cpu", weights_only=False)["global_step"]
    reproduced = validate.trainer.callback_metrics["val/perplexity"].item()
    assert math.isclose(reproduced, logged[step - 1] if step - 1 in logged else logged[step], rel_tol=1e-5)

    from transformers import pipeline
    exported = export_checkpoint(best_ckpt, tmp_path / "hf")
    fill = pipeline("fill-mask", model=str(exported), device="cpu")
    assert len(fill("The king is [MASK].", top_k=5)) == 5


@pytest.mark.slow  # over ~3 s: kept out of the quick loop (`-m "not slow"`)
def test_ctrl_c_then_resume_from_last_continues_at_saved_step(tmp_path, tiny_bert, small_text):
    args = _tiny_fit_args(tmp_path, tiny_bert, small_text)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, str(PROJECT_ROOT / "main.py"), "fit", *args,
                                "--trainer.max_epochs", "1000", "--trainer.num_sanity_val_steps", "0"],
                               cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               preexec_fn=default_signal_dispositions)
    output = []
    for line in process.stdout:  # wait until training is under way, then press Ctrl-C
        output.append(line)
        if "Validation after epoch 1" in line:
            process.send_signal(signal.SIGINT)
            break
    output.extend(process.stdout)
    process.wait(timeout=120)
    last = tmp_path / "custom_mlm" / "version_0" / "checkpoints" / "last.ckpt"
    assert last.exists(), "".join(output)
    saved_step = torch.load(last, map_location="cpu", weights_only=False)["global_step"]
    assert saved_step > 0 and "saved" in "".join(output)

    resumed = cli_main(["fit", *args, "--ckpt_path", "last", "--trainer.max_steps", str(saved_step + 3),
                        "--trainer.max_epochs", "1000", "--trainer.num_sanity_val_steps", "0"])
    assert resumed.trainer.global_step == saved_step + 3  # continued from the saved step, not from 0
    assert Path(resumed.trainer.log_dir).name == "version_0"  # same run directory, nothing new started
    assert (Path(resumed.trainer.log_dir) / "config.resume1.yaml").exists()  # original config kept


def test_report_on_a_directory_without_runs(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["report", str(tmp_path)])
    assert exit_info.value.code == 2 and "holds no TensorBoard event files" in capsys.readouterr().err
