"""`python main.py report RUN_DIR`: a run's final metrics on the console and its curves in one PNG.

For people who do not open TensorBoard: reads the run's event files, prints the last value of every scalar and,
for evaluation metrics, the best one (lowest loss/perplexity, highest accuracy/F1) with its step, and writes
`RUN_DIR/curves.png` with one panel per metric.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from foundation.errors import ConfigError

_LOWER_IS_BETTER = ("loss", "perplexity", "bce")
_HIGHER_IS_BETTER = ("accuracy", "f1")


def read_scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """{tag: [(optimizer step, value), ...]} from every event file under `run_dir`."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    if not run_dir.is_dir() or not list(run_dir.glob("events.out.tfevents.*")):
        if run_dir.is_file():
            raise ConfigError(f"{run_dir} is a file; pass a run directory such as runs/custom_mlm/version_0.")
        raise ConfigError(f"{run_dir} holds no TensorBoard event files; pass a run directory such as "
                          "runs/custom_mlm/version_0.")
    scalars: dict[str, list[tuple[int, float]]] = {}
    for events in sorted(run_dir.glob("events.out.tfevents.*")):
        accumulator = EventAccumulator(str(events), size_guidance={"scalars": 0}).Reload()
        for tag in accumulator.Tags()["scalars"]:
            scalars.setdefault(tag, []).extend((e.step, e.value) for e in accumulator.Scalars(tag))
    return {tag: sorted(points) for tag, points in scalars.items() if tag not in ("epoch", "hp_metric")}


def summarize(scalars: dict[str, list[tuple[int, float]]]) -> list[str]:
    lines = []
    for tag in sorted(scalars):
        step, value = scalars[tag][-1]
        line = f"{tag:<32} {value:>12.6g}  (step {step})"
        if not tag.startswith("train/") and tag.endswith(_LOWER_IS_BETTER + _HIGHER_IS_BETTER):
            pick = min if tag.endswith(_LOWER_IS_BETTER) else max
            best_step, best = pick(scalars[tag], key=lambda point: point[1])
            line += f"   best {best:.6g} at step {best_step}"
        lines.append(line)
    return lines


def plot_curves(scalars: dict[str, list[tuple[int, float]]], path: Path) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    tags = [tag for tag in sorted(scalars) if len(scalars[tag]) > 1 or tag.startswith(("val/", "test/"))]
    if not tags:
        return None  # nothing has more than one point yet: no curves to draw
    columns = 3
    rows = math.ceil(len(tags) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(5 * columns, 3.2 * rows), squeeze=False)
    for axis, tag in zip(axes.flat, tags):
        steps, values = zip(*scalars[tag])
        axis.plot(steps, values, marker="o" if len(steps) < 20 else None, markersize=3)
        axis.set_title(tag)
        axis.set_xlabel("optimizer step")
        if tag.endswith("perplexity") and max(values) / max(min(values), 1e-9) > 100:
            axis.set_yscale("log")
    for axis in list(axes.flat)[len(tags):]:
        axis.axis("off")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


def main(argv: list[str]) -> dict[str, list[tuple[int, float]]]:
    parser = argparse.ArgumentParser(prog="main.py report", description=__doc__)
    parser.add_argument("run_dir", type=Path, help="a run directory, e.g. runs/custom_mlm/version_0")
    args = parser.parse_args(argv)
    try:
        scalars = read_scalars(args.run_dir)
    except ConfigError as error:
        print(f"error: {error}")  # stdout, like the report itself
        raise SystemExit(2) from None
    print("\n".join(summarize(scalars)) or "No scalars logged yet.")
    if not any(tag.startswith(("val/", "test/")) for tag in scalars):
        print("No validation logged yet (the run stopped before its first validation).")
    curves = plot_curves(scalars, args.run_dir / "curves.png")
    print(f"Curves: {curves}" if curves else "No curves yet (every scalar has a single point).")
    return scalars
