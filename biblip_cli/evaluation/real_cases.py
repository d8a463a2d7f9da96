"""`biblip evaluate --tasks cases`: published patients (phenopacket-store), their own HPO terms.

Two tables, each with biblip beside its baselines in one run:
- *phenotype-only gene ranking* (the standard phenopacket benchmark): every HPO-annotated gene of the
  bundle is ranked for the patient's terms; biblip's phenotype score (HPO similarity with the excluded-term
  penalty, `ranking/scoring.combine`) beside the Exomiser-like observed-term similarity and random. The
  model scores variants, not genes, so it does not enter this table (said in the notes).
- *variant-level ranking at the protein level*: the patient's causal missense change among a background
  of benign missense polymorphisms (UniProt benign labels) of disease genes with a protein sequence in the
  bundle, **including every benign change of the causal gene itself** (the hard part: the gene is right,
  the variant must be told from the gene's polymorphisms). Each variant's score is the rank formula with
  the model's pathogenicity (biblip), the Q-former head's, or Grantham deleteriousness (Exomiser-like),
  times/plus the patient's phenotype similarity for the variant's gene; inheritance fit is neutral (no
  genotypes). "beats own-gene benign" is the fraction of cases where the causal change outranks all
  benign changes of its gene: the number that says whether the variant-level signal earns its place.
Both are reported by the gene's split in the checkpoint (test = genes the model never saw).
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from biblip_cli.evaluation.table import TaskTable
from biblip_cli.features.priors import grantham_deleteriousness
from biblip_cli.io.case_records import CaseRecord, protein_variant
from biblip_cli.io.datasets import LabeledVariant
from biblip_cli.ranking.scoring import EXCLUDED_LR, PHENO_CENTRE, PHENO_WEIGHT, combine
from biblip_cli.records import ProteinVariant

log = logging.getLogger(__name__)

SPLITS = ("all", "test", "val", "train")
COLUMNS = [
    "method",
    "genes",
    "cases",
    "top1",
    "top3",
    "top10",
    "median_rank",
    "beats_own_gene_benign",
    "s_per_case",
]
PUBLISHED = (
    "published, phenotype-only gene ranking on 5,213 phenopacket-store cases (Reese et al.): "
    "Exomiser top-1 35.5%, best GPT-4 prompt 23.6%; not the same cases or gene universe as this table"
)


class GenePhenotypeIndex:
    """`HpoOntology.phenotype_similarity` for every gene at once: a genes x terms matrix of the genes'
    annotation closures, so one case is scored over ~5,000 genes in milliseconds (same numbers)."""

    def __init__(self, ontology, genes: Sequence[str] | None = None) -> None:
        self.ontology = ontology
        names = sorted(genes if genes is not None else ontology.annotated_genes())
        closures = {g: ontology.gene_closure(g) for g in names}
        self.genes = [g for g in names if closures[g]]
        self.row = {g: i for i, g in enumerate(self.genes)}
        columns = sorted(set().union(*(closures[g] for g in self.genes))) if self.genes else []
        self.col = {t: j for j, t in enumerate(columns)}
        self.matrix = np.zeros((len(self.genes), len(columns)), dtype=bool)
        for i, g in enumerate(self.genes):
            self.matrix[i, [self.col[t] for t in closures[g]]] = True

    def similarity(self, terms: Sequence[str]) -> np.ndarray:
        got = np.zeros(len(self.genes))
        own = 0.0
        for index in self.ontology.term_indices(terms):
            if index not in self.ontology.ontology:
                continue
            shared = [(self.col[a], self.ontology.information_content(a)) for a in self.ontology.ancestors(index)
                      if a in self.col]  # fmt: skip
            own += self.ontology.information_content(index)
            if shared:
                cols, ics = zip(*shared, strict=True)
                got += (self.matrix[:, list(cols)] * np.asarray(ics)).max(axis=1)
        return got / own if own > 0 else got

    def annotated(self, terms: Sequence[str]) -> np.ndarray:
        """How many of `terms` each gene is annotated with (itself or a descendant): excluded-term hits."""
        count = np.zeros(len(self.genes))
        for index in self.ontology.term_indices(terms):
            if index in self.col:
                count += self.matrix[:, self.col[index]]
        return count


def _rank_of(scores: np.ndarray, target: int) -> float:
    """1-based rank of `target`, ties counted half (a tie with many genes is not a top-1 hit)."""
    higher = float(np.sum(scores > scores[target]))
    ties = float(np.sum(scores == scores[target])) - 1.0
    return 1.0 + higher + ties / 2.0


@dataclass
class _Hits:
    ranks: list[float]
    beats: list[bool]
    seconds: float = 0.0

    def row(self, method: str, genes: str, n_cases: int) -> dict[str, object]:
        r = np.asarray(self.ranks, dtype=float)
        top = lambda k: float(np.mean(r <= k)) if r.size else math.nan
        return {
            "method": method, "genes": genes, "cases": int(r.size), "top1": top(1), "top3": top(3),
            "top10": top(10), "median_rank": float(np.median(r)) if r.size else math.nan,
            "beats_own_gene_benign": float(np.mean(self.beats)) if self.beats else math.nan,
            "s_per_case": self.seconds / max(n_cases, 1),
        }  # fmt: skip


def _split_rows(hits: dict[str, dict[str, _Hits]], split_of_case: dict[str, str], table: TaskTable) -> None:
    for split in SPLITS:
        for method, by_case in hits.items():
            keep = [cid for cid in by_case if split == "all" or split_of_case.get(cid) == split]
            if not keep:
                continue
            merged = _Hits([by_case[c].ranks[0] for c in keep], [b for c in keep for b in by_case[c].beats],
                           sum(by_case[c].seconds for c in keep))  # fmt: skip
            table.rows.append(merged.row(method, split, len(keep)))


def evaluate_gene_ranking(
    cases: Sequence[CaseRecord], ontology, split_of: Callable[[str], str], limit: int = 0
) -> TaskTable:
    """Phenotype-only: the causal gene's rank among all HPO-annotated genes of the bundle."""
    index = GenePhenotypeIndex(ontology)
    table = TaskTable(
        "cases_genes", "Real cases: phenotype-only gene ranking (phenopacket-store)", list(COLUMNS)
    )
    usable = [c for c in cases if c.gene in index.row and c.observed]
    if limit:
        usable = random.Random(7).sample(usable, min(limit, len(usable)))
    sim_name = "HPO similarity (biblip's default = Exomiser-like)"
    lrs = {f"+ excluded terms, LR {lr:g} (--excluded-lr {lr:g})": lr for lr in (0.25, 0.9)}
    hits: dict[str, dict[str, _Hits]] = {name: {} for name in [sim_name, *lrs, "random"]}
    n = len(index.genes)
    for case in usable:
        start = time.perf_counter()
        sim = index.similarity(case.observed)
        target = index.row[case.gene]
        excluded = index.annotated(case.excluded)
        took = time.perf_counter() - start
        hits[sim_name][case.case_id] = _Hits([_rank_of(sim, target)], [], took)
        for name, lr in lrs.items():
            score = PHENO_WEIGHT * (sim - PHENO_CENTRE) + excluded * math.log(lr)
            hits[name][case.case_id] = _Hits([_rank_of(score, target)], [], took)
        hits["random"][case.case_id] = _Hits([(n + 1) / 2.0], [], 0.0)
    split_of_case = {c.case_id: split_of(c.gene) for c in usable}
    _split_rows(hits, split_of_case, table)
    for row in table.rows:  # random's top-k is k/n, not the median case's
        if row["method"] == "random":
            row.update(top1=1 / n, top3=3 / n, top10=10 / n)
    table.notes += [
        (
            f"{len(usable):,} of {len(cases):,} cases (causal gene HPO-annotated, >= 1 observed term), "
            f"{sum(1 for c in usable if c.excluded):,} with excluded terms; universe: {n:,} HPO-annotated "
            "genes of the bundle; ties count half a rank"
        ),
        (
            "the model scores variants, not genes: phenotype-only, biblip's score is the HPO similarity "
            "(excluded terms are named in the evidence but not scored by default: the LR rows show why)"
        ),
        PUBLISHED,
    ]
    table.extra["excluded_terms_cases"] = sum(1 for c in usable if c.excluded)
    return table


@dataclass
class ProteinCase:
    case: CaseRecord
    causal: ProteinVariant


def protein_cases(
    cases: Sequence[CaseRecord], proteins: dict[str, str]
) -> tuple[list[ProteinCase], dict[str, int]]:
    """Cases whose first causal missense change is in a gene with a protein sequence and matches it."""
    stats = {"cases": len(cases), "missense": 0, "with_protein": 0, "residue_mismatch": 0}
    out: list[ProteinCase] = []
    for case in cases:
        pv = next((p for p in (protein_variant(v) for v in case.variants) if p is not None), None)
        if pv is None:
            continue
        stats["missense"] += 1
        seq = proteins.get(pv.gene)
        if not seq:
            continue
        stats["with_protein"] += 1
        if pv.position > len(seq) or seq[pv.position - 1] != pv.ref_aa:
            stats["residue_mismatch"] += 1  # another isoform's numbering
            continue
        out.append(ProteinCase(case, pv))
    return out, stats


def _method_scores(
    name: str,
    probs: dict[str, np.ndarray],
    timing: dict[str, float],
    delet: np.ndarray,
    rows: np.ndarray,
    sim: np.ndarray,
    excl: np.ndarray,
) -> tuple[np.ndarray, float]:
    """One method's scores of a case's variants and its per-case scoring time (0 for the baselines)."""
    if name in probs:
        p = np.nan_to_num(probs[name][rows], nan=0.5)
        score = np.array(
            [combine(float(a), float(s), 1.0, excluded=int(e)) for a, s, e in zip(p, sim, excl, strict=True)]
        )
        extra = timing[name]
    elif name.startswith("Exomiser"):
        score, extra = delet[rows] * sim * EXCLUDED_LR**excl, 0.0
    else:
        score, extra = sim * EXCLUDED_LR**excl, 0.0
    return score, extra


def evaluate_protein_cases(
    cases: Sequence[ProteinCase],
    labels: Sequence[LabeledVariant],
    ontology,
    scorers: dict[str, Callable[[list[ProteinVariant]], np.ndarray]],
    split_of: Callable[[str], str],
    n_background: int = 300,
    seed: int = 13,
) -> TaskTable:
    """The causal change among benign polymorphisms (module docstring); `scorers` name -> pathogenicity."""
    table = TaskTable(
        "cases_variants", "Real cases: causal missense among benign polymorphisms", list(COLUMNS)
    )
    benign_by_gene: dict[str, list[ProteinVariant]] = {}
    for lv in labels:
        if lv.label == "benign" and ontology.has_gene(lv.variant.gene):
            benign_by_gene.setdefault(lv.variant.gene, []).append(lv.variant)
    pool_all = sorted({(v.gene, v.hgvsp): v for vs in benign_by_gene.values() for v in vs}.values(),
                      key=lambda v: (v.gene, v.position, v.alt_aa))  # fmt: skip
    pool = random.Random(seed).sample(pool_all, min(n_background, len(pool_all)))
    index = GenePhenotypeIndex(ontology, sorted({v.gene for v in pool_all} | {c.causal.gene for c in cases}))
    every = {(v.gene, v.hgvsp): v for v in pool + [c.causal for c in cases]}
    for c in cases:
        every.update({(v.gene, v.hgvsp): v for v in benign_by_gene.get(c.causal.gene, [])})
    variants = list(every.values())
    position = {(v.gene, v.hgvsp): i for i, v in enumerate(variants)}
    probs: dict[str, np.ndarray] = {}
    timing: dict[str, float] = {}
    for name, fn in scorers.items():
        start = time.perf_counter()
        probs[name] = np.asarray(fn(variants), dtype=float)
        timing[name] = (time.perf_counter() - start) / max(len(cases), 1)
    grantham = np.array([grantham_deleteriousness(v.ref_aa, v.alt_aa) for v in variants])
    delet = 0.5 + 0.45 * np.minimum(np.nan_to_num(grantham, nan=100.0), 215.0) / 215.0  # as `rank --no-model`
    methods = [*scorers, "Exomiser-like (similarity x Grantham)", "phenotype only (variant-blind)"]
    hits: dict[str, dict[str, _Hits]] = {m: {} for m in methods}
    for pc in cases:
        own = [v for v in benign_by_gene.get(pc.causal.gene, []) if v.hgvsp != pc.causal.hgvsp]
        members = (
            [pc.causal] + own + [v for v in pool if v.gene != pc.causal.gene or v.hgvsp != pc.causal.hgvsp]
        )
        members = list({(v.gene, v.hgvsp): v for v in members}.values())
        rows = np.array([position[(v.gene, v.hgvsp)] for v in members])
        start = time.perf_counter()
        gene_sim = index.similarity(pc.case.observed)
        gene_excl = index.annotated(pc.case.excluded)
        sim = np.array([gene_sim[index.row[v.gene]] if v.gene in index.row else 0.0 for v in members])
        excl = np.array([gene_excl[index.row[v.gene]] if v.gene in index.row else 0.0 for v in members])
        took = time.perf_counter() - start
        n_own = len({v.hgvsp for v in own})
        for name in methods:
            score, extra = _method_scores(name, probs, timing, delet, rows, sim, excl)
            beats = [bool(np.all(score[0] > score[1 : 1 + n_own]))] if n_own else []
            hits[name][pc.case.case_id] = _Hits([_rank_of(score, 0)], beats, took + extra)
    _split_rows(hits, {pc.case.case_id: split_of(pc.causal.gene) for pc in cases}, table)
    n_benign = sum(len(v) for v in benign_by_gene.values())
    table.notes += [
        (
            f"{len(cases):,} cases; background: {len(pool)} benign missense changes of "
            f"{len({v.gene for v in pool})} disease genes + every benign change of the causal gene "
            f"({n_benign:,} benign changes in HPO genes in all)"
        ),
        "score: the rank formula (ranking/scoring.combine) with inheritance fit 1 (no genotypes); ties count half",
        (
            "beats_own_gene_benign: share of cases (with >= 1 benign change in the causal gene) where the "
            "causal change outranks all of them"
        ),
    ]
    return table
