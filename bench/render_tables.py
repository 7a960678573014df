"""bench/README.md's issue-#25 tables, rendered from the JSON the benches write (never typed by hand).

    python bench/render_tables.py bench/results/*.json                 # print the Markdown
    python bench/render_tables.py bench/results/*.json --write bench/README.md

Reads any mix of JSON files (one object, or one object per line) from bench/mrpc_vs_hf.py, bench/ddp_overhead.py,
bench/ablation.py, bench/mrpc_padding.py, bench/causal_lm_vs_hf.py (its speed and quality lines) and
bench/mlm_throughput.py; a target with no record is shown as "not measured". `--write` replaces what lies between
the two marker lines of the README.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ablation import TRICKS

START, END = "<!-- issue25-tables:start -->", "<!-- issue25-tables:end -->"
KEEP_SHARE = 0.05  # a trick that saves less step time than this on every config, and no memory, goes


def read_records(paths: list[Path]) -> list[dict]:
    records = []
    for path in paths:
        text = path.read_text(encoding="utf-8").strip()
        try:
            records.append(json.loads(text))
        except json.JSONDecodeError:
            records += [json.loads(line) for line in text.splitlines() if line.strip().startswith("{")]
    return records


def _ratio(value: float | None, goal: float, extra: bool = True, condition: str = "") -> str:
    if value is None:
        return f"not measured | >= {goal}x{condition}"
    met = "met" if value >= goal and extra else "**not met**"
    return f"**{value:.2f}x** | >= {goal}x{condition}: {met}"


def _pm(summary: dict, key: str, digits: int = 3) -> str:
    return f"{summary[f'{key}_mean']:.{digits}f} ± {summary[f'{key}_sd']:.{digits}f}"


def _mrpc_measured(run: dict) -> str:
    ours, peer, epochs = run["ours"]["summary"], run["hf_trainer"]["summary"], run.get("epochs", 3)
    floor = f"; our matmuls alone at the machine's peak: {run['ours_matmul_floor_s']:.0f} s" \
        if "ours_matmul_floor_s" in run else ""
    return (f"F1 {_pm(ours, 'dev_f1')} vs {_pm(peer, 'dev_f1')}, wall {_pm(ours, 'wall_s', 0)} s vs "
            f"{_pm(peer, 'wall_s', 0)} s ({ours['runs']} seeds, {epochs} epoch{'s' * (epochs != 1)}){floor}")


def _made(record: dict | None) -> str:
    """Where and when a record was measured (records written before the benches recorded it say so)."""
    if not record or "machine" not in record:
        return "not recorded" if record else ""
    return f"{record['machine']['cpu']}, {record['commit']}, {record['date'][:10]}"


def target_rows(records: list[dict]) -> list[str]:
    by_bench = {r.get("bench"): r for r in records if r.get("bench") and not r.get("smoke")}
    rows = ["| target | measured | ratio | goal | machine, commit, date |", "|---|---|---|---|---|"]
    mrpc_runs = {r.get("precision", "32-true"): r for r in records
                 if r.get("bench") == "mrpc_vs_hf" and not r.get("smoke") and "speedup" in r}
    mrpc = mrpc_runs.get("32-true")
    if mrpc:
        rows.append(f"| MRPC vs `Trainer` (dynamic padding, group_by_length) | {_mrpc_measured(mrpc)} | "
                    f"{_ratio(mrpc['speedup'], 1.5, mrpc['f1_at_least_peer'], ' at >= its F1')} | {_made(mrpc)} |")
        if "speedup_vs_pad_to_128_seed0" in mrpc:
            rows.append(f"| MRPC vs `Trainer` padding to 128 (reference, seed {mrpc['seeds'][0]}) | | "
                        f"{mrpc['speedup_vs_pad_to_128_seed0']:.2f}x | none | {_made(mrpc)} |")
    else:
        rows.append("| MRPC vs `Trainer` (dynamic padding, group_by_length) | | not measured | >= 1.5x at >= its F1 "
                    "| |")
    for precision, run in sorted(mrpc_runs.items()):
        if precision != "32-true":  # both sides at that precision (the Trainer's bf16=True): a reference row
            rows.append(f"| MRPC vs `Trainer`, both {precision} (reference) | {_mrpc_measured(run)} | "
                        f"{run['speedup']:.2f}x | none | {_made(run)} |")
    causal = next((r for r in records if "ours_bce_on_speedup_vs_our_recipe" in r), None)
    for label, goal in (("on", 1.3), ("off", 1.4)):
        value = causal and causal[f"ours_bce_{label}_speedup_vs_our_recipe"]
        medians = causal and causal["median_steps_per_s"]
        measured = medians and f"{medians[f'ours_bce_{label}']} vs {medians['peer_our_recipe']} steps/s"
        rows.append(f"| causal LM, BCE {label}, vs `Trainer` on our recipe (median of rounds) | {measured or ''} | "
                    f"{_ratio(value, goal)} | {_made(causal)} |")
    if causal and "ours_bce_on_speedup_vs_our_recipe_bce" in causal:  # the target above is judged as filed: CE only
        medians = causal["median_steps_per_s"]
        rows.append(f"| causal LM, BCE on, vs a `Trainer` subclass training on CE + BCE too (recipe E's peer, "
                    f"reference) | {medians['ours_bce_on']} vs {medians['peer_our_recipe_bce']} steps/s | "
                    f"{causal['ours_bce_on_speedup_vs_our_recipe_bce']:.2f}x | none | {_made(causal)} |")
    for config, goal in (("micro", 2.5), ("mini", 4.0)):
        mlm = {r.get("precision", "32-true"): r for r in records if str(r.get("config", "")).startswith(f"{config}-b8")}
        fp32 = mlm.get("32-true")
        share = f"roofline share {fp32['roofline_share']}" if fp32 else ""
        rows.append(f"| MLM {config} vs `Trainer` | {share} | {_ratio(fp32 and fp32['speedup'], goal)} | "
                    f"{_made(fp32)} |")
        for precision, run in sorted(mlm.items()):
            if precision != "32-true":
                rows.append(f"| MLM {config} vs `Trainer`, both {precision} (reference) | {run['ours_ms_per_step']} "
                            f"vs {run['peer_ms_per_step']} ms per step | {run['speedup']:.2f}x | none | "
                            f"{_made(run)} |")
    ddp = by_bench.get("ddp_overhead")
    measured = ddp and f"{ddp['median_samples_per_s']['2x1']} vs {ddp['median_samples_per_s']['1x2']} samples/s"
    verdict = ddp and (": met" if ddp["ratio_2x1_over_1x2"] >= 0.9 else ": **not met**")
    rows.append(f"| DDP on CPU: 2 processes x 1 thread / 1 x 2 (MLM mini) | {measured or 'not measured'} | "
                f"{ddp['ratio_2x1_over_1x2'] if ddp else ''} | >= 0.90{verdict or ''} | {_made(ddp)} |")
    unreduced = ddp and ddp["median_samples_per_s"].get("2x1_no_allreduce")  # records before 21fdc85 lack it
    if unreduced:
        rows.append(f"| DDP on CPU, 2 x 1 with the all-reduce skipped (reference: the rest of DDP) | {unreduced} vs "
                    f"{ddp['median_samples_per_s']['1x2']} samples/s | "
                    f"{unreduced / ddp['median_samples_per_s']['1x2']:.3f} | none | {_made(ddp)} |")
    return rows


def ablation_table(records: list[dict]) -> list[dict]:
    """Each (config, trick) row from the latest real ablation run that has it, shown after the baseline of that
    same run (a share is always against its own run's baseline): a later run of some tricks (`--tricks`) or
    configs replaces only those rows, and its baseline appears beside the earlier run's while both are in use.
    Rows of a trick since removed (no longer in bench/ablation.py) stay in their record, out of the table."""
    runs = sorted((r for r in records if r.get("bench") == "ablation" and not r.get("smoke")),
                  key=lambda r: r.get("date", ""))
    latest: dict[tuple[str, str], int] = {}  # (config, trick) -> index of the run whose row is shown
    for index, run in enumerate(runs):
        for row in run["rows"]:
            if row["saves"] is not None and row["switched_off"] in TRICKS:
                latest[(row["config"], row["switched_off"])] = index
    configs = dict.fromkeys(row["config"] for run in runs for row in run["rows"])
    table = []
    for config in configs:
        for index in sorted({i for (c, _), i in latest.items() if c == config}):
            run = runs[index]
            table += [{**row, "steps": run.get("steps"), "commit": run.get("commit"),
                       "cpu": run.get("machine", {}).get("cpu")} for row in run["rows"]
                      if row["config"] == config and (row["saves"] is None
                                                      or latest.get((config, row["switched_off"])) == index)]
    return table


def ablation_rows(records: list[dict]) -> list[str]:
    table = ablation_table(records)
    rows = ["| config | switched off | steps/s (median) | step time it saves | peak RSS MB | "
            "timed steps, commit, machine |", "|---|---|---|---|---|---|"]
    if not table:
        return [*rows, "| every config | every trick | not measured | | | |"]
    for row in table:
        saves = "" if row["saves"] is None else f"{row['saves']:.1%}"
        rows.append(f"| {row['config']} | {row['switched_off']} | {row['median_steps_per_s']} | {saves} | "
                    f"{row['peak_rss_mb']} | {row['steps']}, {row['commit'] or 'unrecorded'}"
                    f"{', ' + row['cpu'] if row['cpu'] else ''} |")
    return rows


def removal_candidates(records: list[dict]) -> list[str]:
    """Tricks that save < 5% of step time on every config they serve (memory is judged by hand from the table)."""
    shares: dict[str, list[float]] = {}
    for row in ablation_table(records):
        if row["saves"] is not None:
            shares.setdefault(row["switched_off"], []).append(row["saves"])
    return sorted(trick for trick, values in shares.items() if max(values) < KEEP_SHARE)


def padding_line(records: list[dict]) -> str:
    padding = next((r for r in records if r.get("bench") == "mrpc_padding"), None)
    if padding is None:
        return "MRPC padding inside length-grouped batches: not measured."
    return (f"MRPC padding (bench/mrpc_padding.py, {padding['pairs']} training pairs, batch {padding['batch_size']}): "
            f"padded share of token work {padding['grouped']['linear']:.1%} length-grouped, "
            f"{padding['dynamic_random']['linear']:.1%} dynamic in random order, "
            f"{padding['pad_to_max_length']['linear']:.1%} padded to 128; attention cells "
            f"{padding['grouped']['attention']:.1%} grouped.")


def causal_quality_line(records: list[dict]) -> str:
    """Held-out perplexity at equal steps: ours (BCE on, off) and every peer, from the like-for-like quality lines."""
    quality = {r["config"].rsplit(", ", 1)[1]: r for r in records
               if str(r.get("config", "")).startswith("tr_en_bce_lm, MiniLM tokenizer (like-for-like)")}
    if not quality:
        return "Causal LM quality at equal steps: not measured."
    first = next(iter(quality.values()))
    peers = {key.removeprefix("peer_"): value for key, value in first.items() if key.startswith("peer_")}
    ours = ", ".join(f"{run['ours_val_perplexity']} with {label}" for label, run in quality.items())
    shown = ", ".join(f"{name} (lr {peer['learning_rate']}, dropout {peer['dropout']}{', CE + BCE' * peer['bce']}) "
                      f"{peer['val_perplexity']}" for name, peer in peers.items())  # each peer's settings as recorded
    return (f"Causal LM quality at equal steps (bench/causal_lm_vs_hf.py, {first['steps']} steps, MiniLM tokenizer, "
            f"held-out perplexity = exp of the token-weighted CE, one seed each): ours {ours}; the `Trainer` {shown} "
            f"({_made(first)}).")


def render(records: list[dict]) -> str:
    candidates = removal_candidates(records)
    note = ", ".join(candidates) if candidates else "none (or not measured)"
    return "\n".join([START, "", *target_rows(records), "", *ablation_rows(records), "",
                      f"Tricks under {KEEP_SHARE:.0%} of step time on every config they serve: {note}.", "",
                      padding_line(records), "", causal_quality_line(records), "", END])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("records", nargs="*", type=Path)
    parser.add_argument("--write", type=Path, help="the README whose marked block is replaced")
    args = parser.parse_args()
    block = render(read_records(args.records))
    if args.write is None:
        print(block)
        return
    text = args.write.read_text(encoding="utf-8")
    head, rest = text.split(START, 1)
    args.write.write_text(head + block + rest.split(END, 1)[1], encoding="utf-8")


if __name__ == "__main__":
    main()
