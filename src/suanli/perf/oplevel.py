"""Op-level roofline of a GPT workload on a *measured* device profile (``suanli bench``).

The fleet-scale model (:mod:`suanli.perf.training`) prices whole layers with efficiency curves
fitted to published runs. A site that ran ``suanli bench`` has something better for the
workloads it runs itself: measured GEMM rates by shape, streaming bandwidth by working set and
the framework's per-op overhead. This module walks the same ops a GPT step executes
(:mod:`suanli.workloads.gpt`; ``B`` batch, ``T`` tokens per sequence, ``H`` hidden, ``F`` FFN
inner size, ``V`` vocab, ``L`` layers, ``nh`` heads, ``e`` bytes per element) and sums one
term per kind:

    step = gemm + attention + elementwise + optimizer + overhead

* ``gemm``: each weight matmul (M, N, K) costs 2MNK / rate(M, N, K); backward runs two
  matmuls per forward one, dX (M, K, N) and dW (K, N, M) (Narayanan et al. 2021, sec. 3.2:
  backward = 2 x forward FLOPs).
* ``attention``: QK^T and AV as B*nh batched matmuls at the measured batched-matmul rate of
  that per-head shape, plus their backward pair each. In decode, the two products of one
  query with the cache are reads of the cached K and V, priced at the measured KV-read rate
  for the step's working set (cache + weights, bytes touched: the rows span a core's L2 to
  beyond the last-level cache, so the cost steps up as the set leaves each level).
* ``elementwise``: bytes each plain non-matmul op streams (LayerNorm, residual adds, the
  attention scale over ``B nh T S``, head transposes) at the measured bandwidth for
  that working set (backward moves twice the forward bytes: it reads the saved input and the
  incoming gradient and writes one gradient); plus the kernels that are not plain streams,
  priced per element at their measured rates: softmax and the causal mask's fill over the
  scores, GELU, and the loss
  (log-softmax over ``B T V`` and the zeroed gradient buffer of its backward).
* ``pages``: tensors above the C allocator's mmap threshold (the ``B T V`` logits and the
  loss's tensors of that size) are mapped afresh at each allocation and faulted in page by
  page: their bytes at the measured first-touch cost (``DeviceProfile.fresh_seconds``).
* ``optimizer``: AdamW (``foreach``) streams ~20 parameter-sized tensors per step (the lerp,
  mul/addcmul, decay, sqrt/add/div and addcdiv passes of torch's implementation).
* ``overhead``: the framework's own time per step (Python, module calls, dispatch, autograd
  bookkeeping, optimizer loop), measured by ``suanli bench`` as the step time of the same GPT
  at negligible size (hidden 16; two tokens, so the causal mask's ops run, one in decode): a
  fixed part plus a part per layer; plus the extra framework time of the same step when each
  layer streams as many bytes as the real layer does (:func:`layer_bytes`): past a core's own
  cache, that evicts the framework's code and metadata between one layer's ops and the
  next's. Read off the saturating curve fitted to the bench's rows at 11 streamed sizes
  (:func:`suanli.bench.overhead.fit_cold_overheads`), not the rows themselves.

A training step touches far more memory (saved activations, weights, gradients, optimizer
state) than a core's caches hold, so its element-wise kernels, loss and optimizer are priced
at the rates ``suanli bench`` measured with *cold* inputs (cycled through more memory than the
caches); serving's forward passes keep the hot rates. Each Linear's forward is an ``addmm``
that first broadcasts the bias into its output: one stream of the output's bytes.

Decode (serving) is the same walk with ``T = 1`` query token against ``S`` cached keys and no
backward, ended by greedy sampling (an argmax over the vocabulary); prefill is the forward of
``T = prompt`` tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

from suanli.bench.profile import DeviceProfile
from suanli.workloads.shapes import ServeShape, TrainShape, WorkloadModel

__all__ = ["StepTime", "decode_attention", "decode_step", "prefill", "train_step"]

ADAMW_PASSES = 20  # parameter-sized tensor reads + writes per AdamW(foreach) step (see above)


@dataclass(frozen=True)
class StepTime:
    """Predicted seconds of one step, one term per kind; ``total`` is their sum."""

    gemm: float
    attention: float
    elementwise: float
    optimizer: float
    overhead: float
    pages: float = 0.0

    @property
    def total(self) -> float:
        return (self.gemm + self.attention + self.elementwise + self.optimizer + self.overhead
                + self.pages)


def _bytes(dtype: str) -> int:
    return 2 if dtype == "bf16" else 4


def _weight_gemms(m: WorkloadModel, tokens: int) -> list[tuple[int, int, int]]:
    """(M, N, K) of every weight matmul in one forward over ``tokens`` rows."""
    h, f = m.hidden, m.ffn_hidden
    per_layer = [(tokens, 3 * h, h), (tokens, h, h), (tokens, f, h), (tokens, h, f)]
    return per_layer * m.layers + [(tokens, m.vocab, h)]


def gemm_term(p: DeviceProfile, m: WorkloadModel, tokens: int, dtype: str,
              backward: bool, warm: float = 0.0) -> float:
    """Weight matmuls: forward, and dX + dW for each when ``backward``. ``warm``: the share
    of the weights read from the CPU's caches (:meth:`DeviceProfile.warm_fraction`)."""
    total = 0.0
    for mm, nn, kk in _weight_gemms(m, tokens):
        total += p.gemm_seconds(mm, nn, kk, dtype, warm=warm)
        if backward:
            total += p.gemm_seconds(mm, kk, nn, dtype) + p.gemm_seconds(kk, nn, mm, dtype)
    return total


def attention_term(p: DeviceProfile, m: WorkloadModel, batch: int, q_len: int, kv_len: int,
                   dtype: str, backward: bool) -> float:
    """QK^T (q x kv over d_head) and AV (q x d_head over kv): B * nh independent matmuls
    each, at the measured batched-matmul rate for that per-head shape (``suanli bench``'s
    ``bmm`` rows; many small matrices run below one large GEMM's rate)."""
    dh, count = m.hidden // m.heads, batch * m.heads
    fwd = (p.bmm_seconds(q_len, kv_len, dh, dtype, count)
           + p.bmm_seconds(q_len, dh, kv_len, dtype, count))
    if not backward:
        return m.layers * fwd
    bwd = (p.bmm_seconds(q_len, dh, kv_len, dtype, count)  # dQ = dS K
           + p.bmm_seconds(kv_len, dh, q_len, dtype, count)  # dK = dS^T Q
           + p.bmm_seconds(q_len, kv_len, dh, dtype, count)  # dP = dY V^T
           + p.bmm_seconds(kv_len, dh, q_len, dtype, count))  # dV = P^T dY
    return m.layers * (fwd + bwd)


def decode_attention(p: DeviceProfile, m: WorkloadModel, batch: int, ctx: int,
                     dtype: str, working_set: float | None = None) -> float:
    """One query token against ``ctx`` cached keys per head: two matrix-vector products
    that read the cached K and V once (B * ctx * hidden elements each, per layer), so their
    time is the bytes read at the measured KV-read rate (``suanli bench``'s ``kv_read``)
    for the step's working set: every layer's cache plus the weights, all touched once per
    token, stay in the CPU's caches from one token to the next only if they fit
    (``working_set``: :func:`decode_working_set`, computed here when not given)."""
    kv = 2.0 * batch * ctx * m.hidden * _bytes(dtype)  # bytes of K and V per layer
    ws = decode_working_set(m, batch, ctx, dtype) if working_set is None else working_set
    return m.layers * p.kv_seconds(kv, ws)


def decode_working_set(m: WorkloadModel, batch: int, ctx: int, dtype: str) -> float:
    """Bytes one decode step touches: the weights and every layer's cached K and V."""
    from suanli.perf.ops import param_count

    e = _bytes(dtype)
    return 2.0 * batch * ctx * m.hidden * e * m.layers + param_count(m.to_spec()) * e


def layer_elementwise_bytes(m: WorkloadModel, batch: int, q_len: int, kv_len: int,
                            dtype: str) -> list[float]:
    """Bytes streamed by each plain element-wise kernel of one layer's forward."""
    e = _bytes(dtype)
    act = batch * q_len * m.hidden * e
    scores = batch * m.heads * q_len * kv_len * e
    layer: list[float] = [2 * act,  # ln1 (read x, write y)
                          3 * 2 * act,  # q, k, v to head-major layout (copy per tensor)
                          2 * scores,  # scale
                          2 * act,  # merge heads
                          3 * act,  # residual
                          2 * act,  # ln2
                          3 * act]  # residual
    return [b for b in layer if b > 0]


def elementwise_bytes(m: WorkloadModel, batch: int, q_len: int, kv_len: int,
                      dtype: str) -> list[float]:
    """Bytes streamed by each plain element-wise kernel of one forward (one entry per kernel;
    softmax and GELU are priced per element by :func:`kernel_seconds`): every layer's
    (:func:`layer_elementwise_bytes`), the embeddings' and the final LayerNorm's."""
    act = batch * q_len * m.hidden * _bytes(dtype)
    out = layer_elementwise_bytes(m, batch, q_len, kv_len, dtype) * m.layers
    out += [3 * act, 2 * act]  # embeddings + positions, final ln
    return out


def layer_bytes(m: WorkloadModel, batch: int, q_len: int, kv_len: int, dtype: str) -> float:
    """Bytes one layer's forward touches: its weights, the K and V its attention reads, the
    FFN activation GELU reads and writes, and its element-wise kernels' streams. What a layer
    streams between one layer's framework code and the next's (:meth:`DeviceProfile.overhead`:
    past the caches, that code and its metadata are fetched again every layer)."""
    e, h = _bytes(dtype), m.hidden
    weights = (4 * h * h + 2 * h * m.ffn_hidden) * e
    kv = 2.0 * batch * kv_len * h * e
    ffn = 2.0 * batch * q_len * m.ffn_hidden * e
    return weights + kv + ffn + sum(layer_elementwise_bytes(m, batch, q_len, kv_len, dtype))


def bias_bytes(m: WorkloadModel, tokens: int, dtype: str) -> list[float]:
    """Bytes each Linear's forward (``addmm``) streams to broadcast its bias into the output
    before the matmul accumulates onto it (written, then read back by the GEMM)."""
    per_layer = [2.0 * tokens * n * _bytes(dtype)
                 for n in (3 * m.hidden, m.hidden, m.ffn_hidden, m.hidden)]
    return per_layer * m.layers


def kernel_seconds(p: DeviceProfile, m: WorkloadModel, batch: int, q_len: int, kv_len: int,
                   dtype: str, backward: bool, cold: bool = False) -> float:
    """Softmax over the attention scores, the causal mask's fill over them and GELU over the
    FFN activations, per element at the measured kernel rates (their backward too when
    ``backward``; ``cold``: at the rates measured with cold inputs)."""
    e = _bytes(dtype)
    scores = float(batch * m.heads * q_len * kv_len)  # elements
    ffn = float(batch * q_len * m.ffn_hidden)
    t = p.kernel_seconds("softmax", scores, 2 * scores * e, cold) + \
        p.kernel_seconds("gelu", ffn, 2 * ffn * e, cold)
    masked = q_len > 1  # the causal mask (a single decode query sees every cached key)
    if masked:
        t += p.kernel_seconds("masked_fill", scores, 2 * scores * e, cold)
    if backward:
        t += p.kernel_seconds("softmax_bwd", scores, 3 * scores * e, cold) + \
            p.kernel_seconds("gelu_bwd", ffn, 3 * ffn * e, cold)
        if masked:  # the gradient is masked the same way
            t += p.kernel_seconds("masked_fill", scores, 2 * scores * e, cold)
    return m.layers * t


def loss_seconds(p: DeviceProfile, m: WorkloadModel, tokens: int, cold: bool = False) -> float:
    """Cross-entropy over the vocabulary (fp32 logits) and its gradient: log-softmax forward
    and backward, and the zero-filled gradient buffer NLL's backward scatters into; plus the
    zeroed embedding gradient (the embedding backward is a scatter-add into zeros)."""
    n = float(tokens * m.vocab)
    return (p.kernel_seconds("log_softmax", n, 8 * n, cold)
            + p.kernel_seconds("log_softmax_bwd", n, 12 * n, cold)
            + p.kernel_seconds("zeros", n, 4 * n)
            + p.kernel_seconds("zeros", float(m.vocab * m.hidden), 4.0 * m.vocab * m.hidden))


LOGIT_SIZED_TRAIN = 4  # logits, log-softmax output, its gradient, NLL's zeroed gradient


def pages_seconds(p: DeviceProfile, m: WorkloadModel, tokens: int, count: int) -> float:
    """First touch of ``count`` fresh fp32 tensors of ``tokens x vocab`` (the logits and the
    loss's tensors of their size): only those above the allocator's mmap threshold are
    mapped afresh each step (:meth:`DeviceProfile.fresh_seconds`); everything smaller reuses
    pages the allocator kept."""
    return count * p.fresh_seconds(4.0 * tokens * m.vocab)


def sample_seconds(p: DeviceProfile, m: WorkloadModel, batch: int) -> float:
    """Greedy sampling of the next token: an argmax over each sequence's ``vocab`` logits
    (timed with the step it ends, in prefill and in decode)."""
    n = float(batch * m.vocab)
    return p.kernel_seconds("argmax", n, 4 * n)


def _elementwise_seconds(p: DeviceProfile, sizes: list[float], cold: bool = False) -> float:
    return sum(p.elementwise_seconds(b, cold) for b in sizes)


def train_step(p: DeviceProfile, s: TrainShape) -> StepTime:
    """One training step: forward, loss, backward, AdamW."""
    from suanli.perf.ops import param_count

    m, bt = s.model, s.batch * s.seq_len
    fwd_elem = elementwise_bytes(m, s.batch, s.seq_len, s.seq_len, s.dtype)
    e = _bytes(s.dtype)
    # bias gradients: each Linear's backward sums its output gradient over the B*T rows, a
    # reduction across rows priced per element at its measured rate
    bias_grads = sum(float(bt * n) for n in (3 * m.hidden, m.hidden, m.ffn_hidden, m.hidden))
    elem = (_elementwise_seconds(p, fwd_elem, cold=True) * 3.0  # backward: twice the bytes
            + _elementwise_seconds(p, bias_bytes(m, bt, s.dtype), cold=True)
            + m.layers * p.kernel_seconds("sum_rows", bias_grads, bias_grads * e, cold=True)
            + kernel_seconds(p, m, s.batch, s.seq_len, s.seq_len, s.dtype, backward=True,
                             cold=True)
            + loss_seconds(p, m, bt, cold=True))
    n_params = param_count(m.to_spec())
    opt = ADAMW_PASSES * p.elementwise_seconds(n_params * 4.0, cold=True)  # fp32 state
    return StepTime(gemm=gemm_term(p, m, bt, s.dtype, backward=True),
                    attention=attention_term(p, m, s.batch, s.seq_len, s.seq_len, s.dtype, True),
                    elementwise=elem, optimizer=opt, overhead=p.overhead(
                        "train", m.layers, layer_bytes(m, s.batch, s.seq_len, s.seq_len, s.dtype)),
                    pages=pages_seconds(p, m, bt, LOGIT_SIZED_TRAIN))


def prefill(p: DeviceProfile, s: ServeShape) -> StepTime:
    """The prompt's forward pass (time to first token, less sampling)."""
    m = s.model
    elem = elementwise_bytes(m, s.batch, s.prompt_len, s.prompt_len, s.dtype)
    elem += [2 * s.batch * s.prompt_len * m.hidden * _bytes(s.dtype)] * 2 * m.layers  # KV write
    elem += bias_bytes(m, s.batch * s.prompt_len, s.dtype)
    kern = kernel_seconds(p, m, s.batch, s.prompt_len, s.prompt_len, s.dtype, backward=False)
    return StepTime(gemm=gemm_term(p, m, s.batch * s.prompt_len, s.dtype, backward=False),
                    attention=attention_term(p, m, s.batch, s.prompt_len, s.prompt_len,
                                             s.dtype, False),
                    elementwise=_elementwise_seconds(p, elem) + kern
                    + sample_seconds(p, m, s.batch), optimizer=0.0,
                    overhead=p.overhead("prefill", m.layers, layer_bytes(
                        m, s.batch, s.prompt_len, s.prompt_len, s.dtype)),
                    pages=pages_seconds(p, m, s.batch * s.prompt_len, 1))


def decode_step(p: DeviceProfile, s: ServeShape, context: int | None = None) -> StepTime:
    """One decode step of the whole batch at ``context`` cached tokens (default: the middle
    of generation, the median step's context)."""
    m = s.model
    ctx = context if context is not None else s.prompt_len + s.gen_len // 2
    e = _bytes(s.dtype)
    elem = elementwise_bytes(m, s.batch, 1, ctx, s.dtype)
    elem += [2 * s.batch * m.hidden * e] * 2 * m.layers  # this token's K and V written
    elem += bias_bytes(m, s.batch, s.dtype)
    kern = kernel_seconds(p, m, s.batch, 1, ctx, s.dtype, backward=False)
    ws = decode_working_set(m, s.batch, ctx, s.dtype)
    return StepTime(gemm=gemm_term(p, m, s.batch, s.dtype, backward=False,
                                   warm=p.warm_fraction(ws)),
                    attention=decode_attention(p, m, s.batch, ctx, s.dtype, ws),
                    elementwise=_elementwise_seconds(p, elem) + kern
                    + sample_seconds(p, m, s.batch), optimizer=0.0,
                    overhead=p.overhead("decode", m.layers,
                                        layer_bytes(m, s.batch, 1, ctx, s.dtype)))
