"""The model's methods as the tasks call them: the only engine-aware code of `biblip evaluate`."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from biblip_cli.engine.protocol import VariantEngine
from biblip_cli.evaluation.cases import SimulatedCase
from biblip_cli.records import Allele, AlleleAnnotation, ProteinVariant

RANK_TOP = 1_000_000  # every candidate in the per-case ranked TSV


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
        self.progress: Callable[[int], None] | None = None  # told the items of each batch done (evaluate.py)

    def _batched(self, fn: Callable[[list[Any]], Any], items: Sequence[Any]) -> list[Any]:
        out: list[Any] = []
        for start in range(0, len(items), self.batch_size):
            batch = list(items[start : start + self.batch_size])
            out.extend(list(fn(batch)))
            if self.progress is not None:
                self.progress(len(batch))
        return out

    @property
    def metadata(self) -> dict[str, Any]:
        return self.engine.metadata

    def pathogenicity(self, variants: Sequence[ProteinVariant]) -> np.ndarray:
        return np.asarray(self._batched(self.engine.pathogenicity, variants), dtype=float)

    def cheap_pathogenicity(self, variants: Sequence[ProteinVariant]) -> np.ndarray:
        return np.asarray(self._batched(self.engine.cheap_pathogenicity, variants), dtype=float)

    def reported_pathogenicity(self, variants: Sequence[ProteinVariant]) -> np.ndarray:
        report = getattr(self.engine, "reported_pathogenicity", self.engine.pathogenicity)
        return np.asarray(self._batched(report, variants), dtype=float)

    def reported_score(self) -> str:
        from biblip_cli.engine.engine import reported_score

        return reported_score(self.metadata)

    def pathogenicity_alleles(self, annotations: Sequence[AlleleAnnotation]) -> np.ndarray:
        return np.asarray(self._batched(self.engine.pathogenicity, annotations), dtype=float)

    def llm_alone_pathogenicity(self, variants: Sequence[ProteinVariant]) -> np.ndarray | None:
        """The same frozen LLM, no prefix, the variant described in words: log-odds pathogenic vs benign."""
        if not self.engine.has_llm:
            return None
        return np.asarray(self._batched(self.engine.llm_alone_pathogenicity, variants), dtype=float)

    def explain_parts(self, variants: Sequence[ProteinVariant]) -> list[tuple[str, str]]:
        """(looked-up facts, description generated from the describe prefix alone) per variant."""
        return [(str(f), str(g)) for f, g in self._batched(self.engine.explain_parts, variants)]

    def llm_alone_describe(
        self, variants: Sequence[ProteinVariant], knowledge: bool = False
    ) -> list[str] | None:
        """The describe instruction answered by the frozen LLM from the variant in words (no prefix);
        `knowledge`: and the gene's knowledge text in words. Free text."""
        if not self.engine.has_llm:
            return None
        return [
            str(t) for t in self._batched(lambda b: self.engine.llm_alone_describe(b, knowledge), variants)
        ]

    def llm_alone_fields(
        self, variants: Sequence[ProteinVariant], knowledge: bool = False
    ) -> list[str] | None:
        """The same baselines decoded with biblip's grammar (model/describe.py)."""
        if not self.engine.has_llm:
            return None
        return [
            d.text() for d in self._batched(lambda b: self.engine.llm_alone_fields(b, knowledge), variants)
        ]

    def target_prior(self) -> Any:
        from biblip_cli.engine.target_prior import TargetPrior

        return TargetPrior.from_metadata(self.metadata)

    def target_head(self, with_head: bool = True) -> Any:
        from biblip_cli.engine.target_head import TargetHead

        return (
            TargetHead.from_metadata(self.metadata) if with_head else TargetHead.without_head(self.metadata)
        )

    def regulates_head(
        self, annotations: Sequence[AlleleAnnotation], genes: Sequence[str], activities: Sequence[Any]
    ) -> np.ndarray:
        return self.engine.regulates_head(annotations, genes, activities)

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
        filters: Any = None,
    ) -> tuple[float, float]:
        """(allele rank, gene rank) of the causal allele, ranked as `biblip rank` ranks (`ranking.scoring.
        rank_reader`, the same call `commands/rank.run_rank` makes); the ranked TSV is kept in `out_dir`."""
        from biblip_cli.features import pedigree
        from biblip_cli.features.hpo_terms import split_phenotype_option
        from biblip_cli.io.vcf_read import open_vcf
        from biblip_cli.ranking.report import TSV_COLUMNS, atomic_write, ranked_rows, tsv_text
        from biblip_cli.ranking.scoring import rank_reader

        if self._rank_engine is None:
            self._rank_engine = AlleleScoreCache(self.engine)
        out_dir.mkdir(parents=True, exist_ok=True)
        reader = open_vcf(str(case.vcf))
        proband = pedigree.choose_proband(reader.samples, None, None, reader.name)
        terms = ontology.resolve_terms(split_phenotype_option(list(case.terms)))
        result = rank_reader(
            reader, terms, proband, None, ontology, self._rank_engine, annotate, shortlist, self.batch_size,
            phenotype_match, filters,
        )  # fmt: skip
        suffix = (".with_match" if phenotype_match else "") + (".no_af" if filters is not None else "")
        suffix += ".head_only" if shortlist == 0 else ""
        atomic_write(
            out_dir / f"{case.case_id}{suffix}.tsv",
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
