"""jsonargparse's multi-line parser errors condensed into the project's one sentence (option, value, fix).

jsonargparse reports a bad value of a subclass-mode option as a tree ("Does not validate against any of the Union
subtypes ... Problem with given class_path ... Parser key ..."), after the whole usage text. The user typed one
option; `one_sentence` names it with the value and what it takes instead, or returns None for messages it does not
recognise (those keep jsonargparse's own report).
"""

from __future__ import annotations

import re

_KEY = re.compile(r'Parser key "([^"]+)":')
_CLASS = re.compile(r"Problem with given class_path '([^']+)':")
_EXPECTED = re.compile(r"Expected a (.+?)\. Got value: (.*)")
_NOT_ACCEPTED = re.compile(r"Option '([^']+)' is not accepted")
_UNRECOGNIZED = re.compile(r"unrecognized arguments: (\S+)", re.IGNORECASE)
_GIVEN = re.compile(r"^\s*Given value: (.*)$", re.MULTILINE)
_TYPES = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "text",
          "tuple": "a list such as [0.9, 0.999]", "list": "a list such as [a, b]", "dict": "a mapping such as {a: 1}"}


def one_sentence(message: str, hint: str | None = None) -> str | None:
    """The sentence for a parser `message` (`hint`: "did you mean ...?" for a Hugging Face option name), or None."""
    keys = _KEY.findall(message)
    fix = hint or "check the spelling (--help lists every option)"
    fix += "" if fix.endswith("?") else "."
    if unrecognized := _UNRECOGNIZED.search(message):
        return f"{unrecognized.group(1)} is not an option; {fix}"
    if not keys:
        return None
    option = "--" + ".".join(keys[:1] + keys[1:][-1:])  # "model" + "lr_scheduler_type"
    if unknown := _NOT_ACCEPTED.search(message):
        owner = _CLASS.search(message)
        return (f"--{keys[0]}.{unknown.group(1)} is not an option"
                f"{' of ' + owner.group(1) if owner else ''}; {fix}")
    expected = _EXPECTED.findall(message)
    if len(expected) == 1:
        wanted, value = expected[0]
        if wanted.startswith("typing.Literal["):
            choices = wanted.removeprefix("typing.Literal[").removesuffix("]").replace("'", "")
            return f"{option}={value} is not one of {choices}; pass one of them."
        name = wanted.removeprefix("<class '").removesuffix("'>")
        kind = _TYPES.get(name, f"a {name}")
        return f"{option}={value} is not {kind}; pass {kind}."
    given = _GIVEN.findall(message)
    if given and "NestedArg" not in given[-1] and "Namespace(" not in given[-1]:
        return f"{option}={given[-1]} is not a value this option takes; see its choices with --help."
    return None
