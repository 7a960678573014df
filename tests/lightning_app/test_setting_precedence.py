"""Where a setting comes from, lowest first: defaults < --config files < a checkpoint's recorded settings <
PL_<SUBCOMMAND>__* environment variables < options typed on the command line (README "Where a setting comes from").
One test per boundary, read from `--print_config` (nothing is built), and a pin on jsonargparse's own order."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from cli_helpers import PROJECT_ROOT, fit_tiny_mlm, printed_config, run_bad_input
from conftest import TINY_BERT

from lightning_app.cli import cli_main

MLM_CONFIG = str(PROJECT_ROOT / "configs" / "custom_mlm.yaml")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    """(a tiny masked-LM config with data.batch_size 4, the last.ckpt of a 1-step run of it)."""
    return fit_tiny_mlm(tmp_path_factory.mktemp("precedence"), dict(TINY_BERT), steps=1)


def test_a_config_file_beats_the_defaults(capsys):
    bare = printed_config(["fit", "--model", "MaskedLanguageModel", "--data", "CustomTextDataModule"], capsys)
    configured = printed_config(["fit", "--config", MLM_CONFIG], capsys)
    assert bare["data"]["init_args"]["validation_split_percentage"] == 5.0  # CustomTextDataModule's default
    assert configured["data"]["init_args"]["validation_split_percentage"] == 20


def test_an_environment_variable_beats_a_config_file(capsys, monkeypatch):
    """The issue's command: PL_FIT__DATA__BATCH_SIZE=3 ... --config configs/custom_mlm.yaml printed batch_size: 8."""
    monkeypatch.setenv("PL_FIT__DATA__BATCH_SIZE", "3")
    assert printed_config(["fit", "--config", MLM_CONFIG], capsys)["data"]["init_args"]["batch_size"] == 3


def test_a_typed_option_beats_an_environment_variable(capsys, monkeypatch):
    monkeypatch.setenv("PL_FIT__DATA__BATCH_SIZE", "3")
    printed = printed_config(["fit", "--config", MLM_CONFIG, "--data.batch_size", "5"], capsys)
    assert printed["data"]["init_args"]["batch_size"] == 5


def test_a_checkpoint_setting_beats_a_config_file(trained, tmp_path, capsys):
    config, last = trained
    settings = yaml.safe_load(config.read_text())
    settings["data"]["init_args"]["batch_size"] = 7
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump(settings))
    printed = printed_config(["validate", "--config", str(other), "--ckpt_path", str(last)], capsys)
    assert printed["data"]["init_args"]["batch_size"] == 4  # the run's, with a warning naming the difference


def test_an_environment_variable_beats_a_checkpoint_setting(trained, capsys, monkeypatch):
    config, last = trained
    monkeypatch.setenv("PL_VALIDATE__DATA__BATCH_SIZE", "3")
    printed = printed_config(["validate", "--config", str(config), "--ckpt_path", str(last)], capsys)
    assert printed["data"]["init_args"]["batch_size"] == 3
    monkeypatch.delenv("PL_VALIDATE__DATA__BATCH_SIZE")
    alone = printed_config(["validate", "--ckpt_path", str(last)], capsys)  # without the variable: the run's setting
    assert alone["data"]["init_args"]["batch_size"] == 4


def test_a_config_file_given_in_the_environment_is_checked_like_a_typed_one(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("PL_FIT__CONFIG", str(tmp_path / "missing.yaml"))
    with pytest.raises(SystemExit) as stop:
        cli_main(["fit", "--config", MLM_CONFIG])
    assert stop.value.code == 2
    assert "missing.yaml does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("variable, value, typed, expected", [
    ("PL_FIT__DATA__BATCH_SIZ", "3", [], "environment variable PL_FIT__DATA__BATCH_SIZ: --data.batch_siz is not an "
     "option of data_modules.CustomTextDataModule; check the spelling: did you mean --data.batch_size?"),
    ("PL_FIT__DATA__BATCH_SIZE", "eight", ["--data.batch_size", "9"], "environment variable PL_FIT__DATA__BATCH_SIZE: "
     "--data.batch_size=eight is not an integer; pass an integer."),
], ids=["misspelt", "typed beside it"])
def test_a_bad_value_from_an_environment_variable_names_the_variable(variable, value, typed, expected, capsys,
                                                                      monkeypatch, tmp_path, bad_input_table):
    monkeypatch.setenv(variable, value)
    message = run_bad_input(capsys, ["fit", "--config", MLM_CONFIG, *typed, "--print_config"], tmp_path)
    assert message == f"error: {expected}"
    if not typed:
        bad_input_table.record("misspelt PL_* variable", [f"{variable}={value}", "fit", "--config", "custom_mlm.yaml"],
                               message)


def test_upstream_jsonargparse_ranks_config_files_above_environment_variables(tmp_path, monkeypatch):
    """Why `command_line.CommandLine.arguments` passes PL_* variables as flags: jsonargparse's own parse order is
    defaults < environment < command line (a typed --config included). When this fails, jsonargparse ranks the
    environment higher itself and our translation can go."""
    from jsonargparse import ActionConfigFile, ArgumentParser

    parser = ArgumentParser(env_prefix="APP", default_env=True)
    parser.add_argument("--config", action=ActionConfigFile)
    parser.add_argument("--batch_size", type=int, default=8)
    (tmp_path / "c.yaml").write_text("batch_size: 7\n")
    monkeypatch.setenv("APP_BATCH_SIZE", "3")
    assert parser.parse_args([]).batch_size == 3
    assert parser.parse_args(["--config", str(tmp_path / "c.yaml")]).batch_size == 7
