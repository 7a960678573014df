"""Nothing lost: SIGKILL mid-epoch + `--ckpt_path last` ends with exactly the weights of an uninterrupted run."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from cli_helpers import default_signal_dispositions
from cli_helpers import write_tiny_mlm_config as _config
from conftest import PROJECT_ROOT

from foundation.errors import ConfigError
from lightning_app.cli import cli_main


def _weights(cli) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in cli.model.state_dict().items()}


def _assert_identical_runs(resumed, reference) -> None:
    """Bit-identical weights and the same final validation metrics."""
    expected, actual = _weights(reference), _weights(resumed)
    for name in expected:
        torch.testing.assert_close(actual[name], expected[name], rtol=0, atol=0, msg=name)
    for metric in ("val/loss", "val/perplexity"):
        assert resumed.trainer.callback_metrics[metric] == reference.trainer.callback_metrics[metric]


@pytest.mark.slow  # over ~20 s on 2 cores, or a real process killed and resumed
def test_sigkill_then_resume_matches_uninterrupted_run(tmp_path, tiny_bert, small_text):
    reference = cli_main(["fit", "--config", str(_config(tmp_path, tmp_path / "straight", tiny_bert, small_text))])
    assert reference.trainer.global_step == 11
    batches_per_epoch = reference.trainer.num_training_batches

    kill = {"class_path": "tests.cli_helpers.KillAtStep", "init_args": {"step": 7}}
    config = _config(tmp_path, tmp_path / "killed", tiny_bert, small_text, [kill])
    process = subprocess.run([sys.executable, "main.py", "fit", "--config", str(config)], cwd=PROJECT_ROOT,
                             capture_output=True, text=True, timeout=300)
    assert process.returncode == -signal.SIGKILL, process.stdout + process.stderr
    last = tmp_path / "killed" / "custom_mlm" / "version_0" / "checkpoints" / "last.ckpt"
    state = torch.load(last, map_location="cpu", weights_only=False)
    assert state["global_step"] == 6  # the last periodic checkpoint before the kill
    assert 6 * 2 % batches_per_epoch != 0  # ... and it is mid-epoch, so the data position must be restored

    without_kill = _config(tmp_path, tmp_path / "killed", tiny_bert, small_text)
    resumed = cli_main(["fit", "--config", str(without_kill), "--ckpt_path", "last"])
    assert resumed.trainer.global_step == 11
    _assert_identical_runs(resumed, reference)


@pytest.mark.slow  # over ~20 s on 2 cores, or a real process killed and resumed
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_signal_inside_an_accumulation_window_then_resume_matches_uninterrupted_run(signum, tmp_path, tiny_bert,
                                                                                     small_text):
    reference = cli_main(["fit", "--config", str(_config(tmp_path, tmp_path / "straight", tiny_bert, small_text))])
    send = {"class_path": "tests.cli_helpers.SignalAtStep", "init_args": {"step": 5, "signum": int(signum)}}
    config = _config(tmp_path, tmp_path / "stopped", tiny_bert, small_text, [send])
    process = subprocess.run([sys.executable, "main.py", "fit", "--config", str(config)], cwd=PROJECT_ROOT,
                             capture_output=True, text=True, timeout=300, preexec_fn=default_signal_dispositions)
    assert process.returncode == 128 + signum, process.stdout[-2000:] + process.stderr[-2000:]
    assert "Traceback" not in process.stderr and "saved" in process.stderr
    last = tmp_path / "stopped" / "custom_mlm" / "version_0" / "checkpoints" / "last.ckpt"
    state = torch.load(last, map_location="cpu", weights_only=True)
    assert state["global_step"] == 6  # the window in progress at the signal was finished, then saved

    resumed = cli_main(["fit", "--config", str(_config(tmp_path, tmp_path / "stopped", tiny_bert, small_text)),
                        "--ckpt_path", "last"])
    assert resumed.trainer.global_step == 11
    _assert_identical_runs(resumed, reference)


def test_crash_during_checkpoint_write_keeps_previous_file(tmp_path, monkeypatch):
    from lightning_app.checkpointing.checkpoint_io import AtomicCheckpointIO

    io = AtomicCheckpointIO()
    target = tmp_path / "last.ckpt"
    io.save_checkpoint({"global_step": 1}, target)

    def crash_midway(obj, path, *args, **kwargs):
        Path(path).write_bytes(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash_midway)
    with pytest.raises(ConfigError, match=r"last.ckpt failed \(disk full\)"):  # one sentence, not a traceback
        io.save_checkpoint({"global_step": 2}, target)
    monkeypatch.undo()
    assert torch.load(target, weights_only=False)["global_step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # no partial file left behind


@pytest.mark.slow  # over ~3 s: kept out of the quick loop (`-m "not slow"`)
def test_seeded_runs_are_identical(tmp_path, tiny_bert, small_text):
    first = cli_main(["fit", "--config", str(_config(tmp_path, tmp_path / "a", tiny_bert, small_text))])
    second = cli_main(["fit", "--config", str(_config(tmp_path, tmp_path / "b", tiny_bert, small_text))])
    for name, value in _weights(first).items():
        assert torch.equal(value, _weights(second)[name]), name


def test_fresh_fit_refuses_to_reuse_a_run_directory(tmp_path, tiny_bert, small_text, capsys):
    config = _config(tmp_path, tmp_path / "runs", tiny_bert, small_text)
    cli_main(["fit", "--config", str(config), "--trainer.max_steps", "2"])
    files_before = sorted(p for p in (tmp_path / "runs").rglob("*"))
    with pytest.raises(SystemExit):
        cli_main(["fit", "--config", str(config), "--trainer.logger.init_args.version", "0"])
    assert "already holds a run" in capsys.readouterr().err
    assert sorted(p for p in (tmp_path / "runs").rglob("*")) == files_before


def test_nonfinite_loss_stops_with_step_and_keeps_last_good_checkpoint(tmp_path, tiny_bert, small_text, capsys):
    config = _config(tmp_path, tmp_path / "nan", tiny_bert, small_text)
    with pytest.raises(SystemExit) as exit_info:  # lr 1e30 blows the weights up within a few steps
        cli_main(["fit", "--config", str(config), "--model.init_args.learning_rate", "1e30",
                  "--trainer.gradient_clip_val", "null"])
    assert exit_info.value.code == 1
    message = capsys.readouterr().err
    assert "train/loss is nan at step" in message or "train/loss is inf at step" in message
    last = tmp_path / "nan" / "custom_mlm" / "version_0" / "checkpoints" / "last.ckpt"
    if last.exists():  # any checkpoint written holds finite weights
        state = torch.load(last, map_location="cpu", weights_only=False)["state_dict"]
        assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


def test_nonfinite_loss_skip_mode_keeps_training(tmp_path, tiny_bert, small_text):
    config = _config(tmp_path, tmp_path / "skip", tiny_bert, small_text)
    cli = cli_main(["fit", "--config", str(config), "--nonfinite_loss.action", "skip",
                    "--model.init_args.learning_rate", "1e30", "--trainer.gradient_clip_val", "null"])
    guard = next(c for c in cli.trainer.callbacks if type(c).__name__ == "NonFiniteLossGuard")
    assert cli.trainer.global_step == 11 and guard.skipped > 0


def test_slurm_requeue_signal_is_honoured_at_a_step_boundary(monkeypatch):
    """Under SLURM with auto-requeue, SIGUSR1 joins SIGINT/SIGTERM, and stopping on it requeues the job."""
    from types import SimpleNamespace

    from lightning.pytorch.plugins.environments import SLURMEnvironment

    from lightning_app.callbacks import graceful_stop

    trainer = SimpleNamespace(strategy=SimpleNamespace(cluster_environment=SLURMEnvironment(auto_requeue=True)))
    assert signal.SIGUSR1 in graceful_stop.GracefulStop()._signals(trainer)
    calls = []
    monkeypatch.setattr(graceful_stop.subprocess, "run", lambda command, check: calls.append(command))
    monkeypatch.setenv("SLURM_JOB_ID", "1234")
    monkeypatch.delenv("SLURM_ARRAY_JOB_ID", raising=False)
    graceful_stop._requeue()
    assert calls == [["scontrol", "requeue", "1234"]]
