"""Variant-level evidence that needs no MSA: the residue's neighbourhood, its paralogs, the gene's prior.

These fill columns 64-95 of the protein row (`protein.py`). Each group was measured by ablation before it
was kept (docs/model_card.md, "Variant-level evidence"): on held-out genes with a protein sequence, a
gradient-boosted probe on substitution + position reached a mean per-gene AUROC of 0.716; + window 0.724;
+ paralog conservation 0.754. Labels of paralogs' variants were tried and dropped (no gain).

| cols  | feature                                                                                   |
|-------|-------------------------------------------------------------------------------------------|
| 64    | hydrophobic residues (AILMFVWC) in +-7                                                     |
| 65    | disorder-promoting residues (ARGQSPEK) in +-15                                             |
| 66    | Shannon entropy of the +-15 window / log 20 (low = low complexity)                         |
| 67-69 | Cys, Gly, Pro fraction in +-15                                                             |
| 70    | mean Kyte-Doolittle hydropathy in +-7 / 4.5                                                |
| 71    | log(1 + paralogs of the gene) / 2                                                          |
| 72    | paralogs aligned at this residue / 6                                                       |
| 73    | fraction of aligned paralogs with the reference residue (conservation)                    |
| 74    | fraction of aligned paralogs with the alternate residue (the change is tolerated there)   |
| 75    | mean BLOSUM62(paralog residue, alt) / 10                                                   |
| 76    | mean BLOSUM62(paralog residue, ref) / 10                                                   |
| 77    | any paralog aligned here                                                                   |
| 78    | mean identity of the aligned paralogs                                                      |
| 79    | log(1 + diseases HPO links to the gene) / 3 (the gene-level prior)                        |
| 80    | the gene has at least one HPO disease                                                      |
| 81-95 | reserved (0)                                                                               |
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np

from biblip_cli.features.inputs import EVIDENCE_DIM
from biblip_cli.features.protein import _KYTE_DOOLITTLE, blosum62

COL_EVIDENCE = 64
HYDROPHOBIC = frozenset("AILMFVWC")
DISORDER_PROMOTING = frozenset("ARGQSPEK")
MAX_PARALOGS = 6


def window_evidence(sequence: str, pos0: int) -> list[float]:
    near = sequence[max(0, pos0 - 7) : pos0 + 8]
    wide = sequence[max(0, pos0 - 15) : pos0 + 16]
    counts = Counter(wide)
    entropy = -sum(c / len(wide) * math.log(c / len(wide)) for c in counts.values())
    return [
        sum(a in HYDROPHOBIC for a in near) / len(near),
        sum(a in DISORDER_PROMOTING for a in wide) / len(wide),
        entropy / math.log(20),
        counts["C"] / len(wide),
        counts["G"] / len(wide),
        counts["P"] / len(wide),
        sum(_KYTE_DOOLITTLE.get(a, 0.0) for a in near) / len(near) / 4.5,
    ]


def paralog_evidence(paralogs: Sequence, pos0: int, ref: str, alt: str) -> list[float]:
    """`paralogs`: `bundle.paralogs.Paralog`s of the gene (their `aligned` string indexes the gene's residues)."""
    aligned = [
        (p.aligned[pos0], p.identity) for p in paralogs if pos0 < len(p.aligned) and p.aligned[pos0] != "-"
    ]
    n = len(aligned)
    if not n:
        return [math.log1p(len(paralogs)) / 2, 0, 0, 0, 0, 0, 0, 0]
    residues = [a for a, _ in aligned]
    return [
        math.log1p(len(paralogs)) / 2,
        n / MAX_PARALOGS,
        sum(a == ref for a in residues) / n,
        sum(a == alt for a in residues) / n,
        sum(blosum62(a, alt) or 0 for a in residues) / n / 10,
        sum(blosum62(a, ref) or 0 for a in residues) / n / 10,
        1.0,
        sum(i for _, i in aligned) / n,
    ]


def variant_evidence(
    sequence: str | None,
    position: int,
    ref: str,
    alt: str,
    paralogs: Sequence = (),
    n_diseases: int = 0,
) -> np.ndarray:
    """EVIDENCE_DIM floats for one residue change (1-based `position`); sequence-dependent parts stay 0
    when the residue window is unknown (the sequence is absent or its residue is not `ref`)."""
    row = np.zeros(EVIDENCE_DIM, np.float32)
    pos0 = position - 1
    if sequence and 0 <= pos0 < len(sequence) and len(ref) == 1 and sequence[pos0] == ref:
        row[0:7] = window_evidence(sequence, pos0)
        if len(alt) == 1:
            row[7:15] = paralog_evidence(paralogs, pos0, ref, alt)
    row[15] = math.log1p(n_diseases) / 3
    row[16] = float(n_diseases > 0)
    return row
