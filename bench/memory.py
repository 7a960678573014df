"""Peak resident memory of a whole `main.py fit` process on awkwardly shaped and large inputs.

    OMP_NUM_THREADS=2 python bench/memory.py --workdir /tmp/lbt-memory

Two corpora, each written into --workdir from the real files in ../shared/data: a 50 MB file that is a single line
(Tiny Shakespeare repeated, newlines removed) and a ~100 MB corpus of ordinary lines (WikiText-2 train, ten
times). Each is tokenized from a cold cache and trained for a few steps of a micro BERT; one JSON line per corpus:
file size, wall time and the process's peak RSS (from `wait4`), against the 2 GB bound of issue 14.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED = PROJECT_ROOT.parent / "shared" / "data"
MICRO = {"model_type": "bert", "hidden_size": 192, "num_hidden_layers": 3, "num_attention_heads": 4,
         "intermediate_size": 768, "max_position_embeddings": 512, "vocab_size": 30522}


def single_line(path: Path, megabytes: int = 50) -> Path:
    text = (SHARED / "custom-txt" / "tinyshakespeare.txt").read_text().replace("\n", " ")
    with path.open("w") as handle:
        while handle.tell() < megabytes * 1024 * 1024:
            handle.write(text)
    return path


def many_lines(path: Path, copies: int = 10) -> Path:
    text = (SHARED / "wikitext-2" / "wiki.train.tokens").read_text()
    path.write_text(text * copies)
    return path


def peak_rss(train_file: Path, workdir: Path) -> dict:
    validation = SHARED / "custom-txt" / "train.txt"
    run_dir = tempfile.mkdtemp(dir=workdir, prefix=f"run-{train_file.stem}-")  # the run writes here, not the source
    command = [sys.executable, str(PROJECT_ROOT / "main.py"), "fit", "--config",
               str(PROJECT_ROOT / "configs" / "wikitext2_bert_micro.yaml"), "--trainer.default_root_dir", run_dir,
               "--data", "data_modules.CustomTextDataModule", "--data.train_file", str(train_file),
               "--data.validation_file", str(validation), "--data.cache_dir", str(workdir / f"cache-{train_file.stem}"),
               "--model.model_config", json.dumps(MICRO), "--trainer.max_steps", "20", "--trainer.max_epochs", "1",
               "--trainer.limit_val_batches", "5", "--trainer.logger", "false", "--trainer.callbacks", "[]",
               "--trainer.enable_checkpointing", "false", "--trainer.enable_progress_bar", "false"]
    start = time.perf_counter()
    with (workdir / f"{train_file.stem}.log").open("w") as log:
        process = subprocess.Popen(command, cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
    return {"bench": "memory", "corpus": train_file.name, "mb": round(train_file.stat().st_size / 2**20, 1),
            "exit": os.waitstatus_to_exitcode(status), "wall_s": round(time.perf_counter() - start, 1),
            "peak_rss_mb": round(usage.ru_maxrss / 1024), "under_2gb": usage.ru_maxrss < 2 * 1024 * 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/lbt-memory"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    for corpus in (single_line(args.workdir / "one_line_50mb.txt"), many_lines(args.workdir / "wikitext2_x10.txt")):
        print(json.dumps(peak_rss(corpus, args.workdir)), flush=True)


if __name__ == "__main__":
    main()
