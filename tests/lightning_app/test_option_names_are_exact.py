"""Option names are exact (no argparse prefix abbreviations), a misspelt one gets "did you mean", and a short class
name works wherever a class path does."""

from __future__ import annotations

import subprocess
import sys
import warnings

import pytest
from cli_helpers import PROJECT_ROOT, printed_config, run_bad_input

MLM_CONFIG = str(PROJECT_ROOT / "configs" / "custom_mlm.yaml")

# case -> (what the user types after `fit --config configs/custom_mlm.yaml`, the sentence's "did you mean")
MISSPELT = {
    "abbreviated option": ("--trainer.max_step 10", "--trainer.max_step is not an option; check the spelling: did "
                                                    "you mean --trainer.max_steps?"),
    "misspelt option of the model": ("--model.lerning_rate 1e-3", "--model.lerning_rate is not an option of "
                                     "models.MaskedLanguageModel; check the spelling: did you mean "
                                     "--model.learning_rate?"),
    "abbreviated option of the model": ("--model.init_args.learning_r 1e-3", "did you mean --model.learning_rate?"),
    "misspelt option of the data": ("--data.batch_siz 4", "did you mean --data.batch_size?"),
}


@pytest.mark.parametrize("case", MISSPELT, ids=list(MISSPELT))
def test_a_misspelt_or_abbreviated_option_fails_with_did_you_mean(case, tmp_path, capsys, bad_input_table):
    typed, expected = MISSPELT[case]
    argv = ["fit", "--config", MLM_CONFIG, *typed.split()]
    message = run_bad_input(capsys, argv, tmp_path)
    assert expected in message
    bad_input_table.record(case, argv, message)


def test_upstream_jsonargparse_still_expands_abbreviations_by_default():
    """Why BertCLI passes allow_abbrev=False: jsonargparse 4.x expands `--max_step` to `--max_steps` (deprecated,
    "v5.0.0 disables abbreviations by default"). When this fails, the default is exact and the kwarg can go."""
    from jsonargparse import ArgumentParser

    parser = ArgumentParser()
    parser.add_argument("--max_steps", type=int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert parser.parse_args(["--max_step", "3"]).max_steps == 3


def test_short_class_names_choose_the_model_and_data(capsys):
    printed = printed_config(["fit", "--config", MLM_CONFIG, "--model", "SequenceClassifier", "--data",
                              "MRPCDataModule"], capsys)
    assert printed["model"]["class_path"] == "models.SequenceClassifier"
    assert printed["data"]["class_path"] == "data_modules.MRPCDataModule"


@pytest.mark.slow  # over ~3 s: kept out of the quick loop (`-m "not slow"`)
@pytest.mark.parametrize("typed", ["--model.help MaskedLanguageModel", "--data.help MRPCDataModule"])
def test_class_help_takes_a_short_name(typed):
    """A real process: --model.help prints the class's options and exits 0 (not "Expected a dot import path")."""
    done = subprocess.run([sys.executable, "main.py", "fit", *typed.split()], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert ("--model.fill_mask_top_k" if "model" in typed else "--data.data_dir") in done.stdout
