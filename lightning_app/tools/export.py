"""`python main.py export`: a checkpoint as a plain Hugging Face directory (network, config, tokenizer, model card).

    python main.py export --ckpt_path runs/custom_mlm/version_0/checkpoints/last.ckpt --output_dir exports/mlm
    python main.py export --config configs/custom_mlm.yaml --ckpt_path best --output_dir exports/mlm

The result loads anywhere without this project, with transformers 4.48 or newer: masked LM ->
`pipeline("fill-mask")`, MRPC classifier -> `pipeline("text-classification")` (labels `not_equivalent`/`equivalent`,
sentence pairs), causal LM -> `pipeline("text-generation")` (stops at the end token). A trained tokenizer travels
with the checkpoint. `README.md` is a model card: task, base model, data files, metrics with their split, the export
command and the commit. `--overwrite true` replaces only an earlier export (see lightning_app/tools/export_target.py).
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from foundation.errors import ConfigError
from lightning_app.checkpointing.checkpoints import load_checkpoint
from lightning_app.tools.export_target import check_output_dir, write_export
from lightning_app.tools.model_card import is_local_path, model_card
from models.building import quiet_transformers

# Keys transformers writes into tokenizer_config.json that describe how *this* machine loaded the files, not the
# tokenizer: an export carrying `local_files_only: true` would keep a downloader from ever fetching anything.
MACHINE_LOCAL_KEYS = ("local_files_only", "is_local", "cache_dir", "_commit_hash", "token", "use_auth_token")
# transformers 5 names a plain tokenizer.json tokenizer `TokenizersBackend`; 4.x knows the same class only as
# `PreTrainedTokenizerFast` (measured: 4.48 raises "Tokenizer class TokenizersBackend does not exist"), and 5.x still
# accepts the old name, so the export writes it (tests/lightning_app/test_export_loads_in_old_and_new_transformers.py).
PORTABLE_TOKENIZER_CLASSES = {"TokenizersBackend": "PreTrainedTokenizerFast"}


def export_checkpoint(ckpt_path: str | Path, output_dir: str | Path, overwrite: bool = False,
                      command: str | None = None) -> Path:
    """Write the checkpoint's network, tokenizer and model card into `output_dir`; returns it."""
    from lightning_app.checkpointing.rebuild import rebuild

    ckpt_path = Path(ckpt_path)
    check_output_dir(output_dir, ckpt_path, overwrite)
    state = load_checkpoint(ckpt_path, mmap=False)
    with quiet_training_messages(), quiet_transformers():
        model, _, facts = rebuild(state, ckpt_path)
    command = command or shlex.join(["python", "main.py", "export", "--ckpt_path", str(ckpt_path), "--output_dir",
                                     str(output_dir)] + (["--overwrite", "true"] if overwrite else []))

    def write(directory: Path) -> None:
        with quiet_transformers():
            model.export_pretrained(directory, facts.tokenizer)
        for name in ("tokenizer_config.json", "config.json", "generation_config.json", "special_tokens_map.json"):
            if (directory / name).is_file():
                portable_json(directory / name, model.model.config)
        card = model_card(model.model, state, ckpt_path, command)
        (directory / "README.md").write_text(card, encoding="utf-8")

    return write_export(Path(output_dir), write)


def portable_json(path: Path, network_config) -> None:
    """Rewrite a saved config once: machine-local keys and local paths dropped, tokenizer class names 4.x knows, and
    a tokenizer's length capped at the network's positions."""
    settings = json.loads(path.read_text(encoding="utf-8"))
    kept = {key: value for key, value in settings.items()
            if key not in MACHINE_LOCAL_KEYS and not is_local_path(value)}
    if kept.get("tokenizer_class") in PORTABLE_TOKENIZER_CLASSES:
        kept["tokenizer_class"] = PORTABLE_TOKENIZER_CLASSES[kept["tokenizer_class"]]
    if path.name == "tokenizer_config.json":
        kept = length_within_positions(kept, network_config)
    path.write_text(json.dumps(kept, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def length_within_positions(tokenizer_settings: dict, network_config) -> dict:
    """A tokenizer that truncates at 512 in front of a network with fewer position embeddings (a small model trained
    from scratch) makes `pipeline` fail on long inputs: its `model_max_length` becomes the network's."""
    positions = getattr(network_config, "max_position_embeddings", None)
    if positions is not None and tokenizer_settings.get("model_max_length", positions + 1) > positions:
        return {**tokenizer_settings, "model_max_length": positions}
    return tokenizer_settings


@contextmanager
def quiet_training_messages() -> Iterator[None]:
    """Rebuilding the model repeats what its construction told the user at training time ("a fresh MLM head was
    initialised"); export shows only what it wrote."""
    loggers = [logging.getLogger(name) for name in ("lightning.pytorch", "lightning.fabric", "lightning_fabric")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def resolve_checkpoint(ckpt_path: str, config_files: list[str], options: list[str]) -> Path:
    """The file `--ckpt_path` names: `last`/`best` resolved exactly as `validate --config ... --ckpt_path` does."""
    from lightning_app.checkpointing.from_checkpoint import resolve_ckpt_path

    if not config_files:
        if options:
            raise ConfigError(f"{options[0]} is not an option of export, which takes --config, --ckpt_path, "
                              "--output_dir and --overwrite (option names are exact; other options only with --config, "
                              "to find last/best as validate does).")
        return resolve_ckpt_path(ckpt_path, None)
    from lightning_app.parsing.lightning_cli import BertCLI

    class _Found(Exception):
        pass

    class CheckpointFinder(BertCLI):
        def parse_arguments(self, parser, args) -> None:
            super().parse_arguments(parser, args)  # resolves --ckpt_path (and refuses another task's checkpoint)
            raise _Found(self.config["validate"]["ckpt_path"])

    configs = [token for name in config_files for token in ("--config", name)]
    try:
        CheckpointFinder(["validate", *configs, "--ckpt_path", ckpt_path, *options])
    except _Found as found:
        return Path(str(found))
    raise ConfigError(f"--ckpt_path {ckpt_path}: no checkpoint found; pass the path of a .ckpt file.")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="main.py export", description=__doc__, allow_abbrev=False,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", "-c", action="append", default=[],
                        help="the run's config (or the shipped one it started from): finds `last`/`best`; other "
                             "`--trainer...` options after it are read as `validate` reads them")
    parser.add_argument("--ckpt_path", required=True, help="a .ckpt file, or last/best of the config's newest run")
    parser.add_argument("--output_dir", required=True, help="new (or empty) directory for the Hugging Face files")
    parser.add_argument("--overwrite", default="false", choices=["true", "false"],
                        help="replace an earlier export in --output_dir (never any other directory)")
    argv = list(sys.argv[1:] if argv is None else argv)
    args, options = parser.parse_known_args(argv)
    try:
        from lightning_app.parsing.config_files import check_config_files
        from lightning_app.parsing.console import quiet_console

        quiet_console()
        check_config_files(args.config)
        ckpt_path = resolve_checkpoint(args.ckpt_path, args.config, options)
        path = export_checkpoint(ckpt_path, args.output_dir, args.overwrite == "true",
                                 shlex.join(["python", "main.py", "export", *argv]))
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"Wrote {path} from {ckpt_path} (model card: README.md)")
