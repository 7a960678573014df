"""Trainer settings and functions named in a config are checked before training, each refusal one sentence naming
the option (issue 22): Lightning's own refusals whatever their wording, `val_check_interval` against the batches of
an epoch before the run directory is written, and `batch_size_fn: os.system` in a shared config never called.

The bad-input cases are rows of README.md's table (`bad_input_table`), checked by `cli_helpers.run_bad_input`.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
from collections import namedtuple
from pathlib import Path

import lightning as L
import pytest
import yaml
from cli_helpers import UserInputs, run_bad_input
from lightning.pytorch.demos.boring_classes import BoringModel
from lightning.pytorch.strategies import DDPStrategy

from foundation.errors import ConfigError
from lightning_app.parsing.trainer_checks import check_batch_count, option_named, trainer_option_error

Case = namedtuple("Case", "command fragments")
FP16_HOOK = "torch.distributed.algorithms.ddp_comm_hooks.default_hooks.fp16_compress_hook"


def _shared_config(u: UserInputs, **throughput_args) -> str:
    """The tiny custom_mlm config as someone might share it, with ThroughputMonitor's functions replaced."""
    config = yaml.safe_load(Path(u.mlm()).read_text())
    monitor = next(c for c in config["trainer"]["callbacks"] if c["class_path"].endswith("ThroughputMonitor"))
    monitor["init_args"].update(throughput_args)
    return u.file("downloaded.yaml", yaml.safe_dump(config))


def fit(u: UserInputs, *extra: str) -> list[str]:
    return ["fit", "--config", u.mlm(), *extra]


CASES = {
    "val_check_interval above the batches of an epoch": Case(
        lambda u: fit(u, "--trainer.val_check_interval", "100000"),
        ["--trainer.val_check_interval=100000", "more than the 8 training batches", "pass at most 8"]),
    "Trainer value whose message names another word": Case(
        lambda u: fit(u, "--trainer.max_time", "bad"), ["--trainer.max_time=bad", "refused by Lightning"]),
    "Trainer value refused by Lightning": Case(
        lambda u: fit(u, "--trainer.limit_train_batches", "2.5"),
        ["--trainer.limit_train_batches=2.5", "refused by Lightning", "[0.0, 1.0] or an int"]),
    "DDP communication hook on CPU (Lightning would ignore it)": Case(
        lambda u: fit(u, "--trainer.accelerator", "cpu", "--trainer.devices", "2", "--trainer.strategy", json.dumps(
            {"class_path": "lightning.pytorch.strategies.DDPStrategy", "init_args": {"ddp_comm_hook": FP16_HOOK}})),
        [f"--trainer.strategy.init_args.ddp_comm_hook={FP16_HOOK}", "CUDA only", "this CPU run would ignore it"]),
    "batch_size_fn: os.system in a shared config": Case(
        lambda u: ["fit", "--config", _shared_config(u, batch_size_fn="os.system")],
        ["ThroughputMonitor batch_size_fn", "os.system", "standard library", "data_modules.collators.batch_size"]),
    "length_fn that takes two arguments": Case(
        lambda u: ["fit", "--config", _shared_config(u, length_fn="data_modules.collators.pad_sequences")],
        ["ThroughputMonitor length_fn", "pad_sequences does not take a batch", "data_modules.collators.token_count"]),
    "batch_size_fn that fails on a real batch": Case(
        lambda u: ["fit", "--config", _shared_config(u, batch_size_fn="data_modules.collators.round_half_up")],
        ["ThroughputMonitor batch_size_fn", "round_half_up failed on a real training batch", "TypeError"]),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_bad_setting(case, tmp_path, tiny_bert, small_text, shared_data, capsys, bad_input_table):
    inputs = UserInputs(tmp_path, tiny_bert, small_text, shared_data)
    argv = CASES[case].command(inputs)
    message = run_bad_input(capsys, argv, tmp_path)
    assert all(fragment in message for fragment in CASES[case].fragments), message
    bad_input_table.record(case, inputs.command(argv), message)


def test_os_system_from_a_config_is_never_called(tmp_path, tiny_bert, small_text, shared_data, monkeypatch, capsys):
    calls, real_system = [], os.system

    @functools.wraps(real_system)  # the same name and module as os.system: a spy, not a different function
    def spy(*args):
        calls.append(args)
        return 0

    monkeypatch.setattr("os.system", spy)
    inputs = UserInputs(tmp_path, tiny_bert, small_text, shared_data)
    run_bad_input(capsys, ["fit", "--config", _shared_config(inputs, batch_size_fn="os.system")], tmp_path)
    assert calls == []


@pytest.mark.parametrize("interval", [64, 65])
def test_lightning_still_checks_val_check_interval_late_by_the_rule_we_apply_early(interval, tmp_path):
    """`check_batch_count` copies Lightning's rule from `fit_loop.setup_data` (2.6); if Lightning changes the rule or
    checks it when the Trainer is built, this fails and the early copy must follow (or go)."""
    trainer = L.Trainer(default_root_dir=tmp_path, val_check_interval=interval, max_steps=1, limit_val_batches=1,
                        logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False)
    model = BoringModel()  # 64 training batches
    lightning_refuses = False
    try:
        trainer.fit(model)
    except ValueError:
        lightning_refuses = True
    try:
        check_batch_count(trainer, len(model.train_dataloader()))
        we_refuse = False
    except ConfigError:
        we_refuse = True
    assert lightning_refuses == we_refuse == (interval > 64)


def test_a_refusal_is_pinned_on_its_option_whatever_the_wording():
    trainer_config = {"max_time": "bad", "max_steps": 5}

    class Config(dict):
        get = dict.get

    try:
        L.Trainer(max_time="bad", logger=False)
    except Exception as lightning_error:  # noqa: BLE001 - whatever Lightning raises, under whatever wording
        reworded = type(lightning_error)("the duration cannot be parsed")
        assert str(trainer_option_error(reworded, Config(trainer_config))).startswith("--trainer.max_time=bad ")
    assert option_named("Precision '7' is invalid.") == "precision"
    assert option_named("`Trainer(devices=0)` value is not a valid input") == "devices"


def test_lightning_still_registers_ddp_communication_hooks_on_cuda_only():
    """Why a hook on a CPU run is refused (`check_trainer_options`). When this fails, Lightning registers hooks on
    CPU as well: drop the refusal."""
    assert 'if self.root_device.type == "cuda":' in inspect.getsource(DDPStrategy._register_ddp_hooks)
