"""Training-mathematics properties of from-scratch MLM pre-training on real WikiText-2 blocks: gradient
accumulation equivalence, seeded reproducibility, activation checkpointing, and overfitting one batch."""

import lightning as L
import pytest
import torch
from conftest import tiny_trainer
from datasets import Dataset

from data_modules import WikiText2DataModule
from models import MaskedLanguageModel

NO_DROPOUT = {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}


@pytest.fixture
def full_blocks(tmp_path, shared_data) -> WikiText2DataModule:
    """A data module over 64 real 32-token blocks without [UNK], so every block has the same number of masked
    tokens (the precondition under which averaging per micro-batch equals averaging over the whole batch)."""
    lines = (shared_data / "wikitext-2" / "wiki.train.tokens").read_text(encoding="utf-8").splitlines()[:300]
    folder = tmp_path / "wiki"
    folder.mkdir()
    for split in ("train", "valid"):
        (folder / f"wiki.{split}.tokens").write_text("\n".join(lines) + "\n", encoding="utf-8")
    dm = WikiText2DataModule(data_dir=str(folder), max_seq_length=32, cache_dir=str(tmp_path / "cache"))
    dm.setup("fit")
    unk = dm.tokenizer.unk_token_id
    blocks = [b for b in dm.splits["train"]["input_ids"] if len(b) == 32 and unk not in b][:64]
    assert len(blocks) == 64
    dm.splits = {"train": Dataset.from_dict({"input_ids": blocks}),
                 "validation": Dataset.from_dict({"input_ids": blocks[:8]})}
    return dm


class GradientRecorder(L.Callback):
    """Keeps each optimizer step's gradients (before clipping and the update) and each step's loss."""

    def __init__(self):
        self.grads: list[dict[str, torch.Tensor]] = []
        self.losses: list[float] = []

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        self.grads.append({n: p.grad.detach().clone() for n, p in pl_module.named_parameters() if p.grad is not None})

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.losses.append(float(outputs["loss"]))


def _fit(dm, model_config, max_steps, accumulate=1, **trainer_kwargs) -> tuple[MaskedLanguageModel, GradientRecorder]:
    L.seed_everything(0)
    model = MaskedLanguageModel(model_config=model_config, learning_rate=1e-3)
    recorder = GradientRecorder()
    trainer = tiny_trainer(max_steps=max_steps, accumulate_grad_batches=accumulate, limit_val_batches=0,
                           num_sanity_val_steps=0, callbacks=[recorder], **trainer_kwargs)
    trainer.fit(model, datamodule=dm)
    return model, recorder


def test_accumulating_4_micro_batches_of_8_equals_one_batch_of_32(full_blocks, tiny_bert):
    config = {**tiny_bert, **NO_DROPOUT}
    full_blocks.batch_size = 32
    _, whole = _fit(full_blocks, config, max_steps=1)
    full_blocks.batch_size = 8
    _, accumulated = _fit(full_blocks, config, max_steps=1, accumulate=4)
    assert len(whole.grads) == len(accumulated.grads) == 1
    assert len(accumulated.losses) == 4  # four micro-batches made the one optimizer step
    for name, grad in whole.grads[0].items():
        torch.testing.assert_close(accumulated.grads[0][name], grad, rtol=1e-4, atol=1e-6, msg=name)


def test_two_seeded_runs_give_identical_losses_and_weights(full_blocks, tiny_bert):
    first_model, first = _fit(full_blocks, tiny_bert, max_steps=6)  # dropout on: the seed must fix it too
    second_model, second = _fit(full_blocks, tiny_bert, max_steps=6)
    assert first.losses == second.losses and len(first.losses) == 6
    for (name, a), (_, b) in zip(first_model.state_dict().items(), second_model.state_dict().items()):
        assert torch.equal(a, b), name


def test_activation_checkpointing_gives_the_same_gradients(full_blocks, tiny_bert):
    batch = _masked_batch(full_blocks)
    grads = []
    for checkpointing in (False, True):
        torch.manual_seed(0)
        model = MaskedLanguageModel(model_config=tiny_bert, gradient_checkpointing=checkpointing)  # dropout 0.1
        calls = []
        model.model.bert.encoder.layer[0].attention.register_forward_hook(lambda *_: calls.append(1))
        torch.manual_seed(1)  # the same dropout masks; non-reentrant checkpointing replays the RNG state
        loss, _, _ = model._masked_loss(batch)
        loss.backward()
        assert len(calls) == (2 if checkpointing else 1)  # checkpointing really recomputed the layer in backward
        grads.append({n: p.grad for n, p in model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys()
    for name, grad in grads[0].items():
        torch.testing.assert_close(grads[1][name], grad, rtol=1e-5, atol=1e-7, msg=name)


def _masked_batch(dm) -> dict:
    batch = next(iter(dm.train_dataloader()))
    batch["input_ids"], batch["labels"] = dm.masker(batch["input_ids"], batch["index"], epoch=0)
    return batch


class StopBelow(GradientRecorder):
    def __init__(self, threshold: float):
        super().__init__()
        self.threshold = threshold

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        trainer.should_stop = self.losses[-1] < self.threshold


def test_overfit_batches_1_drives_loss_below_half_within_200_steps(full_blocks, tiny_bert):
    # `overfit_batches` also fixes the batch's masks (data_modules/masked_lm.py), so there is one input to memorise
    config = {**tiny_bert, **NO_DROPOUT, "hidden_size": 64, "intermediate_size": 128}
    L.seed_everything(0)
    model = MaskedLanguageModel(model_config=config, learning_rate=3e-3)
    recorder = StopBelow(0.5)
    trainer = tiny_trainer(max_steps=200, overfit_batches=1, num_sanity_val_steps=0, check_val_every_n_epoch=1000,
                           callbacks=[recorder])
    trainer.fit(model, datamodule=full_blocks)
    assert recorder.losses[0] > 9 and recorder.losses[-1] < 0.5, recorder.losses[::10]
    assert len(recorder.losses) <= 200
