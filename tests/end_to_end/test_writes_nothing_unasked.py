"""Nothing written where nobody asked: the README's debug command and a whole tiny workflow (fit, validate, export,
report) whose outputs go elsewhere leave a copy of the repository exactly as it was, ignored files included."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from cli_helpers import PROJECT_ROOT, write_tiny_mlm_config
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.demos.boring_classes import BoringModel

from lightning_app.callbacks.always_on import ALWAYS_ON

# One process for the four tiny commands (imports once); each command's SystemExit(0) is not a failure.
DRIVER = """import json, sys
from lightning_app.cli import cli_main
for argv in json.loads(sys.argv[1]):
    try:
        cli_main(argv)
    except SystemExit as stop:
        if stop.code not in (0, None):
            raise
"""


def _git(copy: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=copy, check=True, capture_output=True, text=True).stdout


def _copy_of_repository(target: Path) -> Path:
    files = _git(PROJECT_ROOT, "ls-files", "-z").split("\0")
    for name in filter(None, files):
        if (PROJECT_ROOT / name).is_file():  # a file deleted in the work tree but not yet committed is skipped
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            (target / name).write_bytes((PROJECT_ROOT / name).read_bytes())
    _git(target, "init", "-q")
    _git(target, "add", "-A")
    _git(target, "-c", "user.name=test", "-c", "user.email=test@example.com", "commit", "-qm", "copy")
    return target


def _run(copy: Path, command: list[str], cache: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(copy), "PYTHONDONTWRITEBYTECODE": "1", "LBT_CACHE_DIR": str(cache),
           "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, *command], cwd=copy, env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.slow
def test_debug_run_and_a_tiny_workflow_leave_the_repository_as_it_was(tmp_path, tiny_bert, small_text):
    copy = _copy_of_repository(tmp_path / "repository")
    cache = tmp_path / "cache"
    _run(copy, ["main.py", "fit", "--config", "configs/custom_mlm.yaml", "--config", "configs/debug.yaml"], cache)
    assert _git(copy, "status", "--porcelain", "--ignored") == ""

    config = write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text, max_steps=2,
                                   limit_val_batches=1)
    run = tmp_path / "runs" / "custom_mlm" / "version_0"
    last = str(run / "checkpoints" / "last.ckpt")
    commands = [["fit", "--config", str(config)], ["validate", "--ckpt_path", last],
                ["export", "--ckpt_path", last, "--output_dir", str(tmp_path / "exported")], ["report", str(run)]]
    _run(copy, ["-c", DRIVER, json.dumps(commands)], cache)
    assert _git(copy, "status", "--porcelain", "--ignored") == ""
    assert (tmp_path / "exported" / "config.json").is_file() and (run / "curves.png").is_file()
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert all(saved[key]["class_path"].endswith(cls.__name__) for key, cls in ALWAYS_ON.items())


def test_lightning_still_writes_last_ckpt_under_fast_dev_run(tmp_path):
    """Pins the upstream behaviour `BertCLI.instantiate_trainer` works around: when this fails, Lightning honours
    fast_dev_run in `ModelCheckpoint.on_train_end` and the workaround can go."""
    checkpoint = ModelCheckpoint(dirpath=tmp_path, save_last=True)
    trainer = Trainer(fast_dev_run=1, callbacks=[checkpoint], logger=False, enable_progress_bar=False,
                      enable_model_summary=False, accelerator="cpu")
    trainer.fit(BoringModel())
    assert (tmp_path / "last.ckpt").is_file()


def test_memory_bench_runs_fit_in_its_workdir_not_in_the_repository(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("bench_memory", PROJECT_ROOT / "bench" / "memory.py")
    memory = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(memory)
    started = {}

    def popen(command, cwd, **kwargs):
        started.update(command=command, cwd=Path(cwd))
        return SimpleNamespace(pid=-1)

    monkeypatch.setattr(memory.subprocess, "Popen", popen)
    monkeypatch.setattr(memory.os, "wait4", lambda pid, options: (pid, 0, SimpleNamespace(ru_maxrss=1)))
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("some text\n")
    memory.peak_rss(corpus, tmp_path)
    command = started["command"]
    root = Path(command[command.index("--trainer.default_root_dir") + 1])
    assert started["cwd"] == tmp_path and tmp_path in root.parents


def test_enable_checkpointing_false_trains_without_writing_a_checkpoint(tmp_path, tiny_bert, small_text, capsys):
    from lightning_app.cli import cli_main

    config = write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text, max_steps=3,
                                   limit_val_batches=1)  # the config lists two ModelCheckpoint callbacks
    fit = cli_main(["fit", "--config", str(config), "--trainer.enable_checkpointing", "false"])
    assert fit.trainer.global_step == 3 and fit.trainer.checkpoint_callbacks == []
    assert "--trainer.enable_checkpointing false: this run writes no checkpoints" in capsys.readouterr().err
    assert not list(tmp_path.rglob("*.ckpt"))
