"""The bad-input matrix, continued: checkpoints, options, files and directories, and the tools (export, report).

Each case runs the real command line and is checked by `cli_helpers.run_bad_input` (exit 2, one final `error:`
line, no traceback, nothing written or changed, no half-written cache) and by the fragments below (the option, file
or line the user typed, and the fix); its sentence is a row of docs/reliability.md's table (`bad_input_table`).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import namedtuple
from pathlib import Path

import pytest
import torch
from cli_helpers import (
    PROJECT_ROOT,
    UserInputs,
    fit_tiny_mlm,
    run_bad_input,
    write_tiny_mrpc_config,
)
from conftest import SHARED_DATA, TINY_BERT

from lightning_app.cli import cli_main

Case = namedtuple("Case", "command fragments code process stream pick", defaults=(2, False, "err", None))
MLM_CONFIG = str(PROJECT_ROOT / "configs" / "custom_mlm.yaml")
WIDTHS = ("hidden_size", "intermediate_size")


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    """A real tiny masked-LM checkpoint (2 steps) and a tiny MRPC one (1 step), trained once for this module."""
    root = tmp_path_factory.mktemp("checkpoints")
    _, mlm_checkpoint = fit_tiny_mlm(root, dict(TINY_BERT), steps=2)
    (root / "mrpc").mkdir()
    config = write_tiny_mrpc_config(root / "mrpc", dict(TINY_BERT), SHARED_DATA)
    mrpc = cli_main(["fit", "--config", str(config), "--trainer.max_steps", "1", "--trainer.limit_val_batches", "1"])
    mrpc.trainer.save_checkpoint(root / "mrpc.ckpt")
    return {"mlm": mlm_checkpoint, "mrpc": root / "mrpc.ckpt"}


def _truncated(u: UserInputs) -> str:
    whole = Path(u.checkpoint("mlm")).read_bytes()
    return u.file("truncated.ckpt", whole[: len(whole) // 2])  # a download or copy that stopped half-way


class _Payload:
    """Unpickling this opens (creates) a file: stands for any code a crafted checkpoint would run."""

    def __init__(self, target: str):
        self.target = target

    def __reduce__(self):
        return open, (self.target, "w")


def _payload(u: UserInputs) -> str:
    path = u.tmp / "inputs" / "payload.ckpt"
    path.parent.mkdir(exist_ok=True)
    torch.save({"state_dict": {}, "hyper_parameters": {"x": _Payload(str(u.tmp / "inputs" / "PWNED"))}}, path)
    return str(path)  # if it ran, PWNED would appear and `run_bad_input` would see a new file


def _unreadable(u: UserInputs) -> str:
    path = Path(u.file("locked.txt", "some text\n"))
    path.chmod(0)
    if os.geteuid() == 0:  # root reads anything: fail the read the way it fails for everyone else
        real_open = Path.open

        def open_(self, *args, **kwargs):
            if self == path:
                raise PermissionError(13, "Permission denied", str(self))
            return real_open(self, *args, **kwargs)

        u.monkeypatch.setattr(Path, "open", open_)
    return str(path)


def _read_only_dir(u: UserInputs) -> str:
    path = u.tmp / "read-only"
    path.mkdir()
    path.chmod(0o555)
    if os.geteuid() == 0:  # root writes anywhere: fail the write probe the way it fails for everyone else
        real_file = tempfile.TemporaryFile

        def temporary_file(*args, **kwargs):
            if Path(kwargs.get("dir") or ".") == path:
                raise PermissionError(13, "Permission denied")
            return real_file(*args, **kwargs)

        u.monkeypatch.setattr(tempfile, "TemporaryFile", temporary_file)
    return str(path)


def _model_dir(u: UserInputs, weights: bool) -> str:
    from transformers import BertConfig, BertForMaskedLM

    path = u.tmp / "inputs" / ("model" if weights else "config-only")
    config = BertConfig(**{k: v for k, v in u.tiny_bert.items() if k != "model_type"})
    BertForMaskedLM(config).save_pretrained(path) if weights else config.save_pretrained(path)
    return str(path)


def _events(u: UserInputs) -> str:
    from torch.utils.tensorboard import SummaryWriter

    run = u.tmp / "inputs" / "version_0"
    with SummaryWriter(str(run)) as writer:  # a run stopped at step 1, before its first validation
        writer.add_scalar("train/loss", 10.4, 1)
    return str(run)


def _folder(u: UserInputs, relative: str, up: int = 0) -> str:
    """A directory the user names where a file (or a deeper directory) is expected."""
    (u.tmp / relative).mkdir(parents=True)
    return str((u.tmp / relative).parents[up - 1] if up else u.tmp / relative)


def _earlier_run(u: UserInputs) -> str:
    run = u.tmp / "runs" / "custom_mlm" / "version_0"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("seed_everything: 42\n")
    return "0"


def fit(u: UserInputs, *extra: str) -> list[str]:
    return ["fit", "--config", u.mlm(), *extra]


def mrpc(u: UserInputs, *extra: str) -> list[str]:
    return ["fit", "--config", u.mrpc(), *extra]


CHECKPOINTS = {
    "truncated .ckpt (validate)": Case(lambda u: ["validate", "--ckpt_path", _truncated(u)],
                                       ["--ckpt_path", "truncated.ckpt", "truncated", "pass a complete .ckpt file"]),
    "truncated .ckpt (fit resume)": Case(lambda u: fit(u, "--ckpt_path", _truncated(u)),
                                         ["--ckpt_path", "truncated.ckpt", "pass a complete .ckpt file"]),
    "truncated .ckpt (export, a real process)": Case(
        lambda u: ["export", "--ckpt_path", _truncated(u), "--output_dir", str(u.tmp / "exported")],
        ["--ckpt_path", "truncated.ckpt", "pass a complete .ckpt file"], process=True),
    "text file renamed .ckpt": Case(lambda u: ["validate", "--ckpt_path", u.file("notes.ckpt", "epoch 3: 0.91\n")],
                                    ["--ckpt_path", "notes.ckpt", "not a readable checkpoint"]),
    "run directory as --ckpt_path": Case(
        lambda u: ["validate", "--ckpt_path", _folder(u, "runs/custom_mlm/version_0")],
        ["--ckpt_path", "version_0 is a directory", "version_0/checkpoints/last.ckpt"]),
    "MRPC checkpoint with configs/custom_mlm.yaml": Case(
        lambda u: ["fit", "--config", MLM_CONFIG, "--trainer.logger.init_args.save_dir", str(u.tmp / "runs"),
                   "--ckpt_path", u.checkpoint("mrpc")],
        ["--ckpt_path", "mrpc.ckpt", "holds a models.SequenceClassifier", "builds a models.MaskedLanguageModel"]),
    "checkpoint of a smaller model": Case(
        lambda u: ["validate", "--ckpt_path", u.file("last.ckpt", Path(u.checkpoint("mlm")).read_bytes()),
                   "--model.model_config", json.dumps({**{k: v for k, v in u.tiny_bert.items() if k not in WIDTHS},
                                                       "hidden_size": 48, "intermediate_size": 96})],  # shown last
        ["--ckpt_path", "last.ckpt", "has shape (30522, 32) in the checkpoint but (30522, 48)",
         "pass the config that trained the checkpoint"]),
    "--ckpt_path last without --config": Case(lambda u: ["validate", "--ckpt_path", "last"],
                                              ["--ckpt_path last needs --config", "pass the path of a .ckpt file"]),
    "--ckpt_path last before any run": Case(lambda u: ["validate", "--config", u.mlm(), "--ckpt_path", "last"],
                                            ["--ckpt_path last", "no checkpoint found under", "train first"]),
    "checkpoint with a pickled payload (validate)": Case(lambda u: ["validate", "--ckpt_path", _payload(u)],
                                                         ["--ckpt_path", "payload.ckpt", "could run code", "refused"]),
    "checkpoint with a pickled payload (export)": Case(
        lambda u: ["export", "--ckpt_path", _payload(u), "--output_dir", str(u.tmp / "exported")],
        ["--ckpt_path", "payload.ckpt", "could run code", "refused"]),
}

OPTIONS = {
    "negative learning rate": Case(lambda u: fit(u, "--model.learning_rate", "-0.001"),
                                   ["--model.learning_rate=-0.001 must be positive", "2e-5"]),
    "negative head learning rate": Case(lambda u: fit(u, "--model.head_learning_rate", "-1"),
                                        ["--model.head_learning_rate=-1", "must be positive"]),
    "negative weight decay": Case(lambda u: fit(u, "--model.weight_decay", "-0.01"),
                                  ["--model.weight_decay=-0.01", "0 or more", "0.01"]),
    "beta outside [0, 1)": Case(lambda u: fit(u, "--model.adam_betas", "[0.9, 1.0]"),
                                ["--model.adam_betas=[0.9, 1.0]", "[0, 1)", "[0.9, 0.999]"]),
    "epsilon 0": Case(lambda u: fit(u, "--model.adam_epsilon", "0"), ["--model.adam_epsilon=0", "positive", "1e-8"]),
    "negative warmup steps": Case(lambda u: fit(u, "--model.warmup_steps", "-10"),
                                  ["--model.warmup_steps=-10", "0 or more"]),
    "warmup ratio 1": Case(lambda u: fit(u, "--model.warmup_ratio", "1.0"), ["--model.warmup_ratio=1.0", "[0, 1)"]),
    "dropout 1.5 in model_config": Case(
        lambda u: fit(u, "--model.model_config", json.dumps({**u.tiny_bert, "hidden_dropout_prob": 1.5})),
        ["--model.model_config.hidden_dropout_prob=1.5", "[0, 1)", "pass e.g. 0.1"]),
    "layer decay 0 (MRPC)": Case(lambda u: mrpc(u, "--model.layer_decay", "0"),
                                 ["--model.layer_decay=0", "(0, 1]", "1.0 for off"]),
    "classifier dropout 1.0 (MRPC)": Case(lambda u: mrpc(u, "--model.classifier_dropout", "1.0"),
                                          ["--model.classifier_dropout=1.0", "[0, 1)"]),
    "3 labels for MRPC": Case(lambda u: mrpc(u, "--model.num_labels", "3"),
                              ["--model.num_labels=3", "2 labels", "pass --model.num_labels 2"]),
    "max_seq_length above the tokenizer's limit": Case(lambda u: fit(u, "--data.max_seq_length", "1024"),
                                                       ["--data.max_seq_length=1024", "tokenizer's limit of 512",
                                                        "pass --data.max_seq_length 512 or less"]),
    "deprecated block_size 4": Case(lambda u: fit(u, "--data.block_size", "4"),
                                    ["--data.block_size=4", "pass at least 8"]),
    "max_train_samples 0": Case(lambda u: fit(u, "--data.max_train_samples", "0"),
                                ["--data.max_train_samples=0", "at least 1"]),
    "num_workers -1": Case(lambda u: fit(u, "--data.num_workers", "-1"), ["--data.num_workers=-1", "at least 0"]),
    "exact-resume callback switched off": Case(lambda u: fit(u, "--loader_position_on_resume", "null"),
                                               ["--loader_position_on_resume cannot be switched off", "replays"]),
    "non-finite loss guard switched off": Case(lambda u: fit(u, "--nonfinite_loss", "null"),
                                               ["--nonfinite_loss cannot be switched off",
                                                "--nonfinite_loss.action skip"]),
    "misspelt model_config field": Case(lambda u: fit(u, "--model.model_config", '{"hiden_size": 32}'),
                                        ["--model.model_config.hiden_size is not a field of BertConfig",
                                         "did you mean hidden_size?"]),
    "hidden size not a multiple of the heads": Case(
        lambda u: fit(u, "--model.model_config", '{"hidden_size": 50, "num_attention_heads": 3}'),
        ["--model.model_config", "not a multiple of the number of attention heads"]),
    "validation interval 0": Case(lambda u: fit(u, "--trainer.val_check_interval", "0"),
                                  ["--trainer.val_check_interval=0 must be positive"]),
    "unknown scheduler": Case(lambda u: fit(u, "--model.lr_scheduler_type", "warmup_linear"),
                              ["--model.lr_scheduler_type=warmup_linear", "not one of linear, cosine"]),
    "misspelt --print_config flag": Case(lambda u: fit(u, "--print_config=skip_nul"),
                                         ["--print_config=skip_nul: skip_nul is not one of its flags",
                                          "--print_config=skip_default"]),
    "batch size that is not a number": Case(lambda u: fit(u, "--data.batch_size", "eight"),
                                            ["--data.batch_size=eight", "an integer"]),
    "Hugging Face option name": Case(lambda u: fit(u, "--learning_rate", "1e-4"),
                                     ["--learning_rate is not an option", "did you mean --model.learning_rate?"]),
    "Hugging Face option in a section": Case(lambda u: fit(u, "--model.model_name_or_path", "bert-base-uncased"),
                                             ["--model.model_name_or_path", "did you mean --model.pretrained_model?"]),
    "tokenizer and train_tokenizer": Case(lambda u: fit(u, "--data.tokenizer", "bert-base-uncased",
                                                        "--data.train_tokenizer", "true"),
                                          ["--data.tokenizer and --data.train_tokenizer true", "only one"]),
    "pretrained_model and model_config": Case(lambda u: fit(u, "--model.pretrained_model", "bert-base-uncased"),
                                              ["--model.pretrained_model and --model.model_config are both set",
                                               "--model.model_config null"]),
    "WordPiece vocabulary of 10": Case(lambda u: fit(u, "--data.train_tokenizer", "true", "--data.vocab_size", "10"),
                                       ["--data.vocab_size=10", "at least 1000"]),
    "one fill-mask sentence where a list is expected": Case(
        lambda u: ["predict", "--config", u.mlm(), "--data.predict_sentences", "The king is [MASK]."],
        ["--data.predict_sentences=The king is [MASK]. is not a list", "pass a list such as [a, b]"]),
    "model_config that is not JSON": Case(lambda u: fit(u, "--model.model_config", "{hidden_size: 32"),
                                          ["--model.model_config={hidden_size: 32 is not a mapping"]),
    "empty list of fill-mask sentences": Case(
        lambda u: ["predict", "--config", u.mlm(), "--data.predict_sentences", "[]"],
        ["--data.predict_sentences is empty", "at least one sentence with [MASK]"]),
    "fill-mask sentence without [MASK]": Case(
        lambda u: ["predict", "--config", u.mlm(), "--data.predict_sentences", '["The king is dead."]'],
        ["--data.predict_sentences", "'The king is dead.'", "[MASK]"]),
}

FILES = {
    "train file is a directory": Case(lambda u: fit(u, "--data.train_file", _folder(u, "inputs/corpus")),
                                      ["--data.train_file", "is a directory, not a file"]),
    "unreadable train file": Case(lambda u: fit(u, "--data.train_file", _unreadable(u)),
                                  ["--data.train_file", "locked.txt", "cannot be read (Permission denied)",
                                   "fix its permissions"]),
    "validation file is a directory": Case(lambda u: fit(u, "--data.validation_file", _folder(u, "inputs/corpus")),
                                           ["--data.validation_file", "is a directory"]),
    "data_dir is a file": Case(lambda u: fit(u, "--data.train_file", "null", "--data.data_dir", str(u.small_text)),
                               ["--data.data_dir", "small.txt", "is not a directory", "train.txt"]),
    "default_root_dir is a file": Case(lambda u: fit(u, "--trainer.default_root_dir", str(u.small_text)),
                                       ["--trainer.default_root_dir", "small.txt is a file", "pass a directory"]),
    "default_root_dir is read-only": Case(lambda u: fit(u, "--trainer.default_root_dir", _read_only_dir(u)),
                                          ["--trainer.default_root_dir", "read-only is not writable"]),
    "logger save_dir below a file": Case(
        lambda u: fit(u, "--trainer.logger.init_args.save_dir", str(u.small_text / "runs")),
        ["--trainer.logger.init_args.save_dir", "small.txt is a file"]),
    "cache_dir is a file": Case(lambda u: fit(u, "--data.cache_dir", str(u.small_text)),
                                ["--data.cache_dir", "small.txt is a file, not a directory"]),
    "run version that already exists": Case(lambda u: fit(u, "--trainer.logger.init_args.version", _earlier_run(u)),
        ["--trainer.logger.init_args.version", "version_0 already holds a run", "--ckpt_path last"]),
    "model directory without tokenizer": Case(
        lambda u: fit(u, "--model.model_config", "null", "--model.pretrained_model", _model_dir(u, weights=True)),
        ["--model.pretrained_model", "model", "has no tokenizer files", "--data.tokenizer"]),
    "model directory without weights": Case(
        lambda u: fit(u, "--model.model_config", "null", "--model.pretrained_model", _model_dir(u, weights=False)),
        ["--model.pretrained_model", "config-only", "has no loadable weights"]),
    "malformed YAML config": Case(
        lambda u: ["fit", "--config", u.file("broken.yaml", "trainer:\n  max_steps: 10\n   logger: false\n")],
        ["--config", "broken.yaml line 3, column 10", "fix the YAML there"]),
    "missing config file": Case(lambda u: ["fit", "--config", str(u.tmp / "confgs" / "custom_mlm.yaml")],
                                ["--config", "confgs/custom_mlm.yaml does not exist"]),
    "misspelt key in a YAML config": Case(
        lambda u: ["fit", "--config", u.mlm(), "--config", u.file("typo.yaml", "data:\n  trian_file: a.txt\n")],
        ["--data.trian_file is not an option of data_modules.CustomTextDataModule", "check the spelling"]),
    "config that is a list": Case(lambda u: ["fit", "--config", u.file("list.yaml", "- trainer\n- model\n")],
                                  ["--config", "list.yaml holds a list", "`trainer:`"]),
    "export option abbreviated": Case(
        lambda u: ["export", "--ckpt_path", u.checkpoint("mlm"), "--output_dir", str(u.tmp / "exported"), "--overwrit",
                   "true"],
        ["--overwrit is not an option of export", "option names are exact"]),
    "export --output_dir is a file": Case(
        lambda u: ["export", "--ckpt_path", u.checkpoint("mlm"), "--output_dir", str(u.small_text)],
        ["--output_dir", "small.txt is a file"]),
    "export into a non-empty directory": Case(
        lambda u: ["export", "--ckpt_path", u.checkpoint("mlm"), "--output_dir",
                   str(Path(u.file("exported/notes.txt", "keep me\n")).parent)],
        ["--output_dir", "exported is not empty", "not written by export", "pass a new directory"]),
    "report on the folder above the runs": Case(lambda u: ["report", _folder(u, "runs/custom_mlm/version_0", 1)],
                                                      ["holds no TensorBoard event files"]),
    "report on a file": Case(lambda u: ["report", str(u.small_text)], ["small.txt is a file"]),
    "report on a path that does not exist": Case(lambda u: ["report", str(u.tmp / "runs" / "nope")],
                                                 ["nope does not exist"]),
    "report --output over an existing file": Case(
        lambda u: ["report", _events(u), "--output", u.file("mine.png", "keep me\n")],
        ["--output", "mine.png already exists", "never replaces a file"]),
    "report --output is a directory": Case(lambda u: ["report", _events(u), "--output", _folder(u, "plots")],
                                           ["--output", "plots is a directory", "plots/curves.png"]),
    "report --output that is not an image": Case(
        lambda u: ["report", _events(u), "--output", str(u.tmp / "curves.txt")],
        ["--output", ".txt is not an image format", ".png"]),
    "report --output below a file": Case(lambda u: ["report", _events(u), "--output", str(u.small_text / "x.png")],
                                         ["--output", "small.txt is a file, not a folder"]),
    "report before the first validation (exit 0)": Case(lambda u: ["report", _events(u)],
                                                         ["No validation logged yet"], code=0, stream="out",
                                                         pick="No validation logged yet"),
}

CASES = {**CHECKPOINTS, **OPTIONS, **FILES}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_bad_input(case, tmp_path, tiny_bert, small_text, shared_data, monkeypatch, capsys, request,
                   bad_input_table):
    command, fragments, code, process, stream, pick = CASES[case]
    inputs = UserInputs(tmp_path, tiny_bert, small_text, shared_data, monkeypatch,
                        trained=lambda: request.getfixturevalue("checkpoints"))
    argv = command(inputs)
    message = run_bad_input(capsys, argv, tmp_path, code, process, stream, pick)
    assert all(fragment in message for fragment in fragments), message
    bad_input_table.record(case, inputs.command(argv), message)


def test_export_overwrite_true_replaces_an_earlier_export_only(tmp_path, checkpoints):
    target = tmp_path / "exported"
    cli_main(["export", "--ckpt_path", str(checkpoints["mlm"]), "--output_dir", str(target)])
    (target / "config.json").write_text("{}")
    cli_main(["export", "--ckpt_path", str(checkpoints["mlm"]), "--output_dir", str(target), "--overwrite", "true"])
    assert (target / "config.json").read_text() != "{}" and (target / "model.safetensors").is_file()
