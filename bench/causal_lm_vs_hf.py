"""Causal LM on Turkish-English: our CLI vs a plain Hugging Face `Trainer`, same model shape, data and steps.

Both train a bert-tiny-shaped `BertLMHeadModel` (is_decoder=True) from random weights at batch 1 on the same
128-token blocks (our `TranslationTextDataModule` builds them; the peer gets the very same blocks), then both are
scored the same way: token-weighted next-token CE over every validation block, perplexity = exp(CE). Prints one
JSON line per configuration.

    OMP_NUM_THREADS=2 python bench/causal_lm_vs_hf.py --steps 2000
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lightning_app.pretrained import embedded_model_dir  # noqa: E402

from data_modules.translation import TranslationTextDataModule  # noqa: E402
from lightning_app.report import read_scalars  # noqa: E402
from lightning_app.run_dirs import versions  # noqa: E402
from models.causal_lm import BERT_TINY  # noqa: E402


@torch.no_grad()
def validation_perplexity(model, blocks: list[list[int]]) -> float:
    model.eval()
    total, count = 0.0, 0
    for ids in blocks:
        input_ids = torch.tensor([ids])
        logits = model(input_ids=input_ids).logits[0, :-1].float()
        total += F.cross_entropy(logits, input_ids[0, 1:], reduction="sum").item()
        count += len(ids) - 1
    return math.exp(total / count)


def run_peer(datamodule: TranslationTextDataModule, steps: int, learning_rate: float, out: Path) -> dict:
    from transformers import BertConfig, BertLMHeadModel, Trainer, TrainingArguments

    torch.manual_seed(42)
    config = BertConfig(**BERT_TINY, vocab_size=len(datamodule.tokenizer), is_decoder=True,
                        pad_token_id=datamodule.tokenizer.pad_token_id)
    model = BertLMHeadModel(config)
    train = [{"input_ids": ids, "labels": ids} for ids in datamodule.splits["train"]["input_ids"] if len(ids) > 1]
    args = TrainingArguments(output_dir=str(out), per_device_train_batch_size=1, learning_rate=learning_rate,
                             max_steps=steps, warmup_steps=400, lr_scheduler_type="linear", weight_decay=0.01,
                             max_grad_norm=1.0, logging_steps=500, save_strategy="no", report_to=[], seed=42,
                             use_cpu=True, disable_tqdm=True)
    collate = lambda rows: {k: torch.tensor([r[k] for r in rows]) for k in ("input_ids", "labels")}  # noqa: E731
    trainer = Trainer(model=model, args=args, train_dataset=train, data_collator=collate)
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    return {"steps_per_s": round(steps / seconds, 2), "train_s": round(seconds, 1),
            "val_perplexity": round(validation_perplexity(model, datamodule.splits["validation"]["input_ids"]), 3)}


def run_ours(tokenizer: str | None, steps: int, save_dir: Path, extra: list[str]) -> dict:
    command = [sys.executable, "main.py", "fit", "--config", "configs/tr_en_bce_lm.yaml",
               "--trainer.max_steps", str(steps), "--trainer.logger.init_args.save_dir", str(save_dir), *extra]
    if tokenizer is not None:
        command += ["--data.init_args.tokenizer", tokenizer]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True)
    run_dir = versions(save_dir / "tr_en_bce_lm")[-1]  # numeric order: version_10 is newer than version_9
    scalars = read_scalars(run_dir)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(run_dir)).Reload()
    events = accumulator.Scalars("train/loss")  # wall times of logged training steps
    validations = [e.step for e in accumulator.Scalars("val/loss")]
    # training speed only, like the peer's train_runtime: the longest stretch of logged steps with no validation
    stretches, current = [], [events[0]]
    for event in events[1:]:
        if any(current[-1].step <= v < event.step for v in validations):  # a validation ran in between
            stretches.append(current)
            current = []
        current.append(event)
    stretch = max([*stretches, current], key=len)
    rate = (stretch[-1].step - stretch[0].step) / (stretch[-1].wall_time - stretch[0].wall_time)
    return {"steps_per_s": round(rate, 2), "val_perplexity": round(scalars["val/perplexity"][-1][1], 3),
            "run_dir": str(run_dir)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--peer_learning_rate", type=float, default=1e-3)
    parser.add_argument("--out", type=Path, default=Path("/tmp/causal_lm_bench"))
    parser.add_argument("--peer_only", action="store_true", help="(internal) run the peer and print its JSON")
    args = parser.parse_args()
    minilm = str(embedded_model_dir())
    if args.peer_only:
        datamodule = TranslationTextDataModule(tokenizer=minilm, ood_eval_lines=0)
        datamodule.setup("fit")
        print(json.dumps(run_peer(datamodule, args.steps, args.peer_learning_rate, args.out / "peer")))
        return
    # Every run is its own process, so no idle framework threads of one compete with the next for the 2 cores.
    peer_output = subprocess.run([sys.executable, __file__, "--peer_only", "--steps", str(args.steps),
                                  "--peer_learning_rate", str(args.peer_learning_rate), "--out", str(args.out)],
                                 check=True, capture_output=True, text=True).stdout
    peer = json.loads(peer_output.strip().splitlines()[-1])
    ours = run_ours(minilm, args.steps, args.out / "ours_minilm", [])
    print(json.dumps({"config": "tr_en_bce_lm, MiniLM tokenizer (like-for-like)", "steps": args.steps,
                      "ours_steps_per_s": ours["steps_per_s"], "peer_steps_per_s": peer["steps_per_s"],
                      "speedup": round(ours["steps_per_s"] / peer["steps_per_s"], 2),
                      "ours_val_perplexity": ours["val_perplexity"], "peer_val_perplexity": peer["val_perplexity"],
                      "peer_learning_rate": args.peer_learning_rate, "peer_train_s": peer["train_s"]}), flush=True)
    for label, extra in (("BCE on", []), ("BCE off", ["--model.init_args.bce_enabled", "false"])):
        result = run_ours(None, args.steps, args.out / f"ours_bpe_{label.split()[1]}", extra)
        print(json.dumps({"config": f"tr_en_bce_lm, trained BPE tokenizer, {label}", "steps": args.steps,
                          "ours_steps_per_s": result["steps_per_s"], "ours_val_perplexity": result["val_perplexity"],
                          "run_dir": result["run_dir"]}), flush=True)


if __name__ == "__main__":
    main()
