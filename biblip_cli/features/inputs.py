"""The tensor batch every modality encoder reads.

A modality that is absent for an allele is *masked* (its mask is False), never zero-filled as if
real. Shapes use B = batch, L = DNA window, K = candidate genes, W = residue window,
T = text snippets.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

# Vocabularies and fixed widths. The checkpoint's config stores these; loading a checkpoint whose
# numbers differ from the code's is an error (the model would read features at the wrong offsets).
DNA_VOCAB = "ACGTN"  # ids 0..4; id 5 = padding
DNA_PAD = 5
AA_VOCAB = "ACDEFGHIKLMNPQRSTVWY*X"  # ids 1..22 (index+1); id 0 = padding / unknown residue
GENE_FEATURE_DIM = 48
PROTEIN_FEATURE_DIM = 96  # 64 substitution/position columns + EVIDENCE_DIM (features/evidence.py)
EVIDENCE_DIM = 32
TEXT_DIM = 384  # all-MiniLM-L6-v2 sentence embedding width
MAX_GENES = 8  # K
MAX_SNIPPETS = 4  # T: function summary, GO terms, phenotypes, diseases of the asked-about gene
ACTIVITY_DIM = 8  # features/activity.py: the regulatory element's chromatin activity token


@dataclass
class VariantInputs:
    dna_ref: torch.Tensor  # [B, L] long, ids from DNA_VOCAB, DNA_PAD beyond contig ends
    dna_alt: torch.Tensor  # [B, L] long, ALT applied (indels: left-aligned, re-centred, padded)
    dna_mask: torch.Tensor  # [B] bool, True where the sequence is known
    gene_features: torch.Tensor  # [B, K, GENE_FEATURE_DIM] float
    gene_text: torch.Tensor  # [B, K, TEXT_DIM] float, embedding of each gene's knowledge text
    gene_mask: torch.Tensor  # [B, K] bool, True for real candidate tokens
    protein_ref: torch.Tensor  # [B, W] long, residue ids (AA_VOCAB index + 1), 0 = unknown/pad
    protein_alt: torch.Tensor  # [B, W] long
    protein_window_mask: torch.Tensor  # [B] bool, True where the residue window is known
    protein_features: torch.Tensor  # [B, PROTEIN_FEATURE_DIM] float (substitution, position, length)
    protein_mask: torch.Tensor  # [B] bool, True for coding changes (modality present)
    text: torch.Tensor  # [B, T, TEXT_DIM] float, knowledge snippets of the asked-about gene
    text_mask: torch.Tensor  # [B, T] bool
    activity: torch.Tensor  # [B, ACTIVITY_DIM] float, the element's chromatin activity (features/activity.py)
    activity_mask: torch.Tensor  # [B] bool, True where the element's activity was measured

    def to(self, device: torch.device | str) -> VariantInputs:
        return VariantInputs(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})

    def __len__(self) -> int:
        return self.dna_ref.shape[0]

    def select(self, index: torch.Tensor | list[int]) -> VariantInputs:
        return VariantInputs(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    @staticmethod
    def cat(batches: list[VariantInputs]) -> VariantInputs:
        return VariantInputs(
            **{f.name: torch.cat([getattr(b, f.name) for b in batches]) for f in fields(VariantInputs)}
        )
