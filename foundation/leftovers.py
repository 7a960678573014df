"""Left-overs of killed processes: temporary files whose name ends in the id of the process that wrote them.

Our writers (`AtomicCheckpointIO`, the tokenized-data cache) write under a temporary name carrying their process id
and rename into place when done; a process killed mid-write (SIGKILL, OOM killer, power loss) leaves that temporary
file behind, possibly hundreds of MB. The next run that opens the directory removes it, but only a name matching
the writer's own pattern, and only when no process with that id is alive (a concurrent writer keeps its file).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def remove_leftovers(directory: Path, pattern: re.Pattern) -> list[Path]:
    """Remove the entries of `directory` whose whole name matches `pattern` (group `pid`: the writer's process id)
    and whose writer no longer runs; returns what was removed. A missing or unreadable directory has none."""
    try:
        entries = list(directory.iterdir())
    except OSError:
        return []
    removed = []
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match is None or process_exists(int(match.group("pid"))):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


def process_exists(pid: int) -> bool:
    """Whether a process with this id runs on this machine (signal 0 checks without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    except OverflowError:  # not a possible process id
        return False
    return True


@contextmanager
def written_whole(path: Path) -> Iterator[Path]:
    """A temporary name beside `path` to write to (`.NAME.partial-<pid>`, the pattern our file writers' leftovers
    have), renamed onto `path` when the block ends without error and removed otherwise: never a half-written file."""
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
