"""Where `export` writes, and the only directory `--overwrite true` may delete: an earlier export, nothing else.

Every export leaves `MARKER` in its directory, listing the files it wrote. `--overwrite true` replaces a directory
only when the marker is there and nothing else is: never a run directory (checkpoints, logs), the current directory
or one above it, a directory holding the checkpoint being exported, a directory a user added files to, or anything
reached through a symbolic link. Each refusal is one sentence naming `--output_dir`.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from foundation.errors import ConfigError
from foundation.leftovers import dead_leftovers, leftover_pattern, remove_leftovers, temporary_sibling
from lightning_app.checkpointing.run_dirs import check_writable

MARKER = ".written-by-export.json"


def check_output_dir(typed: str | Path, ckpt_path: Path, overwrite: bool) -> None:
    """Refuse (one `ConfigError`) an `--output_dir` that export must not write into or replace."""
    output_dir = Path(typed)
    if output_dir.is_symlink():
        raise ConfigError(f"--output_dir {typed} is a symbolic link (to {os.readlink(output_dir)}); export never "
                          "writes or deletes through a link: pass a new directory.")
    if output_dir.exists() and not output_dir.is_dir():
        raise ConfigError(f"--output_dir {typed} is a file; pass a directory path (it is created).")
    recover_interrupted_export(output_dir)
    where = _forms(output_dir)
    here = _forms(Path.cwd())
    if where & here or where & {parent for path in here for parent in path.parents}:
        what = "the current directory" if where & here else "above the current directory"
        raise ConfigError(f"--output_dir {typed} is {what}; pass a new directory for the export, e.g. exports/model.")
    if where & {parent for path in _forms(ckpt_path) for parent in path.parents}:
        raise ConfigError(f"--output_dir {typed} holds the checkpoint being exported ({ckpt_path}); pass a new "
                          "directory for the export, e.g. exports/model.")
    if output_dir.is_dir() and any(output_dir.iterdir()):
        _check_earlier_export(typed, output_dir, overwrite)
    check_writable(output_dir.parent, "--output_dir")


def _forms(path: Path) -> set[Path]:
    """The path as typed (made absolute) and with every symbolic link resolved: a link cannot hide an ancestor."""
    return {Path(os.path.abspath(path)), path.resolve()}


def _check_earlier_export(typed: str | Path, output_dir: Path, overwrite: bool) -> None:
    written = _files_written_by_export(output_dir)
    if written is None:
        names = sorted(p.name for p in output_dir.iterdir())
        raise ConfigError(f"--output_dir {typed} is not empty and was not written by export ({_listed(names)}); "
                          "--overwrite only replaces an earlier export: pass a new directory.")
    others = sorted(p.name for p in output_dir.iterdir() if p.name not in written and p.name != MARKER)
    if others:
        raise ConfigError(f"--output_dir {typed} holds an earlier export plus files export did not write "
                          f"({_listed(others)}); move them out or pass a new directory.")
    if not overwrite:
        raise ConfigError(f"--output_dir {typed} holds an earlier export; pass --overwrite true to replace it, or a "
                          "new directory.")


def _files_written_by_export(output_dir: Path) -> set[str] | None:
    """The names listed in the directory's marker, or None when it has no readable marker."""
    marker = output_dir / MARKER
    if marker.is_symlink() or not marker.is_file():
        return None
    try:
        files = json.loads(marker.read_text(encoding="utf-8")).get("files")
    except (OSError, ValueError, AttributeError):
        return None
    return {str(name) for name in files} if isinstance(files, list) else None


def _listed(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def write_export(output_dir: Path, write: Callable[[Path], None]) -> Path:
    """`write(directory)` into a temporary sibling, add the marker, then rename it into place. An earlier export
    (checked by `check_output_dir`, and again here in case files were added since) is moved aside first, put back
    if the rename fails, and removed only once the new export is in place."""
    output_dir = Path(os.path.abspath(output_dir))
    partial, replaced = temporary_sibling(output_dir), temporary_sibling(output_dir, "replaced")
    moved_aside = False
    try:
        write(partial)
        files = sorted(p.name for p in partial.iterdir())
        (partial / MARKER).write_text(json.dumps({"written_by": "python main.py export", "files": files}, indent=1)
                                      + "\n", encoding="utf-8")
        if output_dir.is_dir() and any(output_dir.iterdir()):
            _check_earlier_export(output_dir, output_dir, overwrite=True)
            output_dir.rename(replaced)
            moved_aside = True
        partial.replace(output_dir)
    except BaseException as error:
        if moved_aside and not output_dir.exists():
            replaced.rename(output_dir)
        if isinstance(error, OSError):  # a full disk, a permission: one sentence, and nothing half-written stays
            raise ConfigError(f"--output_dir {output_dir}: writing the export failed ({error.strerror or error}); "
                              "nothing was changed: free some space or pass a writable directory.") from None
        raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
        if replaced.is_dir() and not replaced.is_symlink():
            shutil.rmtree(replaced)
    return output_dir


def recover_interrupted_export(output_dir: Path) -> None:
    """Tidy up after an export of `output_dir` that was killed (its process is gone): remove its half-written
    `.NAME.partial-<host>-<pid>`. Killed between moving an earlier export aside and renaming the new one into place,
    it left the earlier one as `.NAME.replaced-<host>-<pid>`: put that back (with one line) when nothing took its
    place, and remove it when the new export did arrive."""
    output_dir = Path(os.path.abspath(output_dir))
    remove_leftovers(output_dir.parent, leftover_pattern("partial", output_dir.name))
    for leftover in dead_leftovers(output_dir.parent, leftover_pattern("replaced", output_dir.name)):
        if leftover.is_symlink() or not leftover.is_dir():
            continue  # not what write_export leaves
        if output_dir.exists():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.rename(output_dir)
            print(f"export: put back the earlier export {output_dir} from {leftover.name}, where an export that "
                  "was replacing it had been killed.", file=sys.stderr)
