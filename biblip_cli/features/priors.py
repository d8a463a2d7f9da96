"""Priors that need no model, shared by the commands and the evaluation baselines.

Consequence severity (VEP's SO order), BLOSUM62/Grantham deleteriousness of amino-acid substitutions
(tables in features/protein.py), the Exomiser-style allele deleteriousness `biblip rank` uses where the
model does not answer, and the inverse-distance target-gene prior.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from biblip_cli.records import SO_TERMS, AlleleAnnotation, ProteinVariant

_SEVERITY_RANK = {term: i for i, term in enumerate(SO_TERMS)}


# --- consequence severity ------------------------------------------------------------------------
def severity_of_term(term: str) -> float:
    """Score in (0, 1]: 1 for the most severe SO term, falling linearly down VEP's order; 0 if unknown."""
    index = _SEVERITY_RANK.get(term)
    if index is None:
        return 0.0
    return (len(SO_TERMS) - index) / len(SO_TERMS)


def protein_consequence(pv: ProteinVariant) -> str:
    """The SO term a protein-level change implies (labels files carry no coordinates)."""
    from biblip_cli.features.protein import protein_consequence as consequence_of

    if "fs" in pv.hgvsp:
        return "frameshift_variant"
    alt = "*" if pv.alt_aa in ("*", "X") or pv.hgvsp.endswith(("Ter", "*")) else pv.alt_aa
    return consequence_of(pv.ref_aa, alt, pv.position)


def severity_protein(variants: Sequence[ProteinVariant]) -> np.ndarray:
    return np.array([severity_of_term(protein_consequence(pv)) for pv in variants], dtype=float)


def severity_annotation(annotation: AlleleAnnotation) -> float:
    """Severity of the most severe consequence over all genes (intergenic when no effect)."""
    terms = [t for eff in annotation.effects for t in eff.consequences] or ["intergenic_variant"]
    return max(severity_of_term(t) for t in terms)


# --- substitution matrices (tables live in features/protein.py) ---------------------------------
def _is_substitution(ref: str, alt: str) -> bool:
    return len(ref) == 1 and len(alt) == 1 and ref != alt and ref not in "*X" and alt not in "*X"


def blosum_deleteriousness(ref_aa: str, alt_aa: str) -> float:
    """-BLOSUM62 for amino-acid substitutions (higher = more deleterious); NaN otherwise."""
    from biblip_cli.features.protein import blosum62

    value = blosum62(ref_aa, alt_aa) if _is_substitution(ref_aa, alt_aa) else None
    return math.nan if value is None else -float(value)


def grantham_deleteriousness(ref_aa: str, alt_aa: str) -> float:
    """Grantham distance for amino-acid substitutions (higher = more deleterious); NaN otherwise."""
    from biblip_cli.features.protein import grantham

    value = grantham(ref_aa, alt_aa) if _is_substitution(ref_aa, alt_aa) else None
    return math.nan if value is None else float(value)


# --- variant deleteriousness for ranking ---------------------------------------------------------
def allele_deleteriousness(annotation: AlleleAnnotation) -> float:
    """Exomiser-style variant score in [0, 1]: HIGH impact 1; missense 0.5-0.95 by Grantham (or
    BLOSUM62); splice region / synonymous / UTR low; intronic and intergenic near 0."""
    best = 0.0
    for eff in annotation.effects:
        term = eff.consequences[0] if eff.consequences else "intergenic_variant"
        if eff.impact == "HIGH":
            score = 1.0
        elif term in ("missense_variant", "protein_altering_variant"):
            score = 0.7
            if eff.ref_aa and eff.alt_aa:
                g = grantham_deleteriousness(eff.ref_aa, eff.alt_aa)
                if not math.isnan(g):
                    score = 0.5 + 0.45 * min(g, 215.0) / 215.0
                else:
                    b = blosum_deleteriousness(eff.ref_aa, eff.alt_aa)
                    if not math.isnan(b):
                        score = 0.5 + 0.45 * (min(max(b, -3.0), 4.0) + 3.0) / 7.0
        elif eff.impact == "MODERATE":
            score = 0.6
        elif term in ("splice_region_variant", "5_prime_UTR_variant", "3_prime_UTR_variant"):
            score = 0.2
        elif eff.impact == "LOW":
            score = 0.1
        else:
            score = 0.02
        best = max(best, score)
    return best


# --- distance --------------------------------------------------------------------------------------
def inverse_distance(distance: float) -> float:
    """Score falling with |distance| to the TSS (1 at the TSS, 0.5 at 1 kb)."""
    return 1.0 / (1.0 + abs(float(distance)) / 1000.0)
