"""Runs that cannot collide: fits started at once into one root each claim their own `version_N` (an exclusive
`mkdir`, not "list, then pick the next number") and write their own `config.yaml`; the tokenized cache they share
is written once and stays intact; a fresh fit never writes into a directory that holds another run's config."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from cli_helpers import PROJECT_ROOT, run_bad_input, write_tiny_mlm_config

from data_modules.caching import entry_problem
from lightning_app.checkpointing.run_dirs import claim_version
from lightning_app.cli import cli_main


def test_runs_built_at_once_claim_distinct_versions_before_either_writes(tmp_path, tiny_bert, small_text):
    """Lightning resolves the version before it creates the directory; two runs resolving it in between got the
    same one. Here both resolve before either writes anything (fails if Lightning stops asking
    `_get_next_version`, which `run_dirs.claim_versions_atomically` replaces)."""
    config = write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text)
    first, second = (cli_main(["--config", str(config)], run=False) for _ in range(2))
    versions = [first.trainer.logger.version, second.trainer.logger.version]
    assert versions == [0, 1]
    assert sorted(p.name for p in (tmp_path / "runs" / "custom_mlm").iterdir()) == ["version_0", "version_1"]


def test_claim_version_skips_numbers_taken_meanwhile(tmp_path):
    (tmp_path / "version_3").mkdir()
    assert claim_version(tmp_path) == 4
    (tmp_path / "version_6").write_text("a file in the way\n")
    (tmp_path / "version_5").mkdir()  # what a concurrent run would have claimed just now
    assert claim_version(tmp_path) == 7 and (tmp_path / "version_7").is_dir()


@pytest.mark.slow
@pytest.mark.parametrize("runs", [2, 4])
def test_fits_started_at_once_end_as_distinct_complete_runs_with_one_intact_cache(runs, tmp_path, tiny_bert,
                                                                                 small_text):
    config = write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text, max_steps=4,
                                   limit_val_batches=2)
    cache = tmp_path / "cache"
    env = {**os.environ, "LBT_CACHE_DIR": str(cache), "OMP_NUM_THREADS": "1", "PYTHONPATH": str(PROJECT_ROOT)}
    processes = [subprocess.Popen([sys.executable, str(PROJECT_ROOT / "main.py"), "fit", "--config", str(config)],
                                  cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  text=True) for _ in range(runs)]
    errors = [process.communicate(timeout=600)[1] for process in processes]
    assert [process.returncode for process in processes] == [0] * runs, errors[0][-3000:]

    run_dirs = sorted((tmp_path / "runs" / "custom_mlm").iterdir())
    assert [p.name for p in run_dirs] == [f"version_{n}" for n in range(runs)]
    for run in run_dirs:
        assert sorted(p.name for p in run.glob("config*.yaml")) == ["config.yaml"], run  # no config.resume1.yaml
        assert len(list(run.glob("events.out.tfevents.*"))) == 1, run  # one run's log, not two mixed
        state = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
        assert state["global_step"] == 4, run
        assert not list(run.rglob(".*.partial-*")), run
    entries = sorted(cache.iterdir())
    assert len(entries) == 2 and all(entry_problem(entry) is None for entry in entries), entries  # train + val


def test_a_fresh_fit_into_a_directory_holding_another_runs_config_stops(tmp_path, tiny_bert, small_text, capsys,
                                                                       bad_input_table):
    config = write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text)
    earlier = tmp_path / "earlier-run"
    earlier.mkdir()
    (earlier / "config.yaml").write_text("seed_everything: 42\n")
    argv = ["fit", "--config", str(config), "--trainer.logger", "false", "--trainer.default_root_dir", str(earlier)]
    message = run_bad_input(capsys, argv, tmp_path)
    assert "earlier-run already holds another run's config.yaml" in message and "--ckpt_path" in message
    assert not list(earlier.glob("config.resume*.yaml"))
    argv[2] = "custom_mlm.yaml"
    bad_input_table.record("fresh fit into a directory holding another run's config", argv, message)
