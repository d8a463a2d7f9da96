"""The patho task: pathogenic vs benign on held-out genes, biblip beside its baselines.

Two numbers per method, because one flatters: the global AUROC (which a score that never looks at the
variant, the number of diseases HPO links to the gene, already reaches ~0.83 on held-out genes) and the
mean per-gene AUROC over genes with >= 5 pathogenic and >= 5 benign rows (how ProteinGym's clinical
benchmark scores: can the method tell two changes of one gene apart?). Every scored row is written to
`patho_predictions.tsv` so a reader can recompute both.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from biblip_cli import metrics
from biblip_cli.errors import BiblipError
from biblip_cli.evaluation import baselines
from biblip_cli.evaluation.table import TaskTable
from biblip_cli.io.datasets import LabeledVariant
from biblip_cli.io.outputs import write_file

PREDICTIONS_TSV = "patho_predictions.tsv"
MIN_PER_CLASS = 5  # rows of each class a gene needs to enter the per-gene mean


def per_gene_auroc(
    y: np.ndarray, scores: np.ndarray, genes: Sequence[str], min_each: int = MIN_PER_CLASS
) -> tuple[float, int]:
    """(mean AUROC over genes with >= min_each pathogenic and benign rows, number of such genes)."""
    genes = np.asarray(genes)
    values = []
    for gene in sorted(set(genes.tolist())):
        m = genes == gene
        if y[m].sum() >= min_each and (~y[m]).sum() >= min_each:
            values.append(metrics.auroc(y[m], scores[m]))
    return (float(np.mean(values)) if values else float("nan")), len(values)


def _row(
    method: str, subset: str, y: np.ndarray, scores: np.ndarray, genes, note: str = ""
) -> dict[str, Any]:
    mean, n_genes = per_gene_auroc(y, scores, genes)
    return {
        "subset": subset,
        "method": method,
        "n": int(y.size),
        "n_pathogenic": int(y.sum()),
        "auroc": metrics.auroc(y, scores),
        "auprc": metrics.average_precision(y, scores),
        "per_gene_auroc": mean,
        "n_genes": n_genes,
        "note": note,
    }


def has_protein(bundle: Any, gene: str) -> bool:
    try:
        return gene in bundle.proteins
    except (BiblipError, AttributeError):
        return False


def gene_prior(variants: Sequence[Any], disease_counts: dict[str, int]) -> np.ndarray:
    """log(1 + diseases HPO links to the gene): the same for every change of a gene."""
    return np.array([np.log1p(disease_counts.get(v.gene, 0)) for v in variants], dtype=np.float64)


def write_predictions(
    path: Path, selected: Sequence[LabeledVariant], methods: dict[str, tuple[np.ndarray, str]]
) -> None:
    """`gene_symbol, hgvs_p, label`, then one column per method (biblip first), one row per variant;
    written through the output layer (`io/outputs.write_file`: lock, temp file, rename)."""
    names = list(methods)
    buffer = io.StringIO()
    out = csv.writer(buffer, delimiter="\t", lineterminator="\n")
    out.writerow(["gene_symbol", "hgvs_p", "label", *names])
    for i, lv in enumerate(selected):
        values = [methods[n][0][i] for n in names]
        cells = (f"{v:.6g}" if np.isfinite(v) else "" for v in values)
        out.writerow([lv.variant.gene, lv.variant.hgvsp, lv.label, *cells])
    write_file(path, buffer.getvalue())


def evaluate_pathogenicity(
    selected: Sequence[LabeledVariant],
    model: Any,
    bundle: Any,
    stats: dict[str, int],
    disease_counts: dict[str, int] | None = None,
    out_dir: Path | None = None,
) -> TaskTable:
    table = TaskTable(
        "patho",
        "Pathogenicity on held-out genes",
        ["subset", "method", "n", "n_pathogenic", "auroc", "auprc", "per_gene_auroc", "n_genes", "note"],
    )
    table.extra["selection"] = stats
    if not selected:
        table.notes.append("no pathogenic/benign variant of the chosen split in the labels file")
        return table
    variants = [lv.variant for lv in selected]
    genes = [v.gene for v in variants]
    y = np.array([lv.is_pathogenic for lv in selected], dtype=bool)
    methods: dict[str, tuple[np.ndarray, str]] = {}
    if model is not None:
        source = model.reported_score()
        methods["biblip"] = (
            model.reported_pathogenicity(variants),
            "what `biblip annotate` reports: "
            + ("the Q-former head + evidence residual (metadata reported_pathogenicity)" if source == "head"
               else "the calibrated LLM answer"),
        )  # fmt: skip
        methods["biblip LLM answer"] = (
            model.pathogenicity(variants),
            "calibrated LLM answer, prefix from the Q-former",
        )
        methods["biblip cheap head"] = (
            model.cheap_pathogenicity(variants),
            "Q-former head + evidence residual, no LLM",
        )
        alone = model.llm_alone_pathogenicity(variants)
        if alone is not None:
            methods["LLM alone (variant in words)"] = (alone, "same frozen LLM, no prefix")
    if disease_counts is not None:
        methods["gene prior (HPO diseases)"] = (
            gene_prior(variants, disease_counts),
            "log(1 + diseases HPO links to the gene); never looks at the variant",
        )
    methods["consequence severity"] = (
        baselines.severity_protein(variants),
        "SO order; constant for missense",
    )
    blosum = np.array([baselines.blosum_deleteriousness(v.ref_aa, v.alt_aa) for v in variants])
    grantham = np.array([baselines.grantham_deleteriousness(v.ref_aa, v.alt_aa) for v in variants])
    methods["BLOSUM62 (-score)"] = (
        baselines.fill_missing(blosum),
        f"{int(np.isnan(blosum).sum())} non-missense at min",
    )
    methods["Grantham distance"] = (
        baselines.fill_missing(grantham),
        f"{int(np.isnan(grantham).sum())} non-missense at min",
    )
    with_sequence = np.array([has_protein(bundle, g) for g in genes], dtype=bool)
    for name, (scores, note) in methods.items():
        table.rows.append(_row(name, "all", y, scores, genes, note))
    if with_sequence.any():
        seq_genes = [g for g, s in zip(genes, with_sequence, strict=True) if s]
        for name, (scores, note) in methods.items():
            table.rows.append(
                _row(name, "bundle has sequence", y[with_sequence], scores[with_sequence], seq_genes, note)
            )
        if model is not None:
            genomic = _genomic_subset_scores(selected, with_sequence, model, bundle)
            if genomic is not None:
                idx, scores = genomic
                table.rows.append(
                    _row(
                        "biblip (placed on the genome)",
                        "bundle has sequence",
                        y[idx],
                        scores,
                        [genes[i] for i in idx],
                        "DNA + protein + gene + text",
                    )
                )
    else:
        table.notes.append("no variant of a gene with sequence in the bundle: no sequence subset")
    if out_dir is not None:
        write_predictions(Path(out_dir) / PREDICTIONS_TSV, selected, methods)
    n_genes = len(set(genes))
    table.notes.append(
        f"{len(variants)} variants in {n_genes} genes ({int(y.sum())} pathogenic, {int((~y).sum())} benign); "
        f"per-gene AUROC: mean over genes with >= {MIN_PER_CLASS} pathogenic and >= {MIN_PER_CLASS} benign rows"
    )
    return table


def _genomic_subset_scores(
    selected: Sequence[LabeledVariant], with_sequence: np.ndarray, model: Any, bundle: Any
) -> tuple[np.ndarray, np.ndarray] | None:
    """Bio-BLIP on the variants that can be placed on the genome (all four modalities)."""
    from biblip_cli.features.consequence import annotate_allele, protein_variant_to_alleles

    index, annotations = [], []
    for i in np.nonzero(with_sequence)[0]:
        alleles = protein_variant_to_alleles(bundle, selected[i].variant)
        if alleles:
            index.append(i)
            annotations.append(annotate_allele(bundle, alleles[0]))
    if not annotations:
        return None
    return np.array(index), model.pathogenicity_alleles(annotations)
