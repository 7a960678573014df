"""MRPC fine-tuning of the embedded MiniLM: our CLI vs a plain Hugging Face `Trainer`, same recipe, one JSON line.

    OMP_NUM_THREADS=2 python bench/mrpc_vs_hf.py --epochs 3 --lr 5e-5          # 3 seeds, + the pad-to-128 row
    python bench/mrpc_vs_hf.py --which ours --epochs 1 --seeds 0               # only one side, one seed
    OMP_NUM_THREADS=2 python bench/mrpc_vs_hf.py --precision bf16-mixed --no-pad-to-128-row   # both sides bf16
    python bench/mrpc_vs_hf.py --smoke                                         # a few steps, one seed (checks)

Both sides: embedded all-MiniLM-L6-v2, batch 32, max length 128, AdamW (weight decay 0.01, none on biases/norms),
linear schedule with `--warmup-ratio` warmup, seed `--seed`, the [CLS] classification head, CPU. Each side runs in
its own process and its wall time covers everything (start-up, tokenization with a cold cache, training, the final
dev evaluation). Ours uses its defaults for speed (dynamic padding, length-grouped batches) and none of the quality
options (both orders, head lr, ...). The peer runs in its fastest correct setting by default: dynamic padding
(`DataCollatorWithPadding`) and `group_by_length=True`. The old default, padding every pair to 128 (`run_glue.py`'s
`pad_to_max_length=True`), is kept as a labelled reference row (`hf_trainer_pad_to_128`, first seed only; off with
--no-pad-to-128-row). Like the peer, ours evaluates once after training and writes no checkpoints
(`--ours-as-configured`: every epoch, with the config's checkpoints).

Quality and time over `--seeds` (default 3): per seed, ours and the peer run one after the other (interleaved, as
this machine's speed drifts), and the JSON line holds every run and, per side, mean and sample sd of dev accuracy,
dev F1 and wall seconds; `speedup` = the peer's mean wall time / ours, `f1_at_least_peer` compares the means.
`ours_matmul_floor_s`: the seconds of our matmul FLOPs at this machine's peak matmul rate (one more run, untimed).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from records import provenance
from timing import ChildLoad

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "mrpc"


def ours_command(args, workdir: Path, seed: int) -> list[str]:
    return [sys.executable, str(ROOT / "main.py"), "fit", "--config", str(ROOT / "configs" / "mrpc_minilm.yaml"),
            "--seed_everything", str(seed), "--trainer.max_epochs", str(args.epochs),
            "--trainer.logger.init_args.save_dir", str(workdir), "--trainer.enable_progress_bar", "false",
            "--trainer.precision", args.precision, "--model.learning_rate", str(args.lr),
            "--model.head_learning_rate", "null", "--model.layer_decay", "1.0", "--model.weight_decay",
            str(args.weight_decay), "--model.warmup_ratio", str(args.warmup_ratio), "--model.average_both_orders",
            "false", "--data.both_orders", "false", "--data.batch_size", str(args.batch_size),
            "--data.max_seq_length", str(args.max_length), "--data.seed", str(seed),
            *(["--trainer.limit_train_batches", str(args.max_steps)] if args.max_steps > 0 else []),
            *like_the_peer(args)]


def run_ours(args, workdir: Path, seed: int) -> dict:
    env = {**os.environ, "LBT_CACHE_DIR": str(workdir / "cache")}  # cold cache: tokenization is timed too
    started = time.perf_counter()
    with ChildLoad() as load:
        subprocess.run(ours_command(args, workdir, seed), check=True, env=env, cwd=workdir, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(next(workdir.glob("mrpc_minilm/version_*")))).Reload()
    last = {tag: events.Scalars(tag)[-1].value for tag in ("val/accuracy", "val/f1")}
    return {"seed": seed, "dev_accuracy": round(last["val/accuracy"], 4), "dev_f1": round(last["val/f1"], 4),
            "wall_s": round(wall, 1), "other_load": load.other_load}


def ours_matmul_floor(args, workdir: Path) -> dict:
    """Our run's matmul FLOPs (first seed; one epoch counted by `bench/flop_count.py`, untimed, times the epochs,
    which train on the same pairs) and their seconds at this machine's peak matmul rate in the run's precision."""
    import torch
    from mlm_throughput import matmul_flops_per_s

    counter = {"class_path": "flop_count.TrainingFlops", "init_args": {"out": str(workdir / "flops.json")}}
    command = [*ours_command(args, workdir, args.seeds[0]), "--trainer.max_epochs", "1", "--trainer.limit_val_batches",
               "0", "--trainer.callbacks", json.dumps([counter])]
    env = {**os.environ, "LBT_CACHE_DIR": str(workdir / "cache"), "PYTHONPATH": str(ROOT / "bench")}  # the counter
    subprocess.run(command, check=True, env=env, cwd=workdir, stdout=subprocess.DEVNULL)
    flops = json.loads((workdir / "flops.json").read_text())["flops"] * args.epochs
    dtype = torch.bfloat16 if args.precision.startswith("bf16") else torch.float32
    peak = round(matmul_flops_per_s("cpu", dtype=dtype))
    return {"ours_matmul_flops": flops, "matmul_peak_flops_per_s": peak, "ours_matmul_floor_s": round(flops / peak, 1)}


def like_the_peer(args) -> list[str]:
    """Overrides that give our run the peer's extra work and no more: the peer evaluates once, after training, and
    writes no checkpoint (`eval_strategy="no"`, `save_strategy="no"`). Unless --ours-as-configured, ours then also
    validates only after the last epoch and keeps the config's learning-rate monitor but not its two checkpoint
    callbacks (a 270 MB last.ckpt every 50 steps plus the best one)."""
    if args.ours_as_configured:
        return []
    monitor = {"class_path": "lightning.pytorch.callbacks.LearningRateMonitor",
               "init_args": {"logging_interval": "step"}}
    return ["--trainer.check_val_every_n_epoch", str(args.epochs), "--trainer.enable_checkpointing", "false",
            "--trainer.callbacks", json.dumps([monitor])]


def read_glue(path: Path) -> tuple[list[str], list[str], list[int]]:
    with path.open(encoding="utf-8-sig") as handle:  # BOM; bare quotes inside sentences -> no quoting
        rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    return [r[3] for r in rows], [r[4] for r in rows], [int(r[0]) for r in rows]


def peer_main(args, workdir: Path) -> None:
    """The plain Hugging Face recipe (run in a child process by `run_peer`)."""
    import numpy as np
    import torch
    from datasets import Dataset
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
        set_seed,
    )

    from foundation.hub import embedded_model_dir

    seed = args.seeds[0]
    set_seed(seed)
    model_dir = str(embedded_model_dir())
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    padding = "max_length" if args.peer_padding == "max_length" else False

    def encode(path: Path) -> Dataset:
        first, second, labels = read_glue(path)
        encoded = tokenizer(first, second, truncation=True, max_length=args.max_length, padding=padding)
        return Dataset.from_dict({**encoded, "labels": labels})

    train, dev = encode(DATA / "train.tsv"), encode(DATA / "dev.tsv")
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=2)

    def metrics(prediction) -> dict:
        predicted, labels = np.argmax(prediction.predictions, -1), prediction.label_ids
        tp = int(((predicted == 1) & (labels == 1)).sum())
        return {"accuracy": float((predicted == labels).mean()),
                "f1": 2 * tp / max(1, int((predicted == 1).sum()) + int((labels == 1).sum()))}

    training_args = TrainingArguments(
        output_dir=str(workdir / "peer"), per_device_train_batch_size=args.batch_size, per_device_eval_batch_size=64,
        learning_rate=args.lr, num_train_epochs=args.epochs, max_steps=args.max_steps, weight_decay=args.weight_decay,
        warmup_steps=args.warmup_ratio, lr_scheduler_type="linear", seed=seed, eval_strategy="no",
        save_strategy="no", report_to="none", logging_steps=50, use_cpu=True, disable_tqdm=True,
        bf16=args.precision == "bf16-mixed",  # the Trainer's autocast, as Lightning's bf16-mixed
        # transformers 5 spells `group_by_length=True` as train_sampling_strategy="group_by_length"
        train_sampling_strategy="group_by_length" if args.peer_group_by_length else "random")
    trainer = Trainer(model=model, args=training_args, train_dataset=train, eval_dataset=dev,
                      data_collator=DataCollatorWithPadding(tokenizer), compute_metrics=metrics)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", torch.get_num_threads())))
    trainer.train()
    result = trainer.evaluate()
    (workdir / "peer.json").write_text(json.dumps({"dev_accuracy": round(result["eval_accuracy"], 4),
                                                   "dev_f1": round(result["eval_f1"], 4)}))


def run_peer(args, workdir: Path, seed: int, padding: str, group_by_length: bool) -> dict:
    setting = ["--seeds", str(seed), "--peer-padding", padding,
               "--peer-group-by-length" if group_by_length else "--no-peer-group-by-length"]
    command = [sys.executable, __file__, "--peer-child", str(workdir), *sys.argv[1:], *setting]  # the last wins
    started = time.perf_counter()
    with ChildLoad() as load:
        subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    return {"seed": seed, "padding": padding, "group_by_length": group_by_length,
            **json.loads((workdir / "peer.json").read_text()), "wall_s": round(wall, 1), "other_load": load.other_load}


def summary(runs: list[dict]) -> dict:
    """Mean and sample sd (0 for one run) of dev accuracy, dev F1 and wall seconds over the seeds."""
    out = {"runs": len(runs)}
    for key in ("dev_accuracy", "dev_f1", "wall_s"):
        values = [run[key] for run in runs]
        out[f"{key}_mean"] = round(statistics.mean(values), 4)
        out[f"{key}_sd"] = round(statistics.stdev(values), 4) if len(values) > 1 else 0.0
    return out


def compare_over_seeds(args, tmp: Path) -> dict:
    """Every seed: ours, then the strongest peer; then the pad-to-128 reference row (first seed)."""
    runs: dict[str, list[dict]] = {"ours": [], "hf_trainer": [], "hf_trainer_pad_to_128": []}
    for seed in args.seeds:
        if args.which in ("both", "ours"):
            runs["ours"].append(run_ours(args, _fresh(tmp / f"ours_{seed}"), seed))
        if args.which in ("both", "peer"):
            peer = run_peer(args, _fresh(tmp / f"peer_{seed}"), seed, args.peer_padding, args.peer_group_by_length)
            runs["hf_trainer"].append(peer)
    if args.which in ("both", "peer") and args.pad_to_128_row:
        runs["hf_trainer_pad_to_128"].append(run_peer(args, _fresh(tmp / "peer_pad128"), args.seeds[0],
                                                      "max_length", False))
    out = {side: {"summary": summary(found), "seeds": found} for side, found in runs.items() if found}
    if "ours" in out and "hf_trainer" in out:
        ours, peer = out["ours"]["summary"], out["hf_trainer"]["summary"]
        out["speedup"] = round(peer["wall_s_mean"] / ours["wall_s_mean"], 2)
        out["f1_at_least_peer"] = ours["dev_f1_mean"] >= peer["dev_f1_mean"]
        if "hf_trainer_pad_to_128" in out:
            out["speedup_vs_pad_to_128_seed0"] = round(
                out["hf_trainer_pad_to_128"]["seeds"][0]["wall_s"] / out["ours"]["seeds"][0]["wall_s"], 2)
    return out


def _fresh(folder: Path) -> Path:
    folder.mkdir(parents=True)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--warmup-ratio", type=float, default=0.1)
    parser.add_argument("--precision", choices=("32-true", "bf16-mixed"), default="32-true",
                        help="both sides: ours --trainer.precision, the peer's bf16=True (CPU autocast)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--max-steps", type=int, default=-1,
                        help="stop both sides early (smoke tests, with --epochs 1); -1 = off")
    parser.add_argument("--which", choices=("both", "ours", "peer"), default="both")
    parser.add_argument("--ours-as-configured", action="store_true",
                        help="ours validates every epoch and writes its checkpoints (the peer does neither)")
    parser.add_argument("--peer-padding", choices=("dynamic", "max_length"), default="dynamic")
    parser.add_argument("--peer-group-by-length", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--pad-to-128-row", action=argparse.BooleanOptionalAction, default=True,
                        help="also run the peer padding every pair to --max-length (first seed), labelled")
    parser.add_argument("--smoke", action="store_true", help="--epochs 1 --max-steps 3 --seeds 0 (a check)")
    parser.add_argument("--peer-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.smoke:
        args.epochs, args.max_steps, args.seeds = 1, 3, args.seeds[:1]
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.peer_child:
        return peer_main(args, Path(args.peer_child))
    recipe = {k: getattr(args, k) for k in ("epochs", "lr", "batch_size", "max_length", "weight_decay",
                                            "warmup_ratio", "seeds", "precision", "peer_padding",
                                            "peer_group_by_length", "max_steps", "ours_as_configured")}
    with tempfile.TemporaryDirectory(prefix="mrpc_bench_") as tmp:
        out = {"bench": "mrpc_vs_hf", "model": "all-MiniLM-L6-v2", "smoke": args.smoke, **recipe,
               "threads": int(os.environ.get("OMP_NUM_THREADS", "0")) or None, **compare_over_seeds(args, Path(tmp)),
               **(ours_matmul_floor(args, _fresh(Path(tmp) / "flops")) if args.which != "peer" else {}),
               **provenance()}
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
