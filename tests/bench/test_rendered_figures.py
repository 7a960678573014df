"""Figures in README.md, docs/ and bench/README.md come from JSON records (`bench/render_docs.py`), never typed."""

from __future__ import annotations

import importlib
import shlex

import pytest
from cli_helpers import printed_config

from bench.records import all_records
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
    assert problems == [f"{page}: placeholder 'PEAK_SINGLE'", f"{page}: figure 443.64 has no record"]


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
