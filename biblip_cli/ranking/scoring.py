"""How `biblip rank` scores candidates: gene choice, inheritance fit, the first (cheap) and LLM passes.

Scores. Every term is a log-odds (naive-Bayes style: independent pieces of evidence add as
log-likelihood ratios, and the sum stays interpretable as "how much more likely causal"):
    final = sigmoid( PATHO_WEIGHT*logit(p_path) + phenotype_match + PHENO_WEIGHT*(sim - PHENO_CENTRE) + log(moi)
                     + log(frequency_factor) )
p_path is the model's calibrated pathogenicity where the checkpoint answers (missense alleles for the
shipped one, `Engine.in_domain`) and the consequence prior `allele_deleteriousness` elsewhere (as
Exomiser scores non-missense alleles by their effect class), phenotype_match the LLM's log-odds that the variant
explains the patient's phenotypes, sim the HPO semantic similarity of the gene (0..1; PHENO_CENTRE is
about what unrelated genes reach through shared high-level terms) and moi in (0, 1] a penalty for a
genotype that does not fit the gene's mode of inheritance. PATHO_WEIGHT (0.5) scales the pathogenicity
term against the phenotype term: at 1, on published cases of val-split genes, a benign change of a
phenotype-similar disease gene outranked the causal change too often (causal at rank 1: 0.31 at weight 1,
0.34 at 0.5 for the shipped checkpoint, 0.36 -> 0.38 for the one before; test-split genes 0.54 -> 0.59; the
simulated held-out cases 0.95 -> 1.00; docs/evaluation.md, 2026-12-02). The first pass uses the Q-former head's
pathogenicity and no phenotype_match; `--no-model` uses the Exomiser-like product
deleteriousness x similarity x moi (the evaluation baseline), so the two modes are not on one scale.

Excluded terms (a phenopacket's `excluded: true` features, as LIRICAL uses negated findings): each
excluded term that the gene's HPO annotations include (the term itself or a descendant) adds
log(excluded_lr) to the log-odds (`--no-model`: multiplies the product by excluded_lr). The default
excluded_lr is 1 (no penalty; the terms are still named in the evidence): on 7,290 published
phenopacket-store cases with excluded terms, any penalty lowered the causal gene's top-1 rank
(phenotype-only, all genes; LR 0.25: 34% -> 1.4% on training-split genes, 45% -> 2.2% held out; 0.9: 20%/26%),
because curators record as excluded the features of the very disease the patient has but lacks
(docs/evaluation.md, "Real cases"). `biblip rank --excluded-lr 0.25` turns the LIRICAL-like penalty on.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from biblip_cli.features import family, pedigree
from biblip_cli.features.priors import allele_deleteriousness
from biblip_cli.ranking import filters as flt
from biblip_cli.ranking.candidates import Candidate, RankResult, StageCallback, collect_candidates
from biblip_cli.records import AlleleAnnotation

log = logging.getLogger(__name__)

PATHO_WEIGHT = 0.5  # on logit(p_path), chosen on val-split real cases (module docstring)
PHENO_WEIGHT = 6.0
PHENO_CENTRE = 0.4
QUALIFYING_DELETERIOUSNESS = 0.5  # missense and worse count as a hit for compound hets
PRIOR_FLOOR = 0.01  # consequence prior kept off 0/1 so its logit stays finite
MOI_PENALTY = 0.25  # single het in a recessive-only gene, or a variant that does not segregate
EXCLUDED_LR = (
    1.0  # default likelihood ratio per excluded patient term annotated to the gene (docstring: 1 = off)
)


def _logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def combine(
    p_path: float,
    similarity: float,
    moi: float,
    phenotype_match: float = 0.0,
    excluded: int = 0,
    frequency: float = 1.0,
    excluded_lr: float = EXCLUDED_LR,
) -> float:
    """The documented log-odds combination (module docstring); `excluded` = how many excluded patient
    terms the gene is annotated with (each adds log(excluded_lr)); `frequency` = filters.frequency_factor
    of the allele's population AF (1 = novel or no AF field)."""
    return _sigmoid(
        PATHO_WEIGHT * _logit(p_path)
        + phenotype_match
        + PHENO_WEIGHT * (similarity - PHENO_CENTRE)
        + math.log(max(moi, 1e-3))
        + excluded * math.log(excluded_lr)
        + math.log(max(frequency, flt.FREQUENCY_FLOOR))
    )


def log_odds_terms(c: Candidate, model: bool) -> list[tuple[str, float]]:
    """The score of a ranked candidate split into the terms it adds up (the report's evidence bar).
    With the model: what `combine` sums, so the terms add to logit(score); with `--no-model`: the log of
    each factor of the product (floored at 1e-3), so they add to log(score)."""
    floor = 1e-3
    excluded = [("excluded phenotypes", len(c.excluded) * math.log(EXCLUDED_LR))] if c.excluded else []
    if not model:
        return [
            ("deleteriousness", math.log(max(c.deleteriousness, floor))),
            ("HPO similarity", math.log(max(c.similarity, floor))),
            ("inheritance fit", math.log(max(c.moi, floor))),
            *excluded,
        ]
    source = "consequence prior" if math.isnan(c.pathogenicity) else "model pathogenicity"
    terms = [(source, PATHO_WEIGHT * _logit(_evidence_p(c)))]
    if c.passes == 2 and not math.isnan(c.phenotype_match):
        terms.append(("LLM phenotype match", c.phenotype_match))
    terms.append(("HPO similarity", PHENO_WEIGHT * (c.similarity - PHENO_CENTRE)))
    terms.append(("inheritance fit", math.log(max(c.moi, floor))))
    return terms + excluded


def moi_factor(cand: Candidate, proband_sex: int) -> float:
    """1 when the genotype fits a mode of inheritance of the gene (or none is known), else a penalty."""
    if cand.family == "does_not_segregate":
        return MOI_PENALTY
    modes = cand.modes
    if not modes or cand.call.zygosity == pedigree.UNKNOWN:
        return 1.0
    zyg = cand.zygosity
    if zyg in ("hom", "compound_het", "possible_compound_het"):
        return 1.0  # fits recessive; dominant genes with a biallelic hit are also plausible
    if zyg == "hemi":
        return 1.0
    # single het
    dominant = modes & {"AD", "XLD", "MT", "Y"}
    if dominant or cand.family == "de_novo":
        return 1.0
    if modes & {"XL", "XLR"} and proband_sex == 2:
        return 0.5  # heterozygous females can be affected (skewed X inactivation)
    if "XL" in modes:
        return 1.0
    return MOI_PENALTY


def rank_reader(
    reader: Any,
    terms: Any,
    proband: str | None,
    ped: pedigree.Pedigree | None,
    ontology: Any,
    engine: Any,
    annotate: Any,
    shortlist: int,
    batch_size: int,
    phenotype_match: bool = False,
    filters: flt.FilterSettings | None = None,
    excluded_lr: float = EXCLUDED_LR,
    progress: StageCallback | None = None,
) -> RankResult:
    """Collect the proband's candidates from an open VCF and rank them (`biblip rank` and evaluation).
    `filters`: the FILTER/GQ/DP/AF settings, default `FilterSettings()` (as `biblip rank` without
    options); `FilterSettings.off()` ranks every carried allele. `progress`: records read, then
    candidates scored (ranking/candidates.StageCallback)."""
    result = RankResult(
        candidates=[], terms=terms, proband=proband, model="none" if engine is None else "biblip",
        filter_settings=filters or flt.FilterSettings(), excluded_lr=excluded_lr,
    )  # fmt: skip
    collect_candidates(reader, proband, ped, annotate, result, progress=progress)
    reader.close()
    score_candidates(result, ontology, engine, ped, proband, shortlist, batch_size, phenotype_match, progress)
    return result


def score_candidates(
    result: RankResult,
    ontology: Any,
    engine: Any,
    ped: pedigree.Pedigree | None,
    proband: str | None,
    shortlist: int,
    batch_size: int,
    phenotype_match: bool = False,
    progress: StageCallback | None = None,
) -> None:
    """Score and rank `result.candidates` in place (first pass over all, LLM pass over the top `shortlist`).
    `phenotype_match=True` adds the LLM's phenotype log-odds `m` (off by default: on the simulated cases of
    docs/evaluation.md it lowered allele top-1 from 1.00 to 0.60 held-out and 0.80 to 0.75 on all genes)."""
    terms = result.terms
    ids = terms.ids
    cands = result.candidates
    excluded_terms = getattr(terms, "excluded", None) or []
    _choose_genes(cands, result, ontology, ids, excluded_terms)
    cands = result.candidates = _frequency_filter(cands, result)
    _apply_family(cands, ped, proband)

    if engine is None:
        for c in cands:
            c.pathogenicity = float("nan")
            c.score = c.first_score = (
                c.deleteriousness
                * c.similarity
                * c.moi
                * result.excluded_lr ** len(c.excluded)
                * c.frequency_factor
            )
    else:
        _model_passes(cands, result, engine, shortlist, batch_size, phenotype_match, progress)
    cands.sort(key=lambda c: (-c.passes, -c.score, c.allele.chrom, c.allele.pos, c.allele.alt))
    by_key = {c.key: c for c in cands}
    for rank, c in enumerate(cands, start=1):
        c.rank = rank
    for c in cands:  # best-ranked partner first (named in the evidence and the gene TSV)
        c.partners.sort(key=lambda key: by_key[key].rank if key in by_key else len(cands) + 1)


def _choose_genes(
    cands: list[Candidate], result: RankResult, ontology: Any, ids: Any, excluded_terms: list[Any]
) -> None:
    """Each candidate's gene (the effect that best explains it), with its similarity, terms and modes."""
    terms = result.terms
    for c in cands:
        # the gene that best explains the allele: deleteriousness of its effect x phenotype similarity
        best: tuple[float, float, float] | None = None
        for eff in c.annotation.effects:
            delet = allele_deleteriousness(AlleleAnnotation(c.allele, [eff], c.annotation.status))
            sim = ontology.phenotype_similarity(ids, eff.gene)
            if best is None or (delet * sim, delet) > best[:2]:
                best = (delet * sim, delet, sim)
                c.effect, c.deleteriousness, c.similarity = eff, delet, sim
        c.gene = c.effect.gene if c.effect else None
        if c.gene:
            c.matched = [t.name for t in ontology.matched_terms(terms.terms, c.gene)]
            if excluded_terms:
                c.excluded = [t.name for t in ontology.matched_terms(excluded_terms, c.gene)]
                c.excluded_lr = result.excluded_lr
            c.modes = ontology.inheritance(c.gene)
        else:
            c.deleteriousness = allele_deleteriousness(c.annotation)


def _apply_family(cands: list[Candidate], ped: pedigree.Pedigree | None, proband: str | None) -> None:
    """Compound-het partners, family status and the inheritance fit of every candidate."""
    hits = [
        family.GeneHit(
            c.key, c.gene, c.call, c.deleteriousness >= QUALIFYING_DELETERIOUSNESS,
            c.relatives, c.modes, c.allele.chrom, c.allele.pos,
        )
        for c in cands
    ]  # fmt: skip
    fam = family.family_logic(hits, ped, proband)  # compound hets, de novo, segregation (docs/rank.md)
    sex = ped.people[proband].sex if ped and proband in ped.people else 0
    for c in cands:
        c.partners = fam.partners.get(c.key, [])
        c.possible_partners = fam.possible.get(c.key, [])
        c.family = fam.status.get(c.key, "")
        c.moi = moi_factor(c, sex)


def _model_passes(
    cands: list[Candidate],
    result: RankResult,
    engine: Any,
    shortlist: int,
    batch_size: int,
    phenotype_match: bool,
    progress: StageCallback | None = None,
) -> None:
    """The model's first pass (Q-former head) over all candidates, then the LLM pass over the shortlist."""
    terms = result.terms
    cheap = _batched(engine.cheap_pathogenicity, [c.annotation for c in cands], batch_size, progress, "score")
    for c, p in zip(cands, cheap, strict=True):
        c.pathogenicity = float(p)
        c.first_score = combine(
            _evidence_p(c),
            c.similarity,
            c.moi,
            excluded=len(c.excluded),
            frequency=c.frequency_factor,
            excluded_lr=result.excluded_lr,
        )
        c.score = c.first_score
    order = sorted(range(len(cands)), key=lambda i: -cands[i].first_score)
    short = [cands[i] for i in order[:shortlist]]
    result.shortlisted = len(short)
    if short:
        log.info("LLM pass over the top %d of %d candidates", len(short), len(cands))
        anns = [c.annotation for c in short]
        probs = _batched(engine.pathogenicity, anns, batch_size, progress, "LLM pass")
        if phenotype_match:
            match = _batched(lambda a: engine.phenotype_match(a, terms.names), anns, batch_size)
        else:
            match = np.full(len(short), np.nan)
        for c, p, m in zip(short, probs, match, strict=True):
            c.pathogenicity = float(p)
            c.phenotype_match = float(m)
            c.score = combine(
                _evidence_p(c), c.similarity, c.moi, 0.0 if math.isnan(m) else float(m), len(c.excluded),
                c.frequency_factor, result.excluded_lr,
            )  # fmt: skip
            c.passes = 2


def _frequency_filter(cands: list[Candidate], result: RankResult) -> list[Candidate]:
    """Drop alleles above their gene's max AF (filters.max_af_for, counted); the rest get their
    frequency factor. A no-op without an AF field or value."""
    settings = result.filter_settings
    kept = []
    for c in cands:
        af = c.allele_frequency
        if af is not None and af > flt.max_af_for(c.modes, settings):
            result.filters.af_above_max += 1
            continue
        c.frequency_factor = flt.frequency_factor(af)
        kept.append(c)
    return kept


def _evidence_p(c: Candidate) -> float:
    """The allele's pathogenicity evidence: the model's probability where the checkpoint answers
    (`Engine.in_domain`), else the consequence prior (`allele_deleteriousness`, kept inside [0.01, 0.99])."""
    if not math.isnan(c.pathogenicity):
        return c.pathogenicity
    return min(max(c.deleteriousness, PRIOR_FLOOR), 1.0 - PRIOR_FLOOR)


def _batched(
    fn: Any, items: list[Any], size: int, progress: StageCallback | None = None, stage: str = ""
) -> np.ndarray:
    out: list[float] = []
    if progress is not None:
        progress(stage, 0, len(items))
    for i in range(0, len(items), size):
        out.extend(np.asarray(fn(items[i : i + size]), dtype=float).reshape(-1).tolist())
        if progress is not None:
            progress(stage, len(out), len(items))
    return np.asarray(out, dtype=float)
