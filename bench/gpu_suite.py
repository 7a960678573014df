"""The GPU suite behind `bench/gpu_suite.sh`: four parts, one JSON line each, sized for < 8 minutes on one H100.

    python bench/gpu_suite.py                     # all parts on the GPU
    python bench/gpu_suite.py mlm causal          # some parts
    python bench/gpu_suite.py --dry-run           # CPU, tiny shapes (tests/bench/test_gpu_suite_dry_run.py)

Parts:
    mlm     BERT-base-shaped MLM (random init, bf16-mixed, blocks of 128, batch 128): ours vs the HF `Trainer`
            (bench/mlm_throughput.py), tokens/s and MFU by nanoGPT's formula with the card's dense peak.
    mrpc    ModernBERT-base-shaped classifier (random init, the real base shape built in code) on MRPC through
            `configs/mrpc.yaml` (bf16, batch 32, 2 epochs), wall time of the whole fit vs the seed's 4 min 29 s.
            The embedded MiniLM tokenizer's ids fit the 50,368-row vocabulary; special tokens are reconciled.
    causal  the causal LM of `configs/tr_en_bce_lm.yaml` (BCE on, MiniLM tokenizer): training steps/s.
    ddp     a 1-GPU DDP fit of `configs/wikitext2_bert_mini.yaml` (process group, DDP wrapper, checkpoints): ok.

Every part runs in this process through `lightning_app.cli.cli_main`, so wall times exclude interpreter start-up.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]

SEED_MRPC_WALL_S = 4 * 60 + 29  # the seed's ModernBERT-base MRPC fit (2 epochs, batch 32)
# answerdotai/ModernBERT-base's shape (config.json; paper table 4): GLU FFN of 2 x 1,152, local window 128
MODERNBERT_BASE = {"model_type": "modernbert", "hidden_size": 768, "num_hidden_layers": 22, "num_attention_heads": 12,
                   "intermediate_size": 1152, "vocab_size": 50368, "global_attn_every_n_layers": 3,
                   "local_attention": 128, "max_position_embeddings": 8192, "hidden_activation": "gelu",
                   "norm_eps": 1e-5, "norm_bias": False, "mlp_bias": False, "attention_bias": False,
                   "global_rope_theta": 160000.0, "local_rope_theta": 10000.0}
TINY_MODERNBERT = {"model_type": "modernbert", "hidden_size": 32, "num_hidden_layers": 3, "num_attention_heads": 2,
                   "intermediate_size": 48, "vocab_size": 50368, "global_attn_every_n_layers": 3,
                   "local_attention": 16, "max_position_embeddings": 128}
PARTS = ("mlm", "mrpc", "causal", "ddp")


def _device_fields(dry_run: bool) -> dict:
    device = "cpu" if dry_run else "cuda"
    name = f"cpu x{torch.get_num_threads()}" if dry_run else torch.cuda.get_device_name()
    return {"device": name, "accelerator": "cpu" if dry_run else "gpu", "torch_device": device}


def _fit(args: list[str]) -> tuple[object, float]:
    """`main.py fit` in this process; (the CLI object, wall seconds). bf16 + clipping + fused AdamW runs as is:
    models/optimization.py stops fused AdamW from claiming fp16 unscaling, which made Lightning refuse clipping."""
    from lightning_app.cli import cli_main

    started = time.perf_counter()
    cli = cli_main(["fit", *args])
    return cli, time.perf_counter() - started


def _small_wikitext(work: Path) -> Path:
    """The first 400 lines of WikiText-2 as train and validation split (dry runs: tokenized in a second)."""
    source = ROOT.parent / "shared" / "data" / "wikitext-2" / "wiki.train.tokens"
    lines = source.read_text(encoding="utf-8").splitlines()[:400]
    folder = work / "wikitext-2-small"
    folder.mkdir(parents=True, exist_ok=True)
    for split in ("train", "valid"):
        (folder / f"wiki.{split}.tokens").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def part_mlm(dry_run: bool, work: Path) -> dict:
    import mlm_throughput

    device = _device_fields(dry_run)
    settings = argparse.Namespace(steps=3 if dry_run else 40, warmup=2 if dry_run else 10, compile=False,
                                  skip_peer=False, side="both", no_fast_dropout=False, device=device["torch_device"],
                                  precision="bf16-mixed", data_dir=str(_small_wikitext(work)) if dry_run else None)
    peak = mlm_throughput.matmul_flops_per_s(settings.device, size=256 if dry_run else 8192, reps=2 if dry_run else 20,
                                             dtype=torch.bfloat16)
    line = mlm_throughput.bench("tiny" if dry_run else "base", 4 if dry_run else 128, 32 if dry_run else 128,
                                settings, peak)
    return {"part": "mlm_bert_base_shape", **line}


def part_mrpc(dry_run: bool, work: Path) -> dict:
    device = _device_fields(dry_run)
    shape = TINY_MODERNBERT if dry_run else MODERNBERT_BASE
    limits = ["--trainer.max_epochs", "1", "--trainer.limit_train_batches", "3", "--trainer.limit_val_batches", "2"] \
        if dry_run else []
    cli, wall = _fit(["--config", str(ROOT / "configs" / "mrpc.yaml"), "--model.pretrained_model", "null",
                      "--model.model_config", json.dumps(shape), "--trainer.accelerator", device["accelerator"],
                      "--trainer.devices", "1", "--trainer.precision", "bf16-mixed",
                      "--trainer.logger.init_args.save_dir", str(work / "mrpc_runs"), *limits])
    metrics = cli.trainer.callback_metrics
    return {"part": "mrpc_modernbert_base_shape", "device": device["device"], "precision": "bf16-mixed",
            "layers": shape["num_hidden_layers"], "hidden": shape["hidden_size"],
            "params": sum(p.numel() for p in cli.model.parameters()), "epochs": cli.trainer.current_epoch,
            "optimizer_steps": cli.trainer.global_step, "wall_s": round(wall, 1), "seed_wall_s": SEED_MRPC_WALL_S,
            "speedup_vs_seed": round(SEED_MRPC_WALL_S / wall, 2),
            "dev_accuracy": round(float(metrics["val/accuracy"]), 4), "dev_f1": round(float(metrics["val/f1"]), 4),
            "note": "random init: dev figures are not a quality result"}


def _small_pairs(work: Path) -> Path:
    lines = (ROOT.parent / "shared" / "data" / "tr-en" / "tur.txt").read_text().splitlines()[:400]
    path = work / "pairs.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def part_causal(dry_run: bool, work: Path) -> dict:
    from causal_lm_vs_hf import logged_speed

    from foundation.hub import embedded_model_dir

    device = _device_fields(dry_run)
    steps = 12 if dry_run else 1000
    small = ["--data.init_args.corpus_file", str(_small_pairs(work)), "--data.init_args.ood_eval_lines", "0",
             "--trainer.limit_val_batches", "2", "--trainer.log_every_n_steps", "2"] if dry_run else []
    cli, wall = _fit(["--config", str(ROOT / "configs" / "tr_en_bce_lm.yaml"),
                      "--data.init_args.tokenizer", str(embedded_model_dir()), "--trainer.max_steps", str(steps),
                      "--trainer.val_check_interval", str(steps), "--trainer.accelerator", device["accelerator"],
                      "--trainer.devices", "1", "--trainer.logger.init_args.save_dir", str(work / "causal_runs"),
                      *small])
    rate, validation_s = logged_speed(Path(cli.trainer.logger.log_dir))
    perplexity = float(cli.trainer.callback_metrics["val/perplexity"])
    return {"part": "causal_lm_bce", "device": device["device"], "precision": "32-true", "steps": steps,
            "steps_per_s": round(rate, 2), "validation_s": validation_s, "wall_s": round(wall, 1),
            "val_perplexity": round(perplexity, 3) if math.isfinite(perplexity) else None}


def part_ddp(dry_run: bool, work: Path) -> dict:
    from causal_lm_vs_hf import logged_speed

    device = _device_fields(dry_run)
    steps = 6 if dry_run else 200
    data = ["--data.init_args.data_dir", str(_small_wikitext(work))] if dry_run else []
    cli, wall = _fit(["--config", str(ROOT / "configs" / "wikitext2_bert_mini.yaml"), "--trainer.strategy", "ddp",
                      "--trainer.accelerator", device["accelerator"], "--trainer.devices", "1",
                      "--trainer.precision", "bf16-mixed", "--trainer.max_steps", str(steps),
                      "--trainer.val_check_interval", str(steps), "--trainer.limit_val_batches", "4",
                      "--trainer.log_every_n_steps", "2", "--trainer.logger.init_args.save_dir",
                      str(work / "ddp_runs"), *data])
    trainer = cli.trainer
    rate, _ = logged_speed(Path(trainer.logger.log_dir))
    loss = float(trainer.callback_metrics["val/loss"])
    checkpoints = sorted(p.name for p in Path(trainer.logger.log_dir, "checkpoints").glob("*.ckpt"))
    return {"part": "ddp_smoke_1gpu", "device": device["device"], "strategy": type(trainer.strategy).__name__,
            "world_size": trainer.world_size, "steps": trainer.global_step, "steps_per_s": round(rate, 2),
            "wall_s": round(wall, 1), "val_loss": round(loss, 4), "checkpoints": checkpoints,
            "ok": trainer.global_step == steps and math.isfinite(loss) and bool(checkpoints)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("parts", nargs="*", metavar="PART", help=f"any of {', '.join(PARTS)} (default: all)")
    parser.add_argument("--dry-run", action="store_true", help="CPU, tiny shapes, a few steps")
    args = parser.parse_args()
    unknown = set(args.parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown part(s) {sorted(unknown)}; choose from {', '.join(PARTS)}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if not args.dry_run and not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run on a GPU machine, or pass --dry-run")
    functions = {"mlm": part_mlm, "mrpc": part_mrpc, "causal": part_causal, "ddp": part_ddp}
    results = sys.stdout
    with tempfile.TemporaryDirectory(prefix="gpu_suite_") as tmp:
        for part in args.parts or PARTS:
            work = Path(tmp) / part
            work.mkdir()
            with contextlib.redirect_stdout(sys.stderr):  # logs and progress to stderr: stdout is JSON lines only
                line = functions[part](args.dry_run, work)
            print(json.dumps({"dry_run": args.dry_run, **line}), file=results, flush=True)


if __name__ == "__main__":
    main()
