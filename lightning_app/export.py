"""Write a trained checkpoint as a plain Hugging Face directory (model + tokenizer).

    python -m lightning_app.export --ckpt_path runs/custom_mlm/version_0/checkpoints/last.ckpt --output_dir exports/mlm

The result loads anywhere without this project: `transformers.pipeline("fill-mask", model="exports/mlm")`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import lightning as L
import torch

import models  # noqa: F401  (imports the LightningModule classes a checkpoint may name)
from data_modules.base import load_tokenizer
from lightning_app.errors import ConfigError


def export_checkpoint(ckpt_path: str | Path, output_dir: str | Path) -> Path:
    """Load a checkpoint written by this project's CLI and save its network and tokenizer with `save_pretrained`."""
    ckpt_path, output_dir = Path(ckpt_path), Path(output_dir)
    if not ckpt_path.is_file():
        raise ConfigError(f"--ckpt_path {ckpt_path} does not exist; pass a .ckpt file from a run's checkpoints/.")
    if output_dir.exists() and any(output_dir.iterdir()):
        raise ConfigError(f"--output_dir {output_dir} is not empty; pass a new directory (nothing is overwritten).")
    state = torch.load(ckpt_path, map_location="cpu", weights_only=False)
    if "_instantiator" not in state.get("hyper_parameters", {}):
        raise ConfigError(f"{ckpt_path} was not written by this project's CLI (no model class recorded); export it "
                          "with the LightningModule that trained it.")
    module = L.LightningModule.load_from_checkpoint(ckpt_path, map_location="cpu")
    tokenizer = load_tokenizer(state.get("datamodule_hyper_parameters", {}).get("tokenizer"))
    return module.export_pretrained(output_dir, tokenizer)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt_path", required=True, help="checkpoint to export")
    parser.add_argument("--output_dir", required=True, help="new directory for the Hugging Face files")
    args = parser.parse_args(argv)
    try:
        print(f"Wrote {export_checkpoint(args.ckpt_path, args.output_dir)}")
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
