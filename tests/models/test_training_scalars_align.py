"""TensorBoard scalars of one optimizer step share one x value: learning rates once per step under gradient
accumulation, training and validation at the same step, validation throughput on the step axis, FLOPs and MFU
measured, and HPARAMS columns naming the task's own metrics."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import torch
import yaml
from cli_helpers import write_tiny_causal_config, write_tiny_mrpc_config
from lightning.fabric.utilities.throughput import measure_flops
from lightning.pytorch.callbacks import LearningRateMonitor, ThroughputMonitor
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from lightning_app.callbacks import RunProgressBar
from lightning_app.callbacks.monitors import flops_polynomial
from lightning_app.cli import cli_main


def _steps(events: EventAccumulator, tag: str) -> list[int]:
    return [event.step for event in events.Scalars(tag)]


def _metric_columns(run_dir: Path) -> set[str]:
    events = EventAccumulator(str(run_dir)).Reload()
    content = events.PluginTagToContent("hparams")["_hparams_/experiment"]
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content).experiment
    return {info.name.tag for info in experiment.metric_infos}


def _with_short_throughput_window(config: Path) -> Path:
    settings = yaml.safe_load(config.read_text())
    for callback in settings["trainer"]["callbacks"]:
        if "ThroughputMonitor" in callback["class_path"]:
            callback["init_args"]["window_size"] = 2  # a tiny run has fewer steps than the config's window
    config.write_text(yaml.safe_dump(settings))
    return config


def test_one_value_per_optimizer_step_at_the_step_validation_uses(tmp_path, tiny_bert, shared_data, monkeypatch):
    monkeypatch.setattr("lightning.pytorch.callbacks.throughput_monitor.get_available_flops", lambda *_: 1e12)
    config = _with_short_throughput_window(write_tiny_mrpc_config(tmp_path, tiny_bert, shared_data))
    fit = cli_main(["fit", "--config", str(config), "--trainer.accumulate_grad_batches", "2"])
    trainer = fit.trainer
    events = EventAccumulator(trainer.log_dir).Reload()
    tags = events.Tags()["scalars"]
    loss_steps = _steps(events, "train/loss")
    assert loss_steps == list(range(1, trainer.global_step + 1))  # step N = after N optimizer steps, each once
    rates = [tag for tag in tags if tag.startswith("train/lr/")]
    assert len(rates) > 2  # one series per parameter group (layer-wise decay)
    for tag in [*rates, "train/grad_norm"]:
        assert _steps(events, tag) == loss_steps, tag  # once per optimizer step, not per micro-batch
    validated = _steps(events, "val/loss")
    assert validated[-1] == trainer.global_step == loss_steps[-1]  # the last train point and validation align
    assert _steps(events, "validate/device/items_per_sec") == validated  # one row per validation, same step
    assert set(_steps(events, "train/device/items_per_sec")) <= set(loss_steps)
    assert fit.model.flops_per_batch > 0 and "train/device/mfu" in tags  # measured on a meta copy
    assert "MFU" in RunProgressBar().get_metrics(trainer, fit.model)
    assert _metric_columns(Path(trainer.log_dir)) == {"val/loss", "val/accuracy", "val/f1"}


def test_hparams_columns_are_the_causal_lm_metrics(tmp_path, shared_data):
    fit = cli_main(["fit", "--config", str(write_tiny_causal_config(tmp_path, shared_data))])
    assert _metric_columns(Path(fit.trainer.log_dir)) == {"val/loss", "val/perplexity", "val/bce", "val/total_loss"}


def test_lightning_still_logs_learning_rates_and_validation_throughput_on_its_own_counters():
    """The reason for StepLearningRateMonitor and StepThroughputMonitor: when this fails, Lightning logs at the
    optimizer step itself and the subclasses can go."""
    assert "_batches_that_stepped" in inspect.getsource(LearningRateMonitor.on_train_batch_start)
    assert "batch_progress.total.ready" in inspect.getsource(ThroughputMonitor.on_validation_batch_end)


@pytest.mark.parametrize("length", [5, 37, 64])
def test_flops_of_any_length_equal_a_direct_measurement(tiny_bert, length):
    from transformers import BertConfig, BertForSequenceClassification

    network = BertForSequenceClassification(BertConfig(**tiny_bert))
    with torch.device("meta"):
        model, ids = BertForSequenceClassification(network.config), torch.zeros((3, length), dtype=torch.long)
    direct = measure_flops(model, lambda: model(input_ids=ids).logits, lambda logits: logits.sum())
    assert round(3 * flops_polynomial(network, training=True)(length)) == direct
