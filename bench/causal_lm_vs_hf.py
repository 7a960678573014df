"""Causal LM on Turkish-English: our CLI vs a plain Hugging Face `Trainer`, same model shape, data and steps.

Both train a bert-tiny-shaped `BertLMHeadModel` (is_decoder=True) from random weights at batch 1 on the same
128-token blocks (our `TranslationTextDataModule` builds them; the peer gets the very same blocks), then both are
scored the same way: token-weighted next-token CE over every validation block, perplexity = exp(CE). The peer runs
three times: with the issue's untuned recipe (lr 1e-3, Hugging Face's default dropout 0.1) and with ours (lr 2e-3, no
dropout), so the perplexity comparison is also recipe-for-recipe, computing CE only; and on our recipe with the BCE
term as well (`our_recipe_bce`: recipe E's custom `Trainer` subclass, the same loss ours trains on with BCE on). Ours
runs with the BCE term on and off at the peer's vocabulary (the MiniLM tokenizer), then (unless --skip_bpe) with its
own trained BPE tokenizer.
Speed: optimizer steps per second over the longest stretch without validation (ours, from the logged wall times) and
over steps 50..end of `Trainer.train` (the peer, from a step clock). One JSON line per comparison.

    OMP_NUM_THREADS=2 python bench/causal_lm_vs_hf.py --steps 2000
    OMP_NUM_THREADS=2 python bench/causal_lm_vs_hf.py --skip_quality             # speed rounds only (~8 min)

The speed goal is judged on the first line: ours and every peer in alternating short runs (`--speed_rounds`,
`--speed_steps`), the median per side, because this machine's speed drifts over minutes.
"""

from __future__ import annotations

import argparse
import functools
import inspect
import json
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml
from records import provenance
from timing import ChildLoad

from data_modules.translation import TranslationTextDataModule
from foundation.hub import embedded_model_dir
from lightning_app.checkpointing.run_dirs import versions
from lightning_app.tools.report import read_scalars
from models.bce_term import scheduled_bce_weight, vocabulary_bce
from models.causal_lm import BERT_TINY, CausalLanguageModel

ROOT = Path(__file__).resolve().parents[1]
CONFIG = "configs/tr_en_bce_lm.yaml"


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


# name -> (learning rate, dropout, trains on CE + w * BCE as ours does with BCE on)
PEERS = {"untuned": (1e-3, 0.1, False), "our_recipe": (2e-3, 0.0, False), "our_recipe_bce": (2e-3, 0.0, True)}


@functools.cache  # read once: parsing the config took 2.8 ms, a cost the peer's every step would pay
def recipe_bce_settings() -> dict:
    """Our recipe's `bce_*` settings: those of `CONFIG` over `CausalLanguageModel`'s defaults."""
    settings = {name: parameter.default for name, parameter in inspect.signature(CausalLanguageModel).parameters.items()
                if name.startswith("bce_")}
    settings.update({name: value for name, value in yaml.safe_load((ROOT / CONFIG).read_text())["model"]["init_args"]
                     .items() if name.startswith("bce_")})
    return settings


def recipe_bce_weight(step: int) -> float:
    """w(step) of our recipe."""
    settings = recipe_bce_settings()
    return scheduled_bce_weight(step, settings["bce_schedule"], settings["bce_start"], settings["bce_max"],
                                settings["bce_warmup_steps"], settings["bce_boost_span"], settings["bce_lag_steps"])


def trainer_with_bce():
    """Recipe E's peer (`../shared/RECIPES.md`): a `Trainer` subclass adding w(step) * BCE to the model's CE, the
    BCE in the closed form of `models/bce_term.vocabulary_bce` over the full logits, which ran faster here than
    `binary_cross_entropy_with_logits` on a one-hot target (the form a user reaches for first; issue #25's note has
    the timings), so the peer runs its fastest correct form."""
    from transformers import Trainer

    class TrainerWithBce(Trainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            outputs = model(**inputs)
            logits = outputs.logits[:, :-1].reshape(-1, outputs.logits.shape[-1])  # (N, V), position t predicts t+1
            bce = vocabulary_bce(logits, inputs["labels"][:, 1:].reshape(-1))
            loss = outputs.loss + recipe_bce_weight(self.state.global_step) * bce
            return (loss, outputs) if return_outputs else loss

    return TrainerWithBce


def run_peer(datamodule: TranslationTextDataModule, steps: int, learning_rate: float, dropout: float,
             out: Path, evaluate: bool = True, bce: bool = False) -> dict:
    from transformers import BertConfig, BertLMHeadModel, Trainer, TrainerCallback, TrainingArguments

    class Clock(TrainerCallback):
        def __init__(self):
            self.starts: list[float] = []

        def on_step_begin(self, args, state, control, **kwargs):
            self.starts.append(time.perf_counter())

    torch.manual_seed(42)
    config = BertConfig(**BERT_TINY, vocab_size=len(datamodule.tokenizer), is_decoder=True,
                        pad_token_id=datamodule.tokenizer.pad_token_id, hidden_dropout_prob=dropout,
                        attention_probs_dropout_prob=dropout)
    model = BertLMHeadModel(config)
    train = [{"input_ids": ids, "labels": ids} for ids in datamodule.splits["train"]["input_ids"] if len(ids) > 1]
    args = TrainingArguments(output_dir=str(out), per_device_train_batch_size=1, learning_rate=learning_rate,
                             max_steps=steps, warmup_steps=400, lr_scheduler_type="linear", weight_decay=0.01,
                             max_grad_norm=1.0, logging_steps=500, save_strategy="no", report_to=[], seed=42,
                             use_cpu=True, disable_tqdm=True)
    collate = lambda rows: {k: torch.tensor([r[k] for r in rows]) for k in ("input_ids", "labels")}  # noqa: E731
    clock = Clock()
    trainer_class = trainer_with_bce() if bce else Trainer
    trainer = trainer_class(model=model, args=args, train_dataset=train, data_collator=collate, callbacks=[clock])
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    first = min(50, len(clock.starts) - 2)  # like ours: no start-up in the rate
    rate = (len(clock.starts) - 1 - first) / (clock.starts[-1] - clock.starts[first])
    perplexity = validation_perplexity(model, datamodule.splits["validation"]["input_ids"]) if evaluate else None
    return {"steps_per_s": round(rate, 2), "train_s": round(seconds, 1), "learning_rate": learning_rate,
            "dropout": dropout, "bce": bce, "val_perplexity": perplexity and round(perplexity, 3)}


def run_ours(tokenizer: str | None, steps: int, save_dir: Path, extra: list[str]) -> dict:
    command = [sys.executable, "main.py", "fit", "--config", CONFIG,
               "--trainer.max_steps", str(steps), "--trainer.val_check_interval", str(min(1000, steps)),
               "--trainer.logger.init_args.save_dir", str(save_dir), *extra]
    if tokenizer is not None:
        command += ["--data.init_args.tokenizer", tokenizer]
    with ChildLoad() as load:
        subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True)
    run_dir = versions(save_dir / "tr_en_bce_lm")[-1]  # numeric order: version_10 is newer than version_9
    scalars = read_scalars(run_dir)
    rate, validation_s = logged_speed(run_dir)
    perplexity = scalars["val/perplexity"][-1][1] if "val/perplexity" in scalars else None
    return {"steps_per_s": round(rate, 2), "validation_s": validation_s, "other_load": load.other_load,
            "val_perplexity": perplexity and round(perplexity, 3), "run_dir": str(run_dir)}


def logged_speed(run_dir: Path) -> tuple[float, float | None]:
    """(training steps/s, seconds per validation) from the TensorBoard wall times of a run.

    Steps/s is training speed only, like the peer's: over the longest stretch of logged `train/loss` steps with no
    validation in between. A validation's time is the gap from the last logged step before it to its `val/loss`,
    less the training steps in that gap at that rate."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(run_dir)).Reload()
    events = accumulator.Scalars("train/loss")
    validations = accumulator.Scalars("val/loss") if "val/loss" in accumulator.Tags()["scalars"] else []
    stretches, current = [], [events[0]]
    for event in events[1:]:
        if any(current[-1].step <= v.step < event.step for v in validations):  # a validation ran in between
            stretches.append(current)
            current = []
        current.append(event)
    stretch = max([*stretches, current], key=len)
    rate = (stretch[-1].step - stretch[0].step) / (stretch[-1].wall_time - stretch[0].wall_time)
    gaps = []
    for validation in validations:
        before = [e for e in events if e.step <= validation.step]
        if before:
            gaps.append(validation.wall_time - before[-1].wall_time - (validation.step - before[-1].step) / rate)
    return rate, round(sum(gaps) / len(gaps), 1) if gaps else None


def ours_vs_peers(config: str, steps: int, ours: dict, peers: dict[str, dict]) -> dict:
    """One JSON line: ours against every peer, speed and (CE-only) validation perplexity."""
    line = {"config": config, "steps": steps, "ours_steps_per_s": ours["steps_per_s"],
            "ours_val_perplexity": ours["val_perplexity"], "ours_validation_s": ours["validation_s"],
            "ours_other_load": ours["other_load"]}
    for name, peer in peers.items():
        keys = ("learning_rate", "dropout", "bce", "steps_per_s", "val_perplexity", "other_load")
        line[f"peer_{name}"] = {k: peer[k] for k in keys}
        line[f"speedup_vs_{name}"] = round(ours["steps_per_s"] / peer["steps_per_s"], 2)
    return line


def run_peer_process(name: str, steps: int, out: Path, evaluate: bool = True) -> dict:
    """One peer in its own process (no idle framework threads of one run compete with the next for the cores)."""
    command = [sys.executable, __file__, "--peer_only", name, "--steps", str(steps), "--out", str(out)]
    with ChildLoad() as load:
        output = subprocess.run(command + ([] if evaluate else ["--no_eval"]), check=True, capture_output=True,
                                text=True).stdout
    return {**json.loads(output.strip().splitlines()[-1]), "other_load": load.other_load}


def speed_rounds(minilm: str, rounds: int, steps: int, out: Path) -> dict:
    """Steps/s of ours (BCE on, BCE off) and both peers in `rounds` alternating rounds of short runs, no validation.

    This machine's speed drifts by up to ~30% over minutes (other virtual machines on the host; `other_load` only
    sees this one), so four long runs one after another compare badly; interleaving and taking each side's median
    over the rounds compares like with like."""
    no_validation = ["--trainer.limit_val_batches", "0"]
    runs = {"ours_bce_on": lambda i: run_ours(minilm, steps, out / f"speed_on_{i}", no_validation),
            "ours_bce_off": lambda i: run_ours(minilm, steps, out / f"speed_off_{i}",
                                               [*no_validation, "--model.init_args.bce_enabled", "false"]),
            **{f"peer_{name}": (lambda i, name=name: run_peer_process(name, steps, out / "speed", evaluate=False))
               for name in PEERS}}
    rates: dict[str, list[float]] = {name: [] for name in runs}
    for index in range(rounds):
        for name, run in runs.items():
            rates[name].append(run(index)["steps_per_s"])
    median = {name: statistics.median(values) for name, values in rates.items()}
    line = {"config": "tr_en_bce_lm, MiniLM tokenizer, speed in interleaved rounds", "rounds": rounds,
            "steps_per_run": steps, "steps_per_s": rates, "median_steps_per_s": median}
    for ours in ("ours_bce_on", "ours_bce_off"):
        for peer in PEERS:
            line[f"{ours}_speedup_vs_{peer}"] = round(median[ours] / median[f"peer_{peer}"], 2)
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=Path("/tmp/causal_lm_bench"))
    parser.add_argument("--skip_bpe", action="store_true", help="skip our runs with the trained BPE tokenizer")
    parser.add_argument("--speed_rounds", type=int, default=3, help="interleaved speed rounds (0 = none)")
    parser.add_argument("--speed_steps", type=int, default=400, help="optimizer steps per speed run")
    parser.add_argument("--skip_quality", action="store_true", help="only the speed rounds")
    parser.add_argument("--peer_only", choices=sorted(PEERS),
                        help="run only this peer and print its JSON line (our_recipe_bce is recipe E's peer)")
    parser.add_argument("--no_eval", action="store_true", help="(internal) the peer skips its validation")
    args = parser.parse_args()
    minilm = str(embedded_model_dir())
    if args.peer_only:
        datamodule = TranslationTextDataModule(tokenizer=minilm, ood_eval_lines=0)
        datamodule.setup("fit")
        learning_rate, dropout, bce = PEERS[args.peer_only]
        print(json.dumps(run_peer(datamodule, args.steps, learning_rate, dropout, args.out / args.peer_only,
                                  evaluate=not args.no_eval, bce=bce)))
        return
    if args.speed_rounds > 0:
        print(json.dumps({**speed_rounds(minilm, args.speed_rounds, args.speed_steps, args.out), **provenance()}),
              flush=True)
    if args.skip_quality:
        return
    peers = {name: run_peer_process(name, args.steps, args.out) for name in PEERS}
    for label, extra in (("BCE on", []), ("BCE off", ["--model.init_args.bce_enabled", "false"])):
        ours = run_ours(minilm, args.steps, args.out / f"ours_minilm_{label.split()[1]}", extra)
        print(json.dumps(ours_vs_peers(f"tr_en_bce_lm, MiniLM tokenizer (like-for-like), {label}", args.steps,
                                       ours, peers) | provenance()), flush=True)
    if args.skip_bpe:
        return
    for label, extra in (("BCE on", []), ("BCE off", ["--model.init_args.bce_enabled", "false"])):
        result = run_ours(None, args.steps, args.out / f"ours_bpe_{label.split()[1]}", extra)
        print(json.dumps({"config": f"tr_en_bce_lm, trained BPE tokenizer, {label}", "steps": args.steps,
                          "ours_steps_per_s": result["steps_per_s"], "ours_val_perplexity": result["val_perplexity"],
                          "ours_validation_s": result["validation_s"], "ours_other_load": result["other_load"],
                          "run_dir": result["run_dir"]}), flush=True)


if __name__ == "__main__":
    main()
