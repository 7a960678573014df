"""An export stands alone: a model card (task, base model, data, metrics with their split, the command, the commit),
no machine-local tokenizer keys, `--config` with `--ckpt_path last|best`, and nothing printed but what it wrote."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import PROJECT_ROOT, write_tiny_mlm_config, write_tiny_mrpc_config

from lightning_app.checkpointing.run_dirs import find_checkpoint
from lightning_app.cli import cli_main
from lightning_app.tools.export import MACHINE_LOCAL_KEYS
from lightning_app.tools.report import read_scalars


def _git_head() -> str | None:
    done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else None


def _settings(directory: Path) -> dict[str, dict]:
    return {path.name: json.loads(path.read_text()) for path in directory.glob("*.json")}


def test_mrpc_export_carries_a_model_card_and_no_machine_local_keys(tmp_path, tiny_bert, shared_data):
    config = write_tiny_mrpc_config(tmp_path, tiny_bert, shared_data)
    cli_main(["fit", "--config", str(config), "--trainer.max_epochs", "1", "--trainer.max_steps", "3"])
    run_dir = tmp_path / "runs" / "mrpc_minilm" / "version_0"
    last = run_dir / "checkpoints" / "last.ckpt"
    argv = ["export", "--ckpt_path", str(last), "--output_dir", str(tmp_path / "hf")]
    cli_main(argv)
    card = (tmp_path / "hf" / "README.md").read_text()

    f1 = dict(read_scalars(run_dir)["val/f1"])[3]
    assert "pipeline_tag: text-classification" in card and "BertForSequenceClassification" in card
    assert "random initialisation from `model_config`" in card and "hidden_size=32" in card
    assert re.search(r"`train\.tsv`.*sha256 [0-9a-f]{16}", card) or "dev.tsv" in card
    assert f"| val/f1 | validation | {f1:.4f} | logged during `fit` at step 3 |" in card
    assert f"export command: `python main.py {' '.join(argv)}`" in card
    head = _git_head()
    assert (f"commit: `{head}`" if head else "commit: unknown") in card

    for name, settings in _settings(tmp_path / "hf").items():
        assert not set(settings) & set(MACHINE_LOCAL_KEYS), (name, settings)
        assert str(tmp_path) not in json.dumps(settings) and str(Path.home()) not in json.dumps(settings), name
    assert _settings(tmp_path / "hf")["tokenizer_config.json"]["tokenizer_class"] in ("BertTokenizer",
                                                                                       "BertTokenizerFast")

    # after `validate`, the card quotes the evaluation of this very checkpoint
    validated = cli_main(["validate", "--ckpt_path", str(last)]).trainer.callback_metrics["val/f1"].item()
    cli_main(argv + ["--overwrite", "true"])
    card = (tmp_path / "hf" / "README.md").read_text()
    assert f"| val/f1 | validation | {validated:.4f} | `validate` of this checkpoint |" in card


def _encoder_dir(tmp_path: Path, tiny_bert: dict) -> Path:
    """A pretrained-style encoder without an MLM head (so fit initialises a fresh one), with its tokenizer."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    from foundation.hub import embedded_model_dir

    directory = tmp_path / "encoder"
    BertModel(BertConfig(**{k: v for k, v in tiny_bert.items() if k != "model_type"})).save_pretrained(directory)
    AutoTokenizer.from_pretrained(str(embedded_model_dir())).save_pretrained(directory)
    return directory


@pytest.mark.slow  # over ~3 s: kept out of the quick loop (`-m "not slow"`)
def test_export_with_config_and_last_or_best_is_quiet_and_names_its_checkpoint(tmp_path, tiny_bert, small_text,
                                                                               caplog):
    config = write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text, max_steps=4)
    encoder = _encoder_dir(tmp_path, tiny_bert)
    cli_main(["fit", "--config", str(config), "--model.model_config", "null", "--model.pretrained_model",
              str(encoder)])
    assert "a fresh head was initialised" in caplog.text  # what training says; export must not repeat it

    run_root = tmp_path / "runs" / "custom_mlm"
    for which in ("best", "last"):
        output = tmp_path / f"hf-{which}"
        argv = ["export", "--config", str(config), "--ckpt_path", which, "--output_dir", str(output)]
        done = subprocess.run([sys.executable, str(PROJECT_ROOT / "main.py"), *argv], cwd=PROJECT_ROOT,
                              capture_output=True, text=True, timeout=300)
        expected = find_checkpoint(run_root, which)  # the file `validate --ckpt_path {which}` would score
        assert done.returncode == 0, done.stderr[-3000:]
        assert done.stderr == "" and done.stdout.splitlines() == [
            f"Wrote {output} from {expected} (model card: README.md)"], done.stdout + done.stderr
        card = (output / "README.md").read_text()
        assert f"from `{expected.name}`" in card and "pipeline_tag: fill-mask" in card
        assert "`encoder` (a local directory when trained), fine-tuned" in card
        size = small_text.stat().st_size  # the data as the checkpoint recorded it at training time
        assert re.search(rf"- train: `small.txt` \({size:,} bytes, sha256 [0-9a-f]{{16}}\)\n", card), card
    assert find_checkpoint(run_root, "best").name != "last.ckpt"


def test_an_exported_small_model_truncates_at_its_own_positions(tmp_path, tiny_bert, small_text):
    from transformers import pipeline

    config = write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text, max_steps=1,
                                   limit_val_batches=1)  # 64 position embeddings, the MiniLM tokenizer's 512
    cli_main(["fit", "--config", str(config)])
    cli_main(["export", "--config", str(config), "--ckpt_path", "last", "--output_dir", str(tmp_path / "out")])
    assert _settings(tmp_path / "out")["tokenizer_config.json"]["model_max_length"] == 64
    fill = pipeline("fill-mask", model=str(tmp_path / "out"))
    assert len(fill("[MASK] " + " ".join(["word"] * 100), tokenizer_kwargs={"truncation": True})) == 5
