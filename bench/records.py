"""JSON records of measured figures: what was run, on what, and what it printed.

Every figure in README.md and docs/ is rendered from one of these records (`bench/render_docs.py`), never typed by
hand. A record is written by the command that measured it (`bench/record_run.py` for `main.py` runs; the benches
write their own JSON through `provenance()`), and carries the exact command, commit, date, machine and versions, so
a reader can tell where a figure came from and a test can check that the command still runs.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from foundation.leftovers import written_whole

PROJECT_ROOT = Path(__file__).resolve().parents[1]
RECORDS_DIR = PROJECT_ROOT / "bench" / "results" / "records"
_PACKAGES = ("torch", "lightning", "transformers", "datasets", "jsonargparse", "tokenizers")


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def git(*args: str, cwd: Path = PROJECT_ROOT) -> subprocess.CompletedProcess:
    """`git ARGS` in `cwd` (the project), its output captured: the caller reads the return code."""
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)


def _commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=PROJECT_ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
        return head + ("+uncommitted" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def provenance() -> dict:
    """Where and with what a measurement ran: commit, UTC date, machine, package versions."""
    return {
        "commit": _commit(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {"cpu": _cpu_name(), "cores": _usable_cores(), "gpu": _gpu_name(),
                    "omp_num_threads": os.environ.get("OMP_NUM_THREADS")},
        "versions": {"python": platform.python_version(), **{name: _version(name) for name in _PACKAGES}},
    }


def _usable_cores() -> int:
    """The cores this process may run on (a container or `taskset` may allow fewer than the machine has)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def _gpu_name() -> str | None:
    import torch

    return torch.cuda.get_device_name() if torch.cuda.is_available() else None


def machine_line(machine: dict | str) -> str:
    """A record's machine in one line (older reproduce records hold it as a line already)."""
    if isinstance(machine, str):
        return machine
    threads = machine.get("omp_num_threads")
    return (f"{machine['cpu']}, {machine['cores']} cores, {machine.get('gpu') or 'no GPU'}"
            + (f", OMP_NUM_THREADS={threads}" if threads else ""))


def write_json_whole(path: Path, data: dict) -> Path:
    """`data` as indented JSON at `path`, written beside it and renamed: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with written_whole(path) as partial:
        partial.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def write_record(name: str, record: dict, directory: Path = RECORDS_DIR) -> Path:
    """`record` plus provenance, as `directory/name.json`."""
    return write_json_whole(directory / f"{name}.json", {"name": name, **record, **provenance()})


def read_record(name: str, directory: Path = RECORDS_DIR) -> dict:
    path = directory / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"no record {path}; write it with the command in docs (python -m bench.record_run ...)")
    return json.loads(path.read_text())


def all_records(directory: Path = RECORDS_DIR) -> dict[str, dict]:
    return {path.stem: json.loads(path.read_text()) for path in sorted(directory.glob("*.json"))}
