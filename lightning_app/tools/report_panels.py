"""What the figure of `python main.py report` shows: one panel per quantity, every split of it on one axis.

Panels, in this order when the run logged them: loss (train, validation and every other evaluation set),
perplexity (log axis), the task's metrics (accuracy, F1, masked-token accuracy), other evaluation quantities
(e.g. the causal LM's BCE term), learning rate (one line per parameter group), throughput, gradient norm. The x axis
is the optimizer step for all of them (the loggers' step: train and validation of step N share x = N). Train
curves are drawn faint with an exponential moving average over them; evaluation points are marked and the best one
is starred.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Series = list[tuple[int, float]]

LOWER_IS_BETTER = ("loss", "perplexity", "bce")
HIGHER_IS_BETTER = ("accuracy", "f1")
_TASK_METRICS = {"accuracy": "accuracy", "f1": "F1", "masked_accuracy": "masked-token accuracy"}
_OTHER_TITLES = {  # (title, y label) of the causal LM's auxiliary quantities (models/bce_term.py)
    "bce": ("Auxiliary BCE term", "binary cross-entropy"),
    "total_loss": ("Total loss (CE + weighted BCE)", "loss (nats)"),
    "bce_weight": ("BCE weight (schedule)", "weight of the BCE term"),
}
_NOT_DRAWN = ("epoch", "hp_metric", "train/effective_batch_size", "train/trainable_parameters")
_TOKENS_PER_S = "/device/items_per_sec"  # ThroughputMonitor's tokens/s (our length_fn counts tokens)
_SPLIT_NAMES = {"train": "train", "val": "validation", "test": "test", "validate": "validation"}


@dataclass
class Panel:
    """One axis: a title, a y label, and named series; `log_y` for quantities spanning orders of magnitude."""
    title: str
    y_label: str
    series: dict[str, Series] = field(default_factory=dict)
    log_y: bool = False
    smooth: bool = True  # a moving average over noisy train curves; not over schedules or windowed rates
    best: dict[str, tuple[int, float]] = field(default_factory=dict)  # series name -> its best evaluation point

    def add(self, name: str, tag: str, points: Series) -> None:
        self.series[name] = points
        best = best_point(tag, points)
        if best is not None:
            self.best[name] = best


def split_and_quantity(tag: str) -> tuple[str, str]:
    """`val/loss` -> ("val", "loss"); `val_wikitext/perplexity` -> ("val_wikitext", "perplexity")."""
    split, _, quantity = tag.partition("/")
    return split, quantity


def split_label(split: str) -> str:
    """Legend name of a split: `val` -> validation, `val_wikitext` -> validation (wikitext)."""
    if split in _SPLIT_NAMES:
        return _SPLIT_NAMES[split]
    stage, _, name = split.partition("_")
    return f"{_SPLIT_NAMES.get(stage, stage)} ({name})" if name else split


def is_evaluation(tag: str) -> bool:
    return not tag.startswith(("train/", "lr-"))


def best_point(tag: str, points: Series) -> tuple[int, float] | None:
    """The best point of an evaluation series (lowest loss/perplexity/BCE, highest accuracy/F1; the first step
    reaching it), or None for a quantity without a direction (throughput, total loss...)."""
    quantity = tag.rsplit("/", 1)[-1]
    if not is_evaluation(tag) or not points or not quantity.endswith(LOWER_IS_BETTER + HIGHER_IS_BETTER):
        return None
    lower = quantity.endswith(LOWER_IS_BETTER)
    return min(points, key=lambda point: (point[1] if lower else -point[1], point[0]))


def panels_of(scalars: dict[str, Series]) -> list[Panel]:
    """The run's scalars grouped into panels (module docstring), empty panels dropped."""
    fixed = {"loss": Panel("Loss", "cross-entropy (nats)"),
             "perplexity": Panel("Perplexity", "perplexity (log scale)", log_y=True),
             "task": Panel("Task metrics", "score"),
             "lr": Panel("Learning rate", "learning rate"),
             "tokens": Panel("Throughput", "tokens / s per device", smooth=False),
             "grad_norm": Panel("Gradient norm", "global L2 norm before clipping")}
    others: dict[str, Panel] = {}
    for tag in sorted(scalars):
        place = panel_and_name(tag, "train/ce" in scalars)
        if place is not None:
            key, name = place
            panel = fixed.get(key) or others.setdefault(key, _other_panel(key))
            panel.add(name, tag, scalars[tag])
    task = fixed["task"]
    quantities = {split_and_quantity(tag)[1] for tag in scalars}
    names = " and ".join(name for quantity, name in _TASK_METRICS.items() if quantity in quantities)
    task.title = names[:1].upper() + names[1:]
    rates = _merge_equal_series(fixed["lr"])
    peaks = [max(value for _, value in points) for points in rates.series.values()]
    rates.log_y = bool(peaks) and min(peaks) > 0 and max(peaks) / min(peaks) >= 5  # head vs layer-decayed groups
    rates.y_label += " (log scale)" if rates.log_y else ""
    ordered = [fixed["loss"], fixed["perplexity"], task, *others.values(), rates, fixed["tokens"],
               fixed["grad_norm"]]
    return [panel for panel in ordered if panel.series]


def panel_and_name(tag: str, has_train_ce: bool) -> tuple[str, str] | None:
    """(panel key, series name) of a scalar, or None for one not drawn (ThroughputMonitor's counters...)."""
    split, quantity = split_and_quantity(tag)
    if tag in _NOT_DRAWN or "/device/" in tag and not tag.endswith(_TOKENS_PER_S):
        return None
    if tag.startswith(("train/lr/", "lr-")):
        return "lr", tag.removeprefix("train/lr/")
    if tag.endswith(_TOKENS_PER_S):
        return "tokens", split_label(split)
    if split in ("train", "validate") and quantity in ("batches", "samples", "lengths", "time", "flops"):
        return None  # ThroughputMonitor's running counters
    if has_train_ce and tag in ("train/ce", "train/loss"):  # the causal LM with its BCE term: train/loss is
        return ("loss" if tag == "train/ce" else "total_loss"), "train"  # CE + weighted BCE, as val/total_loss
    if quantity in ("loss", "loss_epoch"):
        return "loss", split_label(split) + (" (epoch mean)" if quantity == "loss_epoch" else "")
    if quantity in _TASK_METRICS:
        return "task", f"{split_label(split)} {_TASK_METRICS[quantity]}"
    return quantity, split_label(split)  # perplexity, grad_norm, and a panel per other quantity


def _other_panel(quantity: str) -> Panel:
    title, y_label = _OTHER_TITLES.get(quantity, (quantity.replace("_", " ").capitalize(), quantity))
    return Panel(title, y_label, smooth=quantity != "bce_weight")


def _merge_equal_series(panel: Panel) -> Panel:
    """One line for parameter groups that share a schedule (`layer03` and `layer03_no_decay` differ only in weight
    decay): 16 MRPC groups are 8 learning rates."""
    merged: dict[tuple, list[str]] = {}
    for name, points in panel.series.items():
        merged.setdefault(tuple(points), []).append(name)
    panel.series = {_group_label(names): list(points) for points, names in merged.items()}
    return panel


def _group_label(names: list[str]) -> str:
    stems = sorted({name.removesuffix("_no_decay") for name in names})
    return ", ".join(stems)

