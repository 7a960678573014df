"""What the user typed: the subcommand, `--ckpt_path`, config files, and which settings were set explicitly.

"Explicit" settings (typed as flags after the subcommand, or given as `PL_<SUBCOMMAND>__...` environment variables)
win over a checkpoint's recorded settings and are never named in the "differs from the run" warning.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

SUBCOMMANDS = ("fit", "validate", "test", "predict")


@dataclass
class CommandLine:
    args: list[str]
    subcommand: str | None = None
    subcommand_index: int = -1
    ckpt_path: str | None = None
    config_files: list[str] = field(default_factory=list)
    explicit: set[str] = field(default_factory=set)  # dotted keys, e.g. "data.train_file", "trainer.max_steps"

    @classmethod
    def parse(cls, args: list[str]) -> CommandLine:
        line = cls(list(args))
        for index, token in enumerate(args):
            if token in SUBCOMMANDS and line.subcommand is None:
                line.subcommand, line.subcommand_index = token, index
        for index, token in enumerate(args):
            key, value = _flag(args, index)
            if key is None:
                continue
            if key in ("config", "c"):
                line.config_files.append(value)
            elif key == "ckpt_path":
                line.ckpt_path = value
            elif index > line.subcommand_index >= 0:
                line.explicit.add(key.replace(".init_args.", ".").removesuffix(".init_args"))
        if line.subcommand is not None:
            prefix = f"PL_{line.subcommand.upper()}__"
            line.explicit |= {name[len(prefix):].lower().replace("__", ".") for name in os.environ
                              if name.startswith(prefix)}
        return line

    def typed(self, key: str) -> bool:
        """True when `key` (e.g. "data.train_file") or a whole section above it ("data") was set explicitly."""
        parts = key.split(".")
        return any(".".join(parts[:n]) in self.explicit for n in range(1, len(parts) + 1))

    def with_checkpoint(self, ckpt_path: str, settings: list[str]) -> list[str]:
        """The arguments with `--ckpt_path` resolved and `settings` inserted after the subcommand's config files
        (so config < checkpoint settings < flags typed after them)."""
        args, position = [], self.subcommand_index + 1
        for index, token in enumerate(self.args):
            key, _ = _flag(self.args, index)
            if key in ("config", "c") and index > self.subcommand_index:
                position = index + (1 if "=" in token else 2)
        skip = set()
        for index, token in enumerate(self.args):
            key, _ = _flag(self.args, index)
            if key == "ckpt_path":
                skip |= {index} if "=" in token else {index, index + 1}
        for index, token in enumerate(self.args):
            if index == position:
                args += settings
            if index not in skip:
                args.append(token)
        if position >= len(self.args):
            args += settings
        return args + ["--ckpt_path", ckpt_path]


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
