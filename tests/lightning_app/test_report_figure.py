"""`python main.py report`: panels grouped by quantity, train and validation of a quantity on one axis, perplexity
on a log axis, one learning-rate panel for all parameter groups, the best evaluation value marked, errors on
stderr."""

from __future__ import annotations

import pytest
from torch.utils.tensorboard import SummaryWriter

from lightning_app.cli import cli_main
from lightning_app.tools.report_figure import smoothed
from lightning_app.tools.report_panels import best_point, panels_of

STEPS = range(0, 101, 10)


def _causal_like_run() -> dict[str, list[tuple[int, float]]]:
    lr = [(s, 1e-3 * s / 100) for s in STEPS]
    return {
        "train/loss": [(s, 10 - s / 20) for s in STEPS if s],
        "val/loss": [(0, 10.8), (50, 7.0), (100, 6.5)],
        "val/perplexity": [(0, 48_017.0), (50, 1096.6), (100, 665.1)],
        "val/bce": [(0, 0.7), (50, 0.3), (100, 0.35)],
        "train/lr/layer00": lr, "train/lr/layer00_no_decay": lr, "train/lr/head": [(s, 2 * v) for s, v in lr],
        "train/device/items_per_sec": [(s, 5000.0) for s in STEPS if s],
        "validate/device/items_per_sec": [(50, 9000.0), (100, 9100.0)],
        "train/device/flops_per_sec": [(s, 1e9) for s in STEPS if s], "train/samples": [(10, 10.0), (20, 20.0)],
        "train/grad_norm": [(s, 1.0) for s in STEPS if s], "train/effective_batch_size": [(0, 1.0)],
    }


def test_panels_group_by_quantity_in_reading_order():
    panels = {panel.title: panel for panel in panels_of(_causal_like_run())}
    assert list(panels) == ["Loss", "Perplexity", "Auxiliary BCE term", "Learning rate", "Throughput",
                            "Gradient norm"]
    assert set(panels["Loss"].series) == {"train", "validation"}  # one axis, both splits
    assert panels["Perplexity"].log_y  # 48,017 at step 0 would flatten a linear axis
    assert set(panels["Learning rate"].series) == {"head", "layer00"}  # groups with one schedule share a line
    assert not panels["Learning rate"].log_y  # peaks 2x apart: a linear axis reads best
    assert set(panels["Throughput"].series) == {"train", "validation"}  # tokens/s only, not the counters
    assert panels["Loss"].best == {"validation": (100, 6.5)}
    assert panels["Auxiliary BCE term"].best == {"validation": (50, 0.3)}  # the lowest, not the last


def test_learning_rates_an_order_of_magnitude_apart_get_a_log_axis():
    run = {"train/lr/head": [(1, 1e-3), (2, 0.0)], "train/lr/layer00": [(1, 5e-5), (2, 0.0)]}
    (panel,) = panels_of(run)
    assert panel.log_y and panel.y_label == "learning rate (log scale)"


def test_with_a_bce_term_train_cross_entropy_meets_validation_loss():
    run = {"train/ce": [(1, 9.0), (2, 8.0)], "train/loss": [(1, 9.1), (2, 8.2)], "val/loss": [(2, 8.5)],
           "val/total_loss": [(2, 8.6)]}
    panels = {panel.title: panel for panel in panels_of(run)}
    assert panels["Loss"].series == {"train": run["train/ce"], "validation": run["val/loss"]}
    assert panels["Total loss (CE + weighted BCE)"].series == {"train": run["train/loss"],
                                                               "validation": run["val/total_loss"]}


def test_task_metrics_share_a_panel_and_their_best_is_the_highest():
    run = {"val/accuracy": [(10, 0.7), (20, 0.8), (30, 0.8)], "val/f1": [(10, 0.8), (20, 0.86), (30, 0.85)],
           "val/loss": [(10, 0.5), (20, 0.4), (30, 0.45)]}
    panels = {panel.title: panel for panel in panels_of(run)}
    assert list(panels) == ["Loss", "Accuracy and F1"]
    assert panels["Accuracy and F1"].best == {"validation accuracy": (20, 0.8), "validation F1": (20, 0.86)}
    assert best_point("train/accuracy", run["val/accuracy"]) is None  # training curves get no "best"


def test_smoothing_starts_at_the_first_value():
    assert smoothed([4.0, 4.0, 4.0]) == pytest.approx([4.0, 4.0, 4.0])  # debiased: no pull toward 0


def test_report_draws_the_figure_and_prints_best_values(tmp_path, capsys):
    writer = SummaryWriter(str(tmp_path / "version_0"))
    for tag, points in _causal_like_run().items():
        for step, value in points:
            writer.add_scalar(tag, value, step)
    writer.close()
    out = tmp_path / "figure.png"
    cli_main(["report", str(tmp_path / "version_0"), "--output", str(out)])
    printed = capsys.readouterr().out
    assert "best 665.1 at step 100" in printed and f"Curves: {out}" in printed
    assert out.stat().st_size > 50_000  # a 150-dpi grid of six panels
    assert not (tmp_path / "version_0" / "curves.png").exists()


def test_report_errors_go_to_stderr(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        cli_main(["report", str(tmp_path)])
    out, err = capsys.readouterr()
    assert stop.value.code == 2 and out == ""
    assert err.strip().splitlines() == [f"error: {tmp_path} holds no TensorBoard event files; pass a run directory "
                                        "such as runs/custom_mlm/version_0."]
