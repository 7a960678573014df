"""`python main.py export`: a checkpoint as a plain Hugging Face directory (network, config, tokenizer).

    python main.py export --ckpt_path runs/custom_mlm/version_0/checkpoints/last.ckpt --output_dir exports/mlm

The result loads anywhere without this project: masked LM -> `pipeline("fill-mask")`, MRPC classifier ->
`pipeline("text-classification")` (labels `not_equivalent`/`equivalent`, sentence pairs), causal LM ->
`pipeline("text-generation")` (stops at the end token). A trained tokenizer travels with the checkpoint.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from foundation.errors import ConfigError
from lightning_app.checkpoints import load_checkpoint
from lightning_app.run_dirs import check_writable
from models.building import quiet_transformers


def export_checkpoint(ckpt_path: str | Path, output_dir: str | Path, overwrite: bool = False) -> Path:
    """Write the checkpoint's network and tokenizer into `output_dir` with `save_pretrained`; returns it."""
    from lightning_app.rebuild import rebuild

    ckpt_path, output_dir = Path(ckpt_path), Path(output_dir)
    _check_output_dir(output_dir, overwrite)
    state = load_checkpoint(ckpt_path, mmap=False)
    model, _, facts = rebuild(state, ckpt_path)
    partial = output_dir.with_name(f".{output_dir.name}.partial-{os.getpid()}")
    try:
        with quiet_transformers():
            model.export_pretrained(partial, facts.tokenizer)
        if output_dir.exists():
            shutil.rmtree(output_dir)
        partial.replace(output_dir)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return output_dir


def _check_output_dir(output_dir: Path, overwrite: bool) -> None:
    if output_dir.exists() and not output_dir.is_dir():
        raise ConfigError(f"--output_dir {output_dir} is a file; pass a directory path (it is created).")
    if output_dir.is_dir() and any(output_dir.iterdir()) and not overwrite:
        raise ConfigError(f"--output_dir {output_dir} is not empty; pass a new directory, or --overwrite true to "
                          "replace its contents.")
    check_writable(output_dir.parent, "--output_dir")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="main.py export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt_path", required=True, help="checkpoint to export (the checkpoint alone is enough)")
    parser.add_argument("--output_dir", required=True, help="new (or empty) directory for the Hugging Face files")
    parser.add_argument("--overwrite", default="false", choices=["true", "false"],
                        help="replace a non-empty output directory")
    args = parser.parse_args(argv)
    try:
        path = export_checkpoint(args.ckpt_path, args.output_dir, args.overwrite == "true")
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"Wrote {path}")
