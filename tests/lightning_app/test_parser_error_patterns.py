"""Every pattern `parser_errors` reads from jsonargparse's or argparse's wording, run against the real message from the
installed versions (a parser built like LightningCLI's subclass-mode sections): a rewording upstream fails here
instead of silently changing what users see. Plus the structure it relies on (an unknown class option is a KeyError).
"""

from __future__ import annotations

from typing import Literal

import lightning as L
import pytest
from jsonargparse import ActionConfigFile, ArgumentError, ArgumentParser

import models  # noqa: F401  (imported: the subclasses jsonargparse looks among)
from lightning_app.parsing.parser_errors import PATTERNS, one_sentence, option_hint, unknown_option

MLM = "models.MaskedLanguageModel"


class _Trainer:
    def __init__(self, max_steps: int = -1):
        self.max_steps = max_steps


def _error(*args: str) -> ArgumentError:
    parser = ArgumentParser(exit_on_error=False)
    parser.add_argument("--model", type=L.LightningModule | None)
    parser.add_argument("--steps", type=int)
    parser.add_argument("--max_epochs", type=int | None)
    parser.add_argument("--kind", type=Literal["a", "b"])
    parser.add_argument("--config", action=ActionConfigFile)
    parser.add_class_arguments(_Trainer, "trainer")
    with pytest.raises(ArgumentError) as raised:
        parser.parse_args(list(args))
    return raised.value


# pattern -> (arguments that trigger it, the groups it must read from the message)
TRIGGERS = {
    "unrecognized": (["--nope", "1"], ["--nope"]),
    "parser_key": (["--model", MLM, "--model.lr_scheduler_type", "foo"], ["model", "lr_scheduler_type"]),
    "class_path": (["--model", MLM, "--model.lerning_rate", "1"], [MLM]),
    "not_accepted": (["--model", MLM, "--model.lerning_rate", "1"], ["lerning_rate"]),
    "group_option": (["--config", "trainer:\n  max_stepz: 3\n"], [("trainer", "max_stepz")]),
    "expected": (["--steps", "abc"], [("<class 'int'>", "abc")]),
    "given": (["--max_epochs", "abc"], ["abc"]),
    "expected_type": (["--max_epochs", "abc"], ["int", "NoneType"]),
    "null_group": (["--trainer", "null"], ["trainer", "trainer"]),  # the error and its cause name it
    "print_config_flag": (["--print_config=skip_nul"], [("skip_nul", "--print_config")]),
}


@pytest.mark.parametrize("name", PATTERNS, ids=list(PATTERNS))
def test_each_pattern_reads_the_installed_message(name):
    args, groups = TRIGGERS[name]
    assert PATTERNS[name].findall(str(_error(*args))) == groups


def test_a_literal_choice_reads_as_choices():
    message = str(_error("--kind", "c"))
    assert PATTERNS["expected"].findall(message) == [("typing.Literal['a', 'b']", "c")]
    assert one_sentence(message) == "--kind=c is not one of a, b; pass one of them."


def test_an_unknown_class_option_is_a_key_error_and_gets_the_closest_name():
    error = _error("--model", MLM, "--model.lerning_rate", "1")
    assert any(isinstance(e, KeyError) for e in _chain(error))  # jsonargparse's NSKeyError
    assert unknown_option(str(error), error) == ("--model.lerning_rate", MLM)
    assert option_hint(str(error), error, ()) == "check the spelling: did you mean --model.learning_rate?"


def test_a_bad_value_is_not_taken_for_an_unknown_option():
    error = _error("--steps", "abc")
    assert unknown_option(str(error), error) is None
    assert one_sentence(str(error)) == "--steps=abc is not an integer; pass an integer."


def _chain(error):
    while error is not None:
        yield error
        error = error.__cause__ or error.__context__


def test_keys_a_config_file_misplaces_are_one_sentence_with_the_closest_name():
    in_section = _error("--config", "trainer:\n  max_stepz: 3\n")
    hint = option_hint(str(in_section), in_section, ("--trainer.max_steps", "--steps"))
    assert one_sentence(str(in_section), hint) == ("--trainer.max_stepz is not an option; check the spelling: did you "
                                                   "mean --trainer.max_steps?")
    top_level = _error("--config", "num_train_epochs: 3\n")
    assert one_sentence(str(top_level), option_hint(str(top_level), top_level, ())) == (
        "--num_train_epochs is not an option; did you mean --trainer.max_epochs?")
