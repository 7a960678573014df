"""A tied word embedding's sparse gradient (`models/tied_embedding.py`): the same dense .grad as the stock path, for
the causal LM and the masked LM, in one process and under DDP, where `nn.Embedding(sparse=True)` itself fails."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F
from transformers import AutoConfig, AutoModelForMaskedLM, BertConfig, BertLMHeadModel

from models.causal_head import next_token_head_losses
from models.sparse_mlm_head import masked_logits
from models.tied_embedding import use_sparse_embedding_gradient

DECODER = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
           "vocab_size": 300, "is_decoder": True}


def _decoder(**overrides) -> BertLMHeadModel:
    torch.manual_seed(0)
    return BertLMHeadModel(BertConfig(**{**DECODER, **overrides}))


def _causal_loss(model: torch.nn.Module, seed: int = 1) -> torch.Tensor:
    ids = torch.randint(1, 300, (2, 16), generator=torch.Generator().manual_seed(seed))
    ce, bce, _ = next_token_head_losses(model, ids, torch.ones_like(ids))
    return ce + 0.4 * bce


def test_causal_lm_tied_gradient_stays_dense_and_equal():
    grads = []
    for sparse in (False, True):
        model = _decoder()
        assert use_sparse_embedding_gradient(model) if sparse else True
        _causal_loss(model).backward()
        weight = model.bert.embeddings.word_embeddings.weight
        assert not weight.grad.is_sparse and weight is model.cls.predictions.decoder.weight
        torch.optim.AdamW(model.parameters(), fused=True).step()  # fused AdamW takes the result
        grads.append(weight.grad)
    torch.testing.assert_close(grads[1], grads[0])


TINY_MODERNBERT = {"model_type": "modernbert", "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
                   "intermediate_size": 64, "max_position_embeddings": 64, "vocab_size": 1000, "pad_token_id": 0}


@pytest.mark.parametrize("family", ["bert", "modernbert"])
def test_masked_lm_tied_gradient_stays_dense_and_equal(tiny_bert, family):
    config = tiny_bert if family == "bert" else TINY_MODERNBERT
    ids = torch.randint(5, 1000, (2, 24), generator=torch.Generator().manual_seed(2))
    labels = torch.full_like(ids, -100)
    labels[:, 3::5] = ids[:, 3::5]
    grads = []
    for sparse in (False, True):
        torch.manual_seed(0)
        model = AutoModelForMaskedLM.from_config(AutoConfig.for_model(**config)).eval()  # no dropout draws
        assert use_sparse_embedding_gradient(model) if sparse else True
        logits, targets = masked_logits(model, ids, torch.ones_like(ids), labels)
        F.cross_entropy(logits, targets).backward()
        grads.append(model.get_input_embeddings().weight.grad)
        assert not grads[-1].is_sparse
    torch.testing.assert_close(grads[1], grads[0])


def test_untied_or_compiled_networks_keep_the_stock_lookup():
    untied = _decoder(tie_word_embeddings=False)
    assert not use_sparse_embedding_gradient(untied)
    assert "forward" not in vars(untied.get_input_embeddings())
    compiled = _decoder()
    compiled.base_model.compile()  # lazy: nothing is compiled until a call
    assert not use_sparse_embedding_gradient(compiled)
    self_compiling = _decoder()
    self_compiling.config.reference_compile = None  # transformers 4.x ModernBERT: decided at the first forward
    assert not use_sparse_embedding_gradient(self_compiling)


def _ddp_worker(rank: int, port: int, out: Path) -> None:
    """One DDP rank (gloo, 2 processes): backward through the tied decoder with the stock lookup, ours, and the
    `nn.Embedding`'s own sparse flag (last: it fails); writes each word-embedding gradient, or the error."""
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    results = {}
    try:
        for how in ("stock", "ours", "module_flag"):
            model = _decoder()
            if how == "ours":
                assert use_sparse_embedding_gradient(model)
            elif how == "module_flag":  # what the trick did before
                model.get_input_embeddings().sparse = True
            ddp = torch.nn.parallel.DistributedDataParallel(model)
            ids = torch.randint(1, 300, (1, 16), generator=torch.Generator().manual_seed(rank))
            try:
                ddp(input_ids=ids, attention_mask=torch.ones_like(ids), labels=ids).loss.backward()
                results[how] = model.get_input_embeddings().weight.grad.clone()
            except RuntimeError as error:
                results[how] = str(error)
        torch.save(results, out / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def ddp_results(tmp_path_factory) -> list[dict]:
    out = tmp_path_factory.mktemp("ddp")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    torch.multiprocessing.spawn(_ddp_worker, args=(port, out), nprocs=2)
    return [torch.load(out / f"rank{rank}.pt", weights_only=True) for rank in (0, 1)]


def test_ddp_averages_the_same_gradient_as_the_stock_lookup(ddp_results):
    for rank in ddp_results:
        assert isinstance(rank["ours"], torch.Tensor), rank["ours"]
        torch.testing.assert_close(rank["ours"], rank["stock"])
    torch.testing.assert_close(ddp_results[0]["ours"], ddp_results[1]["ours"])  # averaged across ranks


def test_upstream_ddp_still_rejects_a_tied_sparse_embedding(ddp_results):
    """Why the trick leaves `nn.Embedding.sparse` False. When this fails, DDP takes the flag: set it instead."""
    for rank in ddp_results:
        assert "Expected variable to have sparse gradient" in str(rank["module_flag"])
