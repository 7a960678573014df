"""Figures in README.md, docs/ and bench/README.md come from JSON records (`bench/render_docs.py`), never typed."""

from __future__ import annotations

import importlib
import json
import shlex

import pytest
from cli_helpers import PROJECT_ROOT, printed_config

from bench.records import all_records, git
from bench.render_docs import check, render

RECORD = {"name": "demo", "command": "python main.py fit --config configs/custom_mlm.yaml", "wall_s": 12.0,
          "commit": "abc1234", "date": "2026-12-04 05:00 UTC", "other_load": 0.0,
          "machine": {"cpu": "Some CPU", "cores": 2}, "console": ["Fill-mask after training:", "  a -> b (0.5)", "x"],
          "scalars": {"val/loss": [[0, 10.5], [22, 6.75]], "val/perplexity": [[0, 36315.5], [22, 854.06]]}}


def test_every_figure_in_the_docs_has_a_record_and_every_block_is_current():
    assert check() == []


def test_a_planted_placeholder_and_an_unrecorded_figure_fail(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("A fit peaks at PEAK_SINGLE; perplexity 443.64 after 3 epochs; `--lr 0.15` is a setting.\n")
    problems = check([page], records={})
    assert problems == [f"{page}: placeholder 'PEAK_SINGLE'",
                        f"{page}: figure 443.64 is in no record this paragraph names"]


def _ddp_2x1() -> str:
    """A figure that only the current bench/results/ddp_overhead.json holds."""
    record = json.loads((PROJECT_ROOT / "bench" / "results" / "ddp_overhead.json").read_text())
    return f"{record['median_samples_per_s']['2x1']:.2f}"


def test_a_bench_figure_passes_only_in_a_paragraph_naming_its_file(tmp_path):
    page, figure = tmp_path / "page.md", _ddp_2x1()
    page.write_text(f"DDP reaches {figure} samples/s.\n\nThe record is `ddp_overhead.json`.\n")
    assert check([page], records={}) == [f"{page}: figure {figure} is in no record this paragraph names"]
    page.write_text(f"DDP reaches {figure} samples/s (`ddp_overhead.json`).\n")
    assert check([page], records={}) == []


def test_a_ratio_is_a_figure_and_a_missing_result_file_is_named(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("Ours is 7.77x faster (`bench/results/nowhere.json`).\n")
    assert check([page], records={}) == [f"{page}: cites bench/results/nowhere.json, which does not exist",
                                         f"{page}: figure 7.77 is in no record this paragraph names"]


@pytest.mark.skipif(git("rev-parse", "--is-shallow-repository").stdout.strip() != "false",
                    reason="needs the git history: a shallow clone leaves paragraphs citing a commit unchecked")
def test_an_earlier_result_is_read_at_the_commit_the_paragraph_names(tmp_path):
    """49.48 samples/s was the 2x1 DDP median of the run recorded at 54a03aa; 21fdc85's file holds another run."""
    page = tmp_path / "page.md"
    page.write_text("2x1 ran at 49.48 samples/s (`git show 54a03aa:bench/results/ddp_overhead.json`).\n")
    assert check([page], records={}) == []
    page.write_text("2x1 ran at 49.48 samples/s (`git show\n  21fdc85:bench/results/ddp_overhead.json`).\n")
    assert check([page], records={}) == [f"{page}: figure 49.48 is in no record this paragraph names"]


def test_a_recorded_figure_passes_and_a_stale_block_fails(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("Perplexity 854.06 at step 22.\n<!-- render: validation demo -->\nold\n<!-- /render -->\n")
    assert check([page], records={"demo": RECORD}) == [f"{page}: rendered blocks are stale; run python -m "
                                                        "bench.render_docs"]
    page.write_text(render(page.read_text(), {"demo": RECORD}))
    assert check([page], records={"demo": RECORD}) == []
    assert "| 22 | 6.7500 | 854.06 |" in page.read_text()


def test_a_block_naming_a_missing_record_fails(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("<!-- render: console nowhere Fill-mask -->\n<!-- /render -->\n")
    assert check([page], records={}) == [f"{page}: a block renders record 'nowhere', which bench/results/records/ "
                                         "does not hold"]


@pytest.mark.parametrize("name", sorted(all_records()))
def test_each_recorded_command_still_runs(name, capsys):
    """The command a record names still parses today (`--print_config` checks every option and file)."""
    words = shlex.split(all_records()[name]["command"])
    if words[:2] == ["python", "main.py"]:
        assert "model" in printed_config(words[2:], capsys)
    else:
        assert words[:2] == ["python", "-m"], f"record {name}: a command neither main.py nor `python -m bench...`"
        assert callable(getattr(importlib.import_module(words[2]), "main", None))
