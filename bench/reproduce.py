"""Reproduce the five reference recipes (../shared/RECIPES.md) with our shipped configs, side by side with the
Hugging Face peer, and render `docs/reproduction.md` from the JSON records.

    python -m bench.reproduce --recipe all --peer        # everything: ~3 h on 2 CPU cores, the WikiText-2 peer ~1.5 h
    python -m bench.reproduce --recipe all --peer --resume   # the same, keeping every part still current
    python -m bench.reproduce --recipe bce_lm            # one recipe, ours only
    python -m bench.reproduce --recipe all --smoke --results_dir /tmp/r --docs /tmp/r.md   # tiny budget, minutes
    python -m bench.reproduce --dry-run                  # print the commands, re-render from existing records

One record per recipe in `--results_dir` (figure, wall time, exact commands, commit, date, machine, versions; the
peer's part has its own under "peer_run"); the rendered page shows whatever records exist, and "not run yet" with
the command for the rest. A record is written after our part and again after the peer's, each time whole, so an
interrupted run loses at most the part that was running, and `--resume` goes on from there. A recipe that fails is
reported on stderr and leaves its last complete record in place.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

from bench.records import git, write_json_whole
from bench.records import provenance as records_provenance
from bench.reproduce_recipes import RECIPES
from bench.reproduce_render import render
from bench.reproduce_runs import ROOT, Budget

RESULTS = ROOT / "bench" / "results" / "reproduce"
DOCS = ROOT / "docs" / "reproduction.md"


# Paths that are not the measured code: this command's own outputs, the docs and the tests
NOT_CODE = [":(exclude)docs", ":(exclude)bench/results", ":(exclude)tests", ":(exclude)*.md"]
# The reproducer itself (which commands to run, how to render): a record keeps the commands it ran, so a change here
# does not make a record stale; leave out --resume to re-measure anyway
REPRODUCER = [":(exclude)bench/reproduce*.py"]


def provenance() -> dict:
    """`bench.records.provenance()` with the full commit: `stale` compares a record's code with it by `git diff`."""
    commit = git("rev-parse", "HEAD", cwd=ROOT).stdout.strip()
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".", *NOT_CODE, cwd=ROOT).stdout.strip()
    return {**records_provenance(), "commit": commit + ("+local changes" if dirty else "")}


def bench_scripts_run(commands: list[str]) -> set[str]:
    """The bench/*.py files `commands` run, with the bench modules they import (by name, transitively)."""
    pending = [name for command in commands for name in re.findall(r"\bbench[/.](\w+)", command)]
    found: set[str] = set()
    while pending:
        name = pending.pop()
        path = ROOT / "bench" / f"{name}.py"
        if name not in found and path.is_file():
            found.add(name)
            pending += re.findall(r"^\s*(?:from|import)\s+(?:bench\.)?(\w+)", path.read_text(), re.MULTILINE)
    return {f"bench/{name}.py" for name in found}


def stale_reason(part: dict, smoke: bool) -> str | None:
    """Why a record's part (its provenance and budget) no longer measures this code; None when it still does.
    Measured code: everything but NOT_CODE and the reproducer, less the bench scripts its commands did not run."""
    commit = part["commit"]
    if part.get("smoke", False) != smoke:
        return "made with the other budget (--smoke)"
    if commit.endswith("+local changes"):
        return f"made from uncommitted changes on {commit[:7]}"
    changed = git("diff", "--name-only", commit, "--", ".", *NOT_CODE, *REPRODUCER, cwd=ROOT)
    if changed.returncode != 0:
        return f"commit {commit[:7]} is not in this clone"
    files = changed.stdout.split()
    if "commands" in part:  # a record without them: every bench script counts
        run = bench_scripts_run(part["commands"])
        files = [name for name in files if not re.fullmatch(r"bench/[^/]+\.py", name) or name in run]
    return f"{len(files)} file(s) changed since {commit[:7]}, e.g. {files[0]}" if files else None


def _timed_part(function, budget: Budget, *args) -> dict:
    started = provenance()  # the code that runs is the code at the start (a commit made meanwhile is not it)
    start = time.perf_counter()
    result = function(budget, *args)
    return {**result, "wall_s": round(time.perf_counter() - start, 1), "commands": budget.commands, **started}


def run_ours(name: str, args: argparse.Namespace, workdir: Path) -> dict:
    part = _timed_part(RECIPES[name].ours, Budget(out=workdir / name, smoke=args.smoke))
    return {"recipe": name, **part, "smoke": args.smoke, "peer_requested": False}


def add_peer(record: dict, args: argparse.Namespace, workdir: Path) -> dict:
    """`record` with the peer's figures and, under "peer_run", the peer's own wall time, commands and provenance."""
    part = _timed_part(RECIPES[record["recipe"]].peer, Budget(out=workdir / f"{record['recipe']}_peer",
                                                              smoke=args.smoke), record)
    run = {key: part.pop(key) for key in ("wall_s", "commands", "commit", "date", "machine", "versions")}
    return {**record, **part, "peer_requested": True, "peer_run": {**run, "smoke": args.smoke}}


def peer_stale_reason(record: dict, smoke: bool) -> str | None:
    if "peer_run" in record:
        return stale_reason(record["peer_run"], smoke)
    # a record from before parts were separate: its peer ran in the same go as ours, or not at all
    return None if record.get("peer_requested", True) else "not run yet"


def read_records(results: Path) -> dict[str, dict]:
    return {path.stem: json.loads(path.read_text()) for path in sorted(results.glob("*.json"))}


def write_record(results: Path, record: dict) -> None:
    write_json_whole(results / f"{record['recipe']}.json", record)  # replaced whole or not at all


def reproduce(name: str, record: dict | None, args: argparse.Namespace, workdir: Path) -> None:
    """Run what `name` still needs (all of it, unless --resume keeps a part that is current) and write its record
    after each part, so an interrupted or failed peer never costs our part."""
    why = "no record" if record is None else stale_reason(record, args.smoke) if args.resume else "without --resume"
    if not why:
        print(f"{name}: keeping our part from {record['commit'][:7]} ({record['date'][:10]})", flush=True)
    elif args.dry_run:
        print(f"would run {name}{' with its peer' if args.peer else ''} ({why})")
        return
    else:
        print(f"{name}: running ({why}) ...", flush=True)
        record = run_ours(name, args, workdir)
        write_record(args.results_dir, record)
        print(f"{name}: figure {record['figure']} in {record['wall_s']} s", flush=True)
    if not args.peer:
        return
    peer_why = "our part re-ran" if why else peer_stale_reason(record, args.smoke)
    if not peer_why:
        print(f"{name}: keeping the peer's part", flush=True)
    elif args.dry_run:
        print(f"would run {name}'s peer ({peer_why})")
    else:
        print(f"{name}: running the peer ({peer_why}) ...", flush=True)
        record = add_peer(record, args, workdir)
        write_record(args.results_dir, record)
        print(f"{name}: peer in {record['peer_run']['wall_s']} s", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reproduce", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", choices=["all", *RECIPES], default="all")
    parser.add_argument("--peer", action="store_true", help="also run the Hugging Face peer on the same budget")
    parser.add_argument("--resume", action="store_true",
                        help="keep each part (ours, the peer's) whose record still measures this code: made at a "
                             "commit whose code equals the working tree's, the reproducer's own files and the bench "
                             "scripts the part did not run aside")
    parser.add_argument("--smoke", action="store_true", help="a few batches per run: checks the pipeline, not figures")
    parser.add_argument("--dry-run", action="store_true", help="run nothing; print the plan and re-render")
    parser.add_argument("--results_dir", type=Path, default=RESULTS)
    parser.add_argument("--docs", type=Path, default=DOCS)
    parser.add_argument("--workdir", type=Path, help="where runs go (default: a temporary folder)")
    args = parser.parse_args(argv)
    names = list(RECIPES) if args.recipe == "all" else [args.recipe]
    existing = read_records(args.results_dir)
    failed = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="reproduce_") as tmp:
        for name in names:
            try:
                reproduce(name, existing.get(name), args, args.workdir or Path(tmp))
            except (RuntimeError, KeyError, ValueError) as error:
                print(f"{name}: failed: {error}", file=sys.stderr)
                failed.append(name)
    render(read_records(args.results_dir), args.docs)
    print(f"Rendered {args.docs} from {args.results_dir} ({time.perf_counter() - start:.0f} s in all)")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
