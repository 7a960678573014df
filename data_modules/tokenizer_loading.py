"""Loading a tokenizer from a directory, a hub id or the embedded model, and keeping trained tokenizers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from lightning.pytorch.utilities import rank_zero_info

from data_modules.caching import entry_problem, save_directory_atomically
from foundation.errors import ConfigError
from foundation.hub import resolve_pretrained


def load_tokenizer(name_or_path: str | None, option: str = "--data.tokenizer"):
    """A fast tokenizer from a local directory, a hub id, or None for the embedded MiniLM (bert-base-uncased)."""
    from transformers import AutoTokenizer

    directory = resolve_pretrained(name_or_path, option, need="tokenizer_config.json")
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(directory), use_fast=True)
    except (OSError, ValueError, TypeError) as error:
        raise ConfigError(f"{option}: no usable tokenizer in {directory} ({error.__class__.__name__}); pass a "
                          "directory with tokenizer.json or vocab.txt.") from error
    if len(tokenizer) <= len(tokenizer.all_special_tokens):  # transformers accepts a config without any vocab
        raise ConfigError(f"{option}: {directory} has a tokenizer config but no vocabulary (vocab.txt / "
                          "tokenizer.json); pass the complete directory written by `save_pretrained`.")
    return tokenizer


def saved_or_trained_tokenizer(directory: Path, train: Callable[[], object], description: str):
    """The tokenizer saved in `directory`; if there is none, `train()` one, save it there, and say so.

    The directory's name should encode everything the tokenizer depends on (corpus fingerprint, vocabulary size),
    so a changed corpus trains a new one instead of reusing a stale one.
    """
    from transformers import AutoTokenizer

    if entry_problem(directory) is not None:  # missing, or damaged (then rebuilt with a warning)
        tokenizer = train()
        save_directory_atomically(directory, tokenizer.save_pretrained)
        rank_zero_info(f"Trained {description} with {len(tokenizer):,} tokens; saved in {directory}")
    return AutoTokenizer.from_pretrained(str(directory), use_fast=True)
