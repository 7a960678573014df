"""MRPC fine-tuning of the embedded MiniLM: our CLI vs a plain Hugging Face `Trainer`, same recipe, one JSON line.

    OMP_NUM_THREADS=2 python bench/mrpc_vs_hf.py --epochs 3 --lr 5e-5          # the issue's peer recipe
    python bench/mrpc_vs_hf.py --which ours --epochs 1                         # only one side

Both sides: embedded all-MiniLM-L6-v2, batch 32, max length 128, AdamW (weight decay 0.01, none on biases/norms),
linear schedule with `--warmup-ratio` warmup, seed `--seed`, the [CLS] classification head, CPU. Each side runs in
its own process and its wall time covers everything (start-up, tokenization with a cold cache, training, the final
dev evaluation). Ours uses its defaults for speed (dynamic padding, length-grouped batches) and none of the quality
options (both orders, head lr, ...). The peer pads to `--peer-padding` (`max_length` = `run_glue.py`'s default
`pad_to_max_length=True`; `dynamic` = `DataCollatorWithPadding`). Like the peer, ours evaluates once after training
and writes no checkpoints (`--ours-as-configured`: every epoch, with the config's checkpoints).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from timing import ChildLoad

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "mrpc"


def run_ours(args, workdir: Path) -> dict:
    command = [sys.executable, str(ROOT / "main.py"), "fit", "--config", str(ROOT / "configs" / "mrpc_minilm.yaml"),
               "--seed_everything", str(args.seed), "--trainer.max_epochs", str(args.epochs),
               "--trainer.logger.init_args.save_dir", str(workdir), "--trainer.enable_progress_bar", "false",
               "--model.learning_rate", str(args.lr), "--model.head_learning_rate", "null",
               "--model.layer_decay", "1.0", "--model.weight_decay", str(args.weight_decay),
               "--model.warmup_ratio", str(args.warmup_ratio), "--model.average_both_orders", "false",
               "--data.both_orders", "false", "--data.batch_size", str(args.batch_size),
               "--data.max_seq_length", str(args.max_length), "--data.seed", str(args.seed),
               *(["--trainer.limit_train_batches", str(args.max_steps)] if args.max_steps > 0 else []),
               *like_the_peer(args)]
    env = {**os.environ, "LBT_CACHE_DIR": str(workdir / "cache")}  # cold cache: tokenization is timed too
    started = time.perf_counter()
    with ChildLoad() as load:
        subprocess.run(command, check=True, env=env, cwd=workdir, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(next(workdir.glob("mrpc_minilm/version_*")))).Reload()
    last = {tag: events.Scalars(tag)[-1].value for tag in ("val/accuracy", "val/f1")}
    return {"dev_accuracy": round(last["val/accuracy"], 4), "dev_f1": round(last["val/f1"], 4),
            "wall_s": round(wall, 1), "other_load": load.other_load}


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

    set_seed(args.seed)
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
        warmup_steps=args.warmup_ratio, lr_scheduler_type="linear", seed=args.seed, eval_strategy="no",
        save_strategy="no", report_to="none", logging_steps=50, use_cpu=True, disable_tqdm=True)
    trainer = Trainer(model=model, args=training_args, train_dataset=train, eval_dataset=dev,
                      data_collator=DataCollatorWithPadding(tokenizer), compute_metrics=metrics)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", torch.get_num_threads())))
    trainer.train()
    result = trainer.evaluate()
    (workdir / "peer.json").write_text(json.dumps({"dev_accuracy": round(result["eval_accuracy"], 4),
                                                   "dev_f1": round(result["eval_f1"], 4)}))


def run_peer(args, workdir: Path) -> dict:
    command = [sys.executable, __file__, "--peer-child", str(workdir), *sys.argv[1:]]
    started = time.perf_counter()
    with ChildLoad() as load:
        subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    return {**json.loads((workdir / "peer.json").read_text()), "wall_s": round(wall, 1), "other_load": load.other_load}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--warmup-ratio", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-steps", type=int, default=-1,
                        help="stop both sides early (smoke tests, with --epochs 1); -1 = off")
    parser.add_argument("--which", choices=("both", "ours", "peer"), default="both")
    parser.add_argument("--ours-as-configured", action="store_true",
                        help="ours validates every epoch and writes its checkpoints (the peer does neither)")
    parser.add_argument("--peer-padding", choices=("max_length", "dynamic"), default="max_length")
    parser.add_argument("--peer-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.peer_child:
        return peer_main(args, Path(args.peer_child))
    recipe = {k: getattr(args, k) for k in ("epochs", "lr", "batch_size", "max_length", "weight_decay",
                                            "warmup_ratio", "seed", "peer_padding", "max_steps",
                                            "ours_as_configured")}
    with tempfile.TemporaryDirectory(prefix="mrpc_bench_") as tmp:
        out = {"bench": "mrpc_vs_hf", "model": "all-MiniLM-L6-v2", **recipe,
               "threads": int(os.environ.get("OMP_NUM_THREADS", "0")) or None}
        if args.which in ("both", "ours"):
            (Path(tmp) / "ours").mkdir()
            out["ours"] = run_ours(args, Path(tmp) / "ours")
        if args.which in ("both", "peer"):
            (Path(tmp) / "peer").mkdir()
            out["hf_trainer"] = run_peer(args, Path(tmp) / "peer")
        if "ours" in out and "hf_trainer" in out:
            out["speedup"] = round(out["hf_trainer"]["wall_s"] / out["ours"]["wall_s"], 2)
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
