"""CausalLanguageModel: no look-ahead (exactly), BCE and its schedule as documented, CE-only perplexity, errors."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from conftest import tiny_trainer
from transformers import BertConfig, BertLMHeadModel

from data_modules import TranslationTextDataModule
from foundation.errors import ConfigError
from models import CausalLanguageModel
from models.bce_term import bce_weight_at, vocabulary_bce
from models.causal_lm import build_decoder
from models.fast_dropout import use_fast_dropout

TINY = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
        "max_position_embeddings": 64, "vocab_size": 120}


@pytest.fixture
def small_pairs(tmp_path, shared_data):
    """The first 300 real pairs of tr-en/tur.txt."""
    lines = (shared_data / "tr-en" / "tur.txt").read_text().splitlines()[:300]
    path = tmp_path / "pairs.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def _assert_no_leak(model) -> None:
    model.eval()
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 120, (2, 24), generator=generator)
    reference = model(input_ids=ids).logits
    for t in range(23):
        changed = ids.clone()
        changed[:, t + 1:] = torch.randint(5, 120, (2, 23 - t), generator=generator)
        assert torch.equal(model(input_ids=changed).logits[:, : t + 1], reference[:, : t + 1]), f"leak at t={t}"


def test_no_leak_built_from_config():
    _assert_no_leak(build_decoder(None, TINY, None))


def test_no_leak_loaded_from_a_directory_saved_without_is_decoder(tmp_path):
    BertLMHeadModel(BertConfig(**TINY, is_decoder=True)).save_pretrained(tmp_path)
    config = BertConfig.from_pretrained(tmp_path)
    config.is_decoder = False  # like prajjwal1/bert-tiny's own config
    config.save_pretrained(tmp_path)
    model = build_decoder(str(tmp_path), None, None)
    assert model.config.is_decoder
    _assert_no_leak(model)


def test_no_leak_in_training_on_the_fast_dropout_attention():
    """Training runs attention through the fast-dropout path (eval takes stock SDPA): causality checked there too,
    with attention dropout on and the same masks drawn for both inputs."""
    model = build_decoder(None, {**TINY, "attention_probs_dropout_prob": 0.3, "hidden_dropout_prob": 0.0}, None)
    assert use_fast_dropout(model)
    model.train()
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 120, (2, 24), generator=generator)

    def prefix(inputs: torch.Tensor, seed: int, t: int) -> torch.Tensor:
        torch.manual_seed(seed)
        return model(input_ids=inputs, attention_mask=torch.ones_like(inputs)).logits[:, : t + 1]

    for t in (0, 7, 15, 22):
        changed = ids.clone()
        changed[:, t + 1:] = torch.randint(5, 120, (2, 23 - t), generator=generator)
        assert torch.equal(prefix(changed, 3, t), prefix(ids, 3, t)), f"leak at t={t}"
    assert not torch.equal(prefix(ids, 3, 22), prefix(ids, 4, 22))  # the dropout is really drawn


def test_the_leak_exists_without_is_decoder():
    """The control: the same network with bidirectional attention does see the future."""
    model = BertLMHeadModel(BertConfig(**TINY, is_decoder=False)).eval()
    ids = torch.randint(5, 120, (1, 16))
    changed = ids.clone()
    changed[:, 10:] = (changed[:, 10:] + 1) % 120
    assert not torch.equal(model(input_ids=ids).logits[:, :10], model(input_ids=changed).logits[:, :10])


def test_bce_matches_hand_computation():
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0], [1.0, 1.0, 1.0]])
    targets = torch.tensor([0, 1, -100])

    def bce(z, positive):  # -log sigmoid(z) for the positive, -log(1 - sigmoid(z)) for the others
        return -math.log(1 / (1 + math.exp(-z))) if positive else -math.log(1 - 1 / (1 + math.exp(-z)))

    rows = [[bce(z, v == t) for v, z in enumerate(row)] for row, t in zip(logits.tolist()[:2], [0, 1])]
    expected = sum(sum(r) / 3 for r in rows) / 2
    assert vocabulary_bce(logits, targets).item() == pytest.approx(expected, rel=1e-6)
    one_hot = F.one_hot(targets[:2], 3).float()
    assert vocabulary_bce(logits, targets).item() == pytest.approx(
        F.binary_cross_entropy_with_logits(logits[:2], one_hot).item(), rel=1e-6)
    assert vocabulary_bce(torch.randn(50, 7) * 10, torch.randint(0, 7, (50,))) >= 0


@pytest.mark.parametrize("step, weight", [(0, 0.0), (200, 0.5 * (0.2 + 0.3 * 0.1)), (400, 0.26), (1000, 0.35),
                                          (2000, 0.5), (5000, 0.5)])
def test_bce_weight_schedule(step, weight):
    assert bce_weight_at(step) == pytest.approx(weight)


def _fitted_datamodule(small_pairs, tmp_path) -> TranslationTextDataModule:
    dm = TranslationTextDataModule(corpus_file=str(small_pairs), vocab_size=400, max_seq_length=32, eval_batch_size=8,
                                   ood_eval_lines=20, validation_split_percentage=10, cache_dir=str(tmp_path / "c"))
    dm.setup("fit")
    return dm


def test_ce_only_perplexity_ignores_bce_max(small_pairs, tmp_path):
    dm = _fitted_datamodule(small_pairs, tmp_path)
    config = dict(TINY, vocab_size=len(dm.tokenizer))
    results = []
    for bce_max in (0.5, 5.0):
        torch.manual_seed(0)
        model = CausalLanguageModel(model_config=config, bce_max=bce_max, bce_warmup_steps=0, bce_boost_span=1)
        trainer = tiny_trainer()
        results.append(trainer.validate(model, datamodule=dm, verbose=False))
    first, second = (r[0] for r in results)
    assert first["val/perplexity"] == second["val/perplexity"]
    assert first["val/perplexity"] == pytest.approx(math.exp(first["val/loss"]), rel=1e-5)
    # total = CE + w * BCE with w(0) = bce_start = 0.2 here (bce_warmup_steps 0)
    assert first["val/total_loss"] == pytest.approx(first["val/loss"] + 0.2 * first["val/bce"], rel=1e-5)
    assert "val_wikitext/perplexity" in results[0][1]  # the out-of-domain set is scored separately


def test_fit_a_few_steps_then_generate(small_pairs, tmp_path, capsys):
    dm = _fitted_datamodule(small_pairs, tmp_path)
    model = CausalLanguageModel(model_config=dict(TINY, vocab_size=len(dm.tokenizer)), max_new_tokens=5)
    trainer = tiny_trainer(max_steps=5, limit_val_batches=1)
    trainer.fit(model, datamodule=dm)
    assert math.isfinite(trainer.callback_metrics["train/ce"]) and trainer.callback_metrics["train/bce"] > 0
    outputs = trainer.predict(model, datamodule=dm)
    assert len(outputs) == 1 and isinstance(outputs[0], str)


def test_bce_disabled_is_plain_ce_and_says_so(small_pairs, tmp_path, caplog):
    dm = _fitted_datamodule(small_pairs, tmp_path)
    model = CausalLanguageModel(model_config=dict(TINY, vocab_size=len(dm.tokenizer)), bce_enabled=False)
    with caplog.at_level("INFO"):
        tiny_trainer(max_steps=2, limit_val_batches=0).fit(model, datamodule=dm)
    assert "BCE term disabled" in caplog.text
    assert model.bce_weight() == 0.0


def test_prompt_longer_than_context(small_pairs, tmp_path):
    dm = TranslationTextDataModule(corpus_file=str(small_pairs), vocab_size=400, max_seq_length=16,
                                   cache_dir=str(tmp_path / "c"), predict_prompts=["word " * 40])
    with pytest.raises(ConfigError, match="--data.predict_prompts: .* more tokens than the context of 16"):
        dm.predict_dataloader()


def test_fused_losses_equal_autograd_losses_and_gradients():
    from models.bce_term import next_token_losses

    logits = (torch.randn(37, 50) * 3).requires_grad_()
    targets = torch.randint(0, 50, (37,))
    targets[[3, 9]] = -100
    ce, bce = next_token_losses(logits, targets)
    reference_ce = F.cross_entropy(logits, targets)
    reference_bce = vocabulary_bce(logits, targets)
    torch.testing.assert_close(ce, reference_ce)
    torch.testing.assert_close(bce, reference_bce)
    fused_grad = torch.autograd.grad(ce + 0.35 * bce, logits)[0]
    reference_grad = torch.autograd.grad(reference_ce + 0.35 * reference_bce, logits)[0]
    torch.testing.assert_close(fused_grad, reference_grad)
