"""What the user typed, read in one place: the subcommand, `--ckpt_path`, config files, `PL_*` environment variables,
and which settings were set explicitly. jsonargparse parses the list `arguments()` returns; nothing else in the
project reads `sys.argv` or `PL_*` variables by hand.

Precedence, lowest first (README "Where a setting comes from"):
    defaults < --config files < a checkpoint's recorded settings < PL_<SUBCOMMAND>__* variables < typed options
jsonargparse itself ranks environment variables below every `--config` given on the command line (its parse order is
defaults, environment, then the arguments in order; pinned by tests/lightning_app/test_setting_precedence.py), while
this project
promises that an environment variable counts as a typed option. So `arguments()` hands each variable to jsonargparse
as the `--key=value` flag it names, placed after the config files and the checkpoint's settings, and the parser's own
environment reading stays off.

"Explicit" settings (typed after the subcommand, or given as environment variables) win over a checkpoint's recorded
settings and are never named in the "differs from the run" warning.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

SUBCOMMANDS = ("fit", "validate", "test", "predict")
CONFIG_FLAGS = ("config", "c")


@dataclass
class CommandLine:
    args: list[str]
    subcommand: str | None = None
    subcommand_index: int = -1
    ckpt_path: str | None = None
    config_files: list[str] = field(default_factory=list)
    explicit: set[str] = field(default_factory=set)  # dotted keys, e.g. "data.train_file", "trainer.max_steps"
    values: dict[str, str | None] = field(default_factory=dict)  # explicit key -> the last value given
    environment: dict[str, str] = field(default_factory=dict)  # dotted key -> value, from PL_* variables
    variables: dict[str, str] = field(default_factory=dict)  # dotted key -> the PL_* variable that set it
    help_requested: bool = False

    @classmethod
    def parse(cls, args: list[str], environ: Mapping[str, str] | None = None) -> CommandLine:
        line = cls(list(args))
        for index, token in enumerate(args):
            if token in SUBCOMMANDS and line.subcommand is None:
                line.subcommand, line.subcommand_index = token, index
        for index, token in enumerate(args):
            line.help_requested |= token in ("-h", "--help")
            key, value = _flag(args, index)
            if key is None:
                continue
            if key in CONFIG_FLAGS:
                line.config_files.append(value)
            elif key == "ckpt_path":
                line.ckpt_path = value
            elif index > line.subcommand_index >= 0:
                line.explicit.add(_dotted(key))
                line.values[_dotted(key)] = value
        line._read_environment(os.environ if environ is None else environ)
        return line

    def _read_environment(self, environ: Mapping[str, str]) -> None:
        # jsonargparse's names: PL_<SUBCOMMAND>__<KEY> under a subcommand, PL_<KEY> without one (run=False)
        prefix = f"PL_{self.subcommand.upper()}__" if self.subcommand else "PL_"
        for name in sorted(environ):
            if name.startswith(prefix) and len(name) > len(prefix):
                key = name[len(prefix):].lower().replace("__", ".")
                self.environment[key], self.variables[_dotted(key)] = environ[name], name

    def keep_environment(self, known_sections: Iterable[str]) -> None:
        """Forget variables whose first part is not one of the parser's options (without a subcommand, `PL_` also
        starts Lightning's own variables such as PL_GLOBAL_SEED); the rest count as typed."""
        known = set(known_sections)
        self.environment = {key: value for key, value in self.environment.items() if key.split(".")[0] in known}
        for key, value in self.environment.items():
            if key in CONFIG_FLAGS:
                self.config_files.append(value)
            elif key == "ckpt_path":
                self.ckpt_path = self.ckpt_path or value  # a typed --ckpt_path wins
            else:
                self.explicit.add(_dotted(key))
                self.values.setdefault(_dotted(key), value)  # a typed option wins

    def blame_variable(self, sentence: str) -> str:
        """A refusal that starts with an option set by a `PL_*` variable and not typed, prefixed with that variable:
        the user would search the command line for the option in vain."""
        typed = {_dotted(key) for key, _ in (_flag(self.args, index) for index in range(len(self.args))) if key}
        values = {_dotted(key): value for key, value in self.environment.items()}
        for key, variable in self.variables.items():
            named = sentence.startswith((f"--{key} ", f"--{key}=")) and key not in typed
            if named or sentence.startswith(f"--{key}={values[key]} "):
                return f"environment variable {variable}: {sentence}"
        return sentence

    def blame_config_file(self, sentence: str) -> str:
        """A refusal that starts with an option nobody typed, prefixed with the last config file that sets it (as
        `blame_variable` does for variables): the user would search the command line for the option in vain."""
        match = re.match(r"--([\w.]+)(?=[ :=])", sentence)
        key = match and _dotted(match[1])
        if key is None or self.typed(key) or key in self.variables:
            return sentence
        setting = next((path for path in reversed(self.config_files) if _sets(path, key.split("."))), None)
        return sentence if setting is None else f"config file {setting}: {sentence}"

    def typed(self, key: str) -> bool:
        """True when `key` (e.g. "data.train_file") or a whole section above it ("data") was set explicitly."""
        parts = key.split(".")
        return any(".".join(parts[:n]) in self.explicit for n in range(1, len(parts) + 1))

    def arguments(self, checkpoint_settings: list[str] = (), ckpt_path: str | None = None) -> list[str]:
        """The arguments jsonargparse parses, in precedence order: what was typed, with the checkpoint's settings and
        then the environment's flags inserted after the subcommand's config files; `--ckpt_path` replaced by
        `ckpt_path` (a resolved `last`/`best`) when given."""
        environment = [f"--{key}={value}" for key, value in self.environment.items()
                       if not (ckpt_path and key == "ckpt_path")]
        position, skip = self.subcommand_index + 1, set()
        for index, token in enumerate(self.args):
            key, _ = _flag(self.args, index)
            if key in CONFIG_FLAGS and index > self.subcommand_index:
                position = index + (1 if "=" in token else 2)
            if key == "ckpt_path" and ckpt_path:
                skip |= {index} if "=" in token else {index, index + 1}
        inserted = [*checkpoint_settings, *environment]
        kept = [token for index, token in enumerate(self.args[:position]) if index not in skip]
        rest = [token for index, token in enumerate(self.args[position:], position) if index not in skip]
        return kept + inserted + rest + (["--ckpt_path", ckpt_path] if ckpt_path else [])

    def with_checkpoint(self, ckpt_path: str, settings: list[str]) -> list[str]:
        """`arguments()` with a checkpoint (kept for callers written before `arguments`)."""
        return self.arguments(settings, ckpt_path)


def _dotted(key: str) -> str:
    """`model.init_args.learning_rate` -> `model.learning_rate`: the two spellings of one setting."""
    return key.replace(".init_args.", ".").removesuffix(".init_args")


def _sets(path: str | None, keys: list[str]) -> bool:
    """Whether the YAML config file at `path` gives a value to `keys` (a class's settings may sit under init_args)."""
    try:
        node = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, TypeError, ValueError, yaml.YAMLError):  # unreadable here: named as before
        return False
    for key in keys:
        if isinstance(node, dict) and key not in node and isinstance(node.get("init_args"), dict):
            node = node["init_args"]
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    return True


def _flag(args: list[str], index: int) -> tuple[str | None, str | None]:
    """(key without dashes, value) when `args[index]` is a `--key value` / `--key=value` / `-c file` flag."""
    token = args[index]
    if token == "-c":
        return "c", args[index + 1] if index + 1 < len(args) else None
    if not token.startswith("--"):
        return None, None
    if "=" in token:
        key, value = token[2:].split("=", 1)
        return key, value
    value = args[index + 1] if index + 1 < len(args) and not args[index + 1].startswith("--") else None
    return token[2:], value
