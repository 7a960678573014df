"""bench/mrpc_vs_hf.py end to end in its bf16 setting (the reference row `--precision bf16-mixed`): both sides train
under autocast and evaluate, and the JSON line carries each side's run and our run's matmul floor."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
from cli_helpers import PROJECT_ROOT


@pytest.mark.slow
def test_the_bf16_smoke_run_trains_and_evaluates_both_sides(tmp_path):
    done = subprocess.run([sys.executable, str(PROJECT_ROOT / "bench" / "mrpc_vs_hf.py"), "--smoke", "--precision",
                           "bf16-mixed", "--no-pad-to-128-row"], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    line = json.loads(done.stdout.strip().splitlines()[-1])
    assert line["precision"] == "bf16-mixed" and line["smoke"] is True
    assert "hf_trainer_pad_to_128" not in line  # --no-pad-to-128-row
    for side in ("ours", "hf_trainer"):
        (run,) = line[side]["seeds"]
        assert 0.0 <= run["dev_accuracy"] <= 1.0 and 0.0 <= run["dev_f1"] <= 1.0 and run["wall_s"] > 0
    assert math.isfinite(line["speedup"]) and line["speedup"] > 0
    # the matmul floor: our run's matmul FLOPs (3 steps of batch 32) at the machine's bf16 matmul rate
    assert line["ours_matmul_flops"] > 3 * 1e9 and line["matmul_peak_flops_per_s"] > 0
    assert line["ours_matmul_floor_s"] == round(line["ours_matmul_flops"] / line["matmul_peak_flops_per_s"], 1)
    assert line["ours_matmul_floor_s"] < line["ours"]["summary"]["wall_s_mean"]
