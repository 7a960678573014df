"""Users' habits carry over: Hugging Face option names, LightningCLI conventions, JSON/CSV files."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from cli_helpers import PROJECT_ROOT, write_tiny_mlm_config, write_tiny_mrpc_config

from lightning_app.cli import cli_main
from lightning_app.parsing.hf_names import HF_OPTIONS

# what a user of run_mlm.py / run_glue.py / run_clm.py types -> the option our message must name
HF_STYLE = {
    "--data.per_device_train_batch_size 16": "did you mean --data.batch_size?",
    "--model.model_name_or_path some/model": "did you mean --model.pretrained_model?",
    "--num_train_epochs 3": "did you mean --trainer.max_epochs?",
    "--lr_scheduler_type cosine": "did you mean --model.lr_scheduler_type?",
    "--preprocessing_num_workers 4": "did you mean --data.num_workers?",
    "--gradient_accumulation_steps 4": "did you mean --trainer.accumulate_grad_batches?",
    "--per_device_eval_batch_size 32": "did you mean --data.eval_batch_size?",
    "--optimizer AdamW": "--optimizer is not an option; the model builds AdamW",
    "--max_predict_samples 10": "--max_predict_samples is not an option; no option limits predict's rows",
    "--lr_scheduler StepLR": "did you mean --model.lr_scheduler_type?",
}


@pytest.mark.parametrize("typed", HF_STYLE, ids=list(HF_STYLE))
def test_hugging_face_names_get_our_name(typed, tmp_path, tiny_bert, small_text, capsys):
    config = write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text, max_steps=1)
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["fit", "--config", str(config), *typed.split()])
    assert exit_info.value.code == 2
    assert HF_STYLE[typed] in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("name", [name for name, (ours, _) in HF_OPTIONS.items() if not ours])
def test_hugging_face_names_without_an_equivalent_are_one_clean_sentence(name, tmp_path, tiny_bert, small_text,
                                                                         capsys):
    config = write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text, max_steps=1)
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["fit", "--config", str(config), f"--{name}", "1"])
    assert exit_info.value.code == 2
    # the note completes the parser's sentence: "is not an option" once, one final period
    assert capsys.readouterr().err.strip() == f"error: --{name} is not an option; {HF_OPTIONS[name][1]}."


@pytest.mark.parametrize("typed", ["--data.max_train_samples 8", "--model.lr_scheduler_type cosine",
                                   "--data.block_size 32"])
def test_hugging_face_names_that_are_ours_work(typed, tmp_path, tiny_bert, small_text):
    config = write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text, max_steps=2)
    cli = cli_main(["fit", "--config", str(config), *typed.split()])
    assert cli.trainer.global_step == 2
    if "max_train_samples" in typed:
        assert len(cli.datamodule.splits["train"]) == 8
    if "block_size" in typed:  # the deprecated name still sets the one length option
        assert cli.datamodule.max_seq_length == 32


def test_every_hf_name_is_in_the_docs_table():
    readme = (PROJECT_ROOT / "docs" / "huggingface.md").read_text()
    missing = [name for name in HF_OPTIONS if f"`--{name}`" not in readme]
    assert not missing, missing


def test_environment_variables_set_options(tmp_path, tiny_bert, small_text, monkeypatch):
    import yaml

    config = write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text)
    settings = yaml.safe_load(config.read_text())
    del settings["trainer"]["max_steps"]  # like configs/custom_mlm.yaml: an environment variable fills it in
    config.write_text(yaml.safe_dump(settings))
    monkeypatch.setenv("PL_FIT__TRAINER__MAX_STEPS", "3")
    cli = cli_main(["fit", "--config", str(config)])
    assert cli.trainer.global_step == 3


def test_a_gpu_preset_without_a_gpu_is_one_sentence(tmp_path, tiny_bert, small_text, capsys):
    config = write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text)
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["fit", "--config", str(config), "--config", str(PROJECT_ROOT / "configs" / "trainer" / "gpu.yaml")])
    assert exit_info.value.code == 2
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert "needs a CUDA GPU and none is visible" in message and "--trainer.accelerator cpu" in message


@pytest.mark.parametrize("suffix", [".json", ".jsonl", ".csv"])
def test_json_and_csv_text_files_are_read_through_their_text_column(suffix, tmp_path, tiny_bert, small_text):
    lines = [ln for ln in small_text.read_text().splitlines() if ln.strip()]
    path = tmp_path / f"train{suffix}"
    records = [{"id": i, "text": line} for i, line in enumerate(lines)]
    if suffix == ".json":
        path.write_text(json.dumps(records))
    elif suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
    else:
        path.write_text("id,text\n" + "".join(f'{r["id"]},"{r["text"].replace(chr(34), chr(34) * 2)}"\n'
                                              for r in records))
    config = write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text, max_steps=1)
    cli = cli_main(["fit", "--config", str(config), "--data.init_args.train_file", str(path)])
    plain = cli_main(["fit", "--config", str(config), "--trainer.logger.init_args.version", "1"])
    assert list(cli.datamodule.splits["train"]["input_ids"]) == list(plain.datamodule.splits["train"]["input_ids"])


def test_mrpc_reads_jsonl_pairs(tmp_path, tiny_bert, shared_data):
    config = write_tiny_mrpc_config(tmp_path, tiny_bert, shared_data)
    rows = (tmp_path / "train.tsv").read_text().splitlines()[1:]
    jsonl = tmp_path / "train.jsonl"
    jsonl.write_text("".join(json.dumps({"sentence1": r.split("\t")[3], "sentence2": r.split("\t")[4],
                                         "label": int(r.split("\t")[0]), "idx": i}) + "\n" for i, r in enumerate(rows)))
    from_tsv = cli_main(["fit", "--config", str(config), "--trainer.max_steps", "1"])
    from_jsonl = cli_main(["fit", "--config", str(config), "--trainer.max_steps", "1", "--data.init_args.train_file",
                           str(jsonl)])
    for name in ("input_ids", "labels"):
        assert list(from_jsonl.datamodule.splits["train"][name]) == list(from_tsv.datamodule.splits["train"][name])


def test_top_level_help_lists_every_subcommand_without_loading_torch():
    script = ("import sys, runpy; sys.argv = ['main.py', '--help']\n"
              "try:\n    runpy.run_path('main.py', run_name='__main__')\nexcept SystemExit:\n    pass\n"
              "print('torch' in sys.modules, 'lightning' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True,
                            timeout=60)
    for name in ("fit", "validate", "test", "predict", "export", "report", "lm-report"):
        assert f"  {name} " in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "False False"
