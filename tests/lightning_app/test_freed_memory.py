"""`keep_freed_memory`: a training step's freed buffers are reused by the next step, not faulted in again.

Each case runs in its own interpreter, because glibc's thresholds are per process (and this one may already have
set them through `cli_main`). The pattern is a step's: 24 activations of 4 MiB alive together, then all freed.
Whether glibc's defaults give those pages back depends on the process's allocation history (its thresholds move
with the largest buffer freed so far), so what the defaults cost is measured where it matters, in bench/ablation.py's
`freed_memory_reuse` rows, not here.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

from lightning_app.freed_memory import USER_VARIABLES

pytestmark = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                                reason="glibc's allocator only")

STEPS = """
import json, resource, sys
import torch
from lightning_app.freed_memory import keep_freed_memory
settings = keep_freed_memory() if sys.argv[1] == "keep" else None
def step():
    activations = [torch.ones(1 << 20) for _ in range(24)]  # written, so their pages are touched
for _ in range(3):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    step()
faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20
print(json.dumps({"settings": settings, "faults_per_step": faults}))
"""
PAGES_PER_STEP = 24 * (4 << 20) / 4096


def _run(mode: str, **environment: str) -> dict:
    env = {key: value for key, value in os.environ.items() if key not in USER_VARIABLES}
    done = subprocess.run([sys.executable, "-c", STEPS, mode], env={**env, **environment}, capture_output=True,
                          text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_freed_buffers_are_reused_without_page_faults():
    kept = _run("keep")
    assert kept["settings"] == {"M_MMAP_THRESHOLD": 32 << 20, "M_TRIM_THRESHOLD": 256 << 20}
    assert kept["faults_per_step"] < 0.01 * PAGES_PER_STEP, kept


def test_the_users_own_glibc_setting_wins():
    chosen = _run("keep", MALLOC_TRIM_THRESHOLD_="131072")  # glibc's default value, fixed
    assert chosen["settings"] is None
    assert chosen["faults_per_step"] > 0.5 * PAGES_PER_STEP, chosen  # the user's threshold is the one in force


def test_the_lightning_subcommands_keep_freed_memory_before_they_run(monkeypatch):
    import lightning_app.freed_memory
    import lightning_app.parsing.lightning_cli
    from lightning_app.cli import cli_main

    order = []
    monkeypatch.setattr(lightning_app.freed_memory, "keep_freed_memory", lambda: order.append("keep"))
    monkeypatch.setattr(lightning_app.parsing.lightning_cli, "run_lightning_cli",
                        lambda argv, run, from_sys_argv: order.append(argv[0]))
    cli_main(["fit", "--config", "configs/custom_mlm.yaml"])
    assert order == ["keep", "fit"]
