"""bench/ddp_overhead.py runs end to end: its three sides, each a real `main.py fit` (two of them 2-process DDP)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from paths import PROJECT_ROOT


@pytest.mark.slow  # three `main.py fit` children, two of them with 2 processes: ~40 s on 2 cores
def test_the_smoke_run_times_every_side(tmp_path):
    done = subprocess.run([sys.executable, str(PROJECT_ROOT / "bench" / "ddp_overhead.py"), "--smoke"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    line = json.loads(done.stdout.strip().splitlines()[-1])
    assert line["smoke"] is True and line["met"] is None  # a smoke run is a check, never a figure
    rates = line["median_samples_per_s"]
    assert set(rates) == {"1x2", "2x1", "2x1_no_allreduce"} and all(rate > 0 for rate in rates.values())
    assert line["ratio_2x1_over_1x2"] == round(rates["2x1"] / rates["1x2"], 3)
