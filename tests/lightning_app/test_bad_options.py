"""The bad-input matrix: what users get wrong, fed through the real CLI.

For every case: the run stops before training with exit code 2, the message names the file/line/option and the
fix, and nothing is written into the run directory.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from cli_helpers import PROJECT_ROOT, write_tiny_mlm_config
from conftest import tiny_trainer

from lightning_app.cli import cli_main


def _file(tmp_path: Path, name: str, content: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(content)
    return str(path)


def _tokenizer_without_vocab(tmp_path: Path) -> str:
    directory = tmp_path / "tokenizer"
    directory.mkdir()
    (directory / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "BertTokenizer"}))
    return str(directory)


def _checkpoint_of_another_model(tmp_path: Path) -> str:
    """A real checkpoint of a different LightningModule (Lightning's demo model), as a user might mix up."""
    from lightning.pytorch.demos.boring_classes import BoringModel

    trainer = tiny_trainer(max_steps=1)
    trainer.fit(BoringModel())
    path = tmp_path / "boring.ckpt"
    trainer.save_checkpoint(path)
    state = torch.load(path, weights_only=False)
    state["hyper_parameters"] = {"_class_path": "lightning.pytorch.demos.boring_classes.BoringModel"}
    torch.save(state, path)
    return str(path)


# id -> (function(tmp_path, tiny_bert, small_text) -> extra CLI args, fragments the message must contain)
CASES = {
    "missing train file": (lambda t, b, s: ["--data.init_args.train_file", str(t / "nope.txt")],
                           ["--data.train_file", "nope.txt", "does not exist"]),
    "empty train file": (lambda t, b, s: ["--data.init_args.train_file", _file(t, "empty.txt", b"")],
                         ["--data.train_file", "empty.txt", "is empty"]),
    "binary train file": (lambda t, b, s: ["--data.init_args.train_file", _file(t, "x.bin", b"\x00\x01\x02\x03")],
                          ["--data.train_file", "x.bin", "looks binary", "UTF-8 text file"]),
    "non-UTF-8 train file": (lambda t, b, s: ["--data.init_args.train_file",
                                              _file(t, "latin1.txt", "ok\ncaf\u00e9\n".encode("latin-1"))],
                             ["--data.train_file", "latin1.txt", "line 2", "re-save the file as UTF-8"]),
    "train file that is a device": (lambda t, b, s: ["--data.init_args.train_file", "/dev/null"],
                                    ["--data.train_file", "/dev/null", "not a regular file"]),
    "empty train file path": (lambda t, b, s: ["--data.init_args.train_file", ""],
                              ["--data.train_file is empty", "leave the option out"]),
    "missing validation file": (lambda t, b, s: ["--data.init_args.validation_file", str(t / "val.txt")],
                                ["--data.validation_file", "does not exist"]),
    "validation split empties": (lambda t, b, s: ["--data.init_args.train_file", _file(t, "two.txt", b"a b\nc d\n"),
                                                  "--data.init_args.line_by_line", "true"],
                                 ["--data.validation_split_percentage=20", "empty validation split"]),
    "split percentage 100": (lambda t, b, s: ["--data.init_args.validation_split_percentage", "100"],
                             ["--data.validation_split_percentage=100", "outside (0, 100)"]),
    "max_seq_length 0": (lambda t, b, s: ["--data.init_args.max_seq_length", "0"],
                         ["--data.max_seq_length=0", "pass at least"]),
    "max_seq_length above model": (lambda t, b, s: ["--data.init_args.max_seq_length", "128"],
                                   ["--data.max_seq_length=128", "64 position embeddings", "64 or less"]),
    "batch size 0": (lambda t, b, s: ["--data.init_args.batch_size", "0"], ["--data.batch_size", "at least 1"]),
    "mask probability 1.5": (lambda t, b, s: ["--data.init_args.mlm_probability", "1.5"],
                             ["--data.mlm_probability=1.5", "outside (0, 1)"]),
    "fill-mask candidates 0": (lambda t, b, s: ["--model.init_args.fill_mask_top_k", "0"],
                               ["--model.fill_mask_top_k=0", "at least 1"]),
    "accumulation 0": (lambda t, b, s: ["--trainer.accumulate_grad_batches", "0"],
                       ["--trainer.accumulate_grad_batches=0", "at least 1"]),
    "tokenizer without vocab": (lambda t, b, s: ["--data.init_args.tokenizer", _tokenizer_without_vocab(t)],
                                ["--data.tokenizer", "no vocabulary", "save_pretrained"]),
    "unknown model dir": (lambda t, b, s: ["--model.init_args.model_config", "null",
                                           "--model.init_args.pretrained_model", str(t / "no_model")],
                          ["--model.pretrained_model", "not a model directory"]),
    "hub id offline": (lambda t, b, s: ["--model.init_args.model_config", "null",
                                        "--model.init_args.pretrained_model", "org/unreachable-model"],
                       ["--model.pretrained_model", "Hub is unreachable", "/path/to/unreachable-model"]),
    "ckpt of another model": (lambda t, b, s: ["--ckpt_path", _checkpoint_of_another_model(t)],
                              ["--ckpt_path", "holds a lightning.pytorch.demos.boring_classes.BoringModel",
                               "builds a models.MaskedLanguageModel", "pass a checkpoint of this config's model"]),
    "ckpt path missing": (lambda t, b, s: ["--ckpt_path", str(t / "gone.ckpt")],
                          ["--ckpt_path", "gone.ckpt", "does not exist"]),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_bad_input_stops_before_training_and_writes_nothing(case, tmp_path, tiny_bert, small_text, capsys,
                                                           bad_input_table):
    make_args, fragments = CASES[case]
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    extra = make_args(inputs, tiny_bert, small_text)
    run_dir = tmp_path / "runs"
    config = write_tiny_mlm_config(tmp_path, run_dir, tiny_bert, small_text)
    inputs_before = {p: p.read_bytes() for p in inputs.rglob("*") if p.is_file()}
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["fit", "--config", str(config), *extra])
    assert exit_info.value.code == 2
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert message.startswith("error: ")
    for fragment in fragments:
        assert fragment in message, message
    assert not run_dir.exists() or not any(run_dir.rglob("*.*")), sorted(run_dir.rglob("*"))
    assert {p: p.read_bytes() for p in inputs.rglob("*") if p.is_file()} == inputs_before
    bad_input_table.record(case, ["fit", "--config", "custom_mlm.yaml", *extra], message)


def test_unknown_yaml_key_is_named(tmp_path, tiny_bert, small_text, capsys):
    config_path = write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text)
    config = yaml.safe_load(config_path.read_text())
    config["data"]["init_args"]["trian_file"] = str(small_text)  # the typo users make
    config_path.write_text(yaml.safe_dump(config))
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["fit", "--config", str(config_path)])
    assert exit_info.value.code == 2
    assert "trian_file" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_a_bad_value_from_a_config_file_names_that_file(tmp_path, tiny_bert, small_text, capsys):
    """The option is named with the config file that set it: nobody typed it, so the command line has no answer."""
    config_path = write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text)
    config = yaml.safe_load(config_path.read_text())
    config["data"]["init_args"]["train_file"] = str(tmp_path / "nope.txt")
    config_path.write_text(yaml.safe_dump(config))
    with pytest.raises(SystemExit):
        cli_main(["fit", "--config", str(config_path)])
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert message.startswith(f"error: config file {config_path}: --data.train_file: "), message
    assert "nope.txt' does not exist" in message
    with pytest.raises(SystemExit):  # typed, it is the typed option's fault alone
        cli_main(["fit", "--config", str(config_path), "--data.train_file", str(tmp_path / "gone.txt")])
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert message.startswith("error: --data.train_file: "), message


def test_only_an_untyped_option_a_config_file_sets_is_blamed_on_that_file(tmp_path):
    from lightning_app.parsing.command_line import CommandLine

    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text("trainer:\n  logger:\n    class_path: TensorBoardLogger\n    init_args:\n      save_dir: runs\n")
    second.write_text("data:\n  batch_size: 8\n")
    line = CommandLine.parse(["fit", "-c", str(first), "--config", str(second)], environ={})
    refusal = "--trainer.logger.init_args.save_dir: runs is a file, not a directory; pass a directory."
    assert line.blame_config_file(refusal) == f"config file {first}: {refusal}"
    assert line.blame_config_file("--data.batch_size=0 is not allowed.") == \
        f"config file {second}: --data.batch_size=0 is not allowed."
    unset = "--model.learning_rate: no file sets it."
    assert line.blame_config_file(unset) == unset
    typed = CommandLine.parse(["fit", "-c", str(first), "--trainer.logger.save_dir", "x"], environ={})
    assert typed.blame_config_file(refusal) == refusal  # typed in the other spelling: the typed option's fault
    variable = CommandLine.parse(["fit", "-c", str(second)], environ={"PL_FIT__DATA__BATCH_SIZE": "0"})
    assert variable.blame_config_file("--data.batch_size=0 is not allowed.") == "--data.batch_size=0 is not allowed."


def test_crlf_bom_and_long_lines_are_accepted_with_a_warning(tmp_path, tiny_bert, small_text):
    lines = small_text.read_text().splitlines()
    long_line = " ".join(lines[:40])  # far longer than 32 tokens
    text = "\ufeff" + "\r\n".join(lines + [long_line]) + "\r\n"
    path = tmp_path / "windows.txt"
    path.write_bytes(text.encode())
    config = write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text, max_steps=1)
    with pytest.warns(UserWarning, match="1 of .* lines are longer than max_seq_length=32 tokens and were truncated"):
        cli = cli_main(["fit", "--config", str(config), "--data.init_args.train_file", str(path),
                        "--data.init_args.line_by_line", "true"])
    assert cli.trainer.global_step == 1
    first = cli.datamodule.splits["train"][0]["input_ids"]
    assert cli.datamodule.tokenizer.convert_ids_to_tokens(first[1]) != "\ufeff"


def test_config_files_are_never_modified(tmp_path):
    before = {p: p.read_bytes() for p in (PROJECT_ROOT / "configs").rglob("*.yaml")}
    with pytest.raises(SystemExit):
        cli_main(["fit", "--config", str(PROJECT_ROOT / "configs" / "custom_mlm.yaml"),
                  "--data.init_args.batch_size", "0"])
    assert {p: p.read_bytes() for p in (PROJECT_ROOT / "configs").rglob("*.yaml")} == before


def test_checkpoint_with_other_shapes_is_refused(tmp_path, tiny_bert):
    from foundation.errors import ConfigError
    from lightning_app.checkpointing.checkpoints import check_checkpoint_fits
    from models import MaskedLanguageModel

    wider = MaskedLanguageModel(model_config=dict(tiny_bert, hidden_size=48, intermediate_size=96))
    path = tmp_path / "wider.ckpt"
    torch.save({"state_dict": wider.state_dict()}, path)
    with pytest.raises(ConfigError, match="has shape .* in the checkpoint but .* in this config's model"):
        check_checkpoint_fits(MaskedLanguageModel(model_config=tiny_bert), path)


def _mrpc_dir_with(tmp_path: Path, shared_data: Path, bad_train_line: str | None = None, drop: str | None = None):
    """A GLUE-style MRPC folder from real rows, optionally with one bad train line or a missing split."""
    folder = tmp_path / "mrpc"
    folder.mkdir()
    for name in ("train.tsv", "dev.tsv"):
        lines = (shared_data / "mrpc" / name).read_bytes().decode("utf-8-sig").splitlines()[:20]
        if name == "train.tsv" and bad_train_line is not None:
            lines.insert(5, bad_train_line)  # becomes line 6 of the file
        if name != drop:
            (folder / name).write_bytes(b"\xef\xbb\xbf" + ("\n".join(lines) + "\n").encode())
    return folder


MRPC_CASES = {
    "TSV with an extra tab": ("1\t111\t222\tA sentence with a\ttab inside.\tAnother sentence.",
                              None, ["train.tsv line 6", "6 tab-separated columns, expected 5"]),
    "TSV with bare quotes (fine) but label 2": ('2\t111\t222\tHe said "yes.\tShe said "no".', None,
                                                ["train.tsv line 6", "label '2'", "expected 0 or 1"]),
    "missing dev split": (None, "dev.tsv", ["dev.tsv"]),
}


@pytest.mark.parametrize("case", MRPC_CASES, ids=list(MRPC_CASES))
def test_mrpc_bad_inputs_through_the_cli(case, tmp_path, tiny_bert, shared_data, capsys, bad_input_table):
    from cli_helpers import write_tiny_mrpc_config

    bad_line, drop, fragments = MRPC_CASES[case]
    config = write_tiny_mrpc_config(tmp_path, tiny_bert, shared_data)
    folder = _mrpc_dir_with(tmp_path, shared_data, bad_line, drop)
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["fit", "--config", str(config), "--data.init_args.data_dir", str(folder)])
    assert exit_info.value.code == 2
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert message.startswith("error: ") and all(f in message for f in fragments), message
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("*.*"))
    bad_input_table.record(f"MRPC {case}", ["fit", "--config", "mrpc_minilm.yaml", "--data.data_dir", str(folder)],
                           message)


def test_causal_lm_line_without_tab_through_the_cli(tmp_path, shared_data, capsys, bad_input_table):
    from cli_helpers import write_tiny_causal_config

    config = write_tiny_causal_config(tmp_path, shared_data)
    corpus = tmp_path / "pairs.txt"
    corpus.write_text(corpus.read_text().replace("Run!\tKoş!", "Run! Koş!", 1))
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["fit", "--config", str(config)])
    assert exit_info.value.code == 2
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert "pairs.txt line 4 is not `English<TAB>Turkish`" in message
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("*.*"))
    bad_input_table.record("translation corpus line without a tab", "fit --config tr_en_bce_lm.yaml", message)


def test_causal_lm_config_trains_through_the_cli(tmp_path, shared_data):
    from cli_helpers import write_tiny_causal_config

    cli = cli_main(["fit", "--config", str(write_tiny_causal_config(tmp_path, shared_data))])
    assert cli.trainer.global_step == 4 and "val/perplexity" in cli.trainer.callback_metrics


def test_wikitext2_missing_data_dir_through_the_cli(tmp_path, capsys, bad_input_table):
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["fit", "--config", str(PROJECT_ROOT / "configs" / "wikitext2_bert_micro.yaml"),
                  "--data.init_args.data_dir", str(tmp_path / "nowhere"),
                  "--trainer.logger.init_args.save_dir", str(tmp_path / "runs")])
    assert exit_info.value.code == 2
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--data.data_dir" in message and "pass --data.data_dir /path/to/wikitext-2" in message
    assert not (tmp_path / "runs").exists()
    bad_input_table.record("WikiText-2 data_dir that does not exist", ["fit", "--config", "wikitext2_bert_micro.yaml",
                                                                       "--data.data_dir", str(tmp_path / "nowhere")],
                           message)
