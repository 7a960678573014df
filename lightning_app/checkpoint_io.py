"""Checkpoint writing that never leaves a half-written `last.ckpt` behind, and reading that never runs code."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from lightning_app.checkpoints import load_checkpoint


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes each checkpoint to a temporary file beside the target, then renames it into place; reads with
    `weights_only=True` whatever `TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD` says (`lightning_app.checkpoints`).

    A rename within one directory is atomic on POSIX filesystems, so a crash or a full disk during the write leaves
    the previous checkpoint intact. Remote URLs (s3://, ...) fall back to Lightning's own writer and reader.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any = None) -> None:
        if "://" in str(path):
            return super().save_checkpoint(checkpoint, path, storage_options)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
        try:
            torch.save(checkpoint, partial)
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)

    def load_checkpoint(self, path: str | Path, map_location: Any = None, weights_only: bool | None = None) -> dict:
        if "://" in str(path):
            return super().load_checkpoint(path, map_location=map_location, weights_only=True)
        return load_checkpoint(path, mmap=False)
