"""Helpers for tests that drive the real CLI: tiny configs written to disk, callbacks that stop a run, and the
bad-input runner."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import yaml

try:
    from paths import PROJECT_ROOT, SHARED_DATA
except ImportError:  # imported as tests.cli_helpers by a CLI subprocess that loads KillAtStep by its class path
    from tests.paths import PROJECT_ROOT, SHARED_DATA

from lightning_app.cli import cli_main


def write_small_text(directory: Path) -> Path:
    """`directory/small.txt`: the first 120 non-blank lines of the real custom-text corpus, as a user's small file."""
    lines = [ln for ln in (SHARED_DATA / "custom-txt" / "train.txt").read_text().splitlines() if ln.strip()][:120]
    path = directory / "small.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def printed_config(argv: list[str], capsys) -> dict:
    """The config `main.py <argv> --print_config` prints, parsed."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        cli_main([*argv, "--print_config"])
    assert stop.value.code == 0
    return yaml.safe_load(capsys.readouterr().out)


def write_tiny_mlm_config(tmp_path: Path, save_dir: Path, tiny_bert: dict, small_text: Path, extra_callbacks=(),
                          **trainer_overrides) -> Path:
    """configs/custom_mlm.yaml shrunk to a tiny model on `small_text`; last.ckpt every 2 optimizer steps."""
    config = yaml.safe_load((PROJECT_ROOT / "configs" / "custom_mlm.yaml").read_text())
    trainer = config["trainer"]
    trainer.update({"max_steps": 11, "max_epochs": 100, "num_sanity_val_steps": 0, "log_every_n_steps": 1,
                    "enable_progress_bar": False, **trainer_overrides})
    trainer["logger"]["init_args"]["save_dir"] = str(save_dir)
    trainer["callbacks"] = [c for c in trainer["callbacks"] if "FillMask" not in c["class_path"]]
    trainer["callbacks"][1]["init_args"]["every_n_train_steps"] = 2
    trainer["callbacks"].extend(extra_callbacks)
    config["model"]["init_args"].update(model_config=tiny_bert, learning_rate=1e-3)
    config["data"]["init_args"].update(train_file=str(small_text), batch_size=4)
    path = tmp_path / f"{save_dir.name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def fit_tiny_mlm(root: Path, tiny_bert: dict, steps: int) -> tuple[Path, Path]:
    """The small text and a tiny masked-LM config under `root`, fitted for `steps` optimizer steps (validation on one
    batch): (the config, the run's last.ckpt). For module fixtures that need one real checkpoint."""
    write_small_text(root)
    config = write_tiny_mlm_config(root, root / "runs", tiny_bert, root / "small.txt")
    cli_main(["fit", "--config", str(config), "--trainer.max_steps", str(steps), "--trainer.limit_val_batches", "1"])
    return config, root / "runs" / "custom_mlm" / "version_0" / "checkpoints" / "last.ckpt"


def write_tiny_mrpc_config(tmp_path: Path, tiny_bert: dict, shared_data: Path) -> Path:
    """configs/mrpc_minilm.yaml on a tiny random BERT, 64 real train rows and 33 real dev rows (odd on purpose:
    two ranks cannot split it evenly, so any repeated padding example would show in the metrics)."""
    for name, rows in (("train.tsv", 65), ("dev.tsv", 34)):  # header + rows
        lines = (shared_data / "mrpc" / name).read_text(encoding="utf-8-sig").splitlines()[:rows]
        (tmp_path / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = yaml.safe_load((PROJECT_ROOT / "configs" / "mrpc_minilm.yaml").read_text())
    config["trainer"].update({"max_epochs": 2, "log_every_n_steps": 1, "enable_progress_bar": False})
    config["trainer"]["logger"]["init_args"]["save_dir"] = str(tmp_path / "runs")
    config["model"]["init_args"]["model_config"] = tiny_bert
    config["data"]["init_args"].update({"data_dir": str(tmp_path), "batch_size": 8, "max_seq_length": 64})
    path = tmp_path / "mrpc_tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def write_tiny_causal_config(tmp_path: Path, shared_data: Path) -> Path:
    """configs/tr_en_bce_lm.yaml on a tiny decoder, the first 300 real pairs and a 400-token BPE vocabulary."""
    lines = (shared_data / "tr-en" / "tur.txt").read_text().splitlines()[:300]
    corpus = tmp_path / "pairs.txt"
    corpus.write_text("\n".join(lines) + "\n")
    config = yaml.safe_load((PROJECT_ROOT / "configs" / "tr_en_bce_lm.yaml").read_text())
    config["trainer"].update({"max_steps": 4, "val_check_interval": 2, "log_every_n_steps": 1,
                              "limit_val_batches": 1})
    config["trainer"]["logger"]["init_args"]["save_dir"] = str(tmp_path / "runs")
    config["trainer"]["callbacks"] = [c for c in config["trainer"]["callbacks"] if "Rich" not in c["class_path"]]
    config["model"]["init_args"]["model_config"] = {"hidden_size": 32, "num_hidden_layers": 2,
                                                    "num_attention_heads": 2, "intermediate_size": 64,
                                                    "max_position_embeddings": 64}
    config["data"]["init_args"].update({"corpus_file": str(corpus), "vocab_size": 400, "max_seq_length": 32,
                                        "ood_eval_lines": 0})
    path = tmp_path / "causal_tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


class KillAtStep(L.Callback):
    """Sends SIGKILL to its own process after the first micro-batch of optimizer step `step` (no clean-up runs)."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


class RunLockProbe(L.Callback):
    """Records, at the first training batch, whether another open of the run directory can lock it (it should not:
    the fit holds it)."""

    def __init__(self):
        self.lockable: bool | None = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.lockable is None:
            self.lockable = lockable(Path(trainer.log_dir))


def lockable(directory: Path) -> bool:
    """Whether an exclusive `flock` on `directory` can be taken now (and is let go at once)."""
    import fcntl

    descriptor = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False
    finally:
        os.close(descriptor)


class SignalAtStep(L.Callback):
    """Sends `signum` to its own process after the first micro-batch of the accumulation window that follows
    optimizer step `step`: the worst moment, with gradients accumulated but not yet applied."""

    def __init__(self, step: int, signum: int = 2):
        self.step, self.signum, self.sent = step, signum, False

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        window = trainer.accumulate_grad_batches
        if not self.sent and trainer.global_step == self.step and batch_idx % window == 0 and window > 1:
            self.sent = True
            os.kill(os.getpid(), self.signum)


def default_signal_dispositions() -> None:
    """`preexec_fn` for a child that must see SIGINT/SIGTERM even when the test runner was started in the background
    (a background job inherits SIGINT as ignored)."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_DFL)


def run_bad_input(capsys, argv: list[str], tmp_path: Path, code: int = 2, process: bool = False,
                  stream: str = "err", pick: str | None = None) -> str:
    """Run `main.py argv` (in this process, or as a real process) and check the bad-input rules: exit `code`, no
    traceback, one final `error: ...` line (`code` 2), nothing written or changed under `tmp_path`, no half-written
    cache entry. Returns the sentence: the last line of `stream`, or the first line containing `pick`."""
    before = _files(tmp_path)
    if process:
        done = subprocess.run([sys.executable, str(PROJECT_ROOT / "main.py"), *argv], cwd=PROJECT_ROOT,
                              capture_output=True, text=True, timeout=300)
        exit_code, out, err = done.returncode, done.stdout, done.stderr
    else:
        capsys.readouterr()
        try:
            cli_main(argv)
            exit_code = 0
        except SystemExit as stop:
            exit_code = stop.code
        out, err = capsys.readouterr()
    lines = [line for line in (out if stream == "out" else err).strip().splitlines() if line.strip()]
    assert exit_code == code, (exit_code, err[-3000:])
    assert "Traceback" not in err, err
    assert lines, f"nothing printed on std{stream}"
    if code == 2:
        assert [line for line in lines if line.startswith("error: ")] == [lines[-1]], lines[-5:]
    assert _files(tmp_path) == before, "files were written or changed"
    cache = Path(os.environ["LBT_CACHE_DIR"])
    assert not [p for p in (*cache.glob("*.partial*"), *tmp_path.rglob("*.partial*"))], "half-written cache entry"
    return next(line for line in lines if pick in line) if pick else lines[-1]


def _files(root: Path) -> dict[Path, tuple[int, int] | None]:
    """Every file (size, modification time) and directory (None: probing a directory changes its time) under root."""
    return {p: None if p.is_dir() else (p.lstat().st_size, p.lstat().st_mtime_ns) for p in root.rglob("*")}


@dataclass
class UserInputs:
    """What a bad-input case builds its command from: the tiny configs and the user's files, all under `tmp`.
    `shown` maps each tiny config to the name of the config it shrinks (the README table shows that name)."""

    tmp: Path
    tiny_bert: dict
    small_text: Path
    shared_data: Path
    monkeypatch: Any = None
    trained: Any = None  # () -> {"mlm": Path, "mrpc": Path}: real checkpoints, trained on first use
    shown: dict = field(default_factory=dict)

    def checkpoint(self, task: str) -> str:
        return str(self.trained()[task])

    def file(self, name: str, content: str | bytes) -> str:
        path = self.tmp / "inputs" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return str(path)

    def _config(self, name: str, write) -> str:
        path = next((p for p, shown in self.shown.items() if shown == name), None)
        if path is None:
            path = str(write())
            self.shown[path] = name
        return path

    def mlm(self) -> str:
        return self._config("custom_mlm.yaml", lambda: write_tiny_mlm_config(self.tmp, self.tmp / "runs",
                                                                             self.tiny_bert, self.small_text))

    def mrpc(self) -> str:
        return self._config("mrpc_minilm.yaml", lambda: write_tiny_mrpc_config(self.tmp, self.tiny_bert,
                                                                               self.shared_data))

    def causal(self) -> str:
        return self._config("tr_en_bce_lm.yaml", lambda: write_tiny_causal_config(self.tmp, self.shared_data))

    def command(self, argv: list[str]) -> list[str]:
        """`argv` as the README shows it."""
        return [self.shown.get(arg, arg) for arg in argv]
