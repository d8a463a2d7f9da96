"""The rank task: simulated Mendelian cases ranked by `biblip rank`, the Exomiser-like baseline and chance."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from biblip_cli import metrics
from biblip_cli.errors import BiblipError
from biblip_cli.evaluation import baselines
from biblip_cli.evaluation.cases import SimulatedCase, build_cases, read_cases, read_recessive_genes
from biblip_cli.evaluation.gene_splits import GeneSplits
from biblip_cli.evaluation.methods import ModelMethods
from biblip_cli.evaluation.options import EvaluateOptions
from biblip_cli.evaluation.patho import has_protein
from biblip_cli.evaluation.table import TaskTable
from biblip_cli.io.datasets import LabeledVariant
from biblip_cli.ranking.filters import FilterSettings
from biblip_cli.records import Allele, AlleleAnnotation, ProteinVariant

TOP_K = (1, 5, 10)
NO_AF = "biblip rank, AF not used (ablation)"
HEAD_ONLY = "biblip rank, Q-former head only (no LLM pass)"
EXO_AF = "Exomiser-like + AF filter and frequency score"
MIN_HELD_OUT_CASE_GENES = 5  # fewer held-out genes than this: also simulate cases from every gene


def read_case_alleles(case: SimulatedCase) -> tuple[list[Allele], list[str], list[float | None]]:
    """ALT alleles of a case VCF, the proband's genotype of each (e.g. '0/1') and its simulated AF."""
    from biblip_cli.evaluation.case_vcfs import AF_FIELD
    from biblip_cli.io.vcf_read import alleles, open_vcf, precheck

    reader = open_vcf(case.vcf)
    out: list[Allele] = []
    genotypes: list[str] = []
    afs: list[float | None] = []
    try:
        for number, variant in reader.records():
            gts = variant.genotypes
            gt = gts[0] if gts else [1, 1, False]
            value = variant.INFO.get(AF_FIELD)
            for allele in alleles(variant, number):
                if precheck(allele) is not None:
                    continue
                index = allele.alt_index + 1
                count = sum(1 for a in gt[:-1] if a == index)
                if count == 0:
                    continue
                out.append(allele)
                genotypes.append("1/1" if count >= 2 else "0/1")
                one = value[allele.alt_index] if isinstance(value, tuple) else value
                afs.append(float(one) if one is not None else None)
    finally:
        reader.close()
    return out, genotypes, afs


def _frequency_weights(afs: Sequence[float | None]) -> np.ndarray:
    """The AF part of `biblip rank`, for the baseline: 0 above the recessive threshold (the looser one:
    the baseline knows no modes), else Exomiser's frequency score (ranking/filters.frequency_factor)."""
    from biblip_cli.ranking.filters import RECESSIVE_MAX_AF, frequency_factor

    return np.array([0.0 if af is not None and af > RECESSIVE_MAX_AF else frequency_factor(af) for af in afs])


def _gene_ranks(genes_of: Sequence[str | None], scores: np.ndarray, gene: str) -> float:
    """Rank of `gene` when each gene scores its best allele (an allele counts for one gene)."""
    best: dict[str, float] = {}
    for allele_gene, score in zip(genes_of, scores, strict=True):
        if allele_gene is not None:
            best[allele_gene] = max(best.get(allele_gene, -math.inf), float(score))
    if gene not in best:
        return math.inf
    genes = list(best)
    return metrics.rank_of(np.array([best[g] for g in genes]), genes.index(gene))


def _causal_index(alleles: Sequence[Allele], causal: Allele) -> int | None:
    for i, a in enumerate(alleles):
        if a.chrom == causal.chrom and a.pos == causal.pos and a.ref == causal.ref and a.alt == causal.alt:
            return i
    return None


WITH_MATCH = "biblip rank + LLM phenotype match (ablation)"


def _add_model_ranks(
    case_ranks: dict[str, tuple[float, float]],
    model: ModelMethods,
    case: SimulatedCase,
    annotate: Callable[[Allele], AlleleAnnotation],
    ontology: Any,
    folder: Path,
    shortlist: int,
    afs: Sequence[float | None],
) -> None:
    """`biblip rank` and its ablations on one case, into `case_ranks` (filled as far as it got on an error)."""
    case_ranks["biblip rank"] = model.rank_case(case, annotate, ontology, folder, shortlist)
    case_ranks[WITH_MATCH] = model.rank_case(
        case, annotate, ontology, folder, shortlist, phenotype_match=True
    )
    case_ranks[HEAD_ONLY] = model.rank_case(case, annotate, ontology, folder, 0)
    if any(af is not None for af in afs):
        case_ranks[NO_AF] = model.rank_case(
            case,
            annotate,
            ontology,
            folder,
            shortlist,
            filters=FilterSettings(frequency=False),
        )


def _add_baseline_ranks(
    case_ranks: dict[str, tuple[float, float]],
    case: SimulatedCase,
    annotations: Sequence[AlleleAnnotation],
    afs: Sequence[float | None],
    causal: int,
    ontology: Any,
    random_seed: int,
) -> None:
    """The Exomiser-like baseline (with AF when the case has AFs) and chance on one case, into `case_ranks`."""
    exo, exo_genes = baselines.exomiser_like_scores(annotations, case.terms, ontology.phenotype_similarity)
    first_gene = [ann.effects[0].gene if ann.effects else None for ann in annotations]
    random_scores = baselines.random_scores(len(annotations), random_seed)
    methods = [("Exomiser-like (HPO sim x deleteriousness)", exo, exo_genes)]
    if any(af is not None for af in afs):
        methods.append((EXO_AF, exo * _frequency_weights(afs), exo_genes))
    methods.append(("random", random_scores, first_gene))
    for name, scores, genes_of in methods:
        case_ranks[name] = (metrics.rank_of(scores, causal), _gene_ranks(genes_of, scores, case.gene))


def _add_set_summary(
    table: TaskTable,
    set_name: str,
    cases: Sequence[SimulatedCase],
    ranks: dict[str, tuple[list[float], list[float]]],
    failures: dict[str, str],
    shortlist: int,
) -> None:
    """One table row per method of a case set (top-k recalls, median rank), and the set's notes."""
    for name, (allele_ranks, gene_ranks) in ranks.items():
        row: dict[str, Any] = {"cases": set_name, "method": name, "n": len(allele_ranks)}
        for k in TOP_K:
            row[f"allele_top{k}"] = metrics.top_k_recall(allele_ranks, k)
        for k in TOP_K:
            row[f"gene_top{k}"] = metrics.top_k_recall(gene_ranks, k)
        row["allele_median_rank"] = float(np.median(allele_ranks)) if allele_ranks else math.nan
        row["note"] = (
            f"LLM pass on the top {shortlist}" if name.startswith("biblip rank") and name != HEAD_ONLY else ""
        )
        table.rows.append(row)
    for name, note in failures.items():
        table.notes.append(f"{set_name}: {name} failed: {note}")
    genes = sorted({c.gene for c in cases})
    splits = sorted({c.gene_split or "?" for c in cases})
    table.notes.append(
        f"{set_name}: {len(cases)} cases, {len(genes)} causal genes ({', '.join(genes)}), "
        f"gene splits: {', '.join(splits)}"
    )


def evaluate_ranking(
    case_sets: dict[str, list[SimulatedCase]],
    model: ModelMethods | None,
    annotate: Callable[[Allele], AlleleAnnotation],
    ontology: Any,
    seed: int,
    out_dir: Path,
    shortlist: int = 20,
    progress: Callable[[int], None] | None = None,
) -> TaskTable:
    """Rank every case with `biblip rank`, the Exomiser-like baseline and random scores; `progress(1)`
    after each case."""
    columns = ["cases", "method", "n", *(f"allele_top{k}" for k in TOP_K), *(f"gene_top{k}" for k in TOP_K)]
    columns += ["allele_median_rank", "note"]
    table = TaskTable("rank", "Mendelian prioritisation on simulated cases", columns)
    cache: dict[str, AlleleAnnotation] = {}

    def cached_annotate(allele: Allele) -> AlleleAnnotation:
        key = allele.key
        if key not in cache:
            cache[key] = annotate(allele)
        return cache[key]

    per_case_rows: list[dict[str, Any]] = []
    for set_name, cases in case_sets.items():
        ranks: dict[str, tuple[list[float], list[float]]] = {}
        failures: dict[str, str] = {}
        for case_number, case in enumerate(cases):
            alleles, _, afs = read_case_alleles(case)
            causal = _causal_index(alleles, case.causal)
            if causal is None:
                raise BiblipError("the causal allele is not in the case VCF", where=str(case.vcf))
            annotations = [cached_annotate(a) for a in alleles]
            case_ranks: dict[str, tuple[float, float]] = {}
            if model is not None and "biblip rank" not in failures:
                try:
                    folder = out_dir / "rank_outputs" / set_name.split()[0]
                    _add_model_ranks(
                        case_ranks, model, case, cached_annotate, ontology, folder, shortlist, afs
                    )
                except (BiblipError, ImportError) as err:
                    failures["biblip rank"] = err.one_line() if isinstance(err, BiblipError) else str(err)
            _add_baseline_ranks(
                case_ranks, case, annotations, afs, causal, ontology, seed * 1000 + case_number
            )
            for name, (allele_rank, gene_rank) in case_ranks.items():
                ranks.setdefault(name, ([], []))
                ranks[name][0].append(allele_rank)
                ranks[name][1].append(gene_rank)
                per_case_rows.append(
                    {"cases": set_name, "case_id": case.case_id, "gene": case.gene, "gene_split": case.gene_split,
                     "method": name, "allele_rank": allele_rank, "gene_rank": gene_rank, "n_alleles": len(alleles)}
                )  # fmt: skip
            if progress is not None:
                progress(1)
        _add_set_summary(table, set_name, cases, ranks, failures, shortlist)
    table.extra["per_case"] = per_case_rows
    return table


def prepare_case_sets(
    opts: EvaluateOptions,
    bundle: Any,
    labels: Sequence[LabeledVariant] | None,
    splits: GeneSplits,
    gene_terms: dict[str, dict[str, str]],
) -> tuple[dict[str, list[SimulatedCase]], list[str]]:
    """`--cases` as given, else simulate held-out-gene cases (and all-gene cases when those are few)."""
    notes: list[str] = []
    if opts.cases is not None:
        cases = read_cases(opts.cases)
        sets: dict[str, list[SimulatedCase]] = {}
        for c in cases:
            split = splits(c.gene)  # the evaluated model's split, not the one recorded when simulating
            c.gene_split = split
            sets.setdefault(
                "held-out genes" if split in ("test", "val") else "genes seen in training", []
            ).append(c)
        return sets, notes
    background = opts.data_file(opts.background, "background")
    if labels is None or background is None:
        notes.append(
            "no labels file or background VCF: no simulated cases (give --cases, --variants, --background)"
        )
        return {}, notes
    from biblip_cli.features.consequence import protein_variant_to_alleles

    def alleles_of(pv: ProteinVariant) -> list[Allele]:
        if not has_protein(bundle, pv.gene):
            return []
        return protein_variant_to_alleles(bundle, pv)

    n = opts.limit if opts.limit is not None else opts.n_cases
    try:
        proteins = dict(bundle.proteins)
    except (BiblipError, AttributeError):
        proteins = {}
    held_out_splits = {"test": ("test",), "val": ("val", "test")}.get(opts.split)
    out_root = Path(opts.out) / "cases"

    links = opts.data_file(opts.hpo_genes, "hpo_genes") or bundle.path("hpo_genes")
    recessive = read_recessive_genes(links) if links is not None else set()

    def simulate(folder: str, keep: Sequence[str]) -> list[SimulatedCase]:
        return build_cases(
            labels, alleles_of, gene_terms, background, out_root / folder, n, opts.seed, splits, keep,
            proteins=proteins, n_decoys=opts.n_decoys, recessive_genes=recessive,
        )  # fmt: skip

    sets: dict[str, list[SimulatedCase]] = {}
    everything = ("train", "val", "test")
    if held_out_splits is not None:
        held = simulate("held_out", held_out_splits)
        n_genes = len({c.gene for c in held})
        if held:
            sets["held-out genes"] = held
        if n_genes < MIN_HELD_OUT_CASE_GENES:
            notes.append(
                f"only {n_genes} held-out gene(s) with a placeable pathogenic variant and >= 3 HPO terms in the "
                "bundle region: cases from all genes (most seen in training) are reported as well"
            )
            sets["all genes (incl. training genes)"] = simulate("all_genes", everything)
    else:
        sets["all genes (incl. training genes)"] = simulate("all_genes", everything)
    sets = {name: cases for name, cases in sets.items() if cases}
    for name, cases in sets.items():
        notes.append(
            f"{name}: cases written to {cases[0].vcf.parent} (rerun with --cases {cases[0].vcf.parent})"
        )
    return sets, notes
