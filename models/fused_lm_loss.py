"""The causal LM's head and losses in one pass over vocabulary chunks: decoder linear + next-token CE + vocabulary BCE.

Notation: h (N, H) the head's transformed hidden states, W (V, H) the decoder weight (tied to the input embeddings),
b (V,) its bias, z = h W^T + b (N, V) the logits, y (N,) the next tokens (-100 = ignored), K = set of kept rows,
n = |K|, lse_i = log sum_v exp(z_iv), softplus(x) = log(1 + e^x):

    CE  = (1 / n)       sum_{i in K} [ lse_i - z_{i,y_i} ]
    BCE = (1 / (n * V)) sum_{i in K} [ sum_v softplus(z_iv) - z_{i,y_i} ]        (models/bce_term.py)
    G_iv = dL/dz_iv = [i in K] ( g_ce/n (softmax(z_i)_v - [v = y_i]) + g_bce/(n V) (sigmoid(z_iv) - [v = y_i]) )
    dL/dh = G W,   dL/dW = G^T h,   dL/db = sum_i G_i

z is computed chunk by chunk over the vocabulary and kept transposed, z^T (C, N) = W_c h^T + b_c (chunks of `chunk`
vocabulary rows, ~2 MB, so every element-wise pass runs in cache; the transposed product is the faster one for thin
h, and N is padded to a multiple of 16 so each chunk row fills whole vector registers). Per-chunk statistics are
merged at the end: lse = logsumexp over chunks of (m_c + log sum e^{z - m_c}), m_c the chunk's maximum per
position. softplus reuses the same exponentials, e = exp(z - m_c) <= 1, with p = max(m_c, 0):

    softplus(z) = p + log( e^{-p} + e * e^{m_c - p} )      both factors in (0, 1]: no overflow

and the logs are taken of products of 4 such terms (each in [e^-15, 2], a product in [e^-60, 16]): a quarter of
the logs. When a chunk's maximum exceeds SHARED_EXP_MAX_LOGIT, and on GPU, the cancellation-free max(z, 0) +
log(1 + e^{-|z|}) is used instead, at the price of its own exponentials. (ATen's `softplus` and `log1p` are
scalar loops on CPU, ~5 ns per element: 20 ms for 127 x 30,522 logits.)

In training the logits are kept (float32, what autograd would keep too) and the backward turns each chunk into G^T
in place, folding the per-position factor into the exponent (exp(z - lse + log g_ce/n)); the one-hot part is N
gathers and scatters after the loop. No (N, V) intermediates beyond the logits themselves, where `cross_entropy`
+ autograd allocate log-softmax, its gradient and a one-hot scatter. Without gradients (validation) nothing is kept,
and rows are processed in blocks of `row_block`, so the (N, V) logits of a large eval batch never exist at once.
The idea of fusing the LM head's linear layer with the loss is Liger-Kernel's fused linear cross-entropy.
"""

from __future__ import annotations

import torch

IGNORE_INDEX = -100
# Above this row maximum, softplus = p + log(e^-p + e^{z-p}) loses ~ulp(p) per element to cancellation against p
# (1e-6 at 15); the BCE then takes the stable form with its own exponentials. On GPU always (no host sync).
SHARED_EXP_MAX_LOGIT = 15.0
ROW_MULTIPLE = 16  # rows (positions) are padded to a multiple of this, see `_pad_rows`


def _chunk_statistics(zt: torch.Tensor, with_bce: bool, scratch: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """(max m_c, sum e^{z - m_c}, sum softplus(z) or None), each (N,), of one (C, N) float32 chunk of logits^T.
    Without BCE, zt itself becomes e = e^{z - m_c} (what the CE backward needs: softmax = e * e^{m_c - lse})."""
    m = zt.amax(0, keepdim=True)  # (1, N)
    e = zt.sub_(m).exp_() if not with_bce else torch.sub(zt, m, out=scratch).exp_()  # (C, N), <= 1
    sum_exp = e.sum(0)
    if not with_bce:
        return m.squeeze(0), sum_exp, None
    if zt.device.type == "cpu" and float(m.max()) <= SHARED_EXP_MAX_LOGIT:
        p = m.clamp(min=0.0)  # (1, N); both factors below are in (0, 1]
        terms = torch.addcmul(torch.exp(-p), e, torch.exp(m - p), out=e)  # (C, N), each in [e^-15, 2]
        softplus = _sum_of_logs(terms) + p.squeeze(0) * len(zt)
    else:  # max(z, 0) + log(1 + e^{-|z|}): one more exp, but no cancellation against a large p
        a = torch.abs(zt, out=scratch)
        positive = (zt.sum(0) + a.sum(0)) / 2  # sum of max(z, 0)
        softplus = a.neg_().exp_().add_(1.0).log_().sum(0) + positive
    return m.squeeze(0), sum_exp, softplus


def _sum_of_logs(terms: torch.Tensor) -> torch.Tensor:
    """sum_v log(t_v) over dim 0 of (C, N) terms in [e^-15, 2], as logs of products of 4 (in [e^-60, 16]: no
    underflow or overflow): a quarter of the logs, the costliest element-wise pass of the forward."""
    whole = len(terms) // 4 * 4
    total = terms[:whole].view(whole // 4, 4, terms.shape[1]).prod(1).log_().sum(0)
    return total + terms[whole:].log().sum(0) if whole < len(terms) else total


def _merge_logsumexp(maxima: list[torch.Tensor], sums: list[torch.Tensor]) -> torch.Tensor:
    """lse (N,) from per-chunk maxima and sums of e^{z - m_c}."""
    m = torch.stack(maxima)  # (chunks, N)
    top = m.amax(0)
    return top + (torch.stack(sums) * torch.exp(m - top)).sum(0).log()


def _losses_from_statistics(lse, softplus_sum, target_logits, keep, vocab: int):
    count = keep.sum().clamp(min=1).to(lse.dtype)
    ce = ((lse - target_logits) * keep).sum() / count
    bce = None if softplus_sum is None else ((softplus_sum - target_logits) * keep).sum() / (count * vocab)
    return ce, bce, count


def _target_logits(hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                   targets: torch.Tensor) -> torch.Tensor:
    """z_{i, y_i} (N,) as a row-wise dot product (N x H work instead of a gather from the logits)."""
    safe = targets.clamp(min=0)
    return torch.einsum("nh,nh->n", hidden.float(), weight[safe].float()) + bias[safe].float()


def _chunk_logits(hidden, weight, bias, start: int, stop: int) -> torch.Tensor:
    """(stop - start, N) float32 logits^T of one vocabulary chunk: W_c h^T + b_c (matmul in the autocast dtype, if
    any). Transposed because W_c (C, H) @ h^T runs ~1.4x faster here than h @ W_c^T for thin h (N ~ 128 rows)."""
    return torch.addmm(bias[start:stop, None], weight[start:stop], hidden.t()).float()


def _matmul_dtype(hidden: torch.Tensor) -> torch.dtype:
    device = hidden.device.type
    return torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else hidden.dtype


def _vocabulary_pass(hidden, weight, bias, with_bce: bool, chunk: int, keep_logits: bool):
    """One pass over the vocabulary in chunks: (the chunks of logits^T if kept, else None; per-chunk maxima; lse (N,);
    sum_v softplus(z) (N,) or None without BCE)."""
    vocab = weight.shape[0]
    scratch = torch.empty(min(chunk, vocab), hidden.shape[0], device=hidden.device)
    chunks, maxima, sums, softplus = [], [], [], []
    for start in range(0, vocab, chunk):
        zt = _chunk_logits(hidden, weight, bias, start, min(start + chunk, vocab))  # (C, N)
        m, s, sp = _chunk_statistics(zt, with_bce, scratch[: len(zt)])
        if keep_logits:
            chunks.append(zt)
        maxima.append(m)
        sums.append(s)
        softplus.append(sp)
    softplus_sum = torch.stack(softplus).sum(0) if with_bce else None
    return (chunks if keep_logits else None), maxima, _merge_logsumexp(maxima, sums), softplus_sum


class _FusedLinearNextTokenLosses(torch.autograd.Function):
    """(CE, BCE) of z = h W^T + b against y, with the hand-written backward of the module docstring."""

    @staticmethod
    def forward(ctx, hidden, weight, bias, targets, with_bce: bool, chunk: int):
        keep = (targets != IGNORE_INDEX).float()  # (N,)
        vocab = weight.shape[0]
        chunks, maxima, lse, softplus_sum = _vocabulary_pass(hidden, weight, bias, with_bce, chunk, keep_logits=True)
        ce, bce, count = _losses_from_statistics(lse, softplus_sum, _target_logits(hidden, weight, bias, targets),
                                                 keep, vocab)
        ctx.chunks, ctx.maxima, ctx.with_bce, ctx.chunk = chunks, maxima, with_bce, chunk
        ctx.matmul_dtype = _matmul_dtype(hidden)  # the backward's matmuls run as autocast ran the forward's
        ctx.save_for_backward(hidden, weight, bias, targets, keep, lse, count)
        return ce, (bce if with_bce else torch.zeros_like(ce))

    @staticmethod
    def backward(ctx, grad_ce, grad_bce):
        if ctx.chunks is None:
            raise RuntimeError("the fused LM losses turn their saved logits into gradients in place; "
                               "backward through them can run once (no retain_graph)")
        hidden, weight, bias, targets, keep, lse, count = ctx.saved_tensors
        chunks, ctx.chunks = ctx.chunks, None
        vocab = weight.shape[0]
        ce_row = grad_ce / count * keep  # (N,): ignored positions get no gradient
        bce_row = grad_bce / (count * vocab) * keep if ctx.with_bce else None
        shift = lse - ce_row.abs().log()  # (N,), inf where ce_row = 0
        negate = bool(grad_ce < 0)
        dtype = ctx.matmul_dtype
        h = hidden.to(dtype)
        grad_hidden = torch.zeros(hidden.shape, dtype=torch.float32, device=hidden.device)
        grad_weight = torch.empty(weight.shape, dtype=torch.float32, device=weight.device)
        grad_bias = torch.empty(bias.shape, dtype=torch.float32, device=bias.device)
        scratch = torch.empty_like(chunks[0])
        for index, zt in enumerate(chunks):
            start = index * ctx.chunk
            stop = start + len(zt)
            gt = _chunk_gradient(zt, ctx.maxima[index], shift, negate, bce_row, scratch[: len(zt)])  # (C, N) = G^T
            torch.sum(gt, 1, out=grad_bias[start:stop])
            if dtype == torch.float32:  # straight into the float32 gradients
                grad_hidden.addmm_(gt.t(), weight[start:stop])  # (N, C) @ (C, H)
                torch.mm(gt, h, out=grad_weight[start:stop])  # (C, N) @ (N, H)
            else:  # autocast: the matmuls in its dtype, accumulated in float32
                gt = gt.to(dtype)
                grad_hidden += (gt.t() @ weight[start:stop].to(dtype)).float()
                grad_weight[start:stop] = gt @ h
        _add_one_hot_part(grad_hidden, grad_weight, grad_bias, hidden, weight, targets,
                          ce_row + bce_row if ctx.with_bce else ce_row)
        return (grad_hidden.to(hidden.dtype), grad_weight.to(weight.dtype), grad_bias.to(bias.dtype),
                None, None, None)


def _chunk_gradient(zt: torch.Tensor, maximum: torch.Tensor, shift: torch.Tensor, negate: bool,
                    bce_row: torch.Tensor | None, scratch: torch.Tensor) -> torch.Tensor:
    """G^T without its one-hot part: ce_row * softmax(z) [+ bce_row * sigmoid(z)], float32 (C, N).

    shift = lse - log|ce_row| folds the per-position factor into the exponent (an ignored position, ce_row = 0, gets
    shift = inf, so exactly 0); `negate` restores a negative ce_row's sign. Without BCE, zt already holds
    e = e^{z - m_c} from the forward, and G^T = e * e^{m_c - shift}: one multiplication, no exponential. With BCE, zt
    holds z: softmax into `scratch`, plus sigmoid(z) * bce_row."""
    if bce_row is None:
        return zt.mul_(torch.exp(maximum - shift).neg_() if negate else torch.exp(maximum - shift))
    softmax = torch.sub(zt, shift, out=scratch).exp_()
    return (softmax.neg_() if negate else softmax).addcmul_(zt.sigmoid_(), bce_row)


def _add_one_hot_part(grad_hidden, grad_weight, grad_bias, hidden, weight, targets, target_row) -> None:
    """The -[v = y_i] * target_row_i part of G, applied once for all chunks: N rows of gathers and scatters."""
    kept = targets != IGNORE_INDEX
    rows, coefficient = targets[kept], target_row[kept]  # (K,)
    grad_hidden[kept] -= coefficient[:, None] * weight[rows].float()
    grad_weight.index_add_(0, rows, -coefficient[:, None] * hidden[kept].float())
    grad_bias.index_add_(0, rows, -coefficient)


@torch.no_grad()
def _evaluation_losses(hidden, weight, bias, targets, with_bce: bool, chunk: int, row_block: int):
    """The forward of the fused losses without keeping anything: rows in blocks, vocabulary in chunks."""
    keep = (targets != IGNORE_INDEX).float()
    vocab = weight.shape[0]
    lse_parts, softplus_parts = [], []
    for first in range(0, hidden.shape[0], row_block):
        block = hidden[first: first + row_block]  # (R, H), R a multiple of ROW_MULTIPLE
        _, _, lse, softplus_sum = _vocabulary_pass(block, weight, bias, with_bce, chunk, keep_logits=False)
        lse_parts.append(lse)
        softplus_parts.append(softplus_sum)
    softplus_sum = torch.cat(softplus_parts) if with_bce else None
    ce, bce, _ = _losses_from_statistics(torch.cat(lse_parts), softplus_sum,
                                         _target_logits(hidden, weight, bias, targets), keep, vocab)
    return ce, (bce if with_bce else torch.zeros_like(ce))


def fused_linear_next_token_losses(hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                                   targets: torch.Tensor, with_bce: bool = True, chunk: int = 4096,
                                   row_block: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """(CE, BCE) of the logits h W^T + b, (N, H) x (V, H) + (V,), against (N,) targets, -100 = ignored.

    Equal to `F.cross_entropy(logits, targets)` and `vocabulary_bce(logits, targets)` and their gradients (float
    tolerance), without materialising more than one chunk of logits beyond those kept for the backward. BCE is 0 and
    not computed when `with_bce` is False. Without gradients, rows run in blocks of `row_block`.
    """
    hidden, targets = _pad_rows(hidden, targets)
    if torch.is_grad_enabled() and (hidden.requires_grad or weight.requires_grad or bias.requires_grad):
        return _FusedLinearNextTokenLosses.apply(hidden, weight, bias, targets, with_bce, chunk)
    return _evaluation_losses(hidden, weight, bias, targets, with_bce, chunk, row_block)


def _pad_rows(hidden: torch.Tensor, targets: torch.Tensor, multiple: int = ROW_MULTIPLE):
    """Pad N up to a multiple of 16 with ignored rows: the (C, N) chunks' rows then fill whole AVX-512 vectors
    (at N = 127, a column max over a (4096, 127) chunk took 13x as long as over (4096, 128) on this CPU)."""
    pad = -len(targets) % multiple
    if pad == 0:
        return hidden, targets
    return (torch.nn.functional.pad(hidden, (0, 0, 0, pad)),
            torch.nn.functional.pad(targets, (0, pad), value=IGNORE_INDEX))
