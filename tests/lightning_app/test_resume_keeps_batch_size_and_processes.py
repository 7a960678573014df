"""A resumed fit keeps its batch size and its number of processes: another `--data.batch_size`, or other devices x
nodes, is refused in one sentence, because Lightning restores an epoch's progress counted in each process's
batches (tests/end_to_end/test_ddp_on_cpu.py measured half an epoch lost resuming 2 processes on 1). The last test
pins that Lightning behaviour: when it fails, Lightning handles a new batch size on resume and the refusal can go."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from cli_helpers import run_bad_input, write_tiny_mlm_config
from lightning.pytorch.callbacks import ModelCheckpoint
from torchdata.stateful_dataloader import StatefulDataLoader

from data_modules.samplers import ResumableShuffleSampler
from lightning_app.cli import cli_main


@pytest.mark.slow  # over ~3 s: kept out of the quick loop (`-m "not slow"`)
def test_a_typed_batch_size_change_on_resume_is_refused(tmp_path, tiny_bert, small_text, capsys, bad_input_table):
    config = write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text, max_steps=2,
                                   limit_val_batches=1)
    cli_main(["fit", "--config", str(config)])
    argv = ["fit", "--config", str(config), "--ckpt_path", "last", "--trainer.max_steps", "4", "--data.batch_size", "8"]
    message = run_bad_input(capsys, argv, tmp_path)
    assert message == ("error: --data.batch_size 8: a resumed fit keeps the batch size of --ckpt_path last.ckpt (4), "
                       "because Lightning counts the epoch's progress in batches; drop --data.batch_size "
                       "(--trainer.accumulate_grad_batches changes the batch of an optimizer step), or start a new "
                       "fit from exported weights (export, then --model.pretrained_model DIR).")
    bad_input_table.record("another batch size on resume",
                           ["fit", "--config", "custom_mlm.yaml", "--ckpt_path", "last", "--data.batch_size", "8"],
                           message)
    cli_main([*argv[:-2], "--data.batch_size", "4"])  # the checkpoint's own size is not a change


@pytest.mark.slow  # over ~3 s: kept out of the quick loop (`-m "not slow"`)
def test_a_resume_on_another_number_of_processes_is_refused(tmp_path, tiny_bert, small_text, capsys,
                                                             bad_input_table):
    config = write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text, max_steps=2,
                                   limit_val_batches=1)
    cli_main(["fit", "--config", str(config)])
    extra = ["--trainer.accelerator", "cpu", "--trainer.devices", "2", "--trainer.strategy", "ddp"]
    message = run_bad_input(capsys, ["fit", "--config", str(config), "--ckpt_path", "last", *extra], tmp_path)
    assert message == ("error: --ckpt_path last.ckpt was trained by 1 process and this fit has 2 processes "
                       "(--trainer.devices x --trainer.num_nodes): a resumed fit keeps its number of processes, "
                       "because each counts the epoch's progress in its own batches; resume on 1, or start a new fit "
                       "from exported weights (export, then --model.pretrained_model DIR).")
    bad_input_table.record("another number of processes on resume",
                           ["fit", "--config", "custom_mlm.yaml", "--ckpt_path", "last", *extra], message)


class _CountingModel(L.LightningModule):
    """12 training examples in a resumable shuffled order; records each epoch's batch sizes and its validations."""

    def __init__(self, batch_size: int):
        super().__init__()
        self.layer = torch.nn.Linear(1, 1)
        self.batch_size = batch_size
        self.batches: dict[int, list[int]] = {}
        self.validated: list[int] = []

    def train_dataloader(self):
        data = torch.arange(12.0)[:, None]
        return StatefulDataLoader(data, batch_size=self.batch_size, sampler=ResumableShuffleSampler(data))

    def val_dataloader(self):
        return torch.utils.data.DataLoader(torch.arange(4.0)[:, None], batch_size=2)

    def training_step(self, batch, batch_idx):
        self.batches.setdefault(self.current_epoch, []).append(len(batch))
        return self.layer(batch).sum()

    def validation_step(self, batch, batch_idx):
        return self.layer(batch).sum()

    def on_validation_epoch_start(self):
        self.validated.append(self.current_epoch)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def test_lightning_still_skips_the_validation_of_an_epoch_resumed_with_another_batch_size(tmp_path):
    settings = dict(default_root_dir=tmp_path, logger=False, enable_progress_bar=False, enable_model_summary=False,
                    accelerator="cpu", num_sanity_val_steps=0)
    saving = ModelCheckpoint(dirpath=tmp_path, every_n_train_steps=4, save_last=True)
    L.Trainer(max_steps=4, callbacks=[saving], **settings).fit(_CountingModel(batch_size=2))  # 8 of 12 read
    resumed = _CountingModel(batch_size=4)
    L.Trainer(max_epochs=2, **settings).fit(resumed, ckpt_path=tmp_path / "last.ckpt")
    assert resumed.batches == {0: [4], 1: [4, 4, 4]}  # the position itself is exact (our resumable sampler)
    assert resumed.validated == [1], (
        "Lightning now validates an epoch resumed with another batch size: lift refuse_batch_size_change "
        "(lightning_app/checkpointing/resume_differences.py)")
