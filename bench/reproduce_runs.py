"""Running one recipe for `bench/reproduce.py`: our CLI or a peer bench script in a child process, and the figures
read back from the run's TensorBoard events."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from lightning_app.tools.report import read_scalars

ROOT = Path(__file__).resolve().parents[1]

# A tiny budget for --smoke: every recipe still trains, validates and writes its record, in seconds
SMOKE_TRAINER = ["--trainer.max_epochs", "1", "--trainer.limit_train_batches", "4", "--trainer.limit_val_batches", "2",
                 "--trainer.num_sanity_val_steps", "0", "--trainer.log_every_n_steps", "1"]


@dataclass
class Budget:
    """Where runs go and how big they are: `smoke` shrinks every run to a few batches."""

    out: Path
    smoke: bool = False
    commands: list[str] = field(default_factory=list)  # every command run for the recipe, as typed in a shell

    def run(self, command: list[str], label: str) -> str:
        """Run `command` from the project root; its stdout, or a RuntimeError naming the log on failure."""
        self.commands.append(shlex.join(["python", *command[1:]] if command[0] == sys.executable else command))
        log = self.out / f"{label}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("w") as handle:
            done = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=handle, text=True,
                                  env={**os.environ, "PYTHONPATH": str(ROOT)})  # bench scripts import `bench.*`
        if done.returncode != 0:
            raise RuntimeError(f"`{self.commands[-1]}` exited with {done.returncode}; see {log}")
        return done.stdout

    def fit(self, config: str, label: str, *extra: str, smoke_extra: tuple[str, ...] = ()) -> Path:
        """`main.py fit` of a shipped config into a fresh save dir; the run directory it wrote."""
        save_dir = self.out / label
        command = [sys.executable, "main.py", "fit", "--config", f"configs/{config}",
                   "--trainer.logger.init_args.save_dir", str(save_dir), *extra]
        if self.smoke:
            command += [*SMOKE_TRAINER, *smoke_extra]
        self.run(command, label)
        return max((p.parent for p in save_dir.rglob("events.out.tfevents.*")), key=lambda p: p.stat().st_mtime)

    def bench(self, script: str, label: str, *args: str) -> dict:
        """A peer bench script's last JSON line."""
        return json.loads(self.run([sys.executable, script, *args], label).strip().splitlines()[-1])


def last_value(run_dir: Path, tag: str) -> float | None:
    points = read_scalars(run_dir).get(tag)
    return round(points[-1][1], 4) if points else None


def best_value(run_dir: Path, tag: str) -> float | None:
    points = read_scalars(run_dir).get(tag)
    return round(min(value for _, value in points), 4) if points else None


def last_step(run_dir: Path) -> int:
    """The run's last global step: the highest step any scalar was logged at (`train/loss` alone would miss the
    steps after its last `log_every_n_steps` multiple; the end-of-epoch validation is logged at the final step)."""
    return max(int(points[-1][0]) for points in read_scalars(run_dir).values() if points)


def steps_per_second(run_dir: Path) -> float | None:
    """Training optimizer steps/s from the TensorBoard wall times of logged `train/loss` points, over the longest
    stretch with no validation in between (as `bench/causal_lm_vs_hf.py` measures ours; that script is not
    importable as a module)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(run_dir)).Reload()
    events = accumulator.Scalars("train/loss")
    validations = [v.step for v in accumulator.Scalars("val/loss")] if "val/loss" in accumulator.Tags()[
        "scalars"] else []
    stretches, current = [], [events[0]]
    for event in events[1:]:
        if any(current[-1].step <= v < event.step for v in validations):
            stretches.append(current)
            current = []
        current.append(event)
    stretch = max([*stretches, current], key=len)
    if len(stretch) < 2:
        return None
    return (stretch[-1].step - stretch[0].step) / (stretch[-1].wall_time - stretch[0].wall_time)
