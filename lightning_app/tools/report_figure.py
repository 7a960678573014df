"""The figure of `python main.py report`, drawn with matplotlib from `report_panels.Panel`s: a grid of panels sharing
the optimizer-step axis, train curves faint with their moving average, evaluation points marked, the best starred."""

from __future__ import annotations

import math
from pathlib import Path

from foundation.leftovers import written_whole
from lightning_app.tools.report_panels import Panel

_COLUMNS = 3
# The same split has the same colour in every panel; other series take matplotlib's cycle.
_SPLIT_COLOURS = {"train": "tab:blue", "train (epoch mean)": "tab:green", "validation": "tab:orange",
                  "test": "tab:red"}
_OTHER_COLOURS = ("tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan", "tab:gray")
_SMOOTHING = 0.9  # weight of the running average on the previous value (TensorBoard's slider, at its usual 0.9)


def smoothed(values: list[float], weight: float = _SMOOTHING) -> list[float]:
    """Exponential moving average with TensorBoard's debiasing (the first points are not pulled toward 0)."""
    average, out = 0.0, []
    for index, value in enumerate(values, start=1):
        average = weight * average + (1 - weight) * value
        out.append(average / (1 - weight**index))
    return out


def draw_panels(panels: list[Panel], path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    rows = math.ceil(len(panels) / _COLUMNS)
    columns = min(_COLUMNS, len(panels))
    with plt.rc_context({"font.size": 9, "axes.titlesize": 10, "axes.titleweight": "bold", "legend.fontsize": 7.5,
                         "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True,
                         "grid.alpha": 0.3, "grid.linewidth": 0.6}):
        figure, axes = plt.subplots(rows, columns, figsize=(4.6 * columns, 3.3 * rows), squeeze=False)
        for axis, panel in zip(axes.flat, panels):
            _draw_panel(axis, panel)
        for axis in list(axes.flat)[len(panels):]:
            axis.axis("off")
        figure.suptitle(title, fontsize=12, fontweight="bold")
        figure.tight_layout()
        try:
            with written_whole(path) as partial:
                figure.savefig(partial, dpi=150, format=path.suffix.lstrip(".").lower() or "png")
        finally:
            plt.close(figure)
    return path


def _draw_panel(axis, panel: Panel) -> None:
    many = len(panel.series) > 4  # learning rates of many parameter groups: a colour ramp, not a palette
    spare = iter(_OTHER_COLOURS)
    colours = _ramp(len(panel.series)) if many else [_SPLIT_COLOURS.get(name) or next(spare)
                                                     for name in panel.series]
    for (name, points), colour in zip(panel.series.items(), colours):
        if panel.log_y:
            points = [(step, value) for step, value in points if value > 0]  # a schedule's final 0 has no log
        steps, values = zip(*points)
        if panel.smooth and name.startswith("train") and len(points) > 20 and not many:
            line, = axis.plot(steps, values, linewidth=0.7, alpha=0.3, color=colour)
            axis.plot(steps, smoothed(list(values)), linewidth=1.5, color=line.get_color(), label=f"{name} (EMA)")
        elif name.startswith("train") or many or len(points) > 30:
            axis.plot(steps, values, linewidth=1.3, color=colour, label=name)
        else:
            axis.plot(steps, values, marker="o", markersize=3.5, linewidth=1.3, color=colour, label=name)
        if name in panel.best:
            _mark_best(axis, panel.best[name])
    if panel.best:
        axis.margins(y=0.15)  # room for the "best" labels inside the axes
    axis.set_title(panel.title)
    axis.set_xlabel("optimizer step")
    axis.set_ylabel(panel.y_label)
    if panel.log_y or _spans_orders_of_magnitude(panel.series.values()):
        axis.set_yscale("log")
    else:
        axis.ticklabel_format(axis="y", style="sci", scilimits=(-2, 6))  # 2e-3, not 0.002
    axis.legend(loc="best", ncol=2 if many else 1, frameon=False)


def _mark_best(axis, best: tuple[int, float]) -> None:
    step, value = best
    axis.plot([step], [value], marker="*", markersize=11, color="black", zorder=5, linestyle="none")
    axis.annotate(f"best {value:.4g}\n@ step {step}", (step, value), textcoords="offset points", xytext=(6, 6),
                  fontsize=7.5)


def _spans_orders_of_magnitude(series) -> bool:
    values = [value for points in series for _, value in points if value > 0 and math.isfinite(value)]
    return bool(values) and min(values) > 0 and max(values) / min(values) > 1000


def _ramp(count: int) -> list:
    import matplotlib

    colours = matplotlib.colormaps["viridis"]
    return [colours(index / max(1, count - 1) * 0.9) for index in range(count)]


