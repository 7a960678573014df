"""Every speed trick switched off alone, on every config where it is on, in one run with the baseline (issue #25).

    OMP_NUM_THREADS=2 python bench/ablation.py --out bench/results/ablation.json     # a quiet machine
    python bench/ablation.py --smoke                                                  # tiny data, 3 steps (a check)

Each (config, variant) is one `main.py fit` child with no validation and no checkpoints; `baseline` is the config
as shipped, every other variant switches one trick off (bench/ablation_switches.py). Rounds alternate all variants
of a config (this machine's speed drifts over minutes) and each variant's median steps/s is compared with the
baseline's: `saves` = 1 - baseline step time / step time with the trick off, the share of step time the trick buys.
Peak resident memory of each child is recorded too. The JSON (one object) feeds bench/render_tables.py.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
QUIET = ["--trainer.limit_val_batches", "0", "--trainer.num_sanity_val_steps", "0", "--trainer.enable_checkpointing",
         "false", "--trainer.callbacks", "[]", "--trainer.log_every_n_steps", "1", "--trainer.enable_progress_bar",
         "false", "--trainer.accelerator", "cpu", "--trainer.devices", "1"]
# trick -> command-line arguments that switch it off (None: a function replaced in the child)
TRICKS = {"sparse_mlm_head": ["--model.init_args.sparse_prediction", "false"],
          "sparse_last_layer": None, "fast_dropout_masks": None, "cls_only_last_layer": None,
          "length_grouping": ["--data.init_args.group_by_length", "false"], "fused_next_token_losses": None}
# config -> (YAML, the tricks it has on, extra arguments for the real run)
CONFIGS = {
    "mlm_mini": ("wikitext2_bert_mini.yaml", ("sparse_mlm_head", "sparse_last_layer", "fast_dropout_masks"), []),
    # configs/mini_bert.yaml is this shape too (with an untied output layer): these rows stand for it
    "mlm_micro": ("wikitext2_bert_micro.yaml", ("sparse_mlm_head", "sparse_last_layer", "fast_dropout_masks"), []),
    "mrpc_minilm": ("mrpc_minilm.yaml", ("cls_only_last_layer", "fast_dropout_masks", "length_grouping"), []),
    "causal_minilm": ("tr_en_bce_lm.yaml", ("fused_next_token_losses",), ["--data.init_args.tokenizer", "MINILM"]),
}


def smoke_data(config: str, work: Path) -> list[str]:
    """Arguments that point a config at a few hundred real rows (smoke runs tokenize in seconds)."""
    work.mkdir(parents=True, exist_ok=True)
    if config in ("mlm_mini", "mlm_micro"):
        lines = (SHARED / "wikitext-2" / "wiki.train.tokens").read_text(encoding="utf-8").splitlines()[:300]
        for split in ("train", "valid", "test"):
            (work / f"wiki.{split}.tokens").write_text("\n".join(lines) + "\n", encoding="utf-8")
        return ["--data.init_args.data_dir", str(work)]
    if config == "mrpc_minilm":
        for name, rows in (("train.tsv", 129), ("dev.tsv", 33)):
            lines = (SHARED / "mrpc" / name).read_text(encoding="utf-8-sig").splitlines()[:rows]
            (work / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
        return ["--data.init_args.data_dir", str(work), "--data.init_args.batch_size", "8"]
    lines = (SHARED / "tr-en" / "tur.txt").read_text(encoding="utf-8").splitlines()[:300]
    (work / "pairs.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ["--data.init_args.corpus_file", str(work / "pairs.txt"), "--data.init_args.ood_eval_lines", "0"]


def run_variant(config: str, trick: str | None, args, work: Path, data: list[str]) -> dict:
    yaml, _, extra = CONFIGS[config]
    save_dir = work / f"{config}-{trick or 'baseline'}"
    command = [sys.executable, __file__, "--child", trick or "", "--", "fit", "--config", str(ROOT / "configs" / yaml),
               *QUIET, "--trainer.max_steps", str(args.steps), "--trainer.logger.init_args.save_dir", str(save_dir),
               *[_resolve(a) for a in extra], *data, *((TRICKS[trick] or []) if trick else [])]
    env = {**os.environ, "LBT_CACHE_DIR": str(work / "cache")}
    done = subprocess.run(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode:
        raise SystemExit(f"{config} with {trick or 'nothing'} switched off failed:\n{done.stderr[-3000:]}")
    from ddp_overhead import steps_per_s

    return {"steps_per_s": steps_per_s(save_dir, args.warmup),
            "peak_rss_mb": json.loads((save_dir / "peak.json").read_text())["peak_rss_mb"]}


def _resolve(argument: str) -> str:
    if argument != "MINILM":
        return argument
    from foundation.hub import embedded_model_dir

    return str(embedded_model_dir())


def child(trick: str, argv: list[str]) -> None:
    """`main.py` with `trick` switched off; writes this process's peak resident memory beside the run."""
    from ablation_switches import switch_off  # bench/ is on the path of a script run from bench/

    from lightning_app.cli import cli_main

    switch_off(trick)
    cli_main(argv)
    save_dir = Path(argv[argv.index("--trainer.logger.init_args.save_dir") + 1])
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    (save_dir / "peak.json").write_text(json.dumps({"peak_rss_mb": round(peak_mb)}))


def ablate(config: str, args, work: Path) -> list[dict]:
    data = smoke_data(config, work / "data" / config) if args.smoke else []
    variants = [None, *(t for t in CONFIGS[config][1] if args.tricks is None or t in args.tricks)]
    found: dict[str | None, list[dict]] = {v: [] for v in variants}
    for index in range(args.rounds):
        for trick in variants:
            found[trick].append(run_variant(config, trick, args, work / f"round{index}", data))
    base = statistics.median(r["steps_per_s"] for r in found[None])
    rows = []
    for trick, runs in found.items():
        rate = statistics.median(r["steps_per_s"] for r in runs)
        rows.append({"config": config, "switched_off": trick or "none (baseline)",
                     "steps_per_s": [round(r["steps_per_s"], 3) for r in runs], "median_steps_per_s": round(rate, 3),
                     "saves": None if trick is None else round(1 - rate / base, 3),
                     "peak_rss_mb": max(r["peak_rss_mb"] for r in runs)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+", choices=sorted(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--tricks", nargs="+", choices=sorted(TRICKS),
                        help="only these (and the baseline): the tables keep the other tricks' rows of earlier runs")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="a few hundred rows, 3 steps, 1 round")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.child is not None:
        return child(args.child, rest[1:] if rest[:1] == ["--"] else rest)
    if args.smoke:
        args.steps, args.warmup, args.rounds = 3, 1, 1
    with tempfile.TemporaryDirectory(prefix="ablation_") as tmp:
        rows = [row for config in args.configs for row in ablate(config, args, Path(tmp))]
    from records import provenance

    result = {"bench": "ablation", **provenance(), "smoke": args.smoke, "steps": args.steps, "warmup": args.warmup,
              "rounds": args.rounds, "threads": int(os.environ.get("OMP_NUM_THREADS", "0")) or None, "rows": rows}
    text = json.dumps(result)
    if args.out:
        args.out.write_text(text + "\n")
    print(text, flush=True)


if __name__ == "__main__":
    main()
