"""MaskedLanguageModel: loading the embedded encoder, sparse = dense, token-weighted perplexity, clear errors."""

import math

import lightning as L
import pytest
import torch
import torch.nn.functional as F
from conftest import tiny_trainer

from data_modules import CustomTextDataModule
from foundation.errors import ConfigError
from models import MaskedLanguageModel
from models.masked_lm import top1_accuracy
from models.sparse_mlm_head import masked_logits


def test_embedded_encoder_gets_tied_fresh_head(caplog):
    with caplog.at_level("INFO"):
        model = MaskedLanguageModel()
    bert = model.model
    assert bert.config.hidden_size == 384 and bert.config.num_hidden_layers == 6
    assert bert.get_output_embeddings().weight is bert.get_input_embeddings().weight
    assert "no MLM head" in caplog.text and "tied to the word embeddings" in caplog.text


def test_sparse_head_equals_dense(tiny_bert):
    torch.manual_seed(0)
    model = MaskedLanguageModel(model_config=tiny_bert).model.eval()
    ids = torch.randint(1000, 30000, (4, 24))
    attention = torch.ones_like(ids)
    attention[1, 20:] = 0
    labels = torch.full_like(ids, -100)
    labels[:, 3:7] = ids[:, 3:7]
    sparse_logits, sparse_targets = masked_logits(model, ids, attention, labels, sparse=True)
    dense_logits, dense_targets = masked_logits(model, ids, attention, labels, sparse=False)
    assert sparse_logits.shape == (16, 30522)
    torch.testing.assert_close(sparse_logits, dense_logits, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(F.cross_entropy(sparse_logits, sparse_targets),
                               F.cross_entropy(dense_logits, dense_targets))


def test_validation_perplexity_is_token_weighted(small_text, tiny_bert):
    L.seed_everything(0)
    model = MaskedLanguageModel(model_config=tiny_bert)
    dm = CustomTextDataModule(train_file=str(small_text), validation_split_percentage=30, line_by_line=True,
                              max_seq_length=32, batch_size=4)
    trainer = tiny_trainer()
    metrics = trainer.validate(model, datamodule=dm, verbose=False)[0]
    # hand computation: sum of CE over every masked token / number of masked tokens
    total, count = 0.0, 0
    model.eval()
    for batch in dm.val_dataloader():
        batch = dm.on_before_batch_transfer(batch, 0)
        logits, targets = masked_logits(model.model, batch["input_ids"], batch["attention_mask"], batch["labels"])
        total += F.cross_entropy(logits, targets, reduction="sum").item()
        count += targets.numel()
    assert math.isclose(metrics["val/loss"], total / count, rel_tol=1e-5)
    assert math.isclose(metrics["val/perplexity"], math.exp(total / count), rel_tol=1e-5)
    again = trainer.validate(model, datamodule=dm, verbose=False)[0]
    assert again["val/perplexity"] == metrics["val/perplexity"]  # fixed evaluation masks


def test_fast_dev_run_trains(small_text, tiny_bert):
    model = MaskedLanguageModel(model_config=tiny_bert, learning_rate=1e-3)
    dm = CustomTextDataModule(train_file=str(small_text), validation_split_percentage=20, max_seq_length=32)
    before = model.model.bert.embeddings.word_embeddings.weight.clone()
    L.Trainer(fast_dev_run=2, accelerator="cpu", logger=False).fit(model, datamodule=dm)
    assert not torch.equal(before, model.model.bert.embeddings.word_embeddings.weight)


def test_max_seq_length_above_position_limit(small_text, tiny_bert):
    model = MaskedLanguageModel(model_config=tiny_bert)  # 64 positions
    dm = CustomTextDataModule(train_file=str(small_text), max_seq_length=128)
    with pytest.raises(ConfigError, match="exceeds the model's 64 position embeddings"):
        L.Trainer(fast_dev_run=1, accelerator="cpu", logger=False).fit(model, datamodule=dm)


def test_unknown_model_path():
    with pytest.raises(ConfigError, match="--model.pretrained_model='./no/such/model' is not a model directory"):
        MaskedLanguageModel(pretrained_model="./no/such/model")


def test_unreachable_hub_id_fails_in_one_sentence():
    with pytest.raises(ConfigError, match="Hub is unreachable; download it .* pass --model.pretrained_model"):
        MaskedLanguageModel(pretrained_model="google-bert/bert-base-uncased")


def test_directory_without_config(tmp_path):
    with pytest.raises(ConfigError, match="without config.json"):
        MaskedLanguageModel(pretrained_model=str(tmp_path))


@pytest.mark.slow  # over ~20 s on 2 cores, or a real process killed and resumed
def test_compiled_tiny_model_trains(small_text, tiny_bert):
    torch._dynamo.reset()
    model = MaskedLanguageModel(model_config=tiny_bert, learning_rate=1e-3, compile=True)
    dm = CustomTextDataModule(train_file=str(small_text), validation_split_percentage=20, max_seq_length=32)
    before = model.model.bert.embeddings.word_embeddings.weight.clone()
    trainer = tiny_trainer(max_steps=3, limit_val_batches=1, num_sanity_val_steps=0)
    trainer.fit(model, datamodule=dm)
    assert not torch.equal(before, model.model.bert.embeddings.word_embeddings.weight)
    assert torch.isfinite(trainer.callback_metrics["train/loss"])
    assert "model.bert.embeddings.word_embeddings.weight" in model.state_dict()  # checkpoints stay portable


def test_bf16_mixed_precision_with_gradient_clipping_and_fused_adamw(small_text, tiny_bert):
    """Lightning refuses clipping for an optimizer that says it unscales itself (fused AdamW) under any mixed
    precision; configs/trainer/gpu.yaml (bf16-mixed, clip 1.0) failed at its first step until the flag was cleared."""
    model = MaskedLanguageModel(model_config=tiny_bert, learning_rate=1e-3)
    dm = CustomTextDataModule(train_file=str(small_text), validation_split_percentage=20, max_seq_length=32)
    trainer = tiny_trainer(max_steps=2, precision="bf16-mixed", gradient_clip_val=1.0, limit_val_batches=0)
    trainer.fit(model, datamodule=dm)
    assert trainer.global_step == 2 and torch.isfinite(trainer.callback_metrics["train/loss"])


def test_top1_accuracy_is_argmax_accuracy_ties_included():
    """`top1_accuracy` avoids `argmax` for speed; it must pick the same index, the first of tied maxima too."""
    logits = torch.randn(64, 50)
    logits[:8] = 1.0  # every logit tied: argmax takes index 0
    logits[8:16, 7] = logits[8:16, 3] = 9.0  # two tied maxima: argmax takes 3
    targets = torch.randint(0, 50, (64,))
    targets[:4], targets[8:12], targets[12:14] = 0, 3, 7
    expected = (logits.argmax(-1) == targets).float().mean()
    assert expected > 0
    assert top1_accuracy(logits, targets) == expected
