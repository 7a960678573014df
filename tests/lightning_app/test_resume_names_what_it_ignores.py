"""A resumed fit names each setting where the config or the command line differs from the checkpoint: old -> new,
and which one the run continues with, for model, optimizer and data settings alike (issue 22).

The lines must tell the truth, so the test also checks the values the resumed run really used, including the
optimizer state Lightning restores from the checkpoint (if Lightning stops restoring the learning rate and weight
decay, the "checkpoint wins" lines for optimizer settings become wrong and this test fails).
"""

from __future__ import annotations

import pytest
import yaml
from cli_helpers import write_tiny_mlm_config

from lightning_app.cli import cli_main


def _warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("warning: resume: ")]


@pytest.mark.slow  # over ~3 s: kept out of the quick loop (`-m "not slow"`)
def test_resume_names_each_setting_it_ignores_and_which_value_wins(tmp_path, tiny_bert, small_text, capsys):
    config = write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text, max_steps=2)
    cli_main(["fit", "--config", str(config)])  # learning rate 1e-3, batch 4, weight decay 0.01, masking 0.15
    capsys.readouterr()
    cli_main(["fit", "--config", str(config), "--ckpt_path", "last", "--trainer.max_steps", "3"])
    schedule = ("(typed): the run continues with {new}, and its learning-rate schedule is built again for the new "
                "length (the rate jumps where the two schedules differ).")
    assert _warnings(capsys.readouterr().err) == [  # the same settings but the longer run: the schedule's line
        "warning: resume: trainer.max_steps 2 -> 3 " + schedule.format(new=3)]

    edited = yaml.safe_load(config.read_text())
    edited["model"]["init_args"]["learning_rate"] = 0.01
    edited["data"]["init_args"]["batch_size"] = 2
    config.write_text(yaml.safe_dump(edited))
    cli = cli_main(["fit", "--config", str(config), "--ckpt_path", "last", "--trainer.max_steps", "4",
                    "--model.weight_decay", "0.5", "--data.mlm_probability", "0.2"])
    assert sorted(_warnings(capsys.readouterr().err)) == sorted([
        "warning: resume: model.learning_rate 0.001 -> 0.01 (your config): the checkpoint's 0.001 wins, because the "
        "optimizer state restored from it holds it; start a new fit to train with 0.01.",
        "warning: resume: model.weight_decay 0.01 -> 0.5 (typed): the checkpoint's 0.01 wins, because the optimizer "
        "state restored from it holds it; start a new fit to train with 0.5.",
        "warning: resume: data.batch_size 4 -> 2 (your config): the checkpoint's 4 wins, because a resumed fit keeps "
        "its batch size.",
        "warning: resume: data.mlm_probability 0.15 -> 0.2 (typed): yours wins, the run continues with 0.2.",
        "warning: resume: trainer.max_steps 3 -> 4 " + schedule.format(new=4),
    ])
    assert cli.datamodule.batch_size == 4 and cli.datamodule.mlm_probability == 0.2
    groups = cli.trainer.optimizers[0].param_groups
    body = [group for group in groups if group["name"] == "body"]
    assert body and body[0]["initial_lr"] == 0.001 and body[0]["weight_decay"] == 0.01
