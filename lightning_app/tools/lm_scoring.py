"""Per-example scoring of a `CausalLanguageModel` checkpoint: each text's CE, CE per length bucket, the best and
worst examples, and two checkpoints side by side (`python main.py lm-report examples|compare`)."""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F

from data_modules.translation import TranslationTextDataModule
from foundation.errors import ConfigError
from lightning_app.checkpointing.checkpoints import class_path_of, load_checkpoint

# The reference recipe's split: examples of at most 64 predicted tokens vs longer ones
LENGTH_BUCKETS = ((0, 64, "<=64"), (65, 10**9, ">64"))


def load_run(ckpt_path: Path):
    """(model in eval mode, its data module) rebuilt from a checkpoint alone."""
    from lightning_app.checkpointing.rebuild import rebuild

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
    """Token-weighted CE and perplexity, the mean CE per length bucket, the best example (lowest CE) and the
    `top_n` hardest and easiest ones."""
    ranked = sorted(rows, key=lambda row: row["ce"])
    total_tokens = sum(r["tokens"] for r in rows)
    mean_ce = sum(r["ce"] * r["tokens"] for r in rows) / total_tokens
    buckets = {}
    for low, high, name in LENGTH_BUCKETS:
        inside = [r for r in rows if low <= r["tokens"] <= high]
        buckets[name] = {"examples": len(inside),
                         "mean_ce": round(sum(r["ce"] for r in inside) / len(inside), 5) if inside else None}
    return {"examples": len(rows), "tokens": total_tokens, "token_weighted_ce": round(mean_ce, 5),
            "perplexity": round(math.exp(mean_ce), 3), "mean_ce": round(sum(r["ce"] for r in rows) / len(rows), 5),
            "mean_ce_by_length": buckets, "best": ranked[0], "hardest": ranked[::-1][:top_n],
            "easiest": ranked[:top_n], "per_example": rows}


def compare_summaries(first: dict, second: dict) -> dict:
    """The second checkpoint against the first on the same examples: figures side by side, the change in percent
    of the first, and how many examples got better."""
    pairs = list(zip(first["per_example"], second["per_example"]))
    if any(a["text"] != b["text"] for a, b in pairs) or len(first["per_example"]) != len(second["per_example"]):
        raise ConfigError("the two checkpoints were scored on different examples; pass checkpoints of the same run "
                          "(or the same --eval_set/--eval_file data).")
    rows = {"token_weighted_ce": (first["token_weighted_ce"], second["token_weighted_ce"]),
            "perplexity": (first["perplexity"], second["perplexity"])}
    for name, bucket in first["mean_ce_by_length"].items():
        rows[f"mean_ce {name}"] = (bucket["mean_ce"], second["mean_ce_by_length"][name]["mean_ce"])
    return {"rows": {name: {"first": a, "second": b, "delta_percent": percent_change(a, b)}
                     for name, (a, b) in rows.items()},
            "examples_improved": sum(b["ce"] < a["ce"] for a, b in pairs), "examples": len(pairs),
            "best_first": first["best"], "best_second": second["best"]}


def percent_change(reference: float | None, other: float | None) -> float | None:
    """(other - reference) / reference in percent, rounded to 0.01; None when either is missing."""
    if reference is None or other is None or reference == 0:
        return None
    return round(100.0 * (other - reference) / reference, 2)
