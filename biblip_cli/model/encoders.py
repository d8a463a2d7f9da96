"""Modality encoders: each turns one part of `VariantInputs` into tokens [B, n, d] and a mask [B, n].

A missing modality contributes tokens whose mask is False, never zeros posing as data. One learned
"null" token is always unmasked, so a row whose modalities are all missing still gives the Q-former's
cross-attention something to attend to (a fully masked softmax row would be NaN).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from biblip_cli.features.inputs import (
    AA_VOCAB,
    ACTIVITY_DIM,
    DNA_PAD,
    DNA_VOCAB,
    GENE_FEATURE_DIM,
    MAX_GENES,
    MAX_SNIPPETS,
    PROTEIN_FEATURE_DIM,
    TEXT_DIM,
    VariantInputs,
)
from biblip_cli.model.config import BioBlipConfig

# modality-type ids (index into ModalityEncoders.type_embedding)
NULL, DNA, GENE, PROTEIN, TEXT = range(5)


class ConvBlock(nn.Module):
    """Residual dilated 1-D convolution over [B, C, L]; dilation widens the view without pooling."""

    def __init__(self, channels: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(1, channels)
        self.conv = nn.Conv1d(channels, channels, kernel_size=5, padding=2 * dilation, dilation=dilation)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.drop(self.conv(F.gelu(self.norm(x))))


class SequenceEncoder(nn.Module):
    """One-hot k-mer patches -> dilated conv blocks -> adaptive pooling to a fixed number of tokens.

    Ref and alt go through the same weights; the tokens are [alt ; alt - ref] projected to d, so the
    difference (what the variant changed) is explicit rather than left for attention to find.
    """

    def __init__(
        self, vocab: int, pad_id: int, channels: int, d: int, n_tokens: int, n_blocks: int, dropout: float,
        stride: int = 1,
    ) -> None:  # fmt: skip
        super().__init__()
        self.vocab, self.pad_id = vocab, pad_id
        # one-hot -> non-overlapping k-mer patches (an embedding when stride is 1): the convolutions then
        # run on L/stride positions; one-hot keeps the first step cheap in memory traffic
        self.patch = nn.Conv1d(vocab, channels, stride, stride=stride)
        self.blocks = nn.Sequential(*[ConvBlock(channels, 2**i, dropout) for i in range(n_blocks)])
        self.pool = nn.AdaptiveAvgPool1d(n_tokens)
        self.out = nn.Linear(2 * channels, d)

    def encode(self, ids: torch.Tensor) -> torch.Tensor:  # [B, L] -> [B, n_tokens, C]
        onehot = F.one_hot(ids, self.vocab).to(self.patch.weight.dtype) * (ids != self.pad_id).unsqueeze(-1)
        x = self.blocks(self.patch(onehot.transpose(1, 2)))
        return self.pool(x).transpose(1, 2)

    def forward(self, ref: torch.Tensor, alt: torch.Tensor) -> torch.Tensor:
        both = self.encode(torch.cat([ref, alt]))  # one pass for ref and alt
        ref_tokens, alt_tokens = both.chunk(2)
        return self.out(torch.cat([alt_tokens, alt_tokens - ref_tokens], dim=-1))


def mlp(d_in: int, d: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, d), nn.GELU(), nn.Dropout(dropout), nn.Linear(d, d))


class ModalityEncoders(nn.Module):
    """All four encoders plus the null token; `forward` returns the concatenated tokens and mask."""

    def __init__(self, config: BioBlipConfig) -> None:
        super().__init__()
        d, c, p = config.d_model, config.encoder_channels, config.dropout
        self.dna = SequenceEncoder(
            len(DNA_VOCAB) + 1,
            DNA_PAD,
            c,
            d,
            config.dna_tokens,
            config.dna_blocks,
            p,
            stride=config.dna_stride,
        )
        self.dna_tokens = config.dna_tokens
        self.protein_window = SequenceEncoder(len(AA_VOCAB) + 1, 0, c, d, config.protein_tokens, 2, p)
        self.protein_features = mlp(PROTEIN_FEATURE_DIM, d, p)
        self.gene_text = nn.Linear(TEXT_DIM, d)
        self.gene = mlp(GENE_FEATURE_DIM + d, d, p)
        self.gene_rank = nn.Parameter(torch.zeros(MAX_GENES, d))  # candidates come nearest first
        self.text = nn.Linear(TEXT_DIM, d)
        self.snippet_kind = nn.Parameter(torch.zeros(MAX_SNIPPETS, d))  # summary / GO / HPO / disease
        self.activity = mlp(ACTIVITY_DIM, d, p)  # the regulatory element's chromatin activity: one token
        self.null = nn.Parameter(torch.zeros(1, 1, d))
        self.type_embedding = nn.Embedding(5, d)
        self.norm = nn.LayerNorm(d)

    def forward(self, x: VariantInputs) -> tuple[torch.Tensor, torch.Tensor]:
        B = len(x)
        if x.dna_mask.any() or self.training:
            dna = self.dna(x.dna_ref, x.dna_alt)
        else:  # no row has DNA (no sequence, or the checkpoint's input policy): its tokens end up zero anyway
            dna = x.gene_text.new_zeros(B, self.dna_tokens, self.null.shape[-1])
        dna = dna + self.type_embedding.weight[DNA]
        dna_mask = x.dna_mask[:, None].expand(B, dna.shape[1])

        gene_in = torch.cat([x.gene_features, self.gene_text(x.gene_text)], dim=-1)
        gene = self.gene(gene_in) + self.gene_rank[: gene_in.shape[1]] + self.type_embedding.weight[GENE]

        window = self.protein_window(x.protein_ref, x.protein_alt)
        window_mask = (x.protein_mask & x.protein_window_mask)[:, None].expand(B, window.shape[1])
        change = self.protein_features(x.protein_features)[:, None]  # exists even without the window
        protein = torch.cat([change, window], dim=1) + self.type_embedding.weight[PROTEIN]
        protein_mask = torch.cat([x.protein_mask[:, None], window_mask], dim=1)

        text = self.text(x.text) + self.snippet_kind[: x.text.shape[1]] + self.type_embedding.weight[TEXT]
        null = (self.null + self.type_embedding.weight[NULL]).expand(B, 1, -1)
        null_mask = torch.ones(B, 1, dtype=torch.bool, device=dna.device)

        activity = self.activity(x.activity)[:, None]  # type: the mlp's own bias (no type id: ids are 5)

        tokens = torch.cat([null, dna, gene, protein, text, activity], dim=1)
        mask = torch.cat([null_mask, dna_mask, x.gene_mask, protein_mask, x.text_mask, x.activity_mask[:, None]], dim=1)
        # zero the padded tokens too, so garbage in masked slots can never leak through a bug elsewhere
        return self.norm(tokens) * mask[..., None], mask
