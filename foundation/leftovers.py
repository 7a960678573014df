"""Left-overs of killed processes: temporary files named after the machine and the process that wrote them.

Our writers (`AtomicCheckpointIO`, the tokenized-data cache, export, evaluation records) write under a temporary
name beside the target, `.NAME.partial-<host>-<pid>`, and rename into place when done; a process killed mid-write
(SIGKILL, OOM killer, power loss) leaves that temporary file behind, possibly hundreds of MB. The next run that
opens the directory removes it, but only a name of that pattern, written on this machine by a process that no
longer runs. The host is in the name because a directory may be on a disk several machines share (a cluster's
home or scratch): a process id says nothing about another machine, so another machine's temporary file, which may
be a checkpoint or cache entry being written there right now, is never touched (its own machine removes it).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def leftover_pattern(kind: str = "partial", target: str | None = None) -> re.Pattern:
    """`.NAME.<kind>-<host>-<pid>`, NAME being `target` or any name; a name from before the host was added
    (`.NAME.partial-<pid>`) counts as this machine's."""
    name = ".+" if target is None else re.escape(target)
    return re.compile(rf"\.(?P<target>{name})\.{kind}-(?:(?P<host>[A-Za-z0-9._]+)-)?(?P<pid>\d+)")


PARTIAL = leftover_pattern()


def this_host() -> str:
    """This machine's name as it stands in temporary names: letters, digits, dots and underscores only."""
    return re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname()) or "localhost"


def temporary_sibling(path: Path, kind: str = "partial") -> Path:
    """`.NAME.<kind>-<host>-<pid>` beside `path`: where this process writes `path` before renaming it into place."""
    return path.with_name(f".{path.name}.{kind}-{this_host()}-{os.getpid()}")


def writer_gone(match: re.Match) -> bool:
    """Whether the writer of a temporary name matched by a `leftover_pattern` is a process of this machine that no
    longer runs; another machine's writer may be at work, so its files are not this machine's to judge."""
    host = match.group("host")
    return (host is None or host == this_host()) and not process_exists(int(match.group("pid")))


def dead_leftovers(directory: Path, pattern: re.Pattern) -> list[Path]:
    """The entries of `directory` whose whole name matches `pattern` (a `leftover_pattern`) and whose writer is gone
    (`writer_gone`). A missing or unreadable directory has none."""
    try:
        entries = list(directory.iterdir())
    except OSError:
        return []
    matches = ((entry, pattern.fullmatch(entry.name)) for entry in entries)
    return [entry for entry, match in matches if match is not None and writer_gone(match)]


def remove_leftovers(directory: Path, pattern: re.Pattern) -> list[Path]:
    """Remove `dead_leftovers(directory, pattern)`; returns what was removed."""
    removed = dead_leftovers(directory, pattern)
    for entry in removed:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
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
    """A temporary name beside `path` to write to (`temporary_sibling`), renamed onto `path` when the block ends
    without error and removed otherwise: never a half-written file."""
    partial = temporary_sibling(path)
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
