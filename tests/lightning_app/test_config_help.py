"""`python main.py fit --config X --help` lists the options of the model and data module X chooses, fast and without
torch, and they are exactly the options jsonargparse builds from the same classes."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import yaml
from cli_helpers import PROJECT_ROOT

from lightning_app.parsing.config_help import TRAINER, find_class, options_in_source
from lightning_app.parsing.parser_errors import class_options

CONFIGS = sorted(p for p in (PROJECT_ROOT / "configs").glob("*.yaml") if "model" in yaml.safe_load(p.read_text()))
CHOSEN = sorted({(section, yaml.safe_load(p.read_text())[section]["class_path"]) for p in CONFIGS
                 for section in ("model", "data")})


@pytest.mark.parametrize(("section", "class_path"), CHOSEN, ids=[c for _, c in CHOSEN])
def test_the_options_read_from_source_are_jsonargparses(section, class_path):
    from_source = [f"--{section}.{option.name}" for option in options_in_source(find_class(class_path))]
    assert sorted(from_source) == sorted(class_options(class_path, section))
    assert all(option.doc for option in options_in_source(find_class(class_path))), "an option without Args: text"


def test_the_trainer_options_read_from_source_are_jsonargparses():
    from_source = {f"--trainer.{option.name}" for option in options_in_source(find_class(TRAINER))}
    assert from_source == set(class_options(TRAINER, "trainer"))


def test_fit_config_help_answers_in_under_3_seconds_without_torch():
    script = ("import sys, runpy; sys.argv = ['main.py', 'fit', '--config', 'configs/mrpc_minilm.yaml', '--help']\n"
              "try:\n    runpy.run_path('main.py', run_name='__main__')\nexcept SystemExit as stop:\n"
              "    print('exit', stop.code)\nprint('torch' in sys.modules, 'lightning' in sys.modules)")
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=60)
    elapsed = time.perf_counter() - started
    lines = done.stdout.strip().splitlines()
    assert lines[-2:] == ["exit 0", "False False"], done.stderr[-2000:]
    assert elapsed < 3.0, elapsed
    assert "--model models.SequenceClassifier" in done.stdout and "--data data_modules.MRPCDataModule" in done.stdout
    assert any(line.startswith("  --model.learning_rate (float; default 5e-05; config: ") for line in lines)
    assert "  --data.data_dir (str | None; default None)" in lines
    assert any(line.startswith("  --trainer.max_epochs ") for line in lines)


def test_a_class_typed_on_the_command_line_wins_over_the_configs(capsys):
    from lightning_app.cli import cli_main

    with pytest.raises(SystemExit) as stop:
        cli_main(["fit", "--config", str(PROJECT_ROOT / "configs" / "custom_mlm.yaml"), "--model",
                  "CausalLanguageModel", "--help"])
    assert stop.value.code == 0
    assert "--model CausalLanguageModel:" in capsys.readouterr().out
