"""Run one `main.py` command and keep what it measured as a record (`bench/records.py`).

    python -m bench.record_run main_job -- fit --config configs/custom_mlm.yaml

The command runs as a user would type it, with its outputs sent to a temporary directory
(`--trainer.default_root_dir`), so nothing lands in the project. The record holds the command as the docs show it,
its wall time, every validation/test scalar the run logged (step, value) and the lines it printed (stdout and
stderr, progress-bar redraws left out).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.records import PROJECT_ROOT, RECORDS_DIR, write_record
from bench.timing import ChildLoad
from lightning_app.tools.report import read_scalars

_CONSOLE_LINES = 200  # enough for the figures a README quotes
_PROGRESS = re.compile(r"\d+%\||\x1b\[|^\s*$")  # tqdm redraws share stdout with the figures


def evaluation_scalars(root: Path) -> dict[str, list[list[float]]]:
    """{tag: [[step, value], ...]} of the validation and test scalars of the one run under `root`."""
    runs = sorted(path.parent for path in root.rglob("events.out.tfevents.*"))
    if not runs:
        return {}
    scalars = read_scalars(runs[-1])
    return {tag: [[step, value] for step, value in points] for tag, points in scalars.items()
            if tag.startswith(("val/", "test/", "val_", "test_"))}


def record_run(name: str, args: list[str], directory: Path = RECORDS_DIR) -> Path:
    with tempfile.TemporaryDirectory(prefix="record-run-") as root:
        extra = ["--trainer.default_root_dir", root] if args and args[0] == "fit" else []
        started = time.perf_counter()
        with ChildLoad() as load:
            done = subprocess.run([sys.executable, "main.py", *args, *extra], cwd=PROJECT_ROOT, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        wall = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"error: `python main.py {' '.join(args)}` exited {done.returncode}; no record written.")
        printed = [line for line in done.stdout.replace("\r", "\n").splitlines() if not _PROGRESS.search(line)]
        record = {"command": "python main.py " + " ".join(args), "wall_s": round(wall, 1),
                  "other_load": load.other_load,  # share of the machine other processes used meanwhile
                  "scalars": evaluation_scalars(Path(root)), "console": printed[-_CONSOLE_LINES:]}
    return write_record(name, record, directory)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", help="the record's name (bench/results/records/NAME.json)")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="-- then the main.py arguments")
    options = parser.parse_args(argv)
    args = options.args[1:] if options.args[:1] == ["--"] else options.args
    print(record_run(options.name, args))


if __name__ == "__main__":
    main()
