"""The ranked records of `biblip rank` (Candidate, RankResult) and the one VCF pass that collects them.

One pass over the VCF: every ALT allele the proband carries and that passes the record-level filters
(FILTER, the proband's GQ and DP: ranking/filters.py) is a candidate, with its relatives' calls, its
consequence annotation, its population AF (read here, filtered once the gene is known) and (with a PED)
its de novo / segregation status.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from biblip_cli.features import pedigree, zygosity
from biblip_cli.ranking import filters as flt
from biblip_cli.records import Allele, AlleleAnnotation, GeneEffect

log = logging.getLogger(__name__)

#: `progress(stage, done, total)`: rank's stages (read: records, score / LLM pass: candidates) report here
StageCallback = Callable[[str, int, int | None], None]
REPORT_EVERY = 100  # records between two progress reports of the VCF pass


@dataclass
class Candidate:
    """One ALT allele the proband carries."""

    record_number: int
    allele: Allele
    annotation: AlleleAnnotation
    call: zygosity.Call
    relatives: dict[str, zygosity.Call] = field(default_factory=dict)
    gene: str | None = None
    effect: GeneEffect | None = None
    deleteriousness: float = 0.0
    similarity: float = 0.0
    matched: list[str] = field(default_factory=list)  # patient term names the gene explains
    excluded: list[str] = field(default_factory=list)  # excluded patient terms annotated to the gene
    excluded_lr: float = 1.0  # the run's likelihood ratio per excluded term (1 = named, not scored)
    modes: set[str] = field(default_factory=set)
    family: str = ""  # de_novo | segregates | does_not_segregate | ""
    partners: list[str] = field(default_factory=list)  # compound-het partner allele keys (in trans)
    possible_partners: list[str] = field(default_factory=list)  # phase unknown: possible compound het
    moi: float = 1.0
    filter: str = ""  # the record's FILTER when not PASS (kept with --include-filtered)
    allele_frequency: float | None = None  # max population AF over the AF fields; None: no value
    af_field: str = ""  # the INFO field that gave allele_frequency
    frequency_factor: float = 1.0  # filters.frequency_factor(allele_frequency)
    first_score: float = 0.0
    pathogenicity: float = float("nan")  # model (or deleteriousness with --no-model)
    phenotype_match: float = float("nan")  # LLM log-odds
    score: float = 0.0
    passes: int = 1  # 1 = first pass only, 2 = LLM pass too
    rank: int = 0
    vcf_id: str = ""  # the record's ID column (rsIDs, ClinVar ids; '' for '.'), linked in the report

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
    provenance: Any = None  # engine.provenance.Provenance: bundle, checkpoint, LLM, HPO release
    filters: flt.FilterCounts = field(default_factory=flt.FilterCounts)
    filter_settings: flt.FilterSettings = field(default_factory=flt.FilterSettings)
    excluded_lr: float = 1.0  # likelihood ratio per excluded term annotated to the gene (ranking/scoring)


def collect_candidates(
    reader: Any,
    proband: str | None,
    ped: pedigree.Pedigree | None,
    annotate: Any,
    result: RankResult,
    settings: flt.FilterSettings | None = None,
    progress: StageCallback | None = None,
) -> None:
    """One pass over the VCF: proband calls, relatives' calls, annotations of carried alleles that pass
    the FILTER/GQ/DP filters (`settings`, default `FilterSettings()`; counted in `result.filters`).
    `progress("read", records, None)` every REPORT_EVERY records (the caller knows the total, if any)."""
    from biblip_cli.io.vcf_read import alleles, precheck

    settings = settings or result.filter_settings
    result.filter_settings = settings
    counts = result.filters
    af_fields = _resolve_af_fields(reader, settings, counts)
    samples = reader.samples
    index = {s: i for i, s in enumerate(samples)}
    sex = ped.people[proband].sex if ped and proband in ped.people else 0
    family = [s for s in (ped.people if ped else {}) if s in index]
    has_gt = _has_gt(reader)
    if proband is not None and not has_gt:
        log.warning("the VCF has no GT field: every allele is a candidate, zygosity unknown")
    if progress is not None:
        progress("read", 0, None)  # the stage's clock starts with the read
    for number, variant in reader.records():
        result.records += 1
        genotypes = _record_genotypes(variant, proband, has_gt)
        phase_sets = _phase_sets(variant) if genotypes is not None else None
        depths = zygosity.format_ints(variant, "DP") if genotypes is not None else None
        quals = zygosity.format_ints(variant, "GQ") if genotypes is not None else None
        proband_i = index[proband] if proband is not None and genotypes is not None else None
        record_filter = flt.failed_filter(variant)
        n_alt = max(1, len(variant.ALT))
        for allele in alleles(variant, number):
            result.alleles += 1
            if precheck(allele) is not None:
                result.unannotated += 1
                continue
            k = allele.alt_index + 1
            if proband is None or genotypes is None:
                call = zygosity.Call(pedigree.UNKNOWN)
            else:
                i = index[proband]
                call = zygosity.call_for(
                    genotypes[i], k, allele.chrom, allele.pos, sex, phase_sets[i] if phase_sets else None
                )
            if not (call.carries or call.zygosity == pedigree.UNKNOWN):
                result.not_carried += 1
                continue
            if not _passes_record_filters(record_filter, depths, quals, proband_i, settings, counts):
                continue
            relatives = _relative_calls(genotypes, family, ped, index, k, allele, phase_sets, depths, quals)
            ann = annotate(allele)
            if not ann.annotated:
                result.unannotated += 1
                continue
            cand = Candidate(
                number, allele, ann, call, relatives, filter=record_filter, vcf_id=variant.ID or ""
            )
            if af_fields:
                cand.allele_frequency, cand.af_field = flt.allele_frequency(
                    variant, allele.alt_index, n_alt, af_fields
                )
                if cand.allele_frequency is None:
                    counts.af_missing += 1
            result.candidates.append(cand)
        if progress is not None:
            if result.records % REPORT_EVERY == 0:
                progress("read", result.records, None)
        elif result.records % 10000 == 0:
            log.info("%d records, %d candidates", result.records, len(result.candidates))
    if progress is not None:
        progress("read", result.records, None)


def _resolve_af_fields(
    reader: Any, settings: flt.FilterSettings, counts: flt.FilterCounts
) -> list[flt.AfField]:
    """The VCF's population AF fields for the frequency filter, with the choice said once in the log."""
    af_fields, warnings = flt.resolve_af_fields(flt.info_fields(reader), settings)
    counts.af_fields = [f.name for f in af_fields]
    for warning in warnings:  # each once per run
        log.warning(warning)
        counts.warnings.append(warning)
    if af_fields:
        log.info(
            "population AF from INFO %s; max AF %s", ", ".join(counts.af_fields), settings.max_af_words()
        )
    elif settings.frequency and settings.max_af is None:
        log.info("no population AF field in the VCF header (looked for %s): no frequency filter",
                 ", ".join(settings.af_fields or flt.DEFAULT_AF_FIELDS))  # fmt: skip
    return af_fields


def _record_genotypes(variant: Any, proband: str | None, has_gt: bool) -> Any:
    """The record's genotypes, or None (no proband, no GT in the header or in this record)."""
    genotypes = None
    if proband is not None and has_gt:
        try:
            genotypes = variant.genotypes
        except Exception:  # noqa: BLE001 - no FORMAT/GT in this record
            genotypes = None
    return genotypes


def _relative_calls(
    genotypes: Any,
    family: list[str],
    ped: pedigree.Pedigree | None,
    index: dict[str, int],
    k: int,
    allele: Allele,
    phase_sets: list[int | None] | None,
    depths: list[int | None] | None,
    quals: list[int | None] | None,
) -> dict[str, zygosity.Call]:
    """Each PED relative's call of ALT number `k` (for de novo and segregation); empty without genotypes."""
    relatives: dict[str, zygosity.Call] = {}
    if genotypes is not None:
        for s in family:
            person_sex = ped.people[s].sex if ped else 0
            j = index[s]
            relatives[s] = zygosity.call_for(
                genotypes[j], k, allele.chrom, allele.pos, person_sex,
                phase_sets[j] if phase_sets else None,
                depths[j] if depths else None, quals[j] if quals else None,
            )  # fmt: skip
    return relatives


def _passes_record_filters(
    record_filter: str,
    depths: list[int | None] | None,
    quals: list[int | None] | None,
    proband_i: int | None,
    settings: flt.FilterSettings,
    counts: flt.FilterCounts,
) -> bool:
    """FILTER, then the proband's GQ, then DP (filters.py); counts the first failure or the unchecked."""
    if record_filter:
        if not settings.include_filtered:
            counts.non_pass += 1
            return False
        counts.non_pass_kept += 1
    gq = _proband_value(quals, proband_i, settings.min_gq)
    if gq == "low":
        counts.low_gq += 1
        return False
    counts.gq_not_checked += int(gq == "not checked")
    dp = _proband_value(depths, proband_i, settings.min_dp)
    if dp == "low":
        counts.low_dp += 1
        return False
    counts.dp_not_checked += int(dp == "not checked")
    return True


def _proband_value(values: list[int | None] | None, proband_i: int | None, limit: int) -> str:
    """'ok', 'low' or 'not checked' (no field, no value, or no proband) for a FORMAT threshold; 'off' at 0."""
    if limit <= 0:
        return "off"
    value = values[proband_i] if values is not None and proband_i is not None else None
    if value is None:
        return "not checked"
    return "low" if value < limit else "ok"


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
