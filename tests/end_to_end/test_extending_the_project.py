"""Extending the project as a user would: a new corpus in a few lines, a model with its own optimizer that still
resumes exactly, and the private Lightning APIs the application layer relies on (pinned, so an upgrade that moves
one fails here, loudly, instead of silently breaking exact resume or the HPARAMS table)."""

from __future__ import annotations

import inspect
import json
import signal
import subprocess
import sys

import lightning as L
import pytest
import torch
from cli_helpers import PROJECT_ROOT, default_signal_dispositions, write_tiny_mlm_config
from extensions import EnglishSentencesDataModule

from lightning_app.cli import cli_main


def test_a_new_line_per_example_corpus_takes_under_40_lines_and_trains(tmp_path, tiny_bert, small_text, shared_data):
    assert len(inspect.getsource(EnglishSentencesDataModule).splitlines()) <= 40
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("\n".join((shared_data / "tr-en" / "tur.txt").read_text().splitlines()[:200]) + "\n")
    config = write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text, max_steps=3)
    cli = cli_main(["fit", "--config", str(config), "--data", "tests.extensions.EnglishSentencesDataModule",
                    "--data.pairs_file", str(pairs), "--data.max_seq_length", "32"])
    assert cli.trainer.global_step == 3  # the config's 20% of the 200 lines held out:
    assert len(cli.datamodule.splits["validation"]) == 40
    first = cli.datamodule.tokenizer.decode(cli.datamodule.splits["train"][0]["input_ids"], skip_special_tokens=True)
    assert first == "hi."  # the English side only, one example per line


@pytest.mark.slow  # over ~3 s: kept out of the quick loop (`-m "not slow"`)
def test_a_model_with_its_own_configure_optimizers_resumes_exactly(tmp_path, tiny_bert, small_text):
    own = ["--model", "tests.extensions.SGDMaskedLanguageModel", "--model.model_config", json.dumps(tiny_bert),
           "--model.learning_rate", "0.05"]
    straight = cli_main(["fit", "--config", str(write_tiny_mlm_config(tmp_path, tmp_path / "a", tiny_bert,
                                                                       small_text)), *own])
    stop = {"class_path": "tests.cli_helpers.SignalAtStep", "init_args": {"step": 5, "signum": int(signal.SIGTERM)}}
    config = write_tiny_mlm_config(tmp_path, tmp_path / "b", tiny_bert, small_text, [stop])
    process = subprocess.run([sys.executable, "main.py", "fit", "--config", str(config), *own], cwd=PROJECT_ROOT,
                             capture_output=True, text=True, timeout=300, preexec_fn=default_signal_dispositions)
    assert process.returncode == 128 + signal.SIGTERM, process.stderr[-2000:]
    resumed = cli_main(["fit", "--config", str(write_tiny_mlm_config(tmp_path, tmp_path / "b", tiny_bert,
                                                                      small_text)), *own, "--ckpt_path", "last"])
    assert resumed.trainer.global_step == straight.trainer.global_step == 11
    for name, value in straight.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[name], value), name


def test_pinned_private_lightning_apis():
    from lightning.pytorch.cli import LightningCLI
    from lightning.pytorch.loggers import TensorBoardLogger

    trainer = L.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False)
    assert hasattr(trainer.fit_loop, "_combined_loader")  # LoaderPositionOnResume resets it
    assert "_parse_ckpt_path" in vars(LightningCLI) and "self._parse_ckpt_path()" in inspect.getsource(
        LightningCLI.__init__)  # BertCLI replaces it
    assert callable(getattr(TensorBoardLogger, "_sanitize_params", None))  # the HPARAMS table
    from torch.utils.tensorboard import SummaryWriter
    assert callable(getattr(SummaryWriter, "_get_file_writer", None))
