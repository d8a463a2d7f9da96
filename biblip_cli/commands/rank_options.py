"""`biblip rank`'s options and where its phenotype terms come from (`--phenotype`, `--phenotype-file`,
a phenopacket), resolved against the bundle's HPO with each term's source kept for the summary."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from biblip_cli.errors import BiblipError, UsageError
from biblip_cli.features import pedigree
from biblip_cli.ranking.filters import DEFAULT_MIN_DP, DEFAULT_MIN_GQ, FilterSettings

log = logging.getLogger(__name__)


@dataclass
class RankOptions:
    input: str | None  # None: the phenopacket's VCF
    phenotypes: list[str] = field(default_factory=list)
    phenotype_file: Path | None = None
    sample: str | None = None
    ped: Path | None = None
    phenopacket: Path | None = None  # GA4GH Phenopacket v2 (io/phenopackets.py)
    json: str | None = None  # JSON output ('-' = stdout; docs/output.md)
    top: int = 50
    shortlist: int = 0  # candidates given the LLM pass; 0 = the Q-former head scores all (docs/rank.md)
    output: str | None = None  # VCF with BIOBLIP_RANK/SCORE
    output_type: str | None = None  # v | z | b | u; default from the suffix
    force: bool = False  # run with an LLM whose sha256 differs from the checkpoint's record
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
    phenotype_match: bool = False  # the LLM's phenotype log-odds in the score: off, it hurt (docs/rank.md)
    overwrite_info: bool = False  # replace an input's own BIOBLIP_RANK/SCORE declarations of another type
    include_filtered: bool = False  # keep non-PASS records (docs/rank.md, "Filters")
    min_gq: int = DEFAULT_MIN_GQ  # the proband's GQ; 0 = off
    min_dp: int = DEFAULT_MIN_DP  # the proband's DP; 0 = off
    af_fields: list[str] = field(default_factory=list)  # INFO AF fields; empty = auto-detect
    max_af: float | None = None  # None: 0.01 dominant-only genes / 0.02 others
    excluded_lr: float = 1.0  # per excluded term annotated to the gene; 1 = named only (ranking/scoring)
    command: str = ""

    def filter_settings(self) -> FilterSettings:
        """The filters as ranking/filters.py takes them (`--af-field` values may be comma-separated)."""
        if self.min_gq < 0 or self.min_dp < 0:
            raise UsageError("--min-gq and --min-dp must be >= 0 (0 turns the filter off)")
        if self.max_af is not None and not 0 <= self.max_af <= 1:
            raise UsageError(f"--max-af {self.max_af:g}: must be an allele frequency in [0, 1]")
        names = [n.strip() for item in self.af_fields for n in item.split(",") if n.strip()]
        return FilterSettings(
            include_filtered=self.include_filtered,
            min_gq=self.min_gq,
            min_dp=self.min_dp,
            af_fields=tuple(dict.fromkeys(names)),
            max_af=self.max_af,
        )


# --- main -----------------------------------------------------------------------------------------
def collect_terms(opts: RankOptions) -> list[str]:
    from biblip_cli.features.hpo_terms import read_phenotype_file, split_phenotype_option

    items = split_phenotype_option(opts.phenotypes)
    if opts.phenotype_file:
        items += read_phenotype_file(opts.phenotype_file)
    return items


def resolve_all_terms(opts: RankOptions, ontology: Any, packet: Any = None) -> Any:
    """The patient's terms from `--phenotype`, `--phenotype-file` and a phenopacket, with their sources.

    Command-line terms resolve strictly (an unknown id is an error); the packet's leniently (ids the
    bundle's HPO does not know are skipped with a warning naming them). The packet's excluded terms go
    to `.excluded` (a term both observed and excluded counts as observed, with a warning)."""
    from biblip_cli.features.hpo_terms import ResolvedTerms, read_phenotype_file, split_phenotype_option

    merged = ResolvedTerms(terms=[])
    parts: list[tuple[str, Any]] = []
    cli_items = split_phenotype_option(opts.phenotypes)
    if cli_items:
        parts.append(("--phenotype", ontology.resolve_terms(cli_items, where="--phenotype")))
    if opts.phenotype_file:
        file_items = read_phenotype_file(opts.phenotype_file)
        if file_items:
            parts.append(
                ("--phenotype-file", ontology.resolve_terms(file_items, where=str(opts.phenotype_file)))
            )
    excluded = None
    if packet is not None:
        where = f"phenopacket {packet.path.name}"
        parts.append(("phenopacket", ontology.resolve_terms_lenient(packet.observed, where=where)))
        excluded = ontology.resolve_terms_lenient(packet.excluded, where=where + " (excluded)")
    for source, part in parts:
        merged.warnings += part.warnings
        merged.notes += part.notes
        merged.unknown += part.unknown
        for term in part.terms:
            if term.id not in merged.sources:
                merged.terms.append(term)
                merged.sources[term.id] = []
            if source not in merged.sources[term.id]:
                merged.sources[term.id].append(source)
    if excluded is not None:
        merged.warnings += excluded.warnings
        merged.unknown += excluded.unknown
        for term in excluded.terms:
            if term.id in merged.sources:
                merged.warnings.append(f"{term} is both observed and excluded; counted as observed")
                continue
            if term not in merged.excluded:
                merged.excluded.append(term)
    if packet is not None and merged.unknown:
        merged.warnings.append(
            "phenopacket terms not in the bundle's HPO release, skipped: " + ", ".join(merged.unknown)
        )
    if not merged.terms:
        if packet is not None and (packet.observed or packet.excluded):
            raise BiblipError(
                "none of the phenopacket's observed terms is known to the bundle's HPO release",
                where=str(packet.path),
                hint="add terms with --phenotype, or use a bundle with a newer HPO release",
            )
        raise BiblipError(
            "no phenotype terms given",
            where="--phenotype",
            hint="pass --phenotype HP:0001250,HP:0001263, --phenotype-file FILE or --phenopacket case.json",
        )
    return merged


def apply_packet_sex(ped: Any, proband: str | None, packet: Any) -> tuple[Any, str]:
    """The packet's sex for the proband where no PED gives it (a PED sex wins). Returns (ped, source)."""

    if proband is None:
        return ped, "none"
    if ped is not None and proband in ped.people and ped.people[proband].sex in (1, 2):
        return ped, "ped"
    if packet is None or packet.sex not in (1, 2):
        return ped, "unknown"
    if ped is None:
        ped = pedigree.Pedigree()
    person = ped.people.get(proband)
    if person is None:
        ped.people[proband] = pedigree.Person("phenopacket", proband, "0", "0", packet.sex, 2)
    else:
        ped.people[proband] = dataclasses.replace(person, sex=packet.sex)
    return ped, "phenopacket"
