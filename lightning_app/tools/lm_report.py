"""Analysis tools for `CausalLanguageModel` runs: the reference recipe's evaluation, in three commands.

    # per-example report: every example's CE, token count and perplexity, CE per length bucket (<=64 tokens vs
    # longer), the best example and the hardest/easiest N
    python main.py lm-report examples --ckpt_path runs/tr_en_bce_lm/version_0/checkpoints/step2000.ckpt \\
        --eval_set val --output report.json
    # two checkpoints of a run on the same examples (e.g. step 1,000 vs 2,000): figures side by side with the change
    python main.py lm-report compare --ckpt_path .../step1000.ckpt --other_ckpt_path .../step2000.ckpt
    # BCE on vs off: eval loss and perplexity of two runs (same seed) on every validation split they logged (the
    # run's validation, extra sets such as a separate small file, WikiText-2's first lines), with the change in %
    python main.py lm-report bce-table --run_dir runs/tr_en_bce_lm/version_0 --other_run_dir .../version_1

`--eval_set` is `val` (held-out pairs, one example per text), `val_wikitext` (out of domain) or another extra set;
`--eval_file` scores a file of `English<TAB>Turkish` lines or plain text instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from foundation.errors import ConfigError
from lightning_app.tools.lm_scoring import compare_summaries, example_texts, load_run, score_examples, summarize
from lightning_app.tools.lm_tables import bce_on_off_markdown, bce_on_off_rows, comparison_markdown


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="main.py lm-report", description=__doc__, allow_abbrev=False,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["examples", "compare", "bce-table"])
    parser.add_argument("--ckpt_path", type=Path)
    parser.add_argument("--other_ckpt_path", type=Path, help="second checkpoint, for compare")
    parser.add_argument("--run_dir", type=Path, help="run directory with BCE on, for bce-table")
    parser.add_argument("--other_run_dir", type=Path, help="run directory with BCE off, for bce-table")
    parser.add_argument("--eval_set", default="val")
    parser.add_argument("--eval_file")
    parser.add_argument("--top_n", type=int, default=10)
    parser.add_argument("--output", type=Path, help="JSON file to write")
    args = parser.parse_args(argv)
    needed = {"bce-table": ("run_dir", "other_run_dir"), "compare": ("ckpt_path", "other_ckpt_path"),
              "examples": ("ckpt_path",)}[args.command]
    missing = [f"--{name}" for name in needed if getattr(args, name) is None]
    if missing:
        parser.error(f"lm-report {args.command} needs {' and '.join(missing)}")
    return args


def examples_report(ckpt: Path, args: argparse.Namespace) -> dict:
    model, datamodule = load_run(ckpt)
    report = summarize(score_examples(model, datamodule, example_texts(datamodule, args.eval_set, args.eval_file)),
                       args.top_n)
    print(f"{ckpt}: {report['examples']} examples, token-weighted CE {report['token_weighted_ce']}, perplexity "
          f"{report['perplexity']}, mean CE by length {json.dumps(report['mean_ce_by_length'])}; best example "
          f"(CE {report['best']['ce']}): {report['best']['text']!r}")
    return report


def run(args: argparse.Namespace) -> dict | list:
    if args.command == "bce-table":
        rows = bce_on_off_rows(args.run_dir, args.other_run_dir)
        print(bce_on_off_markdown(rows))
        return rows
    if args.command == "examples":
        return examples_report(args.ckpt_path, args)
    first, second = (examples_report(ckpt, args) for ckpt in (args.ckpt_path, args.other_ckpt_path))
    comparison = compare_summaries(first, second)
    print(comparison_markdown(args.ckpt_path.name, args.other_ckpt_path.name, comparison))
    return {"comparison": comparison, str(args.ckpt_path): first, str(args.other_ckpt_path): second}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        if args.output is not None and (args.output.exists() or args.output.is_symlink()):
            raise ConfigError(f"--output {args.output} already exists; lm-report never replaces a file: pass a new "
                              "file name.")
        result = run(args)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    if args.output:
        args.output.write_text(json.dumps(result, indent=1, ensure_ascii=False))
        print(f"Wrote {args.output}")
