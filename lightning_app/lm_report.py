"""Analysis tools for `CausalLanguageModel` runs.

    # per-example report: every example's CE, token count and perplexity, hardest/easiest N, CE per length bucket
    python main.py lm-report examples --ckpt_path runs/tr_en_bce_lm/version_0/checkpoints/step2000.ckpt \\
        --eval_set val --output report.json
    # the same for two checkpoints side by side (e.g. step 1,000 vs 2,000)
    python main.py lm-report compare --ckpt_path A.ckpt --other_ckpt_path B.ckpt --output compare.json
    # BCE on vs off: final validation figures of two runs (same seed), as a table
    python main.py lm-report bce-table --run_dir runs/tr_en_bce_lm/version_0 --other_run_dir .../version_1

`--eval_set` is `val` (held-out pairs, one example per text), `val_wikitext` (out of domain) or another extra set;
`--eval_file` scores a file of `English<TAB>Turkish` lines or plain text instead.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from data_modules.translation import TranslationTextDataModule
from foundation.errors import ConfigError
from lightning_app.checkpoints import class_path_of, load_checkpoint
from lightning_app.report import read_scalars

LENGTH_BUCKETS = ((0, 64, "<=64"), (65, 10**9, ">64"))


def load_run(ckpt_path: Path):
    """(model in eval mode, its data module) rebuilt from a checkpoint alone."""
    from lightning_app.rebuild import rebuild

    state = load_checkpoint(ckpt_path, mmap=False)
    if (class_path_of(state) or "").rsplit(".", 1)[-1] != "CausalLanguageModel":
        raise ConfigError(f"--ckpt_path {ckpt_path} is not a CausalLanguageModel checkpoint; pass one from a "
                          "configs/tr_en_bce_lm.yaml run.")
    model, datamodule, _ = rebuild(state, ckpt_path)
    return model, datamodule


def example_texts(datamodule: TranslationTextDataModule, eval_set: str, eval_file: str | None) -> list[str]:
    if eval_file is not None:
        datamodule.extra_eval_files = {"file": eval_file}
        return datamodule.eval_texts()["val_file"]
    if eval_set == "val":
        return datamodule.split_texts()["validation"]
    sets = datamodule.eval_texts()
    if eval_set not in sets:
        raise ConfigError(f"--eval_set {eval_set!r} is not available; choose val or one of {sorted(sets)}.")
    return sets[eval_set]


@torch.no_grad()
def score_examples(model, datamodule: TranslationTextDataModule, texts: list[str]) -> list[dict]:
    """CE (nats/token), token count and perplexity of each text, scored on its own (start token + text + end)."""
    rows = []
    for text, ids in zip(texts, datamodule.per_text(datamodule.encode(texts))):
        input_ids = torch.tensor([ids])
        logits = model.model(input_ids=input_ids).logits[0, :-1].float()  # (T-1, V)
        ce = F.cross_entropy(logits, input_ids[0, 1:]).item()
        rows.append({"text": text, "tokens": len(ids) - 1, "ce": round(ce, 5), "perplexity": round(math.exp(ce), 3)})
    return rows


def summarize(rows: list[dict], top_n: int) -> dict:
    ranked = sorted(rows, key=lambda row: row["ce"])
    total_tokens = sum(r["tokens"] for r in rows)
    mean_ce = sum(r["ce"] * r["tokens"] for r in rows) / total_tokens
    buckets = {}
    for low, high, name in LENGTH_BUCKETS:
        inside = [r for r in rows if low <= r["tokens"] <= high]
        buckets[name] = {"examples": len(inside),
                         "mean_ce": round(sum(r["ce"] for r in inside) / len(inside), 5) if inside else None}
    return {"examples": len(rows), "tokens": total_tokens, "token_weighted_ce": round(mean_ce, 5),
            "perplexity": round(math.exp(mean_ce), 3), "mean_ce_by_length": buckets,
            "hardest": ranked[::-1][:top_n], "easiest": ranked[:top_n], "per_example": rows}


def bce_table(run_on: Path, run_off: Path) -> str:
    lines = ["| run | val CE | val perplexity (CE only) | val total loss |", "|---|---|---|---|"]
    for label, run in (("BCE on", run_on), ("BCE off", run_off)):
        scalars = read_scalars(run)
        last = {tag: scalars[tag][-1][1] for tag in ("val/loss", "val/perplexity", "val/total_loss") if tag in scalars}
        lines.append(f"| {label} ({run}) | {last['val/loss']:.4f} | {last['val/perplexity']:.2f} | "
                     f"{last['val/total_loss']:.4f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="main.py lm-report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["examples", "compare", "bce-table"])
    parser.add_argument("--ckpt_path", type=Path)
    parser.add_argument("--other_ckpt_path", type=Path, help="second checkpoint, for compare")
    parser.add_argument("--run_dir", type=Path, help="run directory with BCE on, for bce-table")
    parser.add_argument("--other_run_dir", type=Path, help="run directory with BCE off, for bce-table")
    parser.add_argument("--eval_set", default="val")
    parser.add_argument("--eval_file")
    parser.add_argument("--top_n", type=int, default=10)
    parser.add_argument("--output", type=Path, help="JSON file to write")
    args = parser.parse_args(argv)
    try:
        if args.output is not None and (args.output.exists() or args.output.is_symlink()):
            raise ConfigError(f"--output {args.output} already exists; lm-report never replaces a file: pass a new "
                              "file name.")
        if args.command == "bce-table":
            print(bce_table(args.run_dir, args.other_run_dir))
            return
        reports = {}
        for ckpt in [args.ckpt_path] + ([args.other_ckpt_path] if args.command == "compare" else []):
            model, datamodule = load_run(ckpt)
            rows = score_examples(model, datamodule, example_texts(datamodule, args.eval_set, args.eval_file))
            reports[str(ckpt)] = summarize(rows, args.top_n)
            print(f"{ckpt}: {len(rows)} examples, token-weighted CE {reports[str(ckpt)]['token_weighted_ce']}, "
                  f"perplexity {reports[str(ckpt)]['perplexity']}, by length "
                  f"{json.dumps(reports[str(ckpt)]['mean_ce_by_length'])}")
        result = next(iter(reports.values())) if args.command == "examples" else reports
        if args.output:
            args.output.write_text(json.dumps(result, indent=1, ensure_ascii=False))
            print(f"Wrote {args.output}")
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None

