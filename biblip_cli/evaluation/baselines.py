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
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from biblip_cli.errors import BiblipError
from biblip_cli.features.priors import (  # noqa: F401 - the shared priors are baselines too
    allele_deleteriousness,
    blosum_deleteriousness,
    grantham_deleteriousness,
    inverse_distance,
    protein_consequence,
    severity_annotation,
    severity_of_term,
    severity_protein,
)
from biblip_cli.records import AlleleAnnotation

log = logging.getLogger(__name__)


def fill_missing(scores: np.ndarray, value: float | None = None) -> np.ndarray:
    """Replace NaN by `value` (default: the lowest observed score) so every case keeps a score."""
    scores = np.asarray(scores, dtype=float).copy()
    if np.isnan(scores).all():
        return np.zeros_like(scores)
    fill = np.nanmin(scores) if value is None else value
    scores[np.isnan(scores)] = fill
    return scores


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
