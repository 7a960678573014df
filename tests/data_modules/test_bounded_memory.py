"""Memory stays bounded whatever the input's shape, and the tokenized cache is written once, atomically."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from cli_helpers import PROJECT_ROOT, write_tiny_mlm_config

from lightning_app.cli import cli_main

LIMIT_KB = 2 * 1024 * 1024  # 2 GB peak resident memory for the whole process


@pytest.mark.slow  # over ~20 s on 2 cores, or a real process killed and resumed
def test_a_50_mb_file_of_one_line_trains_in_bounded_memory(tmp_path, tiny_bert, small_text, shared_data):
    text = (shared_data / "custom-txt" / "tinyshakespeare.txt").read_text().replace("\n", " ")
    line = tmp_path / "one_line.txt"
    with line.open("w") as handle:  # 50 MB of real text and not one newline
        while handle.tell() < 50 * 1024 * 1024:
            handle.write(text)
    config = write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text, max_steps=2,
                                   limit_val_batches=2)
    log = tmp_path / "fit.log"
    with log.open("w") as output:
        process = subprocess.Popen([sys.executable, "main.py", "fit", "--config", str(config),
                                    "--data.init_args.train_file", str(line), "--data.init_args.validation_file",
                                    str(small_text), "--data.init_args.cache_dir", str(tmp_path / "cache")],
                                   cwd=PROJECT_ROOT, stdout=output, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)  # this child's own peak resident memory, in kB
    assert os.waitstatus_to_exitcode(status) == 0, log.read_text()[-3000:]
    assert f"{line} line 1 is longer than" in log.read_text()  # the warning names the file and the line
    assert usage.ru_maxrss < LIMIT_KB, f"peak RSS {usage.ru_maxrss / 1024:.0f} MB"


def test_one_fit_tokenizes_each_split_once(tmp_path, tiny_bert, small_text):
    config = write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text, max_steps=2)
    cache = tmp_path / "cache"
    cli_main(["fit", "--config", str(config), "--data.init_args.cache_dir", str(cache)])
    entries = sorted(p.name.split("-")[1] for p in cache.iterdir())
    assert len(entries) == 2  # train and validation, each once (prepare_data writes, setup reads)
    keys = [json.dumps(sorted(p.name for p in cache.iterdir()))]
    cli_main(["fit", "--config", str(config), "--data.init_args.cache_dir", str(cache)])
    assert json.dumps(sorted(p.name for p in cache.iterdir())) == keys[0]  # a second fit reuses both


def test_a_failed_tokenization_leaves_nothing_in_the_cache(tmp_path, tiny_bert, small_text, capsys):
    bad = tmp_path / "late_error.txt"
    bad.write_bytes(small_text.read_bytes() + "caf\u00e9 au lait\n".encode("latin-1"))  # bad byte on the last line
    config = write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text, max_steps=2)
    cache = tmp_path / "cache"
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["fit", "--config", str(config), "--data.init_args.train_file", str(bad),
                  "--data.init_args.validation_file", str(small_text), "--data.init_args.cache_dir", str(cache)])
    assert exit_info.value.code == 2
    assert f"{bad} line 121 is not valid UTF-8" in capsys.readouterr().err
    assert not [p for p in cache.iterdir() if "partial" in p.name]
    entries = [p for p in cache.iterdir() if p.name.startswith("mlm-") and p.is_dir()]
    assert len(entries) == 1  # the validation split's (tokenized first, and whole); the failed train split left none
    assert (entries[0] / "manifest.json").is_file()
