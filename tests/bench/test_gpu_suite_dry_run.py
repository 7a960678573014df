"""`bench/gpu_suite.sh --dry-run` runs every part of the GPU suite on CPU, so the suite cannot rot between GPU runs."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
from conftest import PROJECT_ROOT

EXPECTED_KEYS = {
    "mlm_bert_base_shape": {"device", "precision", "params", "ours_ms_per_step", "peer_ms_per_step", "speedup",
                            "ours_tokens_per_s", "peer_tokens_per_s", "peak_tflop_per_s", "model_gflop_per_token",
                            "ours_mfu", "peer_mfu"},
    "mrpc_modernbert_base_shape": {"device", "layers", "params", "epochs", "optimizer_steps", "wall_s",
                                   "seed_wall_s", "speedup_vs_seed", "dev_accuracy", "dev_f1"},
    "causal_lm_bce": {"device", "steps", "steps_per_s", "validation_s", "wall_s", "val_perplexity"},
    "ddp_smoke_1gpu": {"device", "strategy", "world_size", "steps", "steps_per_s", "val_loss", "checkpoints", "ok"},
}


@pytest.mark.slow  # over ~20 s on 2 cores, or a real process killed and resumed
def test_gpu_suite_dry_run_prints_one_parseable_line_per_part(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "LBT_CACHE_DIR": str(tmp_path / "cache")}
    process = subprocess.run(["bash", "bench/gpu_suite.sh", "--dry-run"], cwd=PROJECT_ROOT, env=env,
                             capture_output=True, text=True, timeout=300)
    assert process.returncode == 0, process.stderr[-4000:]
    lines = [json.loads(line) for line in process.stdout.splitlines()]  # stdout carries JSON lines only
    assert [line["part"] for line in lines] == list(EXPECTED_KEYS)
    for line in lines:
        assert line["dry_run"] is True
        missing = EXPECTED_KEYS[line["part"]] - set(line)
        assert not missing, (line["part"], missing)
    mlm, mrpc, causal, ddp = lines
    assert mlm["ours_tokens_per_s"] > 0 and mlm["peer_tokens_per_s"] > 0
    assert mlm["peak_tflop_per_s"] is None and mlm["ours_mfu"] is None  # no peak is known for a CPU: no MFU
    assert mrpc["optimizer_steps"] == 3 and 0.0 <= mrpc["dev_f1"] <= 1.0
    assert causal["steps"] == 12 and causal["steps_per_s"] > 0 and math.isfinite(causal["val_perplexity"])
    assert ddp["ok"] and ddp["world_size"] == 1 and ddp["strategy"] == "DDPStrategy"
