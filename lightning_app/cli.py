"""The command line behind `main.py`: LightningCLI's subcommands and the project's tools, in one registry.

    python main.py fit --config configs/custom_mlm.yaml
    python main.py validate --ckpt_path runs/custom_mlm/version_0/checkpoints/last.ckpt   # the checkpoint is enough
    python main.py fit --config configs/custom_mlm.yaml --ckpt_path last                  # resume a stopped run
    python main.py export --ckpt_path ... --output_dir exports/mlm
    python main.py report runs/custom_mlm/version_0
"""

from __future__ import annotations

import importlib
import sys

from lightning_app.parsing.command_line import CommandLine

# Subcommands: LightningCLI's four, then the tools (module:function taking the remaining arguments). Listed by
# `python main.py --help`, which answers without importing torch or Lightning.
SUBCOMMANDS = {
    "fit": ("Train (or resume with --ckpt_path last).", None),
    "validate": ("Score the validation set; --ckpt_path alone rebuilds model and data from the checkpoint.", None),
    "test": ("Score the test set (test perplexity, test accuracy/F1).", None),
    "predict": ("Predictions (fill-mask, MRPC.tsv, generations) into the run's evaluations/ folder.", None),
    "export": ("Write a checkpoint as a Hugging Face directory for transformers.pipeline.",
               "lightning_app.tools.export:main"),
    "report": ("A run's final and best metrics, and its curves.png.", "lightning_app.tools.report:main"),
    "lm-report": ("Causal-LM analysis: per-example CE, two checkpoints compared, BCE on/off table.",
                  "lightning_app.tools.lm_report:main"),
}

USAGE = """usage: main.py [-h] SUBCOMMAND [-c CONFIG] [options]

Train and fine-tune BERT-family models from YAML configs (LightningCLI). Every option of a subcommand, with
its documentation: python main.py SUBCOMMAND --help. The resolved config: add --print_config.

subcommands:
{rows}

Options are also read from PL_<SUBCOMMAND>__<SECTION>__<OPTION> environment variables, e.g.
PL_FIT__TRAINER__MAX_STEPS=100."""


def cli_main(args: list[str] | None = None, run: bool = True):
    """Entry point of `main.py`; tests call it with an argument list (or `run=False` to only build objects)."""
    argv = list(sys.argv[1:] if args is None else args)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE.format(rows="\n".join(f"  {name:<10} {text}" for name, (text, _) in SUBCOMMANDS.items())))
        raise SystemExit(0 if argv else 2)
    line = CommandLine.parse(argv)
    if line.help_requested and line.subcommand is not None:
        _print_config_help(line)
    tool = SUBCOMMANDS.get(argv[0], (None, None))[1]
    if tool is not None:
        module, function = tool.split(":")
        return getattr(importlib.import_module(module), function)(argv[1:])
    from lightning_app.parsing.lightning_cli import run_lightning_cli

    return run_lightning_cli(argv, run, from_sys_argv=args is None)


def _print_config_help(line: CommandLine) -> None:
    """`fit --config X --help`: the options of the classes X chooses, read from their source in well under a second
    (`config_help`); without a chosen class, or one whose source is not found, LightningCLI's help answers."""
    from lightning_app.parsing.config_help import render

    line.keep_environment(("model", "data", "config"))
    text = render(line) if line.config_files or {"model", "data"} & set(line.values) else None
    if text is not None:
        print(text)
        raise SystemExit(0)
