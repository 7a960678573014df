"""How much padding is left in MRPC's training batches: a count, no timing (issue #25, "fewer FLOPs").

    python bench/mrpc_padding.py                      # the real train set, batch 32, both orders (the config)
    python bench/mrpc_padding.py --no-both-orders --batch-size 16

Tokenizes /work/shared/data/mrpc/train.tsv with the embedded MiniLM tokenizer (max length 128, as
configs/mrpc_minilm.yaml) and counts, for each batching scheme, the share of the step's work spent on padding:
token-linear work (embeddings, QKV/FFN matmuls: padded tokens / all tokens) and attention work (scores over T x T
per row: padded score cells / all cells). Schemes: pad to 128 (the `Trainer`'s old default), dynamic padding in a
random order, our length grouping (`LengthGroupedSampler`, 3 epochs), and the floor any bucket scheme could reach
(the whole set sorted). Unpadded (packed) attention would remove all of the grouped padding; the JSON line says how
much that is.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def padding_shares(lengths: list[int], order: list[int], batch_size: int, pad_to: int | None = None) -> dict:
    """{"linear": padded token share, "attention": padded score-cell share} over the batches of `order`."""
    real = padded = real_cells = cells = 0
    for start in range(0, len(order), batch_size):
        batch = [lengths[i] for i in order[start: start + batch_size]]
        width = pad_to or max(batch)
        real, padded = real + sum(batch), padded + width * len(batch)
        real_cells, cells = real_cells + sum(n * n for n in batch), cells + width * width * len(batch)
    return {"linear": round(1 - real / padded, 4), "attention": round(1 - real_cells / cells, 4)}


def train_lengths(args) -> list[int]:
    from data_modules.mrpc import MRPCDataModule

    data = MRPCDataModule(data_dir=args.data_dir, batch_size=args.batch_size, both_orders=args.both_orders,
                          max_seq_length=args.max_length)
    data.prepare_data()
    data.setup("fit")
    return [len(ids) for ids in data.splits["train"]["input_ids"]]


def main() -> None:
    from data_modules.length_grouped import length_grouped_order

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data" / "mrpc"))
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--both-orders", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    lengths = train_lengths(args)
    size, batch = len(lengths), args.batch_size
    grouped = [padding_shares(lengths, length_grouped_order(lengths, batch, 50, 0, e), batch)
               for e in range(args.epochs)]
    shuffled = [padding_shares(lengths, torch.randperm(size, generator=torch.Generator().manual_seed(e)).tolist(),
                               batch) for e in range(args.epochs)]
    mean = {kind: {k: round(sum(s[k] for s in runs) / len(runs), 4) for k in ("linear", "attention")}
            for kind, runs in (("grouped", grouped), ("dynamic_random", shuffled))}
    print(json.dumps({"bench": "mrpc_padding", "pairs": size, "batch_size": batch, "both_orders": args.both_orders,
                      "mean_length": round(sum(lengths) / size, 1), "max_length": max(lengths),
                      "pad_to_max_length": padding_shares(lengths, list(range(size)), batch, args.max_length),
                      **mean,
                      "sorted_floor": padding_shares(lengths, sorted(range(size), key=lengths.__getitem__), batch)}))


if __name__ == "__main__":
    main()
