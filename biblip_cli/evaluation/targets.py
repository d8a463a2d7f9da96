"""The target task: CRISPRi-tested enhancer-gene pairs, biblip beside distance, nearest gene, the
ABC-style score from the pairs' own activity columns and (where given) published ABC.

Metrics per method: AUPRC, AUROC, precision at 70% recall (the benchmark's operating point) and top-1
per element (elements with a regulated gene); overall, and per cell type when the file has several.
"""

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
from biblip_cli.features.activity import abc_style
from biblip_cli.io.datasets import EnhancerPair

COLUMNS = ["method", "cell_type", "n_pairs", "n_regulated", "auprc", "auroc", "precision_at_70_recall",
           "top1_accuracy", "n_elements", "note"]  # fmt: skip
Key = tuple[str, int, int]


def evaluate_targets(
    pairs: Sequence[EnhancerPair],
    model: ModelMethods | None,
    bundle: Any,
    abc: baselines.AbcScores | None,
) -> TaskTable:
    table = TaskTable("target", "Target genes of CRISPRi-tested elements", COLUMNS)
    if not pairs:
        table.notes.append("no enhancer-gene pair to evaluate")
        return table
    y = np.array([p.regulated for p in pairs], dtype=bool)
    distances = np.array([_pair_distance(p, bundle) for p in pairs], dtype=float)
    elements: dict[Key, list[int]] = {}
    for i, p in enumerate(pairs):
        elements.setdefault((p.chrom, p.start0, p.end0), []).append(i)
    methods: dict[str, tuple[np.ndarray, str]] = {}
    if model is not None:
        methods.update(_model_methods(pairs, model, bundle, distances, elements, table))
    if any(p.activity is not None for p in pairs):
        abc_like = [abc_style(p.activity, d) if not math.isnan(d) else None for p, d in zip(pairs, distances)]
        methods["ABC-style (activity x power-law contact)"] = (
            np.array([v if v is not None else 0.0 for v in abc_like]),
            (
                "sqrt(DHS.RPM x H3K27ac.RPM) x (max(d, 5 kb) / 5 kb)^-0.87 from the pairs' own columns; "
                "not normalised over elements (the file lists only tested ones)"
            ),
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
        table.notes.append("no published ABC file given or found: ABC row missing")
    cell_types = sorted({p.cell_type for p in pairs if p.cell_type})
    groups = [("all", np.arange(len(pairs)))]
    if len(cell_types) > 1:
        groups += [(c, np.flatnonzero([p.cell_type == c for p in pairs])) for c in cell_types]
    for cell, rows in groups:
        for name, (scores, note) in methods.items():
            table.rows.append(_row(name, cell, y[rows], scores[rows], [pairs[i] for i in rows], note))
    n_seq = sum(1 for key in elements if _has_sequence(bundle, key[0]))
    n_act = sum(1 for p in pairs if p.activity is not None)
    table.notes.append(
        f"{len(elements)} elements, {len({p.gene for p in pairs})} genes, {n_act}/{len(pairs)} pairs with activity "
        f"columns; {n_seq} elements on contigs with sequence (others: DNA masked)"
    )
    return table


def _model_methods(
    pairs: Sequence[EnhancerPair], model: ModelMethods, bundle: Any, distances: np.ndarray,
    elements: dict[Key, list[int]], table: TaskTable,
) -> dict[str, tuple[np.ndarray, str]]:  # fmt: skip
    from biblip_cli.features.elements import closer_gene_counts, element_annotation

    annotations = {key: element_annotation(bundle, *key) for key in elements}
    ann = [annotations[(p.chrom, p.start0, p.end0)] for p in pairs]
    genes = [p.gene for p in pairs]

    def closer_counts() -> np.ndarray:  # genes with a closer TSS, from the bundle's gene model
        closer = np.zeros(len(pairs))
        for (chrom, start0, end0), idx in elements.items():
            centre = (start0 + end0) // 2
            closer[idx] = closer_gene_counts(bundle, chrom, centre, [genes[i] for i in idx], 1_000_000)
        return closer

    missing = sum(1 for g in set(genes) if not _in_gene_model(bundle, g))
    if missing:
        table.notes.append(
            f"{missing}/{len(set(genes))} genes are not in the bundle's gene model: the model sees no distance or "
            "neighbours for them (use a genome-wide bundle, docs/evaluation.md)"
        )
    distance = np.nan_to_num(distances, nan=1e6)
    head = model.target_head()
    out: dict[str, tuple[np.ndarray, str]] = {}
    if head is not None:
        closer = closer_counts()
        activities = [p.activity for p in pairs]
        logits = model.regulates_head(ann, genes, activities)
        out["biblip target"] = (
            head.log_odds(distance, closer, activities, logits),
            (
                "`biblip target`'s score: regulates head (Q-former, activity token) + distance, closer genes, "
                "activity, ABC-style (metadata target_head)"
            ),
        )
        ablation = model.target_head(with_head=False)
        if ablation is not None:
            out["same score without the head (ablation)"] = (
                ablation.log_odds(distance, closer, activities, logits),
                "the logistic of `biblip target` refitted without the head's logit: what the model adds",
            )
        out["biblip regulates head alone"] = (
            logits,
            "the Q-former's logit (a residual on the score above), no LLM",
        )
        return out
    scores = model.regulates(ann, genes)
    out["biblip regulates (model alone)"] = (scores, "log-odds of yes for 'does this element regulate G'")
    prior = model.target_prior()
    if prior is not None:
        out["biblip target (model + distance prior)"] = (
            prior.log_odds(distance, closer_counts(), scores),
            f"`biblip target`'s score: model weight {prior.model_weight:.2f} (metadata target_prior)",
        )
    return out


def _row(name: str, cell: str, y: np.ndarray, s: np.ndarray, pairs: list[EnhancerPair], note: str) -> dict:
    groups: dict[Key, list[int]] = {}
    for i, p in enumerate(pairs):
        groups.setdefault((p.chrom, p.start0, p.end0), []).append(i)
    top1, n_elements = metrics.top1_accuracy([(y[idx], s[idx]) for idx in groups.values()])
    return {"method": name, "cell_type": cell, "n_pairs": len(pairs), "n_regulated": int(y.sum()),
            "auprc": metrics.average_precision(y, s), "auroc": metrics.auroc(y, s),
            "precision_at_70_recall": metrics.precision_at_recall(y, s, 0.7), "top1_accuracy": top1,
            "n_elements": n_elements, "note": note}  # fmt: skip


def _in_gene_model(bundle: Any, gene: str) -> bool:
    try:
        return bundle.transcripts.by_gene(gene) is not None
    except (BiblipError, AttributeError, KeyError):
        return False


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
