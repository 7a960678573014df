"""DDP's own overhead on CPU: 2 processes x 1 thread against 1 process x 2 threads, MLM mini config, samples/s.

    python bench/ddp_overhead.py                 # WikiText-2, 3 interleaved rounds of 60 steps (on a quiet machine)
    python bench/ddp_overhead.py --smoke         # 400 lines of WikiText-2, 1 round of 4 steps (a check, not a figure)

Both sides run `main.py fit --config configs/wikitext2_bert_mini.yaml` with the same global batch (1 x 16 and
2 x 8), no validation and no checkpoints, and take the same optimizer steps; the 2-process side uses the DDP settings
of `configs/trainer/ddp.yaml`, the preset users start from. On this 2-core machine both use both
cores, so the ratio measures DDP's cost (gradient all-reduce over gloo, the process group, a second data loader),
not scaling. Speed: optimizer steps/s between step `--warmup` and the last step, from the wall times the run logs
for every step; samples/s = steps/s x global batch. The rounds alternate the sides (this machine's speed drifts
over minutes) and each side's median is compared; goal: 2 x 1 reaches >= 90% of 1 x 2.

A third side, `2x1_no_allreduce`, is the 2 x 1 run with DDP's gradient all-reduce skipped (a communication hook that
keeps each rank's own gradients, so its ranks drift apart: a timing, not training). The gap between it and `2x1`
is what the reduction costs; the gap between it and `1x2`, the rest of DDP. It is not part of the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from records import provenance
from timing import ChildLoad

ROOT = Path(__file__).resolve().parents[1]
SIDES = {"1x2": (1, 2), "2x1": (2, 1), "2x1_no_allreduce": (2, 1)}  # name -> (processes, threads per process)
SKIPPED = "ddp_overhead: the all-reduce is skipped on rank"


def small_wikitext(work: Path, lines: int = 400) -> Path:
    source = ROOT.parent / "shared" / "data" / "wikitext-2" / "wiki.train.tokens"
    text = "\n".join(source.read_text(encoding="utf-8").splitlines()[:lines]) + "\n"
    folder = work / "wikitext-2-small"
    folder.mkdir(parents=True, exist_ok=True)
    for split in ("train", "valid", "test"):
        (folder / f"wiki.{split}.tokens").write_text(text, encoding="utf-8")
    return folder


def run_side(name: str, args, work: Path, data_dir: Path | None) -> dict:
    processes, threads = SIDES[name]
    save_dir = work / name
    program = [__file__, "--child_without_allreduce", "--"] if name == "2x1_no_allreduce" else [str(ROOT / "main.py")]
    command = [sys.executable, *program, "fit", "--config",
               str(ROOT / "configs" / "wikitext2_bert_mini.yaml"), "--trainer.accelerator", "cpu",
               "--trainer.devices", str(processes), "--trainer.strategy", ddp_strategy() if processes > 1 else "auto",
               "--trainer.max_steps", str(args.steps), "--trainer.limit_val_batches", "0",
               "--trainer.num_sanity_val_steps", "0", "--trainer.enable_checkpointing", "false",
               "--trainer.callbacks", "[]", "--trainer.log_every_n_steps", "1", "--trainer.enable_progress_bar",
               "false", "--trainer.logger.init_args.save_dir", str(save_dir),
               "--data.init_args.batch_size", str(args.global_batch // processes),
               *(["--data.init_args.data_dir", str(data_dir)] if data_dir else [])]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "LBT_CACHE_DIR": str(work / "cache")}
    with ChildLoad() as load:
        done = subprocess.run(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode:
        raise SystemExit(f"the {name} run failed:\n{done.stderr[-3000:]}")
    skipped = {line.split()[-1] for line in done.stderr.splitlines() if line.startswith(SKIPPED)}
    if name == "2x1_no_allreduce" and skipped != {str(rank) for rank in range(processes)}:  # Lightning changed
        raise SystemExit(f"the {name} run skipped the all-reduce on ranks {sorted(skipped)}, not on all {processes}")
    from lightning_app.tools.report import read_scalars

    run_dir = next(save_dir.glob("*/version_*"))
    logged = read_scalars(run_dir)["train/effective_batch_size"][0][1]  # batch x accumulation x processes
    if logged != args.global_batch:
        raise SystemExit(f"the {name} run trained with an effective batch of {logged}, not {args.global_batch}")
    return {"samples_per_s": round(steps_per_s(save_dir, args.warmup) * args.global_batch, 2),
            "other_load": load.other_load}


def child_without_allreduce(argv: list[str]) -> None:
    """`main.py` whose DDP keeps each rank's gradients. Lightning registers DDP communication hooks on CUDA only
    (`DDPStrategy._register_ddp_hooks`), so this one is added after its `configure_ddp`; Lightning starts the second
    rank with this script's command line, so both ranks get it."""
    from lightning.pytorch.strategies import DDPStrategy

    from lightning_app.cli import cli_main

    configure_ddp = DDPStrategy.configure_ddp

    def configure_ddp_without_allreduce(self) -> None:
        configure_ddp(self)
        self.model.register_comm_hook({"rank": self.global_rank, "said": False}, _keep_local_gradients)

    DDPStrategy.configure_ddp = configure_ddp_without_allreduce
    cli_main(argv)


def _keep_local_gradients(state, bucket):  # no annotations: DDP compares them with real classes, these are strings
    """Each rank's own gradients, unreduced; says so once on stderr, which `run_side` checks for every rank."""
    import torch

    if not state["said"]:
        print(f"{SKIPPED} {state['rank']}", file=sys.stderr, flush=True)
        state["said"] = True
    kept = torch.futures.Future()
    kept.set_result(bucket.buffer())
    return kept


def ddp_strategy() -> str:
    """The strategy of the DDP preset, as a command-line value."""
    preset = yaml.safe_load((ROOT / "configs" / "trainer" / "ddp.yaml").read_text(encoding="utf-8"))
    return json.dumps(preset["trainer"]["strategy"])


def steps_per_s(save_dir: Path, warmup: int) -> float:
    """Optimizer steps/s from step `warmup` to the last, by the wall times of the logged `train/loss`."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir = max(save_dir.glob("*/version_*"), key=lambda p: p.stat().st_mtime)
    events = [e for e in EventAccumulator(str(run_dir)).Reload().Scalars("train/loss") if e.step >= warmup]
    return (events[-1].step - events[0].step) / (events[-1].wall_time - events[0].wall_time)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--global-batch", type=int, default=16)
    parser.add_argument("--smoke", action="store_true", help="400 lines, 4 steps, 1 round: checks that it runs")
    parser.add_argument("--child_without_allreduce", action="store_true", help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()
    if args.child_without_allreduce:
        return child_without_allreduce(rest[1:] if rest[:1] == ["--"] else rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.smoke:
        args.steps, args.warmup, args.rounds = 4, 1, 1
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory(prefix="ddp_overhead_") as tmp:
        work = Path(tmp)
        data_dir = small_wikitext(work) if args.smoke else None
        rates: dict[str, list[float]] = {name: [] for name in SIDES}
        loads: dict[str, list] = {name: [] for name in SIDES}
        for index in range(args.rounds):
            for name in SIDES:
                result = run_side(name, args, work / f"round{index}", data_dir)
                rates[name].append(result["samples_per_s"])
                loads[name].append(result["other_load"])
    median = {name: statistics.median(values) for name, values in rates.items()}
    ratio = round(median["2x1"] / median["1x2"], 3)
    print(json.dumps({"bench": "ddp_overhead", "config": "wikitext2_bert_mini", "smoke": args.smoke,
                      "global_batch": args.global_batch, "steps": args.steps, "warmup": args.warmup,
                      "rounds": args.rounds, "samples_per_s": rates, "other_load": loads,
                      "median_samples_per_s": median, "ratio_2x1_over_1x2": ratio, "goal": 0.9,
                      "met": None if args.smoke else ratio >= 0.9, **provenance()}), flush=True)


if __name__ == "__main__":
    main()
