"""Every `bench/...` script named in the benches, their README or the project README exists (gpu_suite.py once
pointed at a bench/bf16_clipping.py that was never written). JSON named there may be a command's output."""

from __future__ import annotations

import re

from cli_helpers import PROJECT_ROOT


def test_every_cited_bench_file_exists():
    sources = [*sorted((PROJECT_ROOT / "bench").glob("*.py")), PROJECT_ROOT / "bench" / "README.md",
               PROJECT_ROOT / "README.md"]
    cited = {name for source in sources
             for name in re.findall(r"(?<![\w/])bench/[\w./-]+\.(?:py|sh)\b", source.read_text(encoding="utf-8"))}
    assert "bench/gpu_suite.py" in cited
    assert sorted(name for name in cited if not (PROJECT_ROOT / name).exists()) == []
