"""Checkpoints are files people download: loading one never runs code, and a broken one is one sentence."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from cli_helpers import PROJECT_ROOT, write_tiny_mlm_config

from lightning_app.checkpointing.checkpoints import load_checkpoint
from lightning_app.cli import cli_main


class Payload:
    """Unpickling this runs `touch <marker>`: the classic malicious checkpoint."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.fixture
def malicious_checkpoint(tmp_path) -> tuple[Path, Path]:
    marker = tmp_path / "payload-ran"
    path = tmp_path / "downloaded.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"_class_path": "models.MaskedLanguageModel"},
                "datamodule_hyper_parameters": {"_class_path": "data_modules.CustomTextDataModule"},
                "extra": Payload(marker)}, path)
    return path, marker


CUSTOM_MLM = str(PROJECT_ROOT / "configs" / "custom_mlm.yaml")
COMMANDS = {
    "validate": ["validate", "--ckpt_path", "{ckpt}"],
    "test": ["test", "--ckpt_path", "{ckpt}"],
    "predict": ["predict", "--ckpt_path", "{ckpt}"],
    "validate with config": ["validate", "--config", CUSTOM_MLM, "--ckpt_path", "{ckpt}"],
    "fit resume": ["fit", "--config", CUSTOM_MLM, "--ckpt_path", "{ckpt}"],
    "export": ["export", "--ckpt_path", "{ckpt}", "--output_dir", "{out}"],
}


@pytest.mark.parametrize("command", COMMANDS, ids=list(COMMANDS))
def test_a_pickle_payload_is_refused_without_running(command, malicious_checkpoint, tmp_path, capsys):
    path, marker = malicious_checkpoint
    args = [a.format(ckpt=path, out=tmp_path / "export") for a in COMMANDS[command]]
    with pytest.raises(SystemExit) as exit_info:
        cli_main(args)
    assert exit_info.value.code == 2
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert message.startswith("error: ") and "posix.system" in message and "refused" in message, message
    assert not marker.exists()  # the payload never ran
    assert not (tmp_path / "export").exists()


@pytest.mark.parametrize("content", [b"this is not a checkpoint\n", "truncated"], ids=["text file", "truncated"])
def test_broken_checkpoints_are_one_sentence(content, tmp_path, tiny_bert, small_text, capsys):
    path = tmp_path / "broken.ckpt"
    if content == "truncated":
        config = write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text, max_steps=2)
        cli_main(["fit", "--config", str(config)])
        whole = next((tmp_path / "runs").rglob("last.ckpt")).read_bytes()
        content = whole[: len(whole) // 2]
    path.write_bytes(content)
    for args in (["validate", "--ckpt_path", str(path)], ["export", "--ckpt_path", str(path), "--output_dir",
                                                          str(tmp_path / "out")]):
        with pytest.raises(SystemExit) as exit_info:
            cli_main(args)
        assert exit_info.value.code == 2
        message = capsys.readouterr().err.strip().splitlines()[-1]
        assert f"--ckpt_path {path} is not a readable checkpoint" in message and "complete .ckpt" in message


def test_our_checkpoints_need_no_allow_list(tmp_path, tiny_bert, small_text):
    config = write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text, max_steps=2)
    cli_main(["fit", "--config", str(config)])
    last = next((tmp_path / "runs").rglob("last.ckpt"))
    state = torch.load(last, map_location="cpu", weights_only=True)  # plain weights_only, no extra globals
    assert state["toolkit"]["tokenizer_files"] and load_checkpoint(last)["global_step"] == 2
