"""Quality at equal optimizer steps: our `wikitext2_bert_mini` recipe vs a Hugging Face `Trainer` run of it.

Both sides train the same BERT-mini (3 x 256, bert-base-uncased vocabulary) from random weights on the same
WikiText-2 blocks (our data module's cached blocks of 128 tokens) for `--steps` optimizer steps with the same
schedule (AdamW lr 5e-4, wd 0.01, 6% warmup, linear decay to 0 at `--steps`, clip 1.0, batch 8). Each model is
then scored by the same function: token-weighted masked-LM cross-entropy on the validation split with the data
module's fixed evaluation masks. The peer also reports its own `Trainer.evaluate()` loss (random masks).

    OMP_NUM_THREADS=2 python bench/mlm_quality_vs_hf.py --side ours --steps 1200
    OMP_NUM_THREADS=2 python bench/mlm_quality_vs_hf.py --side peer --steps 1200

One JSON line per run: side, steps, wall_s, val_loss, val_perplexity (and peer_own_eval_loss).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time

import torch
import torch.nn.functional as F

from data_modules import WikiText2DataModule
from data_modules.masked_lm import EVAL_EPOCH
from models.sparse_mlm_head import masked_logits

CONFIG = "configs/wikitext2_bert_mini.yaml"
MINI = {"hidden_size": 256, "num_hidden_layers": 3, "num_attention_heads": 4, "intermediate_size": 1024,
        "max_position_embeddings": 512, "vocab_size": 30522}


@torch.no_grad()
def masked_eval(model, datamodule) -> tuple[float, float]:
    """(token-weighted CE, its exp) over the validation split with the data module's fixed masks."""
    model.eval()
    total, count = 0.0, 0
    for batch in datamodule.val_dataloader():
        ids, labels = datamodule.masker(batch["input_ids"], batch["index"], EVAL_EPOCH)
        logits, targets = masked_logits(model, ids, batch["attention_mask"], labels)
        total += F.cross_entropy(logits.float(), targets, reduction="sum").item()
        count += targets.numel()
    return total / count, math.exp(total / count)


def run_ours(steps: int, run_dir: str) -> dict:
    from lightning_app.cli import cli_main

    start = time.perf_counter()
    cli = cli_main(["fit", "--config", CONFIG, "--trainer.max_steps", str(steps), "--trainer.val_check_interval",
                    str(steps), "--trainer.logger.init_args.save_dir", run_dir, "--trainer.enable_progress_bar",
                    "false"])
    wall = time.perf_counter() - start
    loss, perplexity = masked_eval(cli.model.model, cli.datamodule)
    return {"side": "ours", "wall_s": round(wall, 1), "val_loss": round(loss, 4),
            "val_perplexity": round(perplexity, 2),
            "logged_val_perplexity": round(float(cli.trainer.callback_metrics["val/perplexity"]), 2)}


def run_peer(steps: int, run_dir: str) -> dict:
    from transformers import (
        BertConfig,
        BertForMaskedLM,
        DataCollatorForLanguageModeling,
        Trainer,
        TrainingArguments,
        set_seed,
    )

    datamodule = WikiText2DataModule(max_seq_length=128, batch_size=8, eval_batch_size=16)
    datamodule.setup("fit")
    set_seed(42)
    model = BertForMaskedLM(BertConfig(**MINI))
    args = TrainingArguments(output_dir=run_dir, per_device_train_batch_size=8, per_device_eval_batch_size=16,
                             learning_rate=5e-4, weight_decay=0.01, warmup_steps=int(round(0.06 * steps)),
                             lr_scheduler_type="linear", max_steps=steps, max_grad_norm=1.0, logging_steps=100,
                             save_strategy="no", eval_strategy="no", report_to=[], seed=42, use_cpu=True,
                             disable_tqdm=True)
    collator = DataCollatorForLanguageModeling(datamodule.tokenizer, mlm_probability=0.15)
    trainer = Trainer(model=model, args=args, data_collator=collator, train_dataset=datamodule.splits["train"],
                      eval_dataset=datamodule.splits["validation"])
    start = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - start
    own = trainer.evaluate()["eval_loss"]
    loss, perplexity = masked_eval(model, datamodule)
    return {"side": "peer", "wall_s": round(wall, 1), "val_loss": round(loss, 4),
            "val_perplexity": round(perplexity, 2),
            "peer_own_eval_loss": round(own, 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", choices=["ours", "peer"], required=True)
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--run_dir", default="/tmp/mlm_quality_runs")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    result = (run_ours if args.side == "ours" else run_peer)(args.steps, f"{args.run_dir}/{args.side}")
    print(json.dumps({"config": "wikitext2_bert_mini", "steps": args.steps, "device": "cpu",
                      "threads": torch.get_num_threads(), **result}), flush=True)


if __name__ == "__main__":
    main()
