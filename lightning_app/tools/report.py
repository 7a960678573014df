"""`python main.py report RUN_DIR`: a run's final metrics on the console and its curves in one PNG.

For people who do not open TensorBoard: reads the run's event files, prints the last value of every scalar and,
for evaluation metrics, the best one (lowest loss/perplexity, highest accuracy/F1) with its step, and writes
`RUN_DIR/curves.png` (or `--output`): one panel per quantity (loss, perplexity, task metrics, learning rates,
throughput, gradient norm) with train and validation on one axis at the same optimizer steps, the best value starred.
Mistakes (no run directory) end with one `error:` line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from foundation.errors import ConfigError
from lightning_app.tools.report_panels import best_point, is_evaluation, panels_of


def read_scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """{tag: [(optimizer step, value), ...]} from every event file under `run_dir`."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    if not run_dir.is_dir() or not list(run_dir.glob("events.out.tfevents.*")):
        if run_dir.is_file():
            raise ConfigError(f"{run_dir} is a file; pass a run directory such as runs/custom_mlm/version_0.")
        if not run_dir.exists():
            raise ConfigError(f"{run_dir} does not exist; pass a run directory such as runs/custom_mlm/version_0.")
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
        best = best_point(tag, scalars[tag])
        if best is not None:
            line += f"   best {best[1]:.6g} at step {best[0]}"
        lines.append(line)
    return lines


def plot_curves(scalars: dict[str, list[tuple[int, float]]], path: Path, title: str) -> Path | None:
    """The figure (lightning_app/tools/report_panels.py); None when nothing has two points or was evaluated."""
    from lightning_app.tools.report_figure import draw_panels

    drawable = {tag: points for tag, points in scalars.items() if len(points) > 1 or is_evaluation(tag)}
    panels = panels_of(drawable)
    return draw_panels(panels, path, title) if panels else None


def run_title(run_dir: Path) -> str:
    """`tr_en_bce_lm / version_0: CausalLanguageModel on TranslationTextDataModule` (the classes from the run's
    saved config.yaml, when it has one)."""
    run = run_dir.resolve()
    title = f"{run.parent.name} / {run.name}"
    try:
        config = yaml.safe_load((run / "config.yaml").read_text())
        model, data = (config[key]["class_path"].rsplit(".", 1)[-1] for key in ("model", "data"))
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError):
        return title  # a run without a readable config: the directory names alone
    return f"{title}: {model} on {data}"


IMAGE_SUFFIXES = (".png", ".pdf", ".svg")


def check_output(output: Path) -> None:
    """`--output` names a new image file in an existing folder: report never replaces a file (the default
    RUN_DIR/curves.png, its own, is redrawn)."""
    if output.is_dir():
        raise ConfigError(f"--output {output} is a directory; pass a file name such as {output / 'curves.png'}.")
    if output.exists():
        raise ConfigError(f"--output {output} already exists; report never replaces a file: pass a new file name.")
    if output.suffix.lower() not in IMAGE_SUFFIXES:
        raise ConfigError(f"--output {output}: {output.suffix or 'no suffix'} is not an image format; pass a .png, "
                          ".pdf or .svg file name.")
    if output.parent.is_file():
        raise ConfigError(f"--output {output}: {output.parent} is a file, not a folder; pass a path in a folder.")
    if not output.parent.is_dir():
        raise ConfigError(f"--output {output}: the folder {output.parent} does not exist; create it or pass a path in "
                          "an existing folder.")


def main(argv: list[str]) -> dict[str, list[tuple[int, float]]]:
    parser = argparse.ArgumentParser(prog="main.py report", description=__doc__, allow_abbrev=False,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path, help="a run directory, e.g. runs/custom_mlm/version_0")
    parser.add_argument("--output", type=Path, default=None, help="where the PNG goes (default RUN_DIR/curves.png)")
    args = parser.parse_args(argv)
    try:
        scalars = read_scalars(args.run_dir)
        if args.output is not None:
            check_output(args.output)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    print("\n".join(summarize(scalars)) or "No scalars logged yet.")
    if not any(is_evaluation(tag) for tag in scalars):
        print("No validation logged yet (the run stopped before its first validation).")
    curves = plot_curves(scalars, args.output or args.run_dir / "curves.png", run_title(args.run_dir))
    print(f"Curves: {curves}" if curves else "No curves yet (every scalar has a single point).")
    return scalars
