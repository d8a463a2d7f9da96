"""The master Q-former (BLIP-2 layout, nanoGPT-style).

`num_query_tokens` learned queries; each layer: pre-norm self-attention over the queries (plus any
extra tokens, e.g. the text token of the matching head), cross-attention to the modality tokens every
`cross_attention_frequency` layers, and a feed-forward block. Output Z: [B, Nq, d].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from biblip_cli.model.config import BioBlipConfig


class Attention(nn.Module):
    """Multi-head attention of x [B, n, d] over context [B, m, d] (context = x for self-attention)."""

    def __init__(self, d: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.n_heads, self.dropout = n_heads, dropout
        self.q = nn.Linear(d, d)
        self.kv = nn.Linear(d, 2 * d)
        self.out = nn.Linear(d, d)

    def forward(
        self, x: torch.Tensor, context: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        B, n, d = x.shape
        h = self.n_heads
        q = self.q(x).view(B, n, h, d // h).transpose(1, 2)
        k, v = self.kv(context).view(B, -1, 2, h, d // h).permute(2, 0, 3, 1, 4)
        attn_mask = None if mask is None else mask[:, None, None, :]  # [B, 1, 1, m], True = attend
        dropout = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout)
        return self.out(y.transpose(1, 2).reshape(B, n, d))


class FeedForward(nn.Module):
    def __init__(self, d: int, mult: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(d, mult * d), nn.GELU(), nn.Linear(mult * d, d), nn.Dropout(dropout)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class QFormerLayer(nn.Module):
    def __init__(self, config: BioBlipConfig, cross: bool) -> None:
        super().__init__()
        d, h, p = config.d_model, config.n_heads, config.dropout
        self.ln_self, self.self_attn = nn.LayerNorm(d), Attention(d, h, p)
        self.ln_cross = nn.LayerNorm(d) if cross else None
        self.cross_attn = Attention(d, h, p) if cross else None
        self.ln_ffn, self.ffn = nn.LayerNorm(d), FeedForward(d, config.ffn_mult, p)
        self.drop = nn.Dropout(p)

    def forward(self, q: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.ln_self(q)
        q = q + self.drop(self.self_attn(x, x))
        if self.cross_attn is not None:
            q = q + self.drop(self.cross_attn(self.ln_cross(q), tokens, mask))
        return q + self.ffn(self.ln_ffn(q))


class QFormer(nn.Module):
    def __init__(self, config: BioBlipConfig) -> None:
        super().__init__()
        d = config.d_model
        self.query_tokens = nn.Parameter(torch.randn(1, config.num_query_tokens, d) * 0.02)
        every = max(1, config.cross_attention_frequency)
        self.layers = nn.ModuleList(
            [QFormerLayer(config, cross=i % every == 0) for i in range(config.n_layers)]
        )
        self.ln_out = nn.LayerNorm(d)

    def forward(
        self, tokens: torch.Tensor, mask: torch.Tensor, extra: torch.Tensor | None = None
    ) -> torch.Tensor:
        """tokens [B, N, d], mask [B, N] (True = real) -> Z [B, Nq, d].

        `extra` [B, e, d] joins the queries in self-attention only (BLIP-2's ITM feeds text this way);
        its outputs are dropped.
        """
        q = self.query_tokens.expand(tokens.shape[0], -1, -1)
        n_query = q.shape[1]
        if extra is not None:
            q = torch.cat([q, extra], dim=1)
        for layer in self.layers:
            q = layer(q, tokens, mask)
        return self.ln_out(q[:, :n_query])
