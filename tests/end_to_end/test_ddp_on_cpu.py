"""Data parallelism on CPU (gloo): a real 2-process DDP run through the CLI, checked against one process."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from cli_helpers import PROJECT_ROOT, write_tiny_causal_config, write_tiny_mlm_config, write_tiny_mrpc_config

from lightning_app.cli import cli_main
from lightning_app.tools.report import read_scalars


def _ddp_fit(config: Path, subcommand: str = "fit", *extra: str) -> None:
    process = subprocess.run([sys.executable, "main.py", subcommand, "--config", str(config), "--trainer.accelerator",
                              "cpu", "--trainer.devices", "2", "--trainer.strategy", "ddp", *extra],
                             cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600)
    assert process.returncode == 0, process.stdout[-3000:] + process.stderr[-3000:]


@pytest.mark.slow  # over ~20 s on 2 cores, or a real process killed and resumed
def test_ddp_mlm_metrics_equal_single_process_and_resuming_on_one_process_is_refused(tmp_path, tiny_bert, small_text,
                                                                                     capsys):
    config = write_tiny_mlm_config(tmp_path, tmp_path / "ddp", tiny_bert, small_text, max_steps=-1, max_epochs=2)
    _ddp_fit(config)
    run_dir = tmp_path / "ddp" / "custom_mlm" / "version_0"
    logged = read_scalars(run_dir)
    assert logged["train/effective_batch_size"][0][1] == 4 * 2 * 2  # batch x accumulation x world size

    # the best checkpoint was written by rank 0 after a validation; re-score it in ONE process
    best = next((run_dir / "checkpoints").glob("epoch*.ckpt"))
    step = torch.load(best, map_location="cpu", weights_only=False)["global_step"]
    single = cli_main(["validate", "--config", str(config), "--ckpt_path", str(best), "--trainer.devices", "1"])
    # Lightning logs a validation at the step before the optimizer step counter the checkpoint records
    ddp_perplexity = max(p for p in logged["val/perplexity"] if p[0] <= step)[1]
    ddp_accuracy = max(p for p in logged["val/masked_accuracy"] if p[0] <= step)[1]
    assert math.isclose(single.trainer.callback_metrics["val/perplexity"].item(), ddp_perplexity, rel_tol=1e-4)
    assert math.isclose(single.trainer.callback_metrics["val/masked_accuracy"].item(), ddp_accuracy, abs_tol=1e-6)

    # ... but training does not continue from it in one process: Lightning restored the 2-process epoch count in
    # that process's batches and read half of the next epoch (measured: 4 of its 8 batches), so this is refused
    with pytest.raises(SystemExit) as stop:
        cli_main(["fit", "--config", str(config), "--ckpt_path", "last", "--trainer.max_epochs", "3",
                  "--trainer.devices", "1"])
    assert stop.value.code == 2
    assert ("error: --ckpt_path last.ckpt was trained by 2 processes and this fit has 1 process (--trainer.devices x "
            "--trainer.num_nodes): a resumed fit keeps its number of processes") in capsys.readouterr().err


@pytest.mark.slow  # over ~20 s on 2 cores, or a real process killed and resumed
def test_ddp_mrpc_accuracy_and_f1_equal_single_process(tmp_path, tiny_bert, shared_data):
    config = write_tiny_mrpc_config(tmp_path, tiny_bert, shared_data)
    _ddp_fit(config)
    run_dir = next((tmp_path / "runs").glob("*/version_0"))
    logged = read_scalars(run_dir)
    assert logged["train/effective_batch_size"][0][1] == 8 * 1 * 2
    best = next((run_dir / "checkpoints").glob("epoch*.ckpt"))
    step = torch.load(best, map_location="cpu", weights_only=False)["global_step"]
    single = cli_main(["validate", "--config", str(config), "--ckpt_path", str(best), "--trainer.devices", "1"])
    for metric in ("val/accuracy", "val/f1", "val/loss"):
        ddp_value = max(p for p in logged[metric] if p[0] <= step)[1]
        assert math.isclose(single.trainer.callback_metrics[metric].item(), ddp_value, rel_tol=1e-4, abs_tol=1e-6)

    # predict under DDP: every rank scores its shard, one complete GLUE file is written once
    dev = tmp_path / "dev.tsv"
    _ddp_fit(config, "predict", "--ckpt_path", str(best), "--data.init_args.predict_file", str(dev))
    rows = (run_dir / "evaluations" / f"{best.stem}.predict" / "MRPC.tsv").read_text().splitlines()
    assert rows[0] == "index\tprediction" and [int(r.split("\t")[0]) for r in rows[1:]] == list(range(33))


@pytest.mark.slow  # over ~20 s on 2 cores, or a real process killed and resumed
def test_ddp_causal_lm_trains_through_its_fused_losses_and_tied_decoder(tmp_path, shared_data):
    """The causal LM's own backward (models/fused_lm_loss.py) into a decoder tied to the word embedding, under DDP:
    both ranks train, validate at the expected steps and log finite losses."""
    config = write_tiny_causal_config(tmp_path, shared_data)
    _ddp_fit(config)
    logged = read_scalars(next((tmp_path / "runs").glob("*/version_0")))
    assert logged["train/effective_batch_size"][0][1] == 1 * 2
    assert [step for step, _ in logged["val/perplexity"]] == [2, 4]
    assert all(math.isfinite(value) for _, value in logged["train/loss"])
