"""`biblip evaluate`: every zero-shot task beside its baselines, on the same held-out cases.

Tasks (each one table, printed on stderr and written as `<task>.tsv` + `<task>.json` in `--out`):
- patho:    pathogenicity of labelled protein variants of held-out genes (AUROC, AUPRC);
- generate: field accuracy of generated variant descriptions, Bio-BLIP vs the LLM given words;
- rank:     simulated Mendelian cases, top-1/5/10 recall of the causal allele and gene;
- target:   CRISPRi enhancer-gene pairs, AUPRC and top-1 accuracy per element.
Every input is a file in a shared-data format (see cases.py), so a new hold-out file of the same
format is evaluated by pointing the option at it. Model calls go through `ModelMethods` (one
place that knows the engine's API); `--no-model` runs the baselines alone.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from biblip_cli import metrics
from biblip_cli.engine.loading import EngineSpec, load_engine
from biblip_cli.engine.protocol import VariantEngine
from biblip_cli.errors import BiblipError, UsageError
from biblip_cli.evaluation import baselines
from biblip_cli.evaluation.cases import (
    SimulatedCase,
    build_cases,
    read_cases,
    read_gene_disease_counts,
    read_gene_phenotypes,
    read_recessive_genes,
)
from biblip_cli.evaluation.patho import evaluate_pathogenicity, has_protein
from biblip_cli.evaluation.table import TaskTable
from biblip_cli.io.datasets import EnhancerPair, LabeledVariant, read_labels, read_pairs
from biblip_cli.records import Allele, AlleleAnnotation, ProteinVariant

log = logging.getLogger(__name__)

RANK_TOP = 1_000_000  # every candidate in the per-case ranked TSV

TASKS = ("patho", "generate", "rank", "target")
TOP_K = (1, 5, 10)
GENERATE_FIELDS = ("gene", "consequence", "protein_change", "label", "phenotype")
DEFAULT_DATA = {
    "labels": "labels/protein_variants.tsv.gz",
    "pairs": "enhancers/Fulco2019_K562.GRCh38.tsv.gz",
    "abc": "enhancers/ABC_K562_Fulco2019Genes.GRCh38.tsv.gz",
    "background": "variants/common_snps.GRCh38.chr20_chr21_10M.vcf.gz",
    "hpo_genes": "hpo/genes_to_phenotype.txt.gz",
}
MIN_HELD_OUT_CASE_GENES = 5  # fewer held-out genes than this: also simulate cases from every gene


def default_data_dir() -> Path | None:
    """`$BIBLIP_DATA`, else `../shared/data` beside the checkout, else None."""
    env = os.environ.get("BIBLIP_DATA")
    if env:
        return Path(env).expanduser()
    import biblip_cli

    candidate = Path(biblip_cli.__file__).resolve().parent.parent.parent / "shared" / "data"
    return candidate if candidate.is_dir() else None


@dataclass
class EvaluateOptions:
    out: Path
    tasks: tuple[str, ...] = TASKS
    data_dir: Path | None = None
    variants: Path | None = None
    pairs: Path | None = None
    abc: Path | None = None
    cases: Path | None = None
    background: Path | None = None
    hpo_genes: Path | None = None
    split: str = "test"  # test | val | train | all: genes kept for patho/generate/rank
    pairs_split: str = "all"  # the Fulco 2019 genes and loci are excluded from training (examples.py)
    limit: int | None = None  # overrides every per-task limit below
    patho_limit: int | None = 500
    generate_limit: int = 32
    n_cases: int = 20
    n_decoys: int = 10  # random missense SNVs per simulated case (besides the common SNPs)
    rank_shortlist: int = 20  # candidates per case that get `biblip rank`'s LLM pass
    target_limit: int | None = 200  # elements (all with a regulated gene fit in 200 for Fulco); 0/None = all
    seed: int = 13
    bundle_dir: Path | None = None
    model_dir: Path | None = None
    llm_dir: Path | None = None
    text_encoder_dir: Path | None = None
    device: str = "auto"
    no_model: bool = False
    batch_size: int = 32
    command_line: str = ""

    def data_file(self, explicit: Path | None, key: str) -> Path | None:
        if explicit is not None:
            return Path(explicit)
        base = self.data_dir or default_data_dir()
        if base is None:
            return None
        path = Path(base) / DEFAULT_DATA[key]
        return path if path.is_file() else None


# --- gene splits -----------------------------------------------------------------------------------
class GeneSplits:
    """The split of a gene: the checkpoint's own held-out lists first, then the training split rule."""

    def __init__(self, bundle: Any, metadata: dict[str, Any] | None = None) -> None:
        self.bundle = bundle
        self.listed: dict[str, str] = {}
        source = "split rule of training/examples.py"
        splits_meta = (metadata or {}).get("splits") or (metadata or {})
        for split in ("val", "test"):
            for gene in splits_meta.get(f"{split}_genes", []) or []:
                self.listed[gene] = split
        if self.listed:
            source = "checkpoint metadata (val/test gene lists) + split rule"
        self.source = source
        self._cache: dict[str, str] = {}

    def _chrom(self, gene: str) -> str:
        if self.bundle is None:
            return ""
        try:
            tx = self.bundle.transcripts.by_gene(gene)
            if tx is not None:
                return tx.chrom
            know = self.bundle.knowledge.get(gene)
            return getattr(know, "chromosome", "") or ""
        except BiblipError:
            return ""

    def __call__(self, gene: str, chrom: str = "") -> str:
        if gene in self.listed:
            return self.listed[gene]
        key = f"{gene}|{chrom}"
        if key not in self._cache:
            from biblip_cli.training.splits import gene_split

            self._cache[key] = gene_split(gene, chrom or self._chrom(gene))
        return self._cache[key]

    def keep(self, gene: str, split: str, chrom: str = "") -> bool:
        return split == "all" or self(gene, chrom) == split


# --- model access ----------------------------------------------------------------------------------
class AlleleScoreCache:
    """The engine with per-allele memos of the phenotype-independent scores.

    Simulated cases share most of their background alleles, so `biblip rank`'s cheap and LLM
    pathogenicity passes would score the same allele once per case; everything else is passed through.
    """

    def __init__(self, engine: Any) -> None:
        self._engine = engine
        self._memo: dict[str, dict[str, float]] = {"cheap_pathogenicity": {}, "pathogenicity": {}}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def _cached(self, name: str, annotations: Sequence[AlleleAnnotation]) -> np.ndarray:
        memo = self._memo[name]
        missing = [a for a in annotations if a.allele.key not in memo]
        if missing:
            unique = list({a.allele.key: a for a in missing}.values())
            for ann, value in zip(unique, getattr(self._engine, name)(unique), strict=True):
                memo[ann.allele.key] = float(value)
        return np.array([memo[a.allele.key] for a in annotations], dtype=float)

    def cheap_pathogenicity(self, annotations: Sequence[AlleleAnnotation]) -> np.ndarray:
        return self._cached("cheap_pathogenicity", annotations)

    def pathogenicity(self, annotations: Sequence[AlleleAnnotation]) -> np.ndarray:
        return self._cached("pathogenicity", annotations)


class ModelMethods:
    """Bio-BLIP and the frozen-LLM-alone baseline, through the engine (the only engine-aware code here)."""

    def __init__(self, engine: VariantEngine, bundle: Any, batch_size: int = 32) -> None:
        self.engine = engine
        self.bundle = bundle
        self.batch_size = batch_size
        self._rank_engine: AlleleScoreCache | None = None

    def _batched(self, fn: Callable[[list[Any]], Any], items: Sequence[Any]) -> list[Any]:
        out: list[Any] = []
        for start in range(0, len(items), self.batch_size):
            out.extend(list(fn(list(items[start : start + self.batch_size]))))
        return out

    @property
    def metadata(self) -> dict[str, Any]:
        return self.engine.metadata

    def pathogenicity(self, variants: Sequence[ProteinVariant]) -> np.ndarray:
        return np.asarray(self._batched(self.engine.pathogenicity, variants), dtype=float)

    def cheap_pathogenicity(self, variants: Sequence[ProteinVariant]) -> np.ndarray:
        return np.asarray(self._batched(self.engine.cheap_pathogenicity, variants), dtype=float)

    def pathogenicity_alleles(self, annotations: Sequence[AlleleAnnotation]) -> np.ndarray:
        return np.asarray(self._batched(self.engine.pathogenicity, annotations), dtype=float)

    def llm_alone_pathogenicity(self, variants: Sequence[ProteinVariant]) -> np.ndarray | None:
        """The same frozen LLM, no prefix, the variant described in words: log-odds pathogenic vs benign."""
        if not self.engine.has_llm:
            return None
        return np.asarray(self._batched(self.engine.llm_alone_pathogenicity, variants), dtype=float)

    def describe(self, variants: Sequence[ProteinVariant]) -> tuple[list[str], list[str]]:
        """(full `--explain` texts, their generated part alone)."""
        parts = self._batched(self.engine.explain_parts, variants)
        return [f"{f} {g}".strip() for f, g in parts], [g for _, g in parts]

    def llm_alone_describe(self, variants: Sequence[ProteinVariant]) -> list[str] | None:
        """The describe instruction answered by the frozen LLM from the variant in words (no prefix)."""
        if not self.engine.has_llm:
            return None
        return [str(t) for t in self._batched(self.engine.llm_alone_describe, variants)]

    def target_prior(self) -> Any:
        from biblip_cli.engine.target_prior import TargetPrior

        return TargetPrior.from_metadata(self.metadata)

    def regulates(self, annotations: Sequence[AlleleAnnotation], genes: Sequence[str]) -> np.ndarray:
        from biblip_cli.features.elements import score_pairs

        return score_pairs(self.engine, annotations, genes, max(self.batch_size, 512))  # engine re-batches

    def rank_case(
        self,
        case: SimulatedCase,
        annotate: Callable[[Allele], AlleleAnnotation],
        ontology: Any,
        out_dir: Path,
        shortlist: int,
        phenotype_match: bool = False,
    ) -> tuple[float, float]:
        """(allele rank, gene rank) of the causal allele, ranked as `biblip rank` ranks (`ranking.scoring.
        rank_reader`, the same call `commands/rank.run_rank` makes); the ranked TSV is kept in `out_dir`."""
        from biblip_cli.features import genotype as gt
        from biblip_cli.features.phenotype import split_phenotype_option
        from biblip_cli.io.vcf_read import open_vcf
        from biblip_cli.ranking.report import TSV_COLUMNS, atomic_write, ranked_rows, tsv_text
        from biblip_cli.ranking.scoring import rank_reader

        if self._rank_engine is None:
            self._rank_engine = AlleleScoreCache(self.engine)
        out_dir.mkdir(parents=True, exist_ok=True)
        reader = open_vcf(str(case.vcf))
        proband = gt.choose_proband(reader.samples, None, None, reader.name)
        terms = ontology.resolve_terms(split_phenotype_option(list(case.terms)))
        result = rank_reader(
            reader, terms, proband, None, ontology, self._rank_engine, annotate, shortlist, self.batch_size,
            phenotype_match,
        )  # fmt: skip
        atomic_write(
            out_dir / f"{case.case_id}{'.with_match' if phenotype_match else ''}.tsv",
            tsv_text(TSV_COLUMNS, ranked_rows(result, RANK_TOP)),
        )
        return ranks_from_result(result.candidates, case)


def ranks_from_result(candidates: Sequence[Any], case: SimulatedCase) -> tuple[float, float]:
    """Ranks of the causal allele and gene in a ranked candidate list (`.allele`, `.gene`, in rank order)."""
    allele_rank = gene_rank = math.inf
    genes_seen: list[str] = []
    for position, cand in enumerate(candidates, start=1):
        a = cand.allele
        if (a.chrom, a.pos, a.ref, a.alt) == (
            case.causal.chrom,
            case.causal.pos,
            case.causal.ref,
            case.causal.alt,
        ):
            allele_rank = min(allele_rank, float(position))
        gene = getattr(cand, "gene", None)
        if gene and gene not in genes_seen:
            genes_seen.append(gene)
            if gene == case.gene:
                gene_rank = float(len(genes_seen))
    return allele_rank, gene_rank


# --- task: pathogenicity ---------------------------------------------------------------------------
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


# --- task: feature generation ----------------------------------------------------------------------
_CONSEQUENCE_PATTERNS = {
    "missense_variant": r"missense|amino[- ]acid (substitution|change)|substitut",
    "stop_gained": r"stop[- ]gain|nonsense|premature (stop|termination)|truncat",
    "synonymous_variant": r"synonymous|silent",
    "stop_lost": r"stop[- ]lost|stop[- ]loss|read[- ]?through",
    "start_lost": r"start[- ]lost|start[- ]loss|initiat",
    "frameshift_variant": r"frame[- ]?shift",
}
_AA3 = {
    "A": "Ala", "R": "Arg", "N": "Asn", "D": "Asp", "C": "Cys", "Q": "Gln", "E": "Glu", "G": "Gly", "H": "His", "I": "Ile",
    "L": "Leu", "K": "Lys", "M": "Met", "F": "Phe", "P": "Pro", "S": "Ser", "T": "Thr", "W": "Trp", "Y": "Tyr", "V": "Val",
    "*": "Ter",
}  # fmt: skip


def stated_label(text: str) -> str | None:
    """'pathogenic' or 'benign' by the first of the two words the text uses (None if neither)."""
    match = re.search(r"\b(benign|pathogenic|disease[- ]causing|harmless)\b", text, re.IGNORECASE)
    if match is None:
        return None
    word = match.group(1).lower()
    return "benign" if word in ("benign", "harmless") else "pathogenic"


def field_hits(text: str, lv: LabeledVariant, phenotypes: Sequence[str]) -> dict[str, float | None]:
    """Which facts a generated description states correctly (None = not scorable for this variant)."""
    pv = lv.variant
    lower = text.lower()
    gene = bool(re.search(rf"(?<![A-Za-z0-9]){re.escape(pv.gene)}(?![A-Za-z0-9])", text))
    term = baselines.protein_consequence(pv)
    pattern = _CONSEQUENCE_PATTERNS.get(term, re.escape(term.replace("_variant", "").replace("_", " ")))
    consequence = bool(re.search(pattern, lower))
    ref3, alt3 = _AA3.get(pv.ref_aa, pv.ref_aa), _AA3.get(pv.alt_aa, pv.alt_aa)
    forms = {
        pv.hgvsp.lower(),
        f"{ref3}{pv.position}{alt3}".lower(),
        f"{pv.ref_aa}{pv.position}{pv.alt_aa}".lower(),
    }
    protein_change = any(re.search(rf"(?<![a-z0-9]){re.escape(f)}(?![a-z0-9])", lower) for f in forms if f)
    label = stated_label(text) == lv.label
    phenotype: float | None = None
    if phenotypes:
        phenotype = float(any(p.lower() in lower for p in phenotypes if len(p) > 3))
    return {
        "gene": float(gene),
        "consequence": float(consequence),
        "protein_change": float(protein_change),
        "label": float(label),
        "phenotype": phenotype,
    }


def generation_accuracy(
    texts: Sequence[str], selected: Sequence[LabeledVariant], phenotypes_of: Callable[[str], list[str]]
) -> dict[str, float]:
    per_field: dict[str, list[float]] = {f: [] for f in GENERATE_FIELDS}
    for text, lv in zip(texts, selected, strict=True):
        for name, value in field_hits(text, lv, phenotypes_of(lv.variant.gene)).items():
            if value is not None:
                per_field[name].append(value)
    out = {name: (float(np.mean(v)) if v else math.nan) for name, v in per_field.items()}
    present = [v for v in out.values() if not math.isnan(v)]
    out["mean"] = float(np.mean(present)) if present else math.nan
    return out


def evaluate_generation(
    selected: Sequence[LabeledVariant],
    model: ModelMethods | None,
    phenotypes_of: Callable[[str], list[str]],
    out_dir: Path,
) -> TaskTable:
    columns = ["method", "n", *GENERATE_FIELDS, "mean", "n_with_phenotypes"]
    table = TaskTable("generate", "Variant feature generation: field accuracy", columns)
    if model is None:
        table.notes.append("needs the model (--no-model given): no rows")
        return table
    if not selected:
        table.notes.append("no held-out variant to describe")
        return table
    variants = [lv.variant for lv in selected]
    full, generated = model.describe(variants)
    outputs: dict[str, list[str]] = {"biblip": full}
    if generated is not None:
        outputs["biblip generated part alone"] = generated
    alone = model.llm_alone_describe(variants)
    if alone is not None:
        outputs["LLM alone (variant in words)"] = alone
    else:
        table.notes.append("the engine has no llm_alone_describe: LLM-alone row missing")
    n_pheno = sum(1 for lv in selected if phenotypes_of(lv.variant.gene))
    accuracy: dict[str, dict[str, float]] = {}
    for name, texts in outputs.items():
        accuracy[name] = generation_accuracy(texts, selected, phenotypes_of)
        table.rows.append({"method": name, "n": len(texts), **accuracy[name], "n_with_phenotypes": n_pheno})
    with open(out_dir / "generate_texts.tsv", "w", encoding="utf-8") as fh:
        fh.write("gene\thgvsp\tlabel\tmethod\ttext\n")
        for name, texts in outputs.items():
            for lv, text in zip(selected, texts, strict=True):
                clean = " ".join(text.split())
                fh.write(f"{lv.variant.gene}\t{lv.variant.hgvsp}\t{lv.label}\t{name}\t{clean}\n")
    if "LLM alone (variant in words)" in accuracy:
        base = accuracy["LLM alone (variant in words)"]["mean"]
        ours = accuracy["biblip"]["mean"]
        gain = (ours - base) / base if base and not math.isnan(base) else math.nan
        table.extra["relative_gain"] = gain
        table.extra["absolute_gain"] = ours - base
        relative = "undefined (the LLM alone scored 0)" if math.isnan(gain) else f"{gain:+.1%}"
        table.notes.append(
            f"gain of biblip over the LLM alone (mean field accuracy): relative {relative}, absolute {ours - base:+.3f}"
        )
    return table


# --- task: Mendelian ranking -----------------------------------------------------------------------
def read_case_alleles(case: SimulatedCase) -> tuple[list[Allele], list[str]]:
    """ALT alleles of a case VCF and the proband's genotype of each (e.g. '0/1')."""
    from biblip_cli.io.vcf_read import alleles, open_vcf, precheck

    reader = open_vcf(case.vcf)
    out: list[Allele] = []
    genotypes: list[str] = []
    try:
        for number, variant in reader.records():
            gts = variant.genotypes
            gt = gts[0] if gts else [1, 1, False]
            for allele in alleles(variant, number):
                if precheck(allele) is not None:
                    continue
                index = allele.alt_index + 1
                count = sum(1 for a in gt[:-1] if a == index)
                if count == 0:
                    continue
                out.append(allele)
                genotypes.append("1/1" if count >= 2 else "0/1")
    finally:
        reader.close()
    return out, genotypes


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


def evaluate_ranking(
    case_sets: dict[str, list[SimulatedCase]],
    model: ModelMethods | None,
    annotate: Callable[[Allele], AlleleAnnotation],
    ontology: Any,
    seed: int,
    out_dir: Path,
    shortlist: int = 20,
) -> TaskTable:
    """Rank every case with `biblip rank`, the Exomiser-like baseline and random scores."""
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
            alleles, _ = read_case_alleles(case)
            causal = _causal_index(alleles, case.causal)
            if causal is None:
                raise BiblipError("the causal allele is not in the case VCF", where=str(case.vcf))
            annotations = [cached_annotate(a) for a in alleles]
            case_ranks: dict[str, tuple[float, float]] = {}
            if model is not None and "biblip rank" not in failures:
                try:
                    folder = out_dir / "rank_outputs" / set_name.split()[0]
                    case_ranks["biblip rank"] = model.rank_case(
                        case, cached_annotate, ontology, folder, shortlist
                    )
                    case_ranks[WITH_MATCH] = model.rank_case(
                        case, cached_annotate, ontology, folder, shortlist, phenotype_match=True
                    )
                except (BiblipError, ImportError) as err:
                    failures["biblip rank"] = err.one_line() if isinstance(err, BiblipError) else str(err)
            exo, exo_genes = baselines.exomiser_like_scores(
                annotations, case.terms, ontology.phenotype_similarity
            )
            first_gene = [ann.effects[0].gene if ann.effects else None for ann in annotations]
            random_scores = baselines.random_scores(len(alleles), seed * 1000 + case_number)
            for name, scores, genes_of in (
                ("Exomiser-like (HPO sim x deleteriousness)", exo, exo_genes),
                ("random", random_scores, first_gene),
            ):
                case_ranks[name] = (metrics.rank_of(scores, causal), _gene_ranks(genes_of, scores, case.gene))
            for name, (allele_rank, gene_rank) in case_ranks.items():
                ranks.setdefault(name, ([], []))
                ranks[name][0].append(allele_rank)
                ranks[name][1].append(gene_rank)
                per_case_rows.append(
                    {"cases": set_name, "case_id": case.case_id, "gene": case.gene, "gene_split": case.gene_split,
                     "method": name, "allele_rank": allele_rank, "gene_rank": gene_rank, "n_alleles": len(alleles)}
                )  # fmt: skip
        for name, (allele_ranks, gene_ranks) in ranks.items():
            row: dict[str, Any] = {"cases": set_name, "method": name, "n": len(allele_ranks)}
            for k in TOP_K:
                row[f"allele_top{k}"] = metrics.top_k_recall(allele_ranks, k)
            for k in TOP_K:
                row[f"gene_top{k}"] = metrics.top_k_recall(gene_ranks, k)
            row["allele_median_rank"] = float(np.median(allele_ranks)) if allele_ranks else math.nan
            row["note"] = f"LLM pass on the top {shortlist}" if name.startswith("biblip rank") else ""
            table.rows.append(row)
        for name, note in failures.items():
            table.notes.append(f"{set_name}: {name} failed: {note}")
        genes = sorted({c.gene for c in cases})
        splits = sorted({c.gene_split or "?" for c in cases})
        table.notes.append(
            f"{set_name}: {len(cases)} cases, {len(genes)} causal genes ({', '.join(genes)}), "
            f"gene splits: {', '.join(splits)}"
        )
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


# --- task: target genes ----------------------------------------------------------------------------
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


# --- output ----------------------------------------------------------------------------------------
def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "NA" if math.isnan(value) else f"{value:.4f}"
    return str(value)


def write_table(out_dir: Path, table: TaskTable) -> None:
    with open(out_dir / f"{table.task}.tsv", "w", encoding="utf-8") as fh:
        fh.write("\t".join(table.columns) + "\n")
        fh.writelines(
            "\t".join(_cell(row.get(c, "")).replace("\t", " ") for c in table.columns) + "\n"
            for row in table.rows
        )
    payload = _nan_to_none(asdict(table))
    with open(out_dir / f"{table.task}.json", "w", encoding="utf-8") as fh:
        json.dump(payload, fh, indent=1, default=_json_default, allow_nan=False)


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(type(value))


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nan_to_none(v) for v in value]
    return value


def print_table(table: TaskTable) -> None:
    from rich.console import Console
    from rich.table import Table

    rich_table = Table(title=table.title, header_style="bold")
    shown = [c for c in table.columns if c != "note"]
    for column in shown:
        rich_table.add_column(
            column, justify="right" if column not in ("method", "subset", "cases") else "left"
        )
    for row in table.rows:
        rich_table.add_row(*(_cell(row.get(c, "")) for c in shown))
    console = Console(stderr=True)
    if not console.is_terminal:
        console = Console(stderr=True, width=160)
    console.print(rich_table)
    for note in table.notes:
        console.print(f"  [dim]{note}[/dim]", highlight=False)


# --- the run ---------------------------------------------------------------------------------------
def _load_engine(opts: EvaluateOptions, bundle: Any) -> Any:
    spec = EngineSpec(opts.model_dir, opts.llm_dir, opts.text_encoder_dir, opts.device)
    return load_engine(bundle, spec, without_model="run with --no-model for the baselines")


def _phenotypes_lookup(
    opts: EvaluateOptions, bundle: Any
) -> tuple[Callable[[str], list[str]], dict[str, dict[str, str]]]:
    """Gene -> HPO phenotype names: the --hpo-genes / data file (genome-wide) else the bundle's."""
    path = opts.data_file(opts.hpo_genes, "hpo_genes") or (
        bundle.path("hpo_genes") if bundle is not None else None
    )
    gene_terms = read_gene_phenotypes(path) if path is not None else {}

    def names(gene: str) -> list[str]:
        return sorted(gene_terms.get(gene, {}).values())

    return names, gene_terms


def run_evaluate(
    opts: EvaluateOptions,
    *,
    engine: Any = None,
    bundle: Any = None,
    annotate: Callable[[Allele], AlleleAnnotation] | None = None,
    ontology: Any = None,
) -> list[TaskTable]:
    """Run the chosen tasks and write their tables; the injectable parts serve tests."""
    started = time.perf_counter()
    unknown = [t for t in opts.tasks if t not in TASKS]
    if unknown:
        raise UsageError(f"unknown task(s) {', '.join(unknown)}", hint=f"choose from {','.join(TASKS)}")
    choices = ("test", "val", "train", "all")
    if opts.split not in choices or opts.pairs_split not in choices:
        raise UsageError("--split/--pairs-split must be test, val, train or all")
    out_dir = Path(opts.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    if bundle is None:
        from biblip_cli.bundle import Bundle

        bundle = Bundle.open(opts.bundle_dir)
    if engine is None and not opts.no_model:
        engine = _load_engine(opts, bundle)
    model = ModelMethods(engine, bundle, opts.batch_size) if engine is not None else None
    splits = GeneSplits(bundle, model.metadata if model is not None else None)
    if annotate is None:
        from biblip_cli.features.consequence import annotate_allele

        def annotate(allele: Allele) -> AlleleAnnotation:
            return annotate_allele(bundle, allele)

    limit = opts.limit
    tables: list[TaskTable] = []
    labels: list[LabeledVariant] | None = None
    labels_path = opts.data_file(opts.variants, "labels")
    if labels_path is not None and {"patho", "generate", "rank"} & set(opts.tasks):
        labels = read_labels(labels_path)
    phenotypes_of, gene_terms = _phenotypes_lookup(opts, bundle)

    def run_patho() -> TaskTable:
        if labels is None:
            raise UsageError("the patho task needs --variants (a labels TSV) or --data", hint="see DATA.md")
        cap = limit if limit is not None else (opts.patho_limit or None)  # 0 = every row
        selected, stats = select_labels(
            labels, splits, opts.split, cap, opts.seed, always=lambda gene: has_protein(bundle, gene), by_gene=True
        )
        prior_path = opts.data_file(opts.hpo_genes, "hpo_genes") or bundle.path("hpo_genes")
        counts = read_gene_disease_counts(prior_path) if prior_path is not None else None
        table = evaluate_pathogenicity(selected, model, bundle, stats, counts, out_dir)
        table.notes.append(f"genes kept: split '{opts.split}' ({splits.source}); file {labels_path}")
        return table

    def run_generate() -> TaskTable:
        if labels is None:
            raise UsageError("the generate task needs --variants (a labels TSV) or --data")
        cap = limit if limit is not None else opts.generate_limit
        selected, _ = select_labels(labels, splits, opts.split, cap, opts.seed + 1)
        return evaluate_generation(selected, model, phenotypes_of, out_dir)

    def run_rank() -> TaskTable:
        nonlocal ontology
        case_sets, notes = prepare_case_sets(opts, bundle, labels, splits, gene_terms)
        if ontology is None:
            from biblip_cli.features.phenotype import HpoOntology

            ontology = HpoOntology.from_bundle(bundle)
        table = evaluate_ranking(
            case_sets, model, annotate, ontology, opts.seed, out_dir, opts.rank_shortlist
        )
        table.notes[:0] = notes
        return table

    def run_target() -> TaskTable:
        pairs_path = opts.data_file(opts.pairs, "pairs")
        if pairs_path is None:
            raise UsageError("the target task needs --pairs (a CRISPR benchmark TSV) or --data")
        cap = limit if limit is not None else (opts.target_limit or None)
        pairs = select_pairs(read_pairs(pairs_path), splits, opts.pairs_split, cap, opts.seed)
        abc_path = opts.data_file(opts.abc, "abc") if opts.abc is not None or opts.pairs is None else None
        abc = baselines.AbcScores(abc_path) if abc_path is not None else None
        table = evaluate_targets(pairs, model, bundle, abc)
        table.notes.append(
            f"pairs: {pairs_path} (ValidConnection TRUE, split '{opts.pairs_split}'); ABC: {abc_path or 'none'}"
        )
        return table

    runners = {"patho": run_patho, "generate": run_generate, "rank": run_rank, "target": run_target}
    seconds: dict[str, float] = {}
    for task in TASKS:
        if task not in opts.tasks:
            continue
        task_started = time.perf_counter()
        log.info("evaluate: task %s", task)
        table = runners[task]()
        seconds[task] = round(time.perf_counter() - task_started, 1)
        table.extra["seconds"] = seconds[task]
        table.notes.append(f"{seconds[task]:.0f} s")
        write_table(out_dir, table)  # each table lands as soon as its task is done
        print_table(table)
        tables.append(table)
    summary = {
        "command": opts.command_line,
        "seed": opts.seed,
        "tasks": list(opts.tasks),
        "split": opts.split,
        "split_source": splits.source,
        "model": None if model is None else str(opts.model_dir),
        "bundle": str(getattr(bundle, "dir", "")),
        "seconds": round(time.perf_counter() - started, 1),
        "task_seconds": seconds,
        "tables": {t.task: _nan_to_none(t.rows) for t in tables},
        "notes": {t.task: t.notes for t in tables},
    }
    with open(out_dir / "evaluate.json", "w", encoding="utf-8") as fh:
        json.dump(_nan_to_none(summary), fh, indent=1, default=_json_default)
    return tables
