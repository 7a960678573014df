"""Markdown tables of `python main.py lm-report`: BCE on vs off per evaluation split (from the two runs' logged
final figures) and two checkpoints side by side."""

from __future__ import annotations

from pathlib import Path

from foundation.errors import ConfigError
from lightning_app.tools.lm_scoring import percent_change
from lightning_app.tools.report import read_scalars

SPLIT_LABELS = {"val": "the run's validation (held-out pairs)",
                "val_wikitext": "WikiText-2 validation, first non-empty lines (out of domain)"}


def final_eval_figures(run_dir: Path) -> dict[str, dict[str, float]]:
    """{split: {"loss": CE, "perplexity": exp(CE)}} at the last logged evaluation of every validation split."""
    scalars = read_scalars(run_dir)
    splits = sorted(tag[: -len("/loss")] for tag in scalars if tag.startswith("val") and tag.endswith("/loss"))
    return {split: {metric: scalars[f"{split}/{metric}"][-1][1] for metric in ("loss", "perplexity")}
            for split in splits if f"{split}/perplexity" in scalars}


def bce_on_off_rows(run_on: Path, run_off: Path) -> list[dict]:
    """One row per split both runs evaluated: eval loss and perplexity with BCE on and off, and the change of each
    against BCE on in percent (positive = BCE off is worse)."""
    on, off = final_eval_figures(run_on), final_eval_figures(run_off)
    shared = [split for split in on if split in off]
    if not shared:
        raise ConfigError(f"--run_dir {run_on} and --other_run_dir {run_off} share no logged validation split; "
                          "pass two runs of the same config, one with --model.bce_enabled false.")
    rows = []
    for split in shared:
        row = {"split": split, "label": SPLIT_LABELS.get(split, f"extra set `{split[len('val_'):]}`")}
        for metric in ("loss", "perplexity"):
            row[f"{metric}_on"], row[f"{metric}_off"] = on[split][metric], off[split][metric]
            row[f"{metric}_delta_percent"] = percent_change(on[split][metric], off[split][metric])
        rows.append(row)
    return rows


def bce_on_off_markdown(rows: list[dict]) -> str:
    lines = ["| split | eval loss, BCE on | eval loss, BCE off | Δ loss | perplexity, BCE on | perplexity, BCE off "
             "| Δ perplexity |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['label']} | {r['loss_on']:.4f} | {r['loss_off']:.4f} | {r['loss_delta_percent']:+.2f}% | "
                     f"{r['perplexity_on']:.2f} | {r['perplexity_off']:.2f} | {r['perplexity_delta_percent']:+.2f}% |")
    return "\n".join(lines)


def comparison_markdown(first: str, second: str, comparison: dict) -> str:
    lines = [f"| figure | {first} | {second} | Δ |", "|---|---|---|---|"]
    for name, row in comparison["rows"].items():
        cells = [f"{value:.4f}" if value is not None else "-" for value in (row["first"], row["second"])]
        delta = "-" if row["delta_percent"] is None else f"{row['delta_percent']:+.2f}%"
        lines.append(f"| {name} | {cells[0]} | {cells[1]} | {delta} |")
    lines.append(f"| examples with lower CE at the second | | {comparison['examples_improved']} of "
                 f"{comparison['examples']} | |")
    return "\n".join(lines)
