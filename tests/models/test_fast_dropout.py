"""The 16-bit dropout masks (`models/fast_dropout.py`): rate, unbiasedness, identities, seeding, gradients, and that
a BERT switched to them computes the same function as the stock model wherever no random draw is involved."""

import math

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoConfig, AutoModelForMaskedLM

from models.bce_term import next_token_losses, vocabulary_bce
from models.causal_head import next_token_head_losses
from models.fast_dropout import (
    ATTENTION_NAME,
    FastDropout,
    _attention_with_fast_dropout,
    fast_dropout,
    keep_count,
    keep_mask,
    use_fast_dropout,
)
from models.fused_lm_loss import fused_linear_next_token_losses
from models.masked_encoder import selected_hidden_states

TINY_MODERNBERT = {"model_type": "modernbert", "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
                   "intermediate_size": 64, "max_position_embeddings": 128, "global_attn_every_n_layers": 1}


def _bert_pair(tiny_bert: dict, **overrides) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(stock, switched) copies of one random tiny BERT masked-LM, both in training mode."""
    torch.manual_seed(0)
    config = AutoConfig.for_model(**{**tiny_bert, **overrides})
    stock = AutoModelForMaskedLM.from_config(config)
    switched = AutoModelForMaskedLM.from_config(AutoConfig.for_model(**{**tiny_bert, **overrides}))
    switched.load_state_dict(stock.state_dict())
    assert use_fast_dropout(switched)
    return stock.train(), switched.train()


def _padded_inputs() -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.randint(1000, 30000, (3, 20), generator=torch.Generator().manual_seed(5))
    attention = torch.ones_like(ids)
    attention[1, 14:] = 0  # padding, so the mask path is exercised
    return ids, attention


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_mask_rate_matches_the_quantised_probability(p):
    torch.manual_seed(0)
    n = 1 << 22
    kept = keep_mask(torch.Size([n]), p).sum().item()
    q = keep_count(p) / 65536  # exact keep probability
    assert abs(q - (1 - p)) <= 2**-17
    sigma = math.sqrt(n * q * (1 - q))
    assert abs(kept - n * q) < 5 * sigma, (kept, n * q, sigma)


def test_dropout_is_unbiased_and_slices_are_uniform():
    torch.manual_seed(1)
    n = 1 << 22
    out = fast_dropout(torch.ones(n), 0.1)
    assert set(out.unique().tolist()) == {0.0, torch.tensor(65536 / keep_count(0.1)).item()}  # 1 / (1 - p') in fp32
    sigma = math.sqrt(keep_count(0.1) / 65536 * 0.1) / math.sqrt(n) * 65536 / keep_count(0.1)
    assert abs(out.mean().item() - 1.0) < 5 * sigma
    # each 16-bit slice position of the 64-bit words is uniform (a top bit stuck at 0 would show in slice 3)
    words = torch.empty(1 << 20, dtype=torch.int64).random_(-(2**63), None)
    for slice_index in range(4):
        top_bit = (words.view(torch.int16).view(-1, 4)[:, slice_index] < 0).float().mean().item()
        assert abs(top_bit - 0.5) < 5 * 0.5 / 1024, slice_index


def test_identity_in_eval_mode_and_at_p_zero():
    x = torch.randn(4, 7, requires_grad=True)
    assert fast_dropout(x, 0.3, training=False) is x
    assert fast_dropout(x, 0.0) is x
    layer = FastDropout(0.3).eval()
    assert layer(x) is x
    assert torch.equal(fast_dropout(x, 1.0), torch.zeros_like(x))


def test_same_seed_same_mask_from_the_default_generator():
    x = torch.randn(1000)
    torch.manual_seed(7)
    first = fast_dropout(x, 0.2)
    torch.manual_seed(7)
    second = fast_dropout(x, 0.2)
    third = fast_dropout(x, 0.2)  # the generator moved on
    assert torch.equal(first, second) and not torch.equal(second, third)
    state = torch.get_rng_state()
    fast_dropout(x, 0.2)
    assert not torch.equal(state, torch.get_rng_state())  # it draws from torch's default generator


def test_gradient_check():
    x = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)

    def seeded(t):
        torch.manual_seed(3)
        return fast_dropout(t, 0.25)

    assert torch.autograd.gradcheck(seeded, (x,))
    torch.manual_seed(3)
    keep = keep_mask(x.shape, 0.25)
    seeded(x).sum().backward()
    torch.testing.assert_close(x.grad, keep.double() * 65536 / keep_count(0.25))


def test_attention_equals_a_reference_with_the_same_mask_and_its_gradients():
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, 5, 4, dtype=torch.float64, requires_grad=True) for _ in range(3))
    pad = torch.ones(2, 1, 5, 5, dtype=torch.bool)
    pad[1, :, :, 3:] = False  # the second sequence has two padding keys
    torch.manual_seed(11)
    ours = _attention_with_fast_dropout(q, k, v, pad, 0.5, 0.3, causal=False)
    torch.manual_seed(11)
    keep = keep_mask(torch.Size([2, 3, 5, 5]), 0.3)
    scores = (q @ k.transpose(-1, -2) * 0.5).masked_fill(~pad, -math.inf)
    reference = (scores.softmax(-1) * keep * 65536 / keep_count(0.3)) @ v
    torch.testing.assert_close(ours, reference.transpose(1, 2))
    grads = torch.autograd.grad(ours.square().sum(), (q, k, v))
    expected = torch.autograd.grad(reference.transpose(1, 2).square().sum(), (q, k, v))
    for got, want in zip(grads, expected):
        torch.testing.assert_close(got, want)


def test_attention_at_p_one_drops_everything_and_keeps_the_graph():
    q, k, v = (torch.randn(1, 2, 4, 3, requires_grad=True) for _ in range(3))
    out = _attention_with_fast_dropout(q, k, v, None, 0.5, 1.0, causal=False)  # k = 0: no 1 / (1 - p) to scale by
    assert torch.equal(out, torch.zeros(1, 4, 2, 3))
    out.sum().backward()
    assert torch.equal(v.grad, torch.zeros_like(v))


def test_causal_attention_sees_no_future():
    torch.manual_seed(0)
    q, k, v = (torch.randn(1, 2, 6, 4) for _ in range(3))
    torch.manual_seed(2)
    first = _attention_with_fast_dropout(q, k, v, None, 0.5, 0.2, causal=True)
    k2, v2 = k.clone(), v.clone()
    k2[:, :, 4:], v2[:, :, 4:] = 9.0, 9.0  # change the last two positions
    torch.manual_seed(2)
    second = _attention_with_fast_dropout(q, k2, v2, None, 0.5, 0.2, causal=True)
    assert torch.equal(first[:, :4], second[:, :4])


def test_switched_bert_equals_stock_in_eval_and_without_dropout(tiny_bert):
    ids, attention = _padded_inputs()
    stock, switched = _bert_pair(tiny_bert)
    assert switched.config._attn_implementation == ATTENTION_NAME
    swapped = sum(isinstance(m, FastDropout) for m in switched.modules())
    assert swapped == 1 + 3 * tiny_bert["num_hidden_layers"]  # embeddings; per layer: attention probs, 2 outputs
    with torch.no_grad():
        expected = stock.eval()(input_ids=ids, attention_mask=attention).logits
        assert torch.equal(switched.eval()(input_ids=ids, attention_mask=attention).logits, expected)
    stock, switched = _bert_pair(tiny_bert, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    torch.testing.assert_close(switched(input_ids=ids, attention_mask=attention).logits,
                               stock(input_ids=ids, attention_mask=attention).logits)
    assert ATTENTION_NAME not in str(switched.config.to_dict())  # exported configs keep loading without us


def _twice_from_seed(seed: int, draw) -> list[torch.Tensor]:
    """Two calls of `draw`, each after `torch.manual_seed(seed)`: what a seeded random path must repeat exactly."""
    outputs = []
    for _ in range(2):
        torch.manual_seed(seed)
        outputs.append(draw())
    return outputs


def test_switched_bert_trains_deterministically_and_differs_from_eval(tiny_bert):
    ids, attention = _padded_inputs()
    _, switched = _bert_pair(tiny_bert)
    outputs = _twice_from_seed(4, lambda: switched(input_ids=ids, attention_mask=attention).logits)
    assert torch.equal(outputs[0], outputs[1])
    with torch.no_grad():
        assert not torch.allclose(outputs[0], switched.eval()(input_ids=ids, attention_mask=attention).logits)
    loss = F.cross_entropy(outputs[0].flatten(0, 1), ids.flatten())
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in switched.parameters() if p.requires_grad)


@pytest.mark.parametrize("config", [
    {"model_type": "roberta", "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
     "intermediate_size": 64, "vocab_size": 1000, "max_position_embeddings": 64},
    TINY_MODERNBERT,
])
def test_other_model_types_stay_on_the_stock_path(config):
    model = AutoModelForMaskedLM.from_config(AutoConfig.for_model(**config))
    implementation = model.config._attn_implementation
    assert not use_fast_dropout(model)
    assert not any(isinstance(m, FastDropout) for m in model.modules())
    assert model.config._attn_implementation == implementation


def _labelled(ids: torch.Tensor) -> torch.Tensor:
    """(B, T) labelled positions with uneven counts per sequence, one sequence without any."""
    selected = torch.zeros_like(ids, dtype=torch.bool)
    selected[0, [2, 5, 9]] = True
    selected[1, [1, 13]] = True  # position 13 is real, 14+ are padding
    return selected


@pytest.mark.parametrize("attention", ["sdpa", "eager", ATTENTION_NAME])
def test_last_layer_on_labelled_rows_equals_the_whole_encoder(tiny_bert, attention):
    ids, mask = _padded_inputs()
    selected = _labelled(ids)
    _, model = _bert_pair(tiny_bert, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    model.config._attn_implementation = attention
    whole = model.bert(input_ids=ids, attention_mask=mask).last_hidden_state[selected]
    rows = selected_hidden_states(model.bert, ids, mask, selected)
    assert rows.shape == (5, tiny_bert["hidden_size"])
    torch.testing.assert_close(rows, whole, rtol=1e-5, atol=1e-5)
    weights = torch.randn(whole.shape)  # a random readout (the sum of squares after LayerNorm is a constant)
    expected = torch.autograd.grad((whole * weights).sum(), list(model.bert.parameters()), allow_unused=True)
    got = torch.autograd.grad((rows * weights).sum(), list(model.bert.parameters()), allow_unused=True)
    for (name, _), want, have in zip(model.bert.named_parameters(), expected, got):
        if want is None:  # the pooler: read by neither
            assert have is None, name
            continue
        torch.testing.assert_close(have, want, rtol=1e-4, atol=1e-6, msg=name)


def test_last_layer_on_labelled_rows_with_dropout_is_seeded(tiny_bert):
    ids, mask = _padded_inputs()
    _, model = _bert_pair(tiny_bert)
    outputs = _twice_from_seed(9, lambda: selected_hidden_states(model.bert, ids, mask, _labelled(ids)))
    assert torch.equal(outputs[0], outputs[1]) and torch.isfinite(outputs[0]).all()


def _head_inputs(n: int = 37, hidden: int = 16, vocab: int = 1000, scale: float = 3.0):
    generator = torch.Generator().manual_seed(0)
    h = (torch.randn(n, hidden, generator=generator) * scale).requires_grad_()
    weight = torch.randn(vocab, hidden, generator=generator).requires_grad_()
    bias = torch.randn(vocab, generator=generator).requires_grad_()
    targets = torch.randint(0, vocab, (n,), generator=generator)
    targets[[3, 9, n - 1]] = -100  # ignored positions, the last one too
    return h, weight, bias, targets


@pytest.mark.parametrize("chunk", [1000, 333, 4096])  # one chunk, a chunk that divides nothing, wider than V
@pytest.mark.parametrize("weights", [(1.0, 0.35), (0.7, 0.0)])
def test_fused_head_losses_equal_the_reference_and_its_gradients(chunk, weights):
    h, weight, bias, targets = _head_inputs()
    logits = h @ weight.t() + bias
    ref_ce, ref_bce = F.cross_entropy(logits, targets), vocabulary_bce(logits, targets)
    reference = torch.autograd.grad(weights[0] * ref_ce + weights[1] * ref_bce, (h, weight, bias))
    for fused in (fused_linear_next_token_losses, lambda *a, **k: next_token_losses(
            a[0] @ a[1].t() + a[2], a[3])):  # the existing fused-from-logits losses agree as well
        ce, bce = fused(h, weight, bias, targets, chunk=chunk) if fused is fused_linear_next_token_losses else \
            fused(h, weight, bias, targets)
        torch.testing.assert_close(ce, ref_ce)
        torch.testing.assert_close(bce, ref_bce)
        grads = torch.autograd.grad(weights[0] * ce + weights[1] * bce, (h, weight, bias))
        for got, want, name in zip(grads, reference, ("hidden", "weight", "bias")):
            torch.testing.assert_close(got, want, msg=name)


def test_fused_head_losses_without_bce_and_without_gradients():
    h, weight, bias, targets = _head_inputs(n=53, scale=30.0)  # large logits: softplus and lse stay finite
    logits = h @ weight.t() + bias
    ce, bce = fused_linear_next_token_losses(h, weight, bias, targets, with_bce=False, chunk=300)
    torch.testing.assert_close(ce, F.cross_entropy(logits, targets))
    assert bce.item() == 0.0
    (grad,) = torch.autograd.grad(ce, (h,))
    torch.testing.assert_close(grad, torch.autograd.grad(F.cross_entropy(logits, targets), (h,))[0])
    with torch.no_grad():  # the evaluation path: row blocks that do not divide N, nothing kept
        ce, bce = fused_linear_next_token_losses(h, weight, bias, targets, chunk=300, row_block=10)
    torch.testing.assert_close(ce, F.cross_entropy(logits, targets))
    torch.testing.assert_close(bce, vocabulary_bce(logits, targets))


def test_fused_head_keeps_the_decoder_tied_to_the_embeddings():
    from transformers import BertConfig, BertLMHeadModel

    torch.manual_seed(0)
    model = BertLMHeadModel(BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                       intermediate_size=64, vocab_size=300, is_decoder=True,
                                       hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0))
    assert model.cls.predictions.decoder.weight is model.bert.embeddings.word_embeddings.weight
    ids = torch.randint(1, 300, (2, 12))
    attention = torch.ones_like(ids)
    attention[1, 8:] = 0
    ce, bce, count = next_token_head_losses(model, ids, attention)
    (ce + 0.4 * bce).backward()
    fused = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    logits = model(input_ids=ids, attention_mask=attention).logits[:, :-1].reshape(-1, 300)
    targets = ids[:, 1:].masked_fill(attention[:, 1:] == 0, -100).reshape(-1)
    ref_ce, ref_bce = F.cross_entropy(logits, targets), vocabulary_bce(logits, targets)
    (ref_ce + 0.4 * ref_bce).backward()
    assert count == 11 + 7
    torch.testing.assert_close(ce, ref_ce)
    torch.testing.assert_close(bce, ref_bce)
    for name, parameter in model.named_parameters():  # includes the shared embedding / decoder weight
        torch.testing.assert_close(fused[name], parameter.grad, rtol=1e-4, atol=1e-6, msg=name)
    with torch.no_grad():
        eval_ce, eval_bce, eval_count = next_token_head_losses(model, ids, attention)
    torch.testing.assert_close(eval_ce, ref_ce)
    torch.testing.assert_close(eval_bce, ref_bce)
    assert eval_count == count


@pytest.mark.parametrize("scale, vocab", [(0.3, 3000), (3.0, 3000), (0.3, 3002)],
                         ids=["shared exponentials", "stable form", "chunk not a multiple of 4"])  # row maxima < / > 15
def test_fused_head_losses_are_accurate_against_float64(scale, vocab):
    h, weight, bias, targets = _head_inputs(n=40, hidden=32, vocab=vocab, scale=scale)
    logits = (h @ weight.t() + bias).double()
    assert (logits.max() > 15) == (scale > 1)
    with torch.no_grad():
        ce, bce = fused_linear_next_token_losses(h, weight, bias, targets, chunk=1024)
    torch.testing.assert_close(ce.double(), F.cross_entropy(logits, targets), rtol=2e-6, atol=0)
    keep = targets != -100
    kept = logits[keep]
    exact_bce = (F.softplus(kept).sum(-1) - kept.gather(1, targets[keep, None]).squeeze(1)).mean() / kept.shape[1]
    torch.testing.assert_close(bce.double(), exact_bce, rtol=2e-6, atol=0)


def test_fused_head_gradients_with_negative_and_zero_output_gradients():
    h, weight, bias, targets = _head_inputs()
    for weights in ((-1.0, 0.5), (0.0, -2.0), (-0.3, 0.0)):
        logits = h @ weight.t() + bias
        ce, bce = fused_linear_next_token_losses(h, weight, bias, targets, chunk=300)
        got = torch.autograd.grad(weights[0] * ce + weights[1] * bce, (h, weight, bias))
        want = torch.autograd.grad(weights[0] * F.cross_entropy(logits, targets)
                                   + weights[1] * vocabulary_bce(logits, targets), (h, weight, bias))
        for a, b in zip(got, want):
            torch.testing.assert_close(a, b)


def test_sparse_last_layer_and_fused_head_run_under_bf16_autocast(tiny_bert):
    ids, mask = _padded_inputs()
    _, model = _bert_pair(tiny_bert)
    h, weight, bias, targets = _head_inputs()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        rows = selected_hidden_states(model.bert, ids, mask, _labelled(ids))
        ce, bce = fused_linear_next_token_losses(h, weight, bias, targets, chunk=300)
    (rows.float().sum() + ce + bce).backward()
    logits = h.detach() @ weight.detach().t() + bias.detach()
    torch.testing.assert_close(ce, F.cross_entropy(logits, targets), rtol=2e-2, atol=2e-2)  # bf16 logits
    assert torch.isfinite(h.grad).all() and torch.isfinite(weight.grad).all() and weight.grad.dtype == torch.float32
    exact = h.detach().clone().requires_grad_()
    logits = exact @ weight.detach().t() + bias.detach()
    (F.cross_entropy(logits, targets) + vocabulary_bce(logits, targets)).backward()
    assert (h.grad - exact.grad).norm() < 0.05 * exact.grad.norm()  # bf16 matmuls: ~1% off, every chunk summed


def test_the_sparse_last_layer_draws_attention_dropout_in_training(tiny_bert):
    ids, mask = _padded_inputs()
    _, model = _bert_pair({**tiny_bert, "num_hidden_layers": 1}, hidden_dropout_prob=0.0,
                          attention_probs_dropout_prob=0.5)
    torch.manual_seed(1)
    training = selected_hidden_states(model.bert, ids, mask, _labelled(ids))
    model.eval()
    assert not torch.allclose(training, selected_hidden_states(model.bert, ids, mask, _labelled(ids)))


def test_cls_only_last_layer_gives_the_classifier_the_same_logits_and_gradients(tiny_bert):
    from transformers import AutoModelForSequenceClassification

    from models.masked_encoder import use_cls_only_last_layer

    ids, mask = _padded_inputs()
    token_types = (torch.arange(ids.shape[1]) >= 9).long().expand_as(ids)  # sentence pairs
    models = []
    for switched in (False, True):
        torch.manual_seed(0)
        config = AutoConfig.for_model(**{**tiny_bert, "num_labels": 2, "hidden_dropout_prob": 0.0,
                                         "attention_probs_dropout_prob": 0.0})
        model = AutoModelForSequenceClassification.from_config(config)
        if switched:
            assert use_cls_only_last_layer(model)
        models.append(model)
    stock, cls_only = models
    for mode in ("eval", "train"):
        outputs = [m.train(mode == "train")(input_ids=ids, attention_mask=mask, token_type_ids=token_types).logits
                   for m in models]
        torch.testing.assert_close(outputs[1], outputs[0], rtol=1e-5, atol=1e-6)
    weights = torch.randn(outputs[0].shape)
    grads = [torch.autograd.grad((out * weights).sum(), list(m.parameters()), allow_unused=True)
             for out, m in zip(outputs, models)]
    for (name, _), want, have in zip(stock.named_parameters(), *grads):
        if want is None:
            assert have is None, name
        else:
            torch.testing.assert_close(have, want, rtol=1e-4, atol=1e-6, msg=name)
    hidden = cls_only.bert(input_ids=ids, attention_mask=mask, output_hidden_states=True)  # stock path on request
    assert hidden.last_hidden_state.shape == (*ids.shape, tiny_bert["hidden_size"])
