"""Regulatory elements and their candidate target genes: what `biblip target`, evaluation and the
target-prior fit share.

- `candidate_genes`: genes with a TSS within the window, nearest first (the order `biblip target` scores in);
- `closer_gene_counts`: per gene, how many genes have a closer TSS (an input of the target prior);
- `element_annotation` / `element_allele`: an element as the model sees it, a no-change allele at its centre;
- `score_pairs`: `engine.regulates` over (annotation, gene) pairs, batched by gene.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from biblip_cli.features.priors import inverse_distance
from biblip_cli.records import Allele, AlleleAnnotation


@dataclass
class TargetCandidate:
    gene: str
    distance: int  # signed bp of the allele/element centre from the TSS, transcript orientation
    score: float = 0.0
    rank: int = 0


def transcript_contig(transcripts: Any, genome: Any, chrom: str) -> str | None:
    """The gene model's contig name for an input contig (`chr20` <-> `20`), or None."""
    names = set(transcripts.contigs())
    candidates = [chrom]
    if genome is not None:
        try:
            resolved = genome.resolve(chrom)
        except Exception:  # noqa: BLE001 - a genome that cannot resolve just gives no alias
            resolved = None
        if resolved:
            candidates.insert(0, resolved)
    candidates.append(chrom[3:] if chrom.startswith("chr") else "chr" + chrom)
    candidates.extend(("chrM", "MT") if chrom in ("chrM", "chrMT", "MT", "M") else ())
    return next((c for c in candidates if c in names), None)


def candidate_genes(
    transcripts: Any, contig: str, pos0: int, window: int, max_genes: int
) -> list[TargetCandidate]:
    """Genes with a TSS within `window` of `pos0`, nearest first, one entry per gene, at most `max_genes`."""
    out: list[TargetCandidate] = []
    seen: set[str] = set()
    for tx, distance in transcripts.tss_near(contig, pos0, window):
        if tx.gene in seen:
            continue
        seen.add(tx.gene)
        out.append(TargetCandidate(tx.gene, int(distance)))
        if len(out) >= max_genes:
            break
    return out


def closer_gene_counts(bundle: Any, chrom: str, centre0: int, genes: Sequence[str], window: int) -> list[int]:
    """For each gene, how many genes have a closer TSS: its index among `candidate_genes` (the order
    `biblip target` scores them in, which is what the target prior was fitted on); genes with no TSS in
    the window get the count of all genes in it."""
    contig = transcript_contig(bundle.transcripts, bundle.genome, chrom) or chrom
    nearest_first = candidate_genes(bundle.transcripts, contig, centre0, window, max_genes=sys.maxsize)
    order = {c.gene: i for i, c in enumerate(nearest_first)}
    return [order.get(g, len(order)) for g in genes]


def inverse_distance_scores(candidates: Sequence[TargetCandidate]) -> np.ndarray:
    return np.array([inverse_distance(c.distance) for c in candidates], dtype=float)


def rank_candidates(candidates: list[TargetCandidate], scores: Sequence[float]) -> list[TargetCandidate]:
    """Attach scores, sort best first (ties: nearer TSS first), number the ranks from 1."""
    for cand, score in zip(candidates, scores, strict=True):
        cand.score = float(score)
    ordered = sorted(candidates, key=lambda c: (-c.score, abs(c.distance), c.gene))
    for rank, cand in enumerate(ordered, start=1):
        cand.rank = rank
    return ordered


def score_pairs(
    engine: Any, annotations: Sequence[AlleleAnnotation], genes: Sequence[str], batch_size: int
) -> np.ndarray:
    """`engine.regulates` over parallel (annotation, gene) lists, in batches of one gene where possible.

    The question names the gene, so the engine builds one instruction cache per gene and batch:
    sorting the pairs by gene first makes batches share it (pairs come back in the input order).
    """
    order = sorted(range(len(genes)), key=lambda i: genes[i])
    out = np.zeros(len(genes), dtype=float)
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        part = engine.regulates([annotations[i] for i in rows], [genes[i] for i in rows])
        out[rows] = np.asarray(part, dtype=float).reshape(-1)
    return out


def element_allele(bundle: Any, chrom: str, start0: int, end0: int) -> Allele:
    """A no-change 'allele' at the element's centre (1-based pos = centre0 + 1).

    The reference base comes from the bundle when it has the sequence ('N' otherwise, and the
    builder masks the DNA)."""
    centre0 = (start0 + end0) // 2
    base = "N"
    if bundle is not None:
        try:
            contig = bundle.genome.resolve(chrom)
            if contig is not None:
                base = bundle.genome.fetch(contig, centre0, centre0 + 1) or "N"
        except Exception:  # noqa: BLE001 - no sequence for this contig: DNA stays masked
            base = "N"
    return Allele(chrom, centre0 + 1, base, base)


def element_annotation(bundle: Any, chrom: str, start0: int, end0: int, name: str = "") -> AlleleAnnotation:
    """A regulatory element as the model sees it: its `element_allele` and no gene effects (the
    asked-about gene is given separately)."""
    allele = element_allele(bundle, chrom, start0, end0)
    return AlleleAnnotation(
        allele, effects=[], status="ok", note=f"element {name or f'{chrom}:{start0}-{end0}'}"
    )


def is_coding(annotation: AlleleAnnotation) -> bool:
    from biblip_cli.features.protein import CODING_TERMS

    splice = {"splice_acceptor_variant", "splice_donor_variant"}
    return any(set(eff.consequences) & (CODING_TERMS | splice) for eff in annotation.effects)
