"""Reproduce the five reference recipes (../shared/RECIPES.md) with our shipped configs, side by side with the
Hugging Face peer, and render `docs/reproduction.md` from the JSON records.

    python -m bench.reproduce --recipe all --peer        # everything: ~3 h on 2 CPU cores, the WikiText-2 peer ~1.5 h
    python -m bench.reproduce --recipe bce_lm            # one recipe, ours only
    python -m bench.reproduce --recipe all --smoke --results_dir /tmp/r --docs /tmp/r.md   # tiny budget, minutes
    python -m bench.reproduce --dry-run                  # print the commands, re-render from existing records

One record per recipe in `--results_dir` (figure, wall time, exact commands, commit, date, machine, versions); the
rendered page shows whatever records exist, and "not run yet" with the command for the rest. A recipe that fails
is reported on stderr and leaves its previous record in place.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.reproduce_recipes import RUNNERS
from bench.reproduce_render import render
from bench.reproduce_runs import ROOT, Budget

RESULTS = ROOT / "bench" / "results" / "reproduce"
DOCS = ROOT / "docs" / "reproduction.md"


def provenance() -> dict:
    """Commit, date, machine and library versions of this run."""
    import lightning
    import torch
    import transformers

    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True,
                           text=True).stdout.strip()
    gpu = f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    return {"commit": commit + ("+local changes" if dirty else ""),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": f"{platform.machine()} {len(os.sched_getaffinity(0))} CPU cores{gpu}, OMP_NUM_THREADS="
                       f"{os.environ.get('OMP_NUM_THREADS', 'unset')}",
            "versions": {"python": platform.python_version(), "torch": torch.__version__,
                         "lightning": lightning.__version__, "transformers": transformers.__version__}}


def run_recipe(name: str, args: argparse.Namespace, workdir: Path) -> dict:
    budget = Budget(out=workdir / name, smoke=args.smoke)
    started = provenance()  # the code that runs is the code at the start (a commit made meanwhile is not it)
    start = time.perf_counter()
    result = RUNNERS[name](budget, args.peer)
    return {"recipe": name, **result, "wall_s": round(time.perf_counter() - start, 1), "commands": budget.commands,
            "smoke": args.smoke, "peer_requested": args.peer, **started}


def read_records(results: Path) -> dict[str, dict]:
    return {path.stem: json.loads(path.read_text()) for path in sorted(results.glob("*.json"))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reproduce", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", choices=["all", *RUNNERS], default="all")
    parser.add_argument("--peer", action="store_true", help="also run the Hugging Face peer on the same budget")
    parser.add_argument("--smoke", action="store_true", help="a few batches per run: checks the pipeline, not figures")
    parser.add_argument("--dry-run", action="store_true", help="run nothing; print the plan and re-render")
    parser.add_argument("--results_dir", type=Path, default=RESULTS)
    parser.add_argument("--docs", type=Path, default=DOCS)
    parser.add_argument("--workdir", type=Path, help="where runs go (default: a temporary folder)")
    args = parser.parse_args(argv)
    names = list(RUNNERS) if args.recipe == "all" else [args.recipe]
    failed = []
    with tempfile.TemporaryDirectory(prefix="reproduce_") as tmp:
        for name in names:
            if args.dry_run:
                print(f"would run {name}{' with its peer' if args.peer else ''}")
                continue
            print(f"{name}: running ...", flush=True)
            try:
                record = run_recipe(name, args, args.workdir or Path(tmp))
            except (RuntimeError, KeyError, ValueError) as error:
                print(f"{name}: failed: {error}", file=sys.stderr)
                failed.append(name)
                continue
            args.results_dir.mkdir(parents=True, exist_ok=True)
            (args.results_dir / f"{name}.json").write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")
            print(f"{name}: figure {record['figure']} in {record['wall_s']} s", flush=True)
    render(read_records(args.results_dir), args.docs)
    print(f"Rendered {args.docs} from {args.results_dir}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
