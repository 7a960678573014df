"""bench/causal_lm_vs_hf.py's peer with the BCE term trains on the loss ours trains on with BCE on."""

from __future__ import annotations

import sys

import torch
import yaml
from cli_helpers import PROJECT_ROOT
from transformers import BertConfig, BertLMHeadModel, TrainingArguments

from models.bce_term import bce_weight_at, lagged_bce_weight_at
from models.causal_head import next_token_head_losses

sys.path.insert(0, str(PROJECT_ROOT / "bench"))
import causal_lm_vs_hf  # noqa: E402


def test_the_peer_with_bce_computes_our_loss_at_our_weight(tmp_path):
    torch.manual_seed(0)
    model = BertLMHeadModel(BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                       intermediate_size=32, is_decoder=True, hidden_dropout_prob=0.0,
                                       attention_probs_dropout_prob=0.0))  # both passes see the same network
    ids = torch.randint(0, 50, (1, 12))
    trainer = causal_lm_vs_hf.trainer_with_bce()(model=model, args=TrainingArguments(
        output_dir=str(tmp_path), use_cpu=True, report_to=[]))
    trainer.state.global_step = 1000
    loss = trainer.compute_loss(model, {"input_ids": ids, "labels": ids})
    ce, bce, _ = next_token_head_losses(model, ids, torch.ones_like(ids))
    weight = causal_lm_vs_hf.recipe_bce_weight(1000)
    assert weight > 0 and torch.allclose(loss, ce + weight * bce, atol=1e-5)


def test_the_peers_bce_weight_follows_the_configs_schedule_read_once(monkeypatch):
    reads, load = [], yaml.safe_load
    monkeypatch.setattr(causal_lm_vs_hf.yaml, "safe_load", lambda text: reads.append(text) or load(text))
    causal_lm_vs_hf.recipe_bce_settings.cache_clear()
    # configs/tr_en_bce_lm.yaml picks the lagged schedule; the model's default is linear
    assert causal_lm_vs_hf.recipe_bce_weight(1000) == lagged_bce_weight_at(1000) != bce_weight_at(1000)
    causal_lm_vs_hf.recipe_bce_weight(1001)
    assert len(reads) == 1  # not once per step of the peer
