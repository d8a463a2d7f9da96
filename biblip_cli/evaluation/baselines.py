"""Baselines that `biblip evaluate` sets beside the model, each on exactly the same cases.

- consequence severity: the Sequence Ontology order (VEP's), most severe = highest score;
- substitution matrix: BLOSUM62 (lower = more deleterious) and Grantham distance (higher = more
  deleterious) for missense changes, tables from `features/protein.py`;
- distance to TSS (inverse), nearest gene (is the closest TSS) and ABC scores for target genes;
- Exomiser-like ranking: phenotype similarity of the patient terms to the gene x variant deleteriousness;
- random: seeded uniform scores (the floor every method must clear).
"""

from __future__ import annotations

import gzip
import logging
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from biblip_cli.errors import BiblipError
from biblip_cli.records import SO_TERMS, AlleleAnnotation, ProteinVariant

log = logging.getLogger(__name__)

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


def fill_missing(scores: np.ndarray, value: float | None = None) -> np.ndarray:
    """Replace NaN by `value` (default: the lowest observed score) so every case keeps a score."""
    scores = np.asarray(scores, dtype=float).copy()
    if np.isnan(scores).all():
        return np.zeros_like(scores)
    fill = np.nanmin(scores) if value is None else value
    scores[np.isnan(scores)] = fill
    return scores


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


def exomiser_like_scores(
    annotations: Sequence[AlleleAnnotation],
    terms: Sequence[str],
    phenotype_similarity: Callable[[Sequence[str], str], float],
) -> tuple[np.ndarray, list[str | None]]:
    """Per allele: max over its genes of similarity(terms, gene) x deleteriousness; and the gene used."""
    cache: dict[str, float] = {}
    scores = np.zeros(len(annotations), dtype=float)
    genes: list[str | None] = []
    for i, ann in enumerate(annotations):
        delet = allele_deleteriousness(ann)
        best, best_gene = 0.0, None
        for eff in ann.effects:
            if eff.gene not in cache:
                cache[eff.gene] = float(phenotype_similarity(list(terms), eff.gene) or 0.0)
            value = cache[eff.gene] * delet
            if best_gene is None or value > best:
                best, best_gene = value, eff.gene
        scores[i] = best
        genes.append(best_gene)
    return scores, genes


def random_scores(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random(n)


# --- target genes --------------------------------------------------------------------------------
def inverse_distance(distance: float) -> float:
    """Score falling with |distance| to the TSS (1 at the TSS, 0.5 at 1 kb)."""
    return 1.0 / (1.0 + abs(float(distance)) / 1000.0)


def nearest_gene_flags(distances: Sequence[float]) -> np.ndarray:
    """1 for the candidate(s) with the smallest |distance|, else 0."""
    d = np.abs(np.asarray(distances, dtype=float))
    if d.size == 0:
        return d
    return (d == d.min()).astype(float)


class AbcScores:
    """ABC predictions (`chr start end ... TargetGene ... powerlaw.Score`) looked up by element overlap.

    A CRISPR element overlapping several ABC elements of the same gene takes the maximum score;
    pairs with no overlapping prediction score 0 (ABC would not call them).
    """

    def __init__(self, path: Path, score_column: str = "powerlaw.Score") -> None:
        self.path = Path(path)
        self._by_gene: dict[tuple[str, str], list[tuple[int, int, float]]] = {}
        opener = gzip.open if self.path.suffix == ".gz" else open
        with opener(self.path, "rt") as fh:  # type: ignore[operator]
            header = fh.readline().rstrip("\n").split("\t")
            try:
                ci, si, ei = header.index("chr"), header.index("start"), header.index("end")
                gi, vi = header.index("TargetGene"), header.index(score_column)
            except ValueError as err:
                raise BiblipError(
                    f"ABC file lacks a column ({err})",
                    where=str(self.path),
                    hint="columns chr, start, end, TargetGene, powerlaw.Score",
                ) from err
            for line in fh:
                cols = line.rstrip("\n").split("\t")
                try:
                    value = float(cols[vi])
                except ValueError:
                    continue
                self._by_gene.setdefault((cols[ci], cols[gi]), []).append(
                    (int(cols[si]), int(cols[ei]), value)
                )

    def score(self, chrom: str, start0: int, end0: int, gene: str) -> float:
        best = 0.0
        for s, e, v in self._by_gene.get((chrom, gene), ()):
            if s < end0 and e > start0:
                best = max(best, v)
        return best

    def has_gene(self, chrom: str, gene: str) -> bool:
        return (chrom, gene) in self._by_gene
