"""jsonargparse's parser errors condensed into the project's one sentence (option, value, fix), with "did you mean",
and `HintingParser`, the parser class of `BertCLI` that reports them.

What kind of error it is comes from its structure where jsonargparse offers one: an option a class does not take
raises jsonargparse's `NSKeyError` (a `KeyError`) at the bottom of the exception chain; argparse reports an
option no parser knows only in words (`error("unrecognized arguments: ...")`). Which option, class and
value an error concerns exists only in its text, so every pattern read from jsonargparse's or argparse's wording is
in `PATTERNS`, each with a test that triggers the real message from the installed versions
(tests/lightning_app/test_parser_error_patterns.py): a rewording upstream fails a test instead of silently changing
what users see.
Messages no pattern explains keep jsonargparse's own report.
"""

from __future__ import annotations

import difflib
import importlib
import re

from lightning.pytorch.cli import LightningArgumentParser

from foundation.errors import ConfigError
from lightning_app.callbacks.always_on import CANNOT_SWITCH_OFF, switch_off_refused


class HintingParser(LightningArgumentParser):
    """jsonargparse's parser, reporting a bad option in one sentence (`one_sentence`) with "did you mean ...?":
    ours for an option name from Hugging Face's scripts (`hf_names`), else the closest option the parser knows."""

    known_options: tuple[str, ...] = ()  # set by `BertCLI.parse_arguments`: the subcommand's option strings

    def error(self, message: str, ex: Exception | None = None):
        hint = option_hint(message, ex, self.known_options)
        sentence = one_sentence(message, hint) if self.exit_on_error else None
        if sentence is not None:  # the user's mistake in one line, instead of the usage text and an error tree
            raise ConfigError(sentence)
        return super().error(f"{message}\n{hint}" if hint else message, ex)


def option_sections(parser: LightningArgumentParser) -> set[str]:
    """The first parts of the parser's keys: trainer, model, data, seed_everything, config, ckpt_path, ..."""
    return {option[2:].split(".")[0] for option in option_strings(parser)}


PATTERNS = {
    # argparse's (and jsonargparse's) parse_args: arguments that no parser option took
    "unrecognized": re.compile(r"unrecognized arguments: (\S+)", re.IGNORECASE),
    # the key a (nested) error is about, outermost first: 'Parser key "model":' ... 'Parser key "learning_rate":'
    "parser_key": re.compile(r'Parser key "([^"]+)":'),
    # the class a subclass-mode value named
    "class_path": re.compile(r"Problem with given class_path '([^']+)':"),
    # NSKeyError: an option that class does not take
    "not_accepted": re.compile(r"Option '([^']+)' is not accepted"),
    # NSKeyError: a key a config file puts in a section (trainer, a class group) that has no such option
    "group_option": re.compile(r"Group '([^']+)' does not accept option '([^']+)'"),
    # a value of the wrong type, or not one of a Literal's choices
    "expected": re.compile(r"Expected a (.+?)\. Got value: (.*)"),
    # the value every member of a Union (e.g. Optional[...]) rejected
    "given": re.compile(r"^\s*Given value: (.*)$", re.MULTILINE),
    # each type a value of a Union (e.g. Optional[list[str]]) was checked against
    "expected_type": re.compile(r"Expected a <class '(\w+)'>"),
    # a flag `--print_config=FLAGS` does not know
    "print_config_flag": re.compile(r'Invalid option "([^"]*)" for (--print_config)'),
    # `--KEY null` for a group that is not optional (`nonfinite_loss`)
    "null_group": re.compile(r"""Parser key "([^"]+)":\s*Unable to load config .null."""),
}
_TYPES = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "text",
          "tuple": "a list such as [0.9, 0.999]", "list": "a list such as [a, b]", "dict": "a mapping such as {a: 1}"}


def one_sentence(message: str, hint: str | None = None) -> str | None:
    """The sentence for a parser `message` (`hint`: "did you mean ...?"), or None for one no pattern explains."""
    keys = PATTERNS["parser_key"].findall(message)
    fix = hint or "check the spelling (--help lists every option)"
    fix += "" if fix.endswith("?") else "."
    if (null := PATTERNS["null_group"].search(message)) and null.group(1) in CANNOT_SWITCH_OFF:
        return switch_off_refused(null.group(1))
    if flag := PATTERNS["print_config_flag"].search(message):
        return (f"{flag.group(2)}={flag.group(1)}: {flag.group(1)} is not one of its flags; pass {flag.group(2)} "
                f"alone, or with flags from its --help (e.g. {flag.group(2)}=skip_default).")
    if unrecognized := PATTERNS["unrecognized"].search(message):
        return f"{unrecognized.group(1).split('=', 1)[0]} is not an option; {fix}"
    if group := PATTERNS["group_option"].search(message):
        return f"--{group.group(1)}.{group.group(2)} is not an option; {fix}"
    if not keys:
        unknown = PATTERNS["not_accepted"].search(message)  # a top-level key of a config file
        return f"--{unknown.group(1)} is not an option; {fix}" if unknown else None
    option = "--" + ".".join(keys[:1] + keys[1:][-1:])  # "model" + "lr_scheduler_type"
    if unknown := PATTERNS["not_accepted"].search(message):
        owner = PATTERNS["class_path"].search(message)
        return (f"--{keys[0]}.{unknown.group(1)} is not an option"
                f"{' of ' + owner.group(1) if owner else ''}; {fix}")
    expected = PATTERNS["expected"].findall(message)
    if len(expected) == 1:
        wanted, value = expected[0]
        if wanted.startswith("typing.Literal["):
            choices = wanted.removeprefix("typing.Literal[").removesuffix("]").replace("'", "")
            return f"{option}={value} is not one of {choices}; pass one of them."
        name = wanted.removeprefix("<class '").removesuffix("'>")
        kind = _TYPES.get(name, f"a {name}")
        return f"{option}={value} is not {kind}; pass {kind}."
    given = PATTERNS["given"].findall(message)
    typed = [value for value in given if "NestedArg" not in value and "Namespace(" not in value]
    wanted = {name for name in PATTERNS["expected_type"].findall(message) if name != "NoneType"}
    if typed and len(wanted) == 1:  # e.g. one sentence where a list of them is expected
        kind = _TYPES.get(next(iter(wanted)), f"a {next(iter(wanted))}")
        return f"{option}={typed[0]} is not {kind}; pass {kind}."
    if given and "NestedArg" not in given[-1] and "Namespace(" not in given[-1]:
        return f"{option}={given[-1]} is not a value this option takes; see its choices with --help."
    return None


def unknown_option(message: str, ex: BaseException | None) -> tuple[str | None, str | None] | None:
    """(the option as typed, the class it was given to) when the error is an unknown option, else None; the option
    is None when the message names it in a form no pattern reads (a misplaced key in a config file)."""
    if unrecognized := PATTERNS["unrecognized"].search(message):
        return unrecognized.group(1).split("=", 1)[0], None
    if not any(isinstance(error, KeyError) for error in _chain(ex)):
        return None
    if group := PATTERNS["group_option"].search(message):
        return f"--{group.group(1)}.{group.group(2)}", None
    keys, name = PATTERNS["parser_key"].findall(message), PATTERNS["not_accepted"].search(message)
    if name is None:
        return None, None
    if not keys:  # a top-level key of a config file
        return f"--{name.group(1)}", None
    owner = PATTERNS["class_path"].search(message)
    return f"--{keys[0]}.{name.group(1)}", owner.group(1) if owner else None


def option_hint(message: str, ex: BaseException | None, known_options) -> str | None:
    """"did you mean ...?" for an unknown option: ours for a Hugging Face name (`hf_names`), else the closest of
    `known_options` (or of the options of the class it was given to)."""
    from lightning_app.parsing.hf_names import hint_for

    unknown = unknown_option(message, ex)
    if unknown is None:
        return None
    if (foreign := hint_for(message)) is not None:
        return foreign
    option, owner = unknown
    if option is None:
        return None
    candidates = class_options(owner, option[2:].split(".")[0]) if owner else known_options
    close = difflib.get_close_matches(option, candidates, n=1)
    return f"check the spelling: did you mean {close[0]}?" if close else None


def class_options(class_path: str, section: str) -> tuple[str, ...]:
    """`--section.name` for each option jsonargparse builds from the class's signature (parents' included)."""
    from jsonargparse import ArgumentParser

    module, name = class_path.rsplit(".", 1)
    try:
        added = ArgumentParser(exit_on_error=False).add_class_arguments(getattr(importlib.import_module(module), name),
                                                                        section)
    except (ImportError, AttributeError, ValueError):
        return ()
    return tuple(f"--{key}" for key in added)


def option_strings(parser) -> tuple[str, ...]:
    """Every `--option` a parser accepts (argparse keeps them in `_option_string_actions`; no public accessor)."""
    return tuple(option for option in parser._option_string_actions if option.startswith("--"))


def _chain(error: BaseException | None, depth: int = 20):
    while error is not None and depth > 0:
        yield error
        error, depth = error.__cause__ or error.__context__, depth - 1
