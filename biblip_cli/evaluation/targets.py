"""The target task: CRISPRi-tested enhancer-gene pairs, the model beside distance, nearest gene and ABC."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

import numpy as np

from biblip_cli import metrics
from biblip_cli.errors import BiblipError
from biblip_cli.evaluation import baselines
from biblip_cli.evaluation.gene_splits import GeneSplits
from biblip_cli.evaluation.methods import ModelMethods
from biblip_cli.evaluation.table import TaskTable
from biblip_cli.io.datasets import EnhancerPair


def evaluate_targets(
    pairs: Sequence[EnhancerPair],
    model: ModelMethods | None,
    bundle: Any,
    abc: baselines.AbcScores | None,
) -> TaskTable:
    columns = ["method", "n_pairs", "n_regulated", "auprc", "auroc", "top1_accuracy", "n_elements", "note"]
    table = TaskTable("target", "Target genes of CRISPRi-tested elements", columns)
    if not pairs:
        table.notes.append("no enhancer-gene pair to evaluate")
        return table
    y = np.array([p.regulated for p in pairs], dtype=bool)
    distances = np.array([_pair_distance(p, bundle) for p in pairs], dtype=float)
    elements: dict[tuple[str, int, int], list[int]] = {}
    for i, p in enumerate(pairs):
        elements.setdefault((p.chrom, p.start0, p.end0), []).append(i)
    methods: dict[str, tuple[np.ndarray, str]] = {}
    if model is not None:
        from biblip_cli.features.elements import element_annotation

        annotations = {key: element_annotation(bundle, *key) for key in elements}
        scores = model.regulates(
            [annotations[(p.chrom, p.start0, p.end0)] for p in pairs], [p.gene for p in pairs]
        )
        methods["biblip regulates (model alone)"] = (
            scores,
            "log-odds of yes for 'does this element regulate G'",
        )
        prior = model.target_prior()
        if prior is not None:
            from biblip_cli.features.elements import closer_gene_counts

            closer = np.zeros(len(pairs))
            for (chrom, start0, end0), idx in elements.items():
                genes = [pairs[i].gene for i in idx]
                closer[idx] = closer_gene_counts(bundle, chrom, (start0 + end0) // 2, genes, 1_000_000)
            combined = prior.log_odds(np.nan_to_num(distances, nan=1e6), closer, scores)
            methods["biblip target (model + distance prior)"] = (
                combined,
                f"`biblip target`'s score: model weight {prior.model_weight:.2f} (metadata target_prior)",
            )
    inverse = np.array([baselines.inverse_distance(d) if not math.isnan(d) else 0.0 for d in distances])
    methods["distance to TSS (inverse)"] = (inverse, "")
    nearest = np.zeros(len(pairs))
    for idx in elements.values():
        d = np.where(np.isnan(distances[idx]), np.inf, np.abs(distances[idx]))
        nearest[idx] = (d == d.min()).astype(float)
    methods["nearest gene (closest tested TSS)"] = (nearest, "binary")
    if abc is not None:
        abc_scores = np.array([abc.score(p.chrom, p.start0, p.end0, p.gene) for p in pairs])
        covered = sum(1 for p in pairs if abc.has_gene(p.chrom, p.gene))
        methods["ABC (powerlaw.Score)"] = (
            abc_scores,
            f"{covered}/{len(pairs)} pairs' genes in the ABC file; no overlap = 0",
        )
    else:
        table.notes.append("no ABC file given or found: ABC row missing")
    for name, (scores, note) in methods.items():
        top1, n_elements = metrics.top1_accuracy([(y[idx], scores[idx]) for idx in elements.values()])
        table.rows.append(
            {"method": name, "n_pairs": len(pairs), "n_regulated": int(y.sum()), "auprc": metrics.average_precision(y, scores),
             "auroc": metrics.auroc(y, scores), "top1_accuracy": top1, "n_elements": n_elements, "note": note}
        )  # fmt: skip
    n_seq = sum(1 for key in elements if _has_sequence(bundle, key[0]))
    table.notes.append(
        f"{len(elements)} elements, {len({p.gene for p in pairs})} genes; {n_seq} elements on contigs with sequence (others: DNA masked)"
    )
    return table


def _pair_distance(pair: EnhancerPair, bundle: Any) -> float:
    centre = (pair.start0 + pair.end0) // 2
    if pair.tss0 is not None:
        return float(centre - pair.tss0)
    try:
        tx = bundle.transcripts.by_gene(pair.gene)
    except (BiblipError, AttributeError):
        tx = None
    return float(centre - tx.tss0) if tx is not None and tx.chrom == pair.chrom else math.nan


def _has_sequence(bundle: Any, chrom: str) -> bool:
    try:
        contig = bundle.genome.resolve(chrom)
        return contig is not None and bundle.genome.length(contig) > 0
    except (BiblipError, AttributeError, KeyError):
        return False


def select_pairs(
    pairs: Sequence[EnhancerPair], splits: GeneSplits, split: str, limit: int | None, seed: int
) -> list[EnhancerPair]:
    """Pairs of genes in `split`; with `limit`, that many whole elements (seeded), half of them (when
    there are enough) elements with a regulated gene so top-1 accuracy stays measurable."""
    kept = [p for p in pairs if splits.keep(p.gene, split, p.chrom)]
    if limit is not None:
        keys = sorted({(p.chrom, p.start0, p.end0) for p in kept})
        if len(keys) > limit:
            rng = random.Random(seed)
            positive = sorted({(p.chrom, p.start0, p.end0) for p in kept if p.regulated})
            chosen = set(rng.sample(positive, min(len(positive), max(1, limit // 2))))
            rest = [k for k in keys if k not in chosen]
            chosen |= set(rng.sample(rest, limit - len(chosen)))
            kept = [p for p in kept if (p.chrom, p.start0, p.end0) in chosen]
    return kept
