"""A fit that ends normally leaves `last.ckpt` at its final step (`LastCheckpointAtEnd`), and a finished run
extended from it with a larger `max_steps` ends with exactly the weights of a run that went straight there (under a
constant learning rate: a decaying schedule is rebuilt from the new `max_steps`)."""

from __future__ import annotations

import pytest
import torch
import yaml
from cli_helpers import write_tiny_mlm_config

from lightning_app.checkpointing.checkpoints import load_checkpoint
from lightning_app.cli import cli_main


def _last(save_dir):
    return load_checkpoint(save_dir / "custom_mlm" / "version_0" / "checkpoints" / "last.ckpt")


def test_last_ckpt_holds_the_final_step_when_the_save_interval_does_not_divide_it(tmp_path, tiny_bert, small_text):
    config = write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text)  # last.ckpt every 2 steps
    cli = cli_main(["fit", "--config", str(config), "--trainer.max_steps", "5", "--trainer.limit_val_batches", "1"])
    assert cli.trainer.global_step == 5
    state = _last(tmp_path / "runs")
    assert state["global_step"] == 5
    final = {name: tensor for name, tensor in cli.model.state_dict().items()}
    for name, tensor in state["state_dict"].items():
        torch.testing.assert_close(tensor, final[name], rtol=0, atol=0, msg=name)


def test_the_callbacks_own_saves_at_the_final_step_still_happen(tmp_path, tiny_bert, small_text):
    """One ModelCheckpoint that keeps every validation's file and `last.ckpt`: the final validation's file is still
    written after `last.ckpt` was (the run's final weights stay a candidate for `best`)."""
    config_path = write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text)
    config = yaml.safe_load(config_path.read_text())
    config["trainer"]["callbacks"][0]["init_args"].update(save_top_k=-1, save_last=True)
    config_path.write_text(yaml.safe_dump(config))
    cli_main(["fit", "--config", str(config_path), "--trainer.max_steps", "5", "--trainer.limit_val_batches", "1"])
    folder = tmp_path / "runs" / "custom_mlm" / "version_0" / "checkpoints"
    assert load_checkpoint(folder / "last.ckpt")["global_step"] == 5
    assert [load_checkpoint(path)["global_step"] for path in folder.glob("epoch1-step5-*.ckpt")] == [5]


def test_upstream_still_keeps_the_earlier_last_ckpt(tmp_path, tiny_bert, small_text):
    """Lightning 2.6 alone leaves step 4 (its on_train_end saves only when nothing was saved): when this fails,
    Lightning writes the final last.ckpt itself and `LastCheckpointAtEnd` can go."""
    config = write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text)
    cli_main(["fit", "--config", str(config), "--trainer.max_steps", "5", "--trainer.limit_val_batches", "1",
              "--last_checkpoint_at_end", "null"])
    assert _last(tmp_path / "runs")["global_step"] == 4


@pytest.mark.slow  # three fits of the tiny model
def test_a_finished_run_extended_from_last_matches_a_run_that_went_straight_on(tmp_path, tiny_bert, small_text):
    constant = ["--model.lr_scheduler_type", "constant"]
    straight = write_tiny_mlm_config(tmp_path, tmp_path / "straight", tiny_bert, small_text, max_steps=13)
    reference = cli_main(["fit", "--config", str(straight), *constant])
    stopped = write_tiny_mlm_config(tmp_path, tmp_path / "extended", tiny_bert, small_text)  # max_steps 11
    first = cli_main(["fit", "--config", str(stopped), *constant])
    assert first.trainer.global_step * 2 % first.trainer.num_training_batches != 0  # it ended mid-epoch
    extended = cli_main(["fit", "--config", str(stopped), *constant, "--ckpt_path", "last",
                         "--trainer.max_steps", "13"])
    assert extended.trainer.global_step == 13
    expected = reference.model.state_dict()
    for name, tensor in extended.model.state_dict().items():
        torch.testing.assert_close(tensor, expected[name], rtol=0, atol=0, msg=name)
