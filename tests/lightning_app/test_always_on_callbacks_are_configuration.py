"""Every callback the CLI gives a run is configuration: `--print_config` of each shipped config shows it under its
own key, `--KEY null` switches it off, and a config's own `trainer.callbacks` list does not drop it."""

from __future__ import annotations

import pytest
import yaml
from cli_helpers import PROJECT_ROOT, write_tiny_mlm_config

from lightning_app.callbacks.always_on import ALWAYS_ON, CANNOT_SWITCH_OFF
from lightning_app.cli import cli_main

# Written out rather than read from ALWAYS_ON, so dropping a callback from the CLI fails here.
EXPECTED = {"graceful_stop": "GracefulStop", "deterministic_step_seed": "DeterministicStepSeed",
            "loader_position_on_resume": "LoaderPositionOnResume", "fit_summary": "FitSummary",
            "run_record": "RunRecord", "validate_at_last_step": "ValidateAtLastStep",
            "last_checkpoint_at_end": "LastCheckpointAtEnd", "progress_bar": "RunProgressBar"}
SHIPPED = sorted(p.name for p in (PROJECT_ROOT / "configs").glob("*.yaml"))


def _configs(name: str) -> list[str]:
    stack = ["custom_mlm.yaml", name] if name == "debug.yaml" else [name]  # debug.yaml stacks on a task config
    return [arg for config in stack for arg in ("--config", str(PROJECT_ROOT / "configs" / config))]


@pytest.mark.parametrize("name", SHIPPED)
def test_print_config_of_every_shipped_config_shows_every_always_on_callback(name, capsys):
    with pytest.raises(SystemExit) as stop:
        cli_main(["fit", *_configs(name), "--print_config"])
    assert stop.value.code in (0, None)
    printed = yaml.safe_load(capsys.readouterr().out)
    for key, class_name in EXPECTED.items():
        assert printed[key]["class_path"].rsplit(".", 1)[-1] == class_name, (key, printed.get(key))
    assert printed["nonfinite_loss"] == {"action": "stop"}
    assert set(EXPECTED) == set(ALWAYS_ON)


def _callback_names(tmp_path, tiny_bert, small_text, *args, **trainer) -> list[str]:
    config = write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text, **trainer)
    cli = cli_main(["--config", str(config), *args], run=False)
    return [type(callback).__name__ for callback in cli.trainer.callbacks]


def test_a_config_with_its_own_callbacks_keeps_every_always_on_callback(tmp_path, tiny_bert, small_text):
    names = _callback_names(tmp_path, tiny_bert, small_text, enable_progress_bar=True)
    assert set(EXPECTED.values()) <= set(names)
    assert {"ModelCheckpoint", "StepThroughputMonitor", "GradNormMonitor", "NonFiniteLossGuard"} <= set(names)
    assert names.count("RunProgressBar") == 1 and "TQDMProgressBar" not in names


@pytest.mark.parametrize("key", [key for key in EXPECTED if key not in CANNOT_SWITCH_OFF])
def test_a_callback_switched_off_with_null_is_not_in_the_trainer(key, tmp_path, tiny_bert, small_text):
    names = _callback_names(tmp_path, tiny_bert, small_text, f"--{key}", "null", enable_progress_bar=True)
    assert EXPECTED[key] not in names
    assert {name for other, name in EXPECTED.items() if other != key} <= set(names)


def test_the_progress_bar_steps_aside_for_one_the_config_names_or_none(tmp_path, tiny_bert, small_text):
    bar = {"class_path": "lightning.pytorch.callbacks.TQDMProgressBar", "init_args": {"refresh_rate": 7}}
    names = _callback_names(tmp_path, tiny_bert, small_text, extra_callbacks=[bar], enable_progress_bar=True)
    assert "TQDMProgressBar" in names and "RunProgressBar" not in names
    names = _callback_names(tmp_path, tiny_bert, small_text, enable_progress_bar=False)
    assert not [name for name in names if "ProgressBar" in name]


def test_step_seed_follows_seed_everything_unless_set(tmp_path, tiny_bert, small_text):
    config = write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text)
    for args, seed in ((["--seed_everything", "7"], 7), (["--deterministic_step_seed.init_args.seed", "3"], 3)):
        cli = cli_main(["--config", str(config), *args], run=False)
        step_seed = [c for c in cli.trainer.callbacks if type(c).__name__ == "DeterministicStepSeed"]
        assert [c.seed for c in step_seed] == [seed]


def test_the_non_finite_loss_guard_is_refused_null_in_a_config_file_too(tmp_path, tiny_bert, small_text, capsys):
    config = write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text)
    switched_off = tmp_path / "no_guard.yaml"
    switched_off.write_text("nonfinite_loss: null\n")
    with pytest.raises(SystemExit) as stop:
        cli_main(["fit", "--config", str(config), "--config", str(switched_off)])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"error: config file {switched_off}: --nonfinite_loss cannot be switched off: a NaN "
                              "or infinite loss")
    assert not (tmp_path / "runs").exists()
