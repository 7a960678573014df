"""A run directory (or a checkpoint alone) is enough to evaluate, predict and export: issue 13's eight failures.

Each test drives the CLI as a user would; the numbers in the test names are the failures listed in the issue.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from cli_helpers import PROJECT_ROOT, write_tiny_causal_config, write_tiny_mlm_config, write_tiny_mrpc_config

from lightning_app.cli import cli_main
from lightning_app.tools.report import read_scalars


def _run_dir(save_dir: Path) -> Path:
    return next(save_dir.glob("*/version_0"))


def _logged_at(run_dir: Path, tag: str, step: int) -> float:
    return dict(read_scalars(run_dir)[tag])[step]


@pytest.mark.slow  # over ~3 s: kept out of the quick loop (`-m "not slow"`)
def test_1_5_validate_scores_the_runs_own_file_with_or_without_config(tmp_path, tiny_bert, small_text, capsys):
    config = write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text, max_steps=6)
    cli_main(["fit", "--config", str(config)])
    run_dir = _run_dir(tmp_path / "runs")
    last = run_dir / "checkpoints" / "last.ckpt"
    logged = _logged_at(run_dir, "val/perplexity", 6)  # the final validation at the last step

    # the shipped config names no train_file: the run's own file must win, and the difference is named once
    with_config = cli_main(["validate", "--config", str(PROJECT_ROOT / "configs" / "custom_mlm.yaml"),
                            "--ckpt_path", str(last)])
    warning = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and f"train_file={small_text}" in warning[0]
    assert math.isclose(with_config.trainer.callback_metrics["val/perplexity"].item(), logged, rel_tol=1e-5)

    alone = cli_main(["validate", "--ckpt_path", str(last)])  # no --config at all
    assert math.isclose(alone.trainer.callback_metrics["val/perplexity"].item(), logged, rel_tol=1e-5)


def test_1_an_option_typed_on_the_command_line_wins_without_a_warning(tmp_path, tiny_bert, small_text, capsys):
    config = write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text, max_steps=2)
    cli_main(["fit", "--config", str(config)])
    last = _run_dir(tmp_path / "runs") / "checkpoints" / "last.ckpt"
    other = tmp_path / "other.txt"
    other.write_text("\n".join(small_text.read_text().splitlines()[::-1]) + "\n")
    cli = cli_main(["validate", "--config", str(config), "--ckpt_path", str(last), "--data.train_file", str(other)])
    assert cli.datamodule.train_file == str(other)
    assert "warning:" not in capsys.readouterr().err


def _save_model_with_own_tokenizer(tmp_path: Path, small_text: Path, rows: int) -> tuple[Path, int]:
    """A BERT directory with `rows` embedding rows and its own WordPiece tokenizer trained on `small_text`."""
    from transformers import BertConfig, BertForMaskedLM

    from data_modules.wordpiece import trained_wordpiece

    tokenizer = trained_wordpiece(tmp_path / "tok", lambda: small_text.read_text().splitlines(), 1000)
    directory = tmp_path / "own_model"
    BertForMaskedLM(BertConfig(vocab_size=rows, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                               intermediate_size=64, max_position_embeddings=64)).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory, len(tokenizer)


def test_2_the_tokenizer_follows_the_model(tmp_path, tiny_bert, small_text):
    directory, own_size = _save_model_with_own_tokenizer(tmp_path, small_text, rows=4000)
    config = write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text, max_steps=2)
    cli = cli_main(["fit", "--config", str(config), "--model.init_args.model_config", "null",
                    "--model.init_args.pretrained_model", str(directory)])
    assert len(cli.datamodule.tokenizer) == own_size  # the model's 1,000-token vocabulary, not MiniLM's 30,522


def test_2_a_tokenizer_larger_than_the_embedding_is_refused(tmp_path, tiny_bert, small_text, capsys):
    directory, _ = _save_model_with_own_tokenizer(tmp_path, small_text, rows=1000)
    config = write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text, max_steps=2)
    with pytest.raises(SystemExit) as exit_info:  # the embedded 30,522-token tokenizer on a 1,000-row model
        cli_main(["fit", "--config", str(config), "--model.init_args.model_config", "null",
                  "--model.init_args.pretrained_model", str(directory), "--data.init_args.tokenizer",
                  "sentence-transformers/all-MiniLM-L6-v2"])
    assert exit_info.value.code == 2
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert "30,522 tokens" in message and "1,000 rows" in message and "--data.tokenizer" in message
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("*.*"))


def test_3_export_after_a_trained_tokenizer_run_fills_masks(tmp_path, tiny_bert, small_text):
    from transformers import pipeline

    model_config = {k: v for k, v in tiny_bert.items() if k != "vocab_size"}  # the trained vocabulary's size
    config = write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text, max_steps=4)
    fit = cli_main(["fit", "--config", str(config), "--data", "data_modules.StreamingTextDataModule",
              "--data.train_file", str(small_text), "--data.train_tokenizer", "true", "--data.vocab_size", "1000",
              "--data.max_seq_length", "32", "--model.init_args.model_config", json.dumps(model_config)])
    last = _run_dir(tmp_path / "runs") / "checkpoints" / "last.ckpt"
    cli_main(["export", "--ckpt_path", str(last), "--output_dir", str(tmp_path / "hf")])
    fill = pipeline("fill-mask", model=str(tmp_path / "hf"), device="cpu")
    trained = len(fit.datamodule.tokenizer)  # a WordPiece trained on 120 lines stops short of 1,000 tokens
    assert trained < 30522 and len(fill.tokenizer) == trained == fill.model.config.vocab_size
    assert len(fill("the king is [MASK].", top_k=3)) == 3


def test_4_export_mrpc_classifier_logits_equal_the_module(tmp_path, tiny_bert, shared_data):
    from transformers import pipeline

    config = write_tiny_mrpc_config(tmp_path, tiny_bert, shared_data)
    fit = cli_main(["fit", "--config", str(config), "--trainer.max_epochs", "1", "--trainer.max_steps", "3"])
    last = _run_dir(tmp_path / "runs") / "checkpoints" / "last.ckpt"
    cli_main(["export", "--ckpt_path", str(last), "--output_dir", str(tmp_path / "hf")])
    classify = pipeline("text-classification", model=str(tmp_path / "hf"), device="cpu")
    first, second = "The cat sat on the mat.", "A cat was sitting on the mat."
    result = classify({"text": first, "text_pair": second}, function_to_apply="none", top_k=None)
    assert {r["label"] for r in result} == {"equivalent", "not_equivalent"}
    exported = torch.tensor([next(r["score"] for r in result if r["label"] == name)
                             for name in ("not_equivalent", "equivalent")])
    model = fit.model.eval()
    inputs = fit.datamodule.tokenizer(first, second, return_tensors="pt")
    with torch.no_grad():
        ours = model.model(**inputs).logits[0]
    torch.testing.assert_close(exported, ours, rtol=0, atol=1e-5)


def test_4_export_causal_lm_generates(tmp_path, shared_data):
    from transformers import pipeline

    cli_main(["fit", "--config", str(write_tiny_causal_config(tmp_path, shared_data))])
    last = _run_dir(tmp_path / "runs") / "checkpoints" / "last.ckpt"
    cli_main(["export", "--ckpt_path", str(last), "--output_dir", str(tmp_path / "hf")])
    generate = pipeline("text-generation", model=str(tmp_path / "hf"), device="cpu")
    prompt = "Translate to Turkish: I am here.\n"
    text = generate(prompt, max_new_tokens=5, do_sample=False)[0]["generated_text"]
    assert text.startswith(prompt) and len(text) > len(prompt)


def test_4_export_refuses_a_non_empty_directory_and_overwrites_only_an_export(tmp_path, tiny_bert, small_text, capsys):
    config = write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text, max_steps=2)
    cli_main(["fit", "--config", str(config)])
    last = _run_dir(tmp_path / "runs") / "checkpoints" / "last.ckpt"
    target = tmp_path / "hf"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    for overwrite in ([], ["--overwrite", "true"]):  # --overwrite replaces only an earlier export
        with pytest.raises(SystemExit):
            cli_main(["export", "--ckpt_path", str(last), "--output_dir", str(target), *overwrite])
        assert "is not empty" in capsys.readouterr().err and (target / "notes.txt").read_text() == "mine"
    (target / "notes.txt").unlink()
    cli_main(["export", "--ckpt_path", str(last), "--output_dir", str(target)])
    cli_main(["export", "--ckpt_path", str(last), "--output_dir", str(target), "--overwrite", "true"])
    assert (target / "config.json").exists()


@pytest.mark.slow  # over ~3 s: kept out of the quick loop (`-m "not slow"`)
def test_6_a_fit_and_three_evaluations_leave_one_run_directory(tmp_path, tiny_bert, small_text):
    config = write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text, max_steps=2)
    cli_main(["fit", "--config", str(config)])
    for subcommand in ("validate", "test", "predict"):
        extra = ["--data.test_file", str(small_text)] if subcommand == "test" else []
        cli_main([subcommand, "--config", str(config), "--ckpt_path", "last", *extra])
    assert [p.name for p in (tmp_path / "runs" / "custom_mlm").iterdir()] == ["version_0"]
    evaluations = _run_dir(tmp_path / "runs") / "evaluations"
    names = sorted(p.name for p in evaluations.iterdir())
    assert names == ["last.predict", "last.test.json", "last.validate.json"]
    assert "test/perplexity" in json.loads((evaluations / "last.test.json").read_text())["metrics"]
    assert (evaluations / "last.predict" / "predictions.jsonl").read_text().count("\n") == 3


@pytest.mark.slow  # over ~3 s: kept out of the quick loop (`-m "not slow"`)
def test_7_wikitext2_test_split(tmp_path, tiny_bert, shared_data, capsys):
    folder = tmp_path / "wikitext-2"
    folder.mkdir()
    lines = (shared_data / "wikitext-2" / "wiki.valid.tokens").read_text(encoding="utf-8").splitlines(keepends=True)
    for name, part in (("train", lines[:150]), ("valid", lines[150:220])):
        (folder / f"wiki.{name}.tokens").write_text("".join(part), encoding="utf-8")
    args = ["--config", str(PROJECT_ROOT / "configs" / "wikitext2_bert_mini.yaml"), "--data.data_dir", str(folder),
            "--data.max_seq_length", "32", "--model.init_args.model_config", json.dumps(tiny_bert),
            "--trainer.logger.init_args.save_dir", str(tmp_path / "runs"), "--trainer.max_steps", "2"]
    cli_main(["fit", *args])
    with pytest.raises(SystemExit):  # no wiki.test.tokens yet: the option to set is named
        cli_main(["test", *args, "--ckpt_path", "last"])
    assert "--data.data_dir" in capsys.readouterr().err
    (folder / "wiki.test.tokens").write_text("".join(lines[220:300]), encoding="utf-8")
    cli = cli_main(["test", *args, "--ckpt_path", "last"])
    assert math.isfinite(cli.trainer.callback_metrics["test/perplexity"].item())


def test_logged_steps_line_up_with_console_and_checkpoint_names(tmp_path, tiny_bert, small_text, caplog):
    config = write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text, max_steps=-1, max_epochs=2,
                                   num_sanity_val_steps=-1)
    with caplog.at_level("INFO"):
        cli_main(["fit", "--config", str(config)])
    run_dir = _run_dir(tmp_path / "runs")
    scalars = read_scalars(run_dir)
    assert scalars["val/perplexity"][0][0] == 0  # the validation before training, at step 0
    assert len(scalars["train/loss_epoch"]) == 2  # one epoch-mean training loss per epoch
    console = caplog.text
    for path in (run_dir / "checkpoints").glob("epoch*-step*-val_loss*.ckpt"):
        step = int(path.name.split("-step")[1].split("-")[0])
        loss = float(path.stem.split("val_loss")[1])
        assert round(dict(scalars["val/loss"])[step], 4) == loss  # the file name's step is the logged step
        assert f"(step {step}): val/loss {loss:.4f}" in console  # ... and the console line's


def test_report_shows_the_best_accuracy_and_f1(tmp_path, tiny_bert, shared_data, capsys):
    cli_main(["fit", "--config", str(write_tiny_mrpc_config(tmp_path, tiny_bert, shared_data))])
    capsys.readouterr()
    cli_main(["report", str(_run_dir(tmp_path / "runs"))])
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.startswith("val/")}
    for tag in ("val/accuracy", "val/f1", "val/loss"):
        points = read_scalars(_run_dir(tmp_path / "runs"))[tag]
        value = (max if tag != "val/loss" else min)(v for _, v in points)
        step = min(s for s, v in points if v == value)  # the first time the best value was reached
        assert f"best {value:.6g} at step {step}" in lines[tag]


def test_a_run_stopped_on_max_steps_mid_epoch_has_its_last_step_as_best_candidate(tmp_path, tiny_bert, small_text):
    config = write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text, max_steps=6)
    fit = cli_main(["fit", "--config", str(config), "--data.batch_size", "1", "--trainer.accumulate_grad_batches", "1"])
    assert fit.trainer.global_step == 6 < fit.trainer.num_training_batches  # stopped inside the first epoch
    run_dir = _run_dir(tmp_path / "runs")
    monitored = [path.name for path in (run_dir / "checkpoints").glob("epoch*-step*-val_loss*.ckpt")]
    assert len(monitored) == 1 and "-step6-" in monitored[0]  # scored inside the fit, at its last step
    best = cli_main(["validate", "--config", str(config), "--ckpt_path", "best", "--data.batch_size", "1"])
    assert math.isclose(best.trainer.callback_metrics["val/perplexity"].item(),
                        _logged_at(run_dir, "val/perplexity", 6), rel_tol=1e-5)


def test_step_named_checkpoints_carry_their_own_step(tmp_path, shared_data):
    """configs/tr_en_bce_lm.yaml keeps `step{step}.ckpt` every N steps for the step-1,000-vs-2,000 comparison. A
    logged `step` metric once named the last one after the previous validation's step, overwriting that file."""
    config = yaml.safe_load(write_tiny_causal_config(tmp_path, shared_data).read_text())
    stepwise = next(c for c in config["trainer"]["callbacks"] if c["init_args"].get("filename") == "step{step}")
    stepwise["init_args"]["every_n_train_steps"] = 2  # with validation every 2 steps, as the config has at 1,000
    path = tmp_path / "stepwise.yaml"
    path.write_text(yaml.safe_dump(config))
    cli_main(["fit", "--config", str(path)])
    folder = _run_dir(tmp_path / "runs") / "checkpoints"
    for step in (2, 4):
        state = torch.load(folder / f"step{step}.ckpt", weights_only=True, map_location="cpu")
        assert state["global_step"] == step


def test_a_checkpoint_whose_run_directory_was_deleted_is_enough(tmp_path, tiny_bert, small_text):
    """A downloaded or copied checkpoint, its run directory gone: validate and export still work from the file alone
    (settings and tokenizer files travel inside it)."""
    from transformers import pipeline

    config = write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text, max_steps=4)
    cli_main(["fit", "--config", str(config), "--data.train_tokenizer", "true", "--data.vocab_size", "1000",
              "--data.cache_dir", str(tmp_path / "cache")])  # the trained tokenizer and tokenized splits live here
    run_dir = _run_dir(tmp_path / "runs")
    logged = _logged_at(run_dir, "val/perplexity", 4)
    alone = tmp_path / "downloads" / "model.ckpt"
    alone.parent.mkdir()
    shutil.copy(run_dir / "checkpoints" / "last.ckpt", alone)
    shutil.rmtree(tmp_path / "runs")
    shutil.rmtree(tmp_path / "cache")
    cli = cli_main(["validate", "--ckpt_path", str(alone)])
    assert math.isclose(cli.trainer.callback_metrics["val/perplexity"].item(), logged, rel_tol=1e-5)
    cli_main(["export", "--ckpt_path", str(alone), "--output_dir", str(tmp_path / "hf")])
    assert len(pipeline("fill-mask", model=str(tmp_path / "hf"), device="cpu")("the king is [MASK].", top_k=2)) == 2


def test_a_typed_tokenizer_other_than_the_checkpoints_is_named_in_one_line(tmp_path, tiny_bert, small_text, capsys):
    from data_modules.wordpiece import trained_wordpiece
    from foundation.hub import embedded_model_dir

    config = write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text, max_steps=2,
                                   limit_val_batches=1)
    cli_main(["fit", "--config", str(config)])  # with the embedded MiniLM tokenizer
    validate = ["validate", "--ckpt_path", str(_run_dir(tmp_path / "runs") / "checkpoints" / "last.ckpt"),
                "--trainer.limit_val_batches", "1", "--data.tokenizer"]
    other = tmp_path / "other_tokenizer"
    trained_wordpiece(other, lambda: small_text.read_text().splitlines(), 1000)
    capsys.readouterr()
    cli_main([*validate, str(other)])
    err = capsys.readouterr().err
    assert f"warning: --data.tokenizer {other} is not the tokenizer the checkpoint was trained with" in err
    assert "vs 30,522 tokens" in err
    cli_main([*validate, str(embedded_model_dir())])  # the very tokenizer it trained with: nothing to say
    assert "is not the tokenizer the checkpoint was trained with" not in capsys.readouterr().err


def test_an_evaluation_without_a_checkpoint_says_so_and_writes_beside_the_runs(tmp_path, tiny_bert, small_text,
                                                                                capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may land in the current directory
    config = write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text, limit_val_batches=1)
    cli_main(["validate", "--config", str(config)])
    folder = tmp_path / "runs" / "custom_mlm" / "evaluations"
    assert "warning: no --ckpt_path: validate uses the weights the config builds, which no fit trained" in \
        capsys.readouterr().err
    assert (folder / "untrained.validate.json").is_file() and not (tmp_path / "evaluations").exists()


def test_an_evaluation_record_names_the_checkpoints_step_and_a_card_cites_only_its_own(tmp_path, tiny_bert,
                                                                                        small_text):
    config = write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text, max_steps=4,
                                   limit_val_batches=1)
    cli_main(["fit", "--config", str(config)])
    run = _run_dir(tmp_path / "runs")
    cli_main(["validate", "--config", str(config), "--ckpt_path", "last"])
    record = json.loads((run / "evaluations" / "last.validate.json").read_text())
    assert record["global_step"] == 4  # the checkpoint's step, not the evaluating trainer's 0
    cli_main(["fit", "--config", str(config), "--ckpt_path", "last", "--trainer.max_steps", "6"])  # last.ckpt moves on
    cli_main(["export", "--ckpt_path", str(run / "checkpoints" / "last.ckpt"), "--output_dir", str(tmp_path / "out")])
    card = (tmp_path / "out" / "README.md").read_text()
    assert f"{record['metrics']['val/loss']:.4f}" not in card  # the step-4 evaluation is not this step-6 model's
    assert "`validate` of this checkpoint" not in card
