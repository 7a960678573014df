"""`python -m bench.reproduce`: the page renders from whatever records exist, says "not run yet" with the command
for the others and never shows a figure for weights this machine cannot obtain; --dry-run and --smoke keep the
command itself from rotting."""

import json

import pytest

from bench import reproduce
from bench.reproduce_render import BEGIN, END, render

PROSE = f"# Reproducing\n\nHand-written prose.\n\n{BEGIN}\nold table\n{END}\n\nAfter the table.\n"


def _record(name: str, figure: float, **ours) -> dict:
    return {"recipe": name, "figure": figure, "ours": ours, "peer": None, "notes": ["a note"], "wall_s": 12.3,
            "commands": [f"python main.py fit --config configs/{name}.yaml"], "commit": "abcdef1234", "smoke": False,
            "date": "2026-12-04T05:00:00+00:00", "machine": "x86_64 2 CPU cores", "versions": {"torch": "2"}}


def test_render_fills_only_the_generated_part_and_marks_missing_rows(tmp_path):
    docs = tmp_path / "reproduction.md"
    docs.write_text(PROSE)
    mini = _record("mini_bert", 84.0, ms_per_optimizer_step=84.0, ms_per_micro_batch=21.0)
    render({"mini_bert": mini, "custom_mlm": {**_record("custom_mlm", 30.0), "stand_in": True}}, docs)
    text = docs.read_text()
    assert text.startswith("# Reproducing\n\nHand-written prose.") and text.endswith("After the table.\n")
    assert "old table" not in text
    rows = {line.split(" | ")[0]: line for line in text.splitlines() if line.startswith("| ")}
    assert "84.0 ms/step (21.0 per micro-batch)" in rows["| D. mini-BERT, 4,498,880 parameters"]
    assert "+14 (+20.0%)" in rows["| D. mini-BERT, 4,498,880 parameters"]  # against the reference's 70 ms
    assert "abcdef1" in rows["| D. mini-BERT, 4,498,880 parameters"]
    assert "stand-in: embedded MiniLM" in rows["| A. MLM fine-tuning, custom text"]
    for title, recipe in (("| B. BERT-mini from scratch, WikiText-2", "wikitext2"), ("| C. GLUE MRPC", "mrpc"),
                          ("| E. bert-tiny causal LM + BCE", "bce_lm")):
        assert "not run yet" in rows[title] and f"python -m bench.reproduce --recipe {recipe}" in rows[title]
    assert "--recipe mini_bert --peer`" in rows["| D. mini-BERT, 4,498,880 parameters"]  # no peer_requested: old
    for title in ("| C. with ModernBERT-base", "| A. with bert-base-uncased"):
        assert "not run: needs" in rows[title] and "--model.pretrained_model" in rows[title]


def test_a_record_made_without_the_peer_shows_its_own_command(tmp_path):
    docs = tmp_path / "reproduction.md"
    docs.write_text(PROSE)
    render({"wikitext2": {**_record("wikitext2", 440.0, val_perplexity=440.0), "peer_requested": False}}, docs)
    row = next(line for line in docs.read_text().splitlines() if line.startswith("| B. BERT-mini"))
    assert "`python -m bench.reproduce --recipe wikitext2`" in row and "not run (made without --peer)" in row


def test_dry_run_runs_nothing_and_renders_existing_records(tmp_path, capsys):
    results, docs = tmp_path / "results", tmp_path / "docs.md"
    results.mkdir()
    (results / "bce_lm.json").write_text(json.dumps(_record("bce_lm", 19.5, val_perplexity=19.5, steps_per_s=30.1)))
    assert reproduce.main(["--dry-run", "--peer", "--results_dir", str(results), "--docs", str(docs)]) == 0
    assert "would run mrpc with its peer" in capsys.readouterr().out
    assert [p.name for p in results.iterdir()] == ["bce_lm.json"]
    assert "val perplexity 19.5; 30.1 steps/s" in docs.read_text()


@pytest.mark.slow
def test_smoke_budget_writes_a_complete_record(tmp_path):
    results, docs = tmp_path / "results", tmp_path / "docs.md"
    assert reproduce.main(["--recipe", "bce_lm", "--smoke", "--results_dir", str(results), "--docs", str(docs),
                           "--workdir", str(tmp_path / "work")]) == 0
    record = json.loads((results / "bce_lm.json").read_text())
    assert record["smoke"] is True and record["figure"] > 1.0 and record["wall_s"] > 0
    assert {row["split"] for row in record["ours"]["bce_on_off"]} == {"val", "val_small", "val_wikitext"}
    assert record["commands"][0].startswith("python main.py fit --config configs/tr_en_bce_lm.yaml")
    assert len(record["commit"]) >= 40 and record["versions"]["torch"]
    assert "(smoke budget)" in docs.read_text()
