"""What a checkpoint records about its run, so the checkpoint alone is enough to evaluate, predict or export.

Lightning already stores the model's and the data module's constructor arguments (`hyper_parameters`,
`datamodule_hyper_parameters`). `RunRecord` adds, under `checkpoint["toolkit"]`: both classes, the files of the
tokenizer the run actually used (loaded from a path, the model's own, or trained on the corpus), as bytes, and the
path, size and content hash of each data file the fit read (`data_files`). A checkpoint copied to another machine,
or whose run directory was deleted, still scores with the right tokenizer; a resume on an edited data file, and an
export's model card, can say which data the weights saw.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import lightning as L

from data_modules.caching import default_cache_dir, entry_problem, file_fingerprint, save_directory_atomically
from foundation.errors import ConfigError

FORMAT = 1


def tokenizer_files(tokenizer) -> dict[str, bytes]:
    """{file name: content} of `tokenizer.save_pretrained`."""
    with tempfile.TemporaryDirectory() as directory:
        tokenizer.save_pretrained(directory)
        return {path.name: path.read_bytes() for path in Path(directory).iterdir() if path.is_file()}


def recorded_tokenizer_dir(state: dict, cache_dir: Path | None = None) -> Path | None:
    """The recorded tokenizer written to a directory keyed by its content (reused across calls), or None."""
    files = state.get("toolkit", {}).get("tokenizer_files")
    if not files:
        return None
    digest = hashlib.sha256(b"".join(name.encode() + content for name, content in sorted(files.items())))
    target = (cache_dir or default_cache_dir()) / f"tokenizer-from-checkpoint-{digest.hexdigest()[:16]}"
    if entry_problem(target) is not None:  # missing, or damaged (then rebuilt with a warning)
        def write(directory: str) -> None:
            for name, content in files.items():
                (Path(directory) / Path(name).name).write_bytes(content)  # names only: never a path outside

        save_directory_atomically(target, write)
    return target


class RunRecord(L.Callback):
    """Adds the model and data classes and the data's tokenizer files to every checkpoint (module docstring)."""

    def __init__(self):
        self._record: dict | None = None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        facts = getattr(pl_module, "facts", None)
        datamodule = trainer.datamodule
        self._record = {"format": FORMAT, "model_class": _class_path(pl_module),
                        "data_class": _class_path(datamodule) if datamodule is not None else None,
                        "tokenizer_files": tokenizer_files(facts.tokenizer) if facts is not None else {}}
        if stage == "fit":  # a resume on another number of processes is refused (resume_differences)
            self._record["processes"] = trainer.world_size
        if stage == "fit" and hasattr(datamodule, "training_files"):
            try:
                files = datamodule.training_files()
            except ConfigError:  # a split this fit never reads has no file (e.g. validation switched off)
                files = {}
            self._record["data_files"] = data_file_records(files)

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        if self._record is not None:
            checkpoint["toolkit"] = self._record


def data_file_records(files: dict[str, Path]) -> dict[str, dict]:
    """{split: {"path", "bytes", "sha256"}} of the files a fit reads."""
    return {split: {"path": str(Path(path).absolute()), "bytes": Path(path).stat().st_size,
                    "sha256": file_fingerprint(Path(path))} for split, path in files.items()}


def fingerprint_now(recorded: dict) -> str | None:
    """The content hash of a recorded data file as it is now, None when it is not on this machine."""
    path = Path(recorded["path"])
    return file_fingerprint(path) if path.is_file() else None


def changed_data_files(state: dict) -> list[str]:
    """One `resume:` line per data file the checkpoint's fit read that has other content now (same path)."""
    lines, seen = [], set()
    for split, recorded in state.get("toolkit", {}).get("data_files", {}).items():
        path = Path(recorded["path"])
        if path in seen:
            continue
        seen.add(path)
        now = fingerprint_now(recorded)
        if now is not None and now != recorded["sha256"]:
            lines.append(f"resume: the {split} file {path} changed since the checkpoint was saved (sha256 "
                         f"{recorded['sha256']} -> {now}): the run continues on the file as it is now, and its place "
                         "in the epoch counts examples of the old one; start a new fit to train on the new file "
                         "from its first example.")
    return lines


def _class_path(obj) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"
