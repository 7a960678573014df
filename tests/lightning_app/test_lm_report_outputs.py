"""`python main.py lm-report`'s three outputs on tiny real runs: the BCE on/off table with Δ columns over three kinds
of split, the per-example CE with length buckets and the best example, and two checkpoints compared."""

import json
import math
from pathlib import Path

import pytest
import yaml
from cli_helpers import PROJECT_ROOT, write_tiny_causal_config

from lightning_app.cli import cli_main
from lightning_app.tools.report import read_scalars

SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


def _fit(tmp_path: Path, bce_enabled: bool) -> Path:
    """A 4-step tiny run with a separate small set and 12 WikiText-2 lines; checkpoints at steps 2 and 4."""
    config_path = write_tiny_causal_config(tmp_path, SHARED_DATA)
    config = yaml.safe_load(config_path.read_text())
    small = tmp_path / "small.txt"  # pairs from the far end of the file: never in the tiny run's first 300 lines
    small.write_text("\n".join((SHARED_DATA / "tr-en" / "tur.txt").read_text().splitlines()[-6:]) + "\n")
    config["data"]["init_args"].update(extra_eval_files={"small": str(small)}, ood_eval_lines=12, max_seq_length=128)
    # full BCE weight from step 0, so 4 steps with and without it end apart (the lagged default is ~0 that early)
    config["model"]["init_args"].update(bce_enabled=bce_enabled, bce_schedule="linear", bce_warmup_steps=0,
                                        bce_start=5.0, bce_max=5.0)
    config["model"]["init_args"]["model_config"]["max_position_embeddings"] = 256  # room for a >64-token example
    config["trainer"].update(limit_val_batches=None)
    config["trainer"]["callbacks"][0]["init_args"]["every_n_train_steps"] = 2
    config_path.write_text(yaml.safe_dump(config))
    cli_main(["fit", "--config", str(config_path)])
    return next(p.parent.parent for p in (tmp_path / "runs").rglob("step4.ckpt"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    return {mode: _fit(tmp_path_factory.mktemp(mode), mode == "on") for mode in ("on", "off")}


def test_bce_table_has_both_modes_and_deltas_for_three_kinds_of_split(runs, tmp_path, capsys):
    out = tmp_path / "table.json"
    cli_main(["lm-report", "bce-table", "--run_dir", str(runs["on"]), "--other_run_dir", str(runs["off"]),
              "--output", str(out)])
    printed = capsys.readouterr().out
    assert "| split | eval loss, BCE on | eval loss, BCE off | Δ loss | perplexity, BCE on" in printed
    rows = {row["split"]: row for row in json.loads(out.read_text())}
    assert set(rows) == {"val", "val_small", "val_wikitext"}
    on, off = read_scalars(runs["on"]), read_scalars(runs["off"])
    for split, row in rows.items():
        assert row["loss_on"] == pytest.approx(on[f"{split}/loss"][-1][1])
        assert row["loss_off"] == pytest.approx(off[f"{split}/loss"][-1][1])
        assert row["loss_on"] != row["loss_off"]  # the two runs really differ
        expected = 100 * (row["perplexity_off"] - row["perplexity_on"]) / row["perplexity_on"]
        assert row["perplexity_delta_percent"] == pytest.approx(expected, abs=0.006)
        assert f"{row['perplexity_delta_percent']:+.2f}%" in printed


def test_examples_report_buckets_by_length_and_names_the_best(runs, tmp_path):
    long_text = " ".join(["The weather is nice today and we walk to the old market."] * 6)  # plain text
    eval_file = tmp_path / "texts.txt"
    eval_file.write_text(f"I am here.\tBuradayım.\n{long_text}\nTom is reading a book.\n")
    out = tmp_path / "examples.json"
    cli_main(["lm-report", "examples", "--ckpt_path", str(runs["on"] / "checkpoints" / "step4.ckpt"),
              "--eval_file", str(eval_file), "--output", str(out)])
    report = json.loads(out.read_text())
    rows = report["per_example"]
    assert len(rows) == 3 and [r["tokens"] > 64 for r in rows] == [False, True, False]
    buckets = report["mean_ce_by_length"]
    assert buckets["<=64"]["examples"] == 2 and buckets[">64"]["examples"] == 1
    assert buckets[">64"]["mean_ce"] == pytest.approx(rows[1]["ce"])
    assert buckets["<=64"]["mean_ce"] == pytest.approx((rows[0]["ce"] + rows[2]["ce"]) / 2, abs=1e-5)
    assert report["best"] == min(rows, key=lambda r: r["ce"])
    weighted = sum(r["ce"] * r["tokens"] for r in rows) / sum(r["tokens"] for r in rows)
    assert report["perplexity"] == pytest.approx(math.exp(weighted), rel=1e-4)


def test_compare_puts_two_checkpoints_side_by_side(runs, tmp_path, capsys):
    out = tmp_path / "compare.json"
    checkpoints = runs["on"] / "checkpoints"
    cli_main(["lm-report", "compare", "--ckpt_path", str(checkpoints / "step2.ckpt"), "--other_ckpt_path",
              str(checkpoints / "step4.ckpt"), "--eval_set", "val_small", "--output", str(out)])
    result = json.loads(out.read_text())
    first, second = result[str(checkpoints / "step2.ckpt")], result[str(checkpoints / "step4.ckpt")]
    assert first["perplexity"] != second["perplexity"]  # the two checkpoints are different networks
    row = result["comparison"]["rows"]["perplexity"]
    assert (row["first"], row["second"]) == (first["perplexity"], second["perplexity"])
    assert row["delta_percent"] == pytest.approx(100 * (row["second"] - row["first"]) / row["first"], abs=0.006)
    improved = sum(b["ce"] < a["ce"] for a, b in zip(first["per_example"], second["per_example"]))
    assert result["comparison"]["examples_improved"] == improved and result["comparison"]["examples"] == 6
    assert "| perplexity |" in capsys.readouterr().out
