"""Checkpoint writing that never leaves a half-written `last.ckpt` behind, and reading that never runs code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from foundation.errors import ConfigError
from foundation.leftovers import PARTIAL, remove_leftovers, written_whole
from lightning_app.checkpointing.checkpoints import load_checkpoint


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes each checkpoint to a temporary file beside the target, then renames it into place; reads with
    `weights_only=True` whatever `TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD` says (`lightning_app.checkpointing.checkpoints`).

    A rename within one directory is atomic on POSIX filesystems, so a crash or a full disk during the write leaves
    the previous checkpoint intact; a failed write stops the run with one sentence. The temporary files of killed
    processes are removed the first time this run reads or writes a checkpoint in their directory
    (`foundation.leftovers`). Remote URLs (s3://, ...) fall back to Lightning's own writer and reader.
    """

    def __init__(self):
        super().__init__()
        self._cleaned: set[Path] = set()

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any = None) -> None:
        if "://" in str(path):
            return super().save_checkpoint(checkpoint, path, storage_options)
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._remove_leftovers(path.parent)
            with written_whole(path) as partial:
                torch.save(checkpoint, partial)
        except OSError as error:  # a full disk, no permission: the run cannot keep its progress
            reason = error.strerror or str(error) or type(error).__name__
            raise ConfigError(f"writing the checkpoint {path} failed ({reason}); free space on that disk or make "
                              f"{path.parent} writable, then resume with --ckpt_path last.") from error

    def load_checkpoint(self, path: str | Path, map_location: Any = None, weights_only: bool | None = None) -> dict:
        if "://" in str(path):
            return super().load_checkpoint(path, map_location=map_location, weights_only=True)
        self._remove_leftovers(Path(path).parent)
        return load_checkpoint(path, mmap=False)

    def _remove_leftovers(self, directory: Path) -> None:
        if directory not in self._cleaned:
            self._cleaned.add(directory)
            remove_leftovers(directory, PARTIAL)
