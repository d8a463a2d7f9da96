"""Which labelled variants the patho and generate tasks evaluate: split, de-duplicated, sampled."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from biblip_cli.evaluation.gene_splits import GeneSplits
from biblip_cli.io.datasets import LabeledVariant


def select_labels(
    labels: Sequence[LabeledVariant],
    splits: GeneSplits,
    split: str,
    limit: int | None,
    seed: int,
    always: Callable[[str], bool] | None = None,
    by_gene: bool = False,
) -> tuple[list[LabeledVariant], dict[str, int]]:
    """Pathogenic/benign rows of genes in `split`, one per (gene, change) (conflicts dropped), sampled.

    Rows of genes for which `always(gene)` holds (those with sequence in the bundle) are kept whatever
    the limit, so the subset with all four modalities is never sampled away; with `by_gene` (the patho
    task) whole genes are sampled instead, those genes filling up to half of the limit.
    """
    stats = {"rows": len(labels), "labelled": 0, "in_split": 0, "conflicting": 0}
    by_key: dict[tuple[str, str], LabeledVariant] = {}
    conflicting: set[tuple[str, str]] = set()
    for lv in labels:
        if lv.label not in ("pathogenic", "benign"):
            continue
        stats["labelled"] += 1
        if not splits.keep(lv.variant.gene, split):
            continue
        key = (lv.variant.gene, lv.variant.hgvsp)
        previous = by_key.get(key)
        if previous is not None and previous.label != lv.label:
            conflicting.add(key)
        by_key.setdefault(key, lv)
    kept = [lv for key, lv in by_key.items() if key not in conflicting]
    stats["in_split"] = len(kept)
    stats["conflicting"] = len(conflicting)
    if limit is not None and len(kept) > limit and by_gene:
        kept = _sample_genes(kept, limit, seed, always)
    elif limit is not None and len(kept) > limit:
        pinned = [lv for lv in kept if always is not None and always(lv.variant.gene)]
        rest = [lv for lv in kept if not (always is not None and always(lv.variant.gene))]
        kept = pinned + random.Random(seed).sample(rest, max(0, min(len(rest), limit - len(pinned))))
    kept.sort(key=lambda lv: (lv.variant.gene, lv.variant.position, lv.variant.alt_aa))
    return kept, stats


def _sample_genes(
    kept: list[LabeledVariant], limit: int, seed: int, always: Callable[[str], bool] | None
) -> list[LabeledVariant]:
    """Whole genes, seeded, until `limit` rows (so per-gene AUROC keeps its genes): genes for which
    `always(gene)` holds (protein sequence in the bundle) fill up to half of the rows first."""
    by_gene: dict[str, list[LabeledVariant]] = {}
    for lv in kept:
        by_gene.setdefault(lv.variant.gene, []).append(lv)
    genes = sorted(by_gene)
    random.Random(seed).shuffle(genes)
    pinned = [g for g in genes if always is not None and always(g)]
    rest = [g for g in genes if g not in set(pinned)]
    chosen: list[LabeledVariant] = []
    for pool, cap in ((pinned, limit // 2 if rest else limit), (rest, limit)):
        for gene in pool:
            if len(chosen) >= cap:
                break
            chosen.extend(by_gene[gene])
    return chosen
