"""A GPT in PyTorch, written to be measured: every op the predictor counts is one op here.

Pre-LayerNorm blocks (Radford et al. 2019), GELU MLP, learned positions, tied input/output
embeddings. Attention is the explicit "math" form (QK^T, causal mask, softmax, AV) so its cost
is two batched GEMMs plus element-wise traffic, as :mod:`suanli.perf.oplevel` counts it. The
serving path keeps a preallocated KV cache per layer (``[B, heads, max_len, d_head]``) and
writes new keys/values in place: no ``torch.cat`` copy per decoded token.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from suanli.workloads.shapes import WorkloadModel


class Block(nn.Module):
    def __init__(self, m: WorkloadModel) -> None:
        super().__init__()
        self.heads, self.d_head = m.heads, m.hidden // m.heads
        self.ln1 = nn.LayerNorm(m.hidden)
        self.qkv = nn.Linear(m.hidden, 3 * m.hidden)
        self.proj = nn.Linear(m.hidden, m.hidden)
        self.ln2 = nn.LayerNorm(m.hidden)
        self.fc1 = nn.Linear(m.hidden, m.ffn_hidden)
        self.fc2 = nn.Linear(m.ffn_hidden, m.hidden)

    def attention(self, x: Tensor, cache: tuple[Tensor, Tensor] | None, pos: int) -> Tensor:
        b, t, h = x.shape  # [B, T, hidden]
        q, k, v = self.qkv(x).split(h, dim=2)
        q = q.view(b, t, self.heads, self.d_head).transpose(1, 2)  # [B, nh, T, dh]
        k = k.view(b, t, self.heads, self.d_head).transpose(1, 2)
        v = v.view(b, t, self.heads, self.d_head).transpose(1, 2)
        if cache is not None:  # serving: write this step's K/V in place, attend to all so far
            k_cache, v_cache = cache
            k_cache[:, :, pos:pos + t] = k
            v_cache[:, :, pos:pos + t] = v
            k, v = k_cache[:, :, :pos + t], v_cache[:, :, :pos + t]
        s = k.shape[2]
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(self.d_head))  # [B, nh, T, S]
        if t > 1:  # causal mask; a single decode query sees every cached key
            mask = torch.ones(t, s, dtype=torch.bool, device=x.device).tril(diagonal=s - t)
            att = att.masked_fill(~mask, float("-inf"))
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).reshape(b, t, h)  # [B, T, hidden]
        return self.proj(y)

    def forward(self, x: Tensor, cache: tuple[Tensor, Tensor] | None = None,
                pos: int = 0) -> Tensor:
        x = x + self.attention(self.ln1(x), cache, pos)
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class GPT(nn.Module):
    def __init__(self, m: WorkloadModel) -> None:
        super().__init__()
        self.shape = m
        self.wte = nn.Embedding(m.vocab, m.hidden)
        self.wpe = nn.Embedding(m.max_seq_len, m.hidden)
        self.blocks = nn.ModuleList(Block(m) for _ in range(m.layers))
        self.ln_f = nn.LayerNorm(m.hidden)
        for emb in (self.wte, self.wpe):  # GPT-2's init: N(0, 0.02) keeps tied logits O(1)
            nn.init.normal_(emb.weight, std=0.02)

    def forward(self, idx: Tensor, caches: list[tuple[Tensor, Tensor]] | None = None,
                pos: int = 0) -> Tensor:
        """Logits ``[B, T, vocab]`` for tokens ``idx`` ``[B, T]`` starting at position ``pos``."""
        t = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(pos, pos + t, device=idx.device))
        for i, block in enumerate(self.blocks):
            x = block(x, None if caches is None else caches[i], pos)
        return self.ln_f(x) @ self.wte.weight.T  # tied output head

    def new_caches(self, batch: int, max_len: int,
                   dtype: torch.dtype) -> list[tuple[Tensor, Tensor]]:
        m = self.shape
        size = (batch, m.heads, max_len, m.hidden // m.heads)
        return [(torch.empty(size, dtype=dtype), torch.empty(size, dtype=dtype))
                for _ in range(m.layers)]
