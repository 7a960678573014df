"""bench/mlm_throughput.py's interleaved rounds: each side's median over rounds, each round in its own process."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from cli_helpers import PROJECT_ROOT

sys.path.insert(0, str(PROJECT_ROOT / "bench"))
import mlm_throughput  # noqa: E402


def fake_rounds(monkeypatch, ours_ms: list[float], peer_ms: list[float]) -> list[tuple]:
    """Stand in for the round children: each prints the line of one side with the next of its step times."""
    ours, peer = iter(ours_ms), iter(peer_ms)
    calls = []

    def fake_run(command, **kwargs):
        def value(flag):  # argparse keeps an option's last occurrence
            return command[len(command) - command[::-1].index(flag)]

        side = value("--side")
        calls.append((side, value("--configs"), value("--rounds")))
        ms = next(ours) if side == "ours" else next(peer)
        line = {"config": "micro-b8-t128", "gflop_per_step": 10.0, "matmul_gflop_per_s": 200.0 if side == "ours" else
                250.0, "ours_ms_per_step": ms if side == "ours" else None, "ours_median_ms": ms,
                "peer_ms_per_step": ms if side == "peer" else None, "peer_median_ms": ms, "other_load": [0.01, 0.02],
                "peak_rss_mb": 900, "ours_mfu": None, "peer_mfu": None}
        return subprocess.CompletedProcess(command, 0, stdout="noise\n" + json.dumps(line) + "\n")

    monkeypatch.setattr(mlm_throughput.subprocess, "run", fake_run)
    monkeypatch.setattr(sys, "argv", ["mlm_throughput.py", "--configs", "mini", "micro", "--steps", "5"])
    return calls


def test_rounds_alternate_the_sides_and_report_medians(monkeypatch):
    calls = fake_rounds(monkeypatch, [100.0, 80.0, 90.0], [300.0, 400.0, 330.0])
    args = argparse.Namespace(rounds=3, skip_peer=False, batch_size=8, block_size=128)
    line = mlm_throughput.interleaved("micro", args)
    assert calls == [("ours", "micro", "1"), ("peer", "micro", "1")] * 3
    assert line["ours_ms_rounds"] == [100.0, 80.0, 90.0] and line["peer_ms_rounds"] == [300.0, 400.0, 330.0]
    assert (line["ours_ms_per_step"], line["peer_ms_per_step"], line["speedup"]) == (90.0, 330.0, round(330 / 90, 2))
    assert line["matmul_gflop_per_s"] == 250.0  # the best peak any round measured
    assert line["roofline_share"] == round(10.0 / 0.09 / 250.0, 3)


def test_medians_of_an_even_number_of_rounds_are_rounded_like_the_rest(monkeypatch):
    fake_rounds(monkeypatch, [104.4, 104.7], [300.1, 300.2])  # float means: 104.55000000000001, 300.15
    line = mlm_throughput.interleaved("micro", argparse.Namespace(rounds=2, skip_peer=False, batch_size=8,
                                                                  block_size=128))
    assert (line["ours_median_ms"], line["peer_median_ms"]) == (104.6, 300.1)
    assert (line["ours_ms_per_step"], line["peer_ms_per_step"]) == (104.6, 300.1)


def test_a_run_of_the_peer_alone_reports_the_peers_mfu_as_the_peers():
    from transformers import BertConfig, BertModel

    model = BertModel(BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                 intermediate_size=64))
    both = mlm_throughput.mfu_fields(model, 16, "NVIDIA H100", "bf16-mixed", 2e9, 1e9)
    peer_only = mlm_throughput.mfu_fields(model, 16, "NVIDIA H100", "bf16-mixed", None, 1e9)
    assert both["ours_mfu"] > both["peer_mfu"] > 0
    assert (peer_only["ours_mfu"], peer_only["peer_mfu"]) == (None, both["peer_mfu"])
