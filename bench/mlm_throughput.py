"""Masked-LM training-step throughput: our Lightning step vs Hugging Face `Trainer` + `BertForMaskedLM` +
`DataCollatorForLanguageModeling`, on the same model configuration, WikiText-2 blocks, batch and device.

    OMP_NUM_THREADS=2 python bench/mlm_throughput.py                       # micro (8K WordPiece) + mini, batch 8
    OMP_NUM_THREADS=2 python bench/mlm_throughput.py --configs micro --compile

Both sides train from the same random initialisation with AdamW, dropout 0.1, clip 1.0, and are timed between
the starts of optimizer steps `--warmup` and `--warmup + --steps` (data loading and masking included). One JSON
line per configuration: ms per step for both, speedup (peer / ours), our tokens/s, peak resident memory (CPU) or
peak GPU memory, model FLOPs per step (counted with `torch.utils.flop_counter` on our sparse-head step, forward +
backward), and our share of the matmul roofline = FLOPs per step / step time / the FLOP/s of a large fp32 matmul
measured here.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import torch
from mfu import flops_per_token, peak_flops_per_s
from records import provenance
from timing import StepClock

from data_modules import WikiText2DataModule
from models import MaskedLanguageModel

CONFIGS = {  # name -> (encoder shape, trained WordPiece vocabulary or None = bert-base-uncased's)
    "micro": ({"hidden_size": 192, "num_hidden_layers": 3, "num_attention_heads": 4, "intermediate_size": 768}, 8000),
    "mini": ({"hidden_size": 256, "num_hidden_layers": 3, "num_attention_heads": 4, "intermediate_size": 1024}, None),
    "base": ({"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072}, None),
    "tiny": ({"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 128}, None),
}


def matmul_flops_per_s(device: str, size: int = 2048, reps: int = 10, trials: int = 5,
                       dtype: torch.dtype = torch.float32) -> float:
    """The best of `trials` timings of `reps` (size x size) matmuls: a peak, so a momentarily busy machine
    cannot lower it (a lower peak would raise every roofline share)."""
    a, b = (torch.randn(size, size, device=device, dtype=dtype) for _ in range(2))
    for _ in range(2):
        a @ b
    best = 0.0
    for _ in range(trials):
        _sync(device)
        start = time.perf_counter()
        for _ in range(reps):
            a @ b
        _sync(device)
        best = max(best, 2 * size**3 * reps / (time.perf_counter() - start))
    return best


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def step_flops(model: MaskedLanguageModel, batch: dict) -> int:
    """FLOPs of one forward + backward of our step on `batch` (sparse head: only masked rows)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        loss, _, _ = model._masked_loss(batch)
        loss.backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def run_ours(model_config: dict, datamodule, steps: int, warmup: int, device: str, compile: bool,
             fast_dropout: bool = True, precision: str = "32-true") -> StepClock:
    import lightning as L

    clock = StepClock()

    class Clock(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            _sync(device)
            clock.tick()

    L.seed_everything(0)
    model = MaskedLanguageModel(model_config=model_config, learning_rate=5e-4, warmup_ratio=0.06, compile=compile,
                                fast_dropout=fast_dropout)
    trainer = L.Trainer(accelerator=device, devices=1, precision=precision, max_steps=warmup + steps + 1,
                        gradient_clip_val=1.0, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        limit_val_batches=0, num_sanity_val_steps=0,
                        callbacks=[Clock()])
    trainer.fit(model, datamodule=datamodule)
    return clock


def run_peer(model_config: dict, datamodule, steps: int, warmup: int, device: str,
             precision: str = "32-true") -> StepClock:
    from transformers import (
        BertConfig,
        BertForMaskedLM,
        DataCollatorForLanguageModeling,
        Trainer,
        TrainerCallback,
        TrainingArguments,
        set_seed,
    )

    clock = StepClock()

    class Clock(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            _sync(device)
            clock.tick()

    set_seed(0)
    model = BertForMaskedLM(BertConfig(**model_config))
    args = TrainingArguments(output_dir="/tmp/mlm_throughput_peer", per_device_train_batch_size=datamodule.batch_size,
                             learning_rate=5e-4, weight_decay=0.01, warmup_steps=0.06, max_steps=warmup + steps + 1,
                             max_grad_norm=1.0, logging_steps=10_000, save_strategy="no", report_to=[], seed=0,
                             use_cpu=device == "cpu", disable_tqdm=True, bf16=precision.startswith("bf16"))
    collator = DataCollatorForLanguageModeling(datamodule.tokenizer, mlm_probability=0.15)
    Trainer(model=model, args=args, data_collator=collator, train_dataset=datamodule.splits["train"],
            callbacks=[Clock()]).train()
    return clock


def bench(name: str, batch_size: int, block_size: int, args, peak: float) -> dict:
    shape, vocab = CONFIGS[name]
    datamodule = WikiText2DataModule(max_seq_length=block_size, batch_size=batch_size,
                                     train_tokenizer=vocab is not None, vocab_size=vocab or 8000,
                                     data_dir=args.data_dir)
    datamodule.setup("fit")
    model_config = {"model_type": "bert", **shape, "vocab_size": len(datamodule.tokenizer)}
    probe = MaskedLanguageModel(model_config=model_config).to(args.device)
    batch = next(iter(datamodule.train_dataloader()))
    batch["input_ids"], batch["labels"] = datamodule.masker(batch["input_ids"], batch["index"], 0)
    flops = step_flops(probe, {k: v.to(args.device) if torch.is_tensor(v) else v for k, v in batch.items()})
    ours_clock = None if args.side == "peer" else run_ours(
        model_config, datamodule, args.steps, args.warmup, args.device, args.compile,
        fast_dropout=not args.no_fast_dropout, precision=args.precision)
    ours_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peer_clock = None if args.skip_peer or args.side == "ours" else run_peer(
        {k: v for k, v in model_config.items() if k != "model_type"}, datamodule, args.steps, args.warmup, args.device,
        args.precision)
    memory = ({"peak_gpu_mb": round(torch.cuda.max_memory_allocated() / 2**20)} if args.device == "cuda"
              else {"peak_rss_mb": round(ours_rss)})
    ours = ours_clock and ours_clock.ms_per_step(args.warmup)
    peer = peer_clock and peer_clock.ms_per_step(args.warmup)
    suffix = ("-compile" if args.compile else "") + ("-stock_dropout" if args.no_fast_dropout else "")
    device = torch.cuda.get_device_name() if args.device == "cuda" else f"cpu x{torch.get_num_threads()}"
    rates = [ms and batch_size * block_size / ms * 1000 for ms in (ours, peer)]  # tokens/s, None for a side not run
    return {"config": f"{name}-b{batch_size}-t{block_size}" + suffix, "device": device, "precision": args.precision,
            "params": sum(p.numel() for p in probe.parameters()), "steps_timed": args.steps,
            "ours_ms_per_step": ours and round(ours, 1), "peer_ms_per_step": peer and round(peer, 1),
            "ours_median_ms": ours_clock and round(ours_clock.median_ms(args.warmup), 1),
            "peer_median_ms": peer_clock and round(peer_clock.median_ms(args.warmup), 1),
            "other_load": [ours_clock and ours_clock.other_load(args.warmup),
                           peer_clock and peer_clock.other_load(args.warmup)],
            **memory, "gflop_per_step": round(flops / 1e9, 2), "matmul_gflop_per_s": round(peak / 1e9, 1),
            **step_time_fields(ours, peer, batch_size * block_size, flops, peak),
            **mfu_fields(probe.model, block_size, device, args.precision, *rates)}


def step_time_fields(ours_ms: float | None, peer_ms: float | None, batch_tokens: int, flops_per_step: float,
                     matmul_peak: float) -> dict:
    """Speedup, tokens/s and our roofline share from the two sides' ms per step (None for a side not run);
    `flops_per_step` and `matmul_peak` in the same unit (FLOP and FLOP/s, or GFLOP and GFLOP/s)."""
    return {"speedup": ours_ms and peer_ms and round(peer_ms / ours_ms, 2),
            "ours_tokens_per_s": ours_ms and round(batch_tokens / ours_ms * 1000),
            "peer_tokens_per_s": peer_ms and round(batch_tokens / peer_ms * 1000),
            "roofline_share": ours_ms and round(flops_per_step / (ours_ms / 1000) / matmul_peak, 3)}


def interleaved(name: str, args) -> dict:
    """`args.rounds` rounds of ours then the peer, each side in its own process (a peer run left our next step up
    to 1.6x slower in one process); ms per step is each side's median over rounds, because this machine's speed
    drifts over minutes (one-shot runs of the peer ranged 174.7 to 219.6 ms on micro)."""
    lines: dict[str, list[dict]] = {"ours": [], "peer": []}
    for _ in range(args.rounds):
        for side in ("ours", "peer") if not args.skip_peer else ("ours",):
            done = subprocess.run([sys.executable, __file__, *sys.argv[1:], "--configs", name, "--rounds", "1",
                                   "--side", side], check=True, capture_output=True, text=True)  # the last wins
            lines[side].append(json.loads(done.stdout.strip().splitlines()[-1]))
    ours = statistics.median(line["ours_ms_per_step"] for line in lines["ours"])
    peer = statistics.median(line["peer_ms_per_step"] for line in lines["peer"]) if lines["peer"] else None
    first = lines["ours"][0]
    peak = max(line["matmul_gflop_per_s"] for side in lines.values() for line in side)  # a peak: the best
    return {**first, "rounds": args.rounds, "ours_ms_per_step": round(ours, 1),
            "peer_ms_per_step": peer and round(peer, 1),
            "ours_ms_rounds": [line["ours_ms_per_step"] for line in lines["ours"]],
            "peer_ms_rounds": [line["peer_ms_per_step"] for line in lines["peer"]],
            "ours_median_ms": round(statistics.median(line["ours_median_ms"] for line in lines["ours"]), 1),
            "peer_median_ms": peer and round(statistics.median(line["peer_median_ms"] for line in lines["peer"]), 1),
            "other_load": [max(line["other_load"][0] for line in lines["ours"]),
                           max((line["other_load"][1] for line in lines["peer"]), default=None)],
            "peak_rss_mb": max(line.get("peak_rss_mb", 0) for line in lines["ours"]), "matmul_gflop_per_s": peak,
            **step_time_fields(ours, peer, args.batch_size * args.block_size, first["gflop_per_step"], peak),
            "ours_mfu": first["ours_mfu"] and round(first["ours_mfu"] * first["ours_ms_per_step"] / ours, 4),
            "peer_mfu": peer and lines["peer"][0]["peer_mfu"] and round(
                lines["peer"][0]["peer_mfu"] * lines["peer"][0]["peer_ms_per_step"] / peer, 4)}


def mfu_fields(model, block_size: int, device: str, precision: str, ours_tokens_per_s: float | None,
               peer_tokens_per_s: float | None) -> dict:
    """nanoGPT-formula MFU of each side that ran, where the device's dense peak is known (bench/mfu.py)."""
    peak = peak_flops_per_s(device, precision)
    per_token = flops_per_token(model, block_size)
    ours, peer = (round(rate * per_token / peak, 4) if peak and rate else None
                  for rate in (ours_tokens_per_s, peer_tokens_per_s))
    return {"peak_tflop_per_s": peak and peak / 1e12, "model_gflop_per_token": round(per_token / 1e9, 3),
            "ours_mfu": ours, "peer_mfu": peer}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["micro", "mini"], choices=sorted(CONFIGS))
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--block_size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=40, help="timed optimizer steps")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps first (allocator, compile)")
    parser.add_argument("--compile", action="store_true", help="torch.compile our encoder")
    parser.add_argument("--skip_peer", action="store_true")
    parser.add_argument("--rounds", type=int, default=3, help="alternate ours and the peer, each run in its own "
                        "process, this many times; medians over rounds")
    parser.add_argument("--side", choices=["both", "ours", "peer"], default="both", help=argparse.SUPPRESS)
    parser.add_argument("--no_fast_dropout", action="store_true", help="our model with stock dropout (A/B)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", default="32-true", help="Lightning precision; bf16-mixed = HF's bf16=True")
    parser.add_argument("--data_dir", help="WikiText-2 folder (default: ../shared/data/wikitext-2)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.side == "both" and (args.rounds > 1 or len(args.configs) > 1):
        for name in args.configs:
            print(json.dumps({**interleaved(name, args), **provenance()}), flush=True)
        return
    peak = matmul_flops_per_s(args.device, dtype=torch.bfloat16 if args.precision.startswith("bf16") else torch.float32)
    for name in args.configs:
        print(json.dumps({**bench(name, args.batch_size, args.block_size, args, peak), **provenance()}), flush=True)


if __name__ == "__main__":
    main()
