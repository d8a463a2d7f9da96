"""Published Mendelian cases for evaluation: one reader for the flattened TSV, a zip of GA4GH Phenopackets
v2 (phenopacket-store) and a folder of packets (`biblip evaluate --tasks cases --phenopackets PATH`).

A case is its observed and excluded HPO terms, sex, disease and causal variant(s) as the packet's
interpretations give them (gene symbol, GRCh38 vcfRecord where present, HGVS p., zygosity). `biblip rank
--phenopacket` reads one packet with `io/phenopackets.read_phenopacket`; this module reads many, for
measurement, and keeps what a ranking needs to be scored against (the causal gene and variants)."""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from biblip_cli.errors import BiblipError
from biblip_cli.io.datasets import tsv_rows
from biblip_cli.io.phenopackets import SEX_CODES
from biblip_cli.records import ProteinVariant

__all__ = ["CaseRecord", "CaseVariant", "protein_variant", "read_case_records"]

TSV_COLUMNS = (
    "case_id",
    "gene",
    "chrom",
    "pos",
    "ref",
    "alt",
    "hgvs_p",
    "zygosity",
    "hpo_present",
    "hpo_excluded",
)
THREE_TO_ONE = {
    "Ala": "A", "Arg": "R", "Asn": "N", "Asp": "D", "Cys": "C", "Gln": "Q", "Glu": "E", "Gly": "G",
    "His": "H", "Ile": "I", "Leu": "L", "Lys": "K", "Met": "M", "Phe": "F", "Pro": "P", "Ser": "S",
    "Thr": "T", "Trp": "W", "Tyr": "Y", "Val": "V",
}  # fmt: skip
_MISSENSE = re.compile(r"p\.\(?([A-Z][a-z]{2})(\d+)([A-Z][a-z]{2})\)?$")


@dataclass
class CaseVariant:
    gene: str
    chrom: str = ""  # "" when the packet has no vcfRecord
    pos: int = 0
    ref: str = ""
    alt: str = ""
    hgvs_p: str = ""  # as written, e.g. NP_037407.4:p.(Glu461GlnfsTer48)
    zygosity: str = ""  # heterozygous | homozygous | hemizygous | ...


@dataclass
class CaseRecord:
    case_id: str
    gene: str  # the first causal gene
    observed: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    sex: int = 0  # PED coding
    disease_id: str = ""
    variants: list[CaseVariant] = field(default_factory=list)


def protein_variant(variant: CaseVariant) -> ProteinVariant | None:
    """The causal missense change as a protein-level variant (None for anything else)."""
    found = _MISSENSE.search(variant.hgvs_p or "")
    if not found or found.group(1) not in THREE_TO_ONE or found.group(3) not in THREE_TO_ONE:
        return None
    ref, pos, alt = found.group(1), int(found.group(2)), found.group(3)
    if ref == alt:
        return None
    return ProteinVariant(variant.gene, f"p.{ref}{pos}{alt}", THREE_TO_ONE[ref], pos, THREE_TO_ONE[alt])


def read_case_records(path: Path | str) -> list[CaseRecord]:
    """Cases from a TSV(.gz) (`prep/cases_phenopackets.py`'s columns), a .zip of packets or a folder of
    packet JSON files; cases without a causal gene are dropped. Sorted by case id."""
    path = Path(path)
    if not path.exists():
        raise BiblipError("cases not found", where=str(path), hint="a phenopackets .zip, folder or .tsv.gz")
    if path.is_dir():
        cases = [
            _from_packet(json.loads(p.read_text(encoding="utf-8")), str(p))
            for p in sorted(path.rglob("*.json"))
        ]
    elif path.suffix.lower() == ".zip":
        cases = list(_from_zip(path))
    else:
        cases = _from_tsv(path)
    return sorted((c for c in cases if c is not None and c.gene), key=lambda c: c.case_id)


def _from_zip(path: Path) -> Iterator[CaseRecord | None]:
    try:
        with zipfile.ZipFile(path) as archive:
            for name in sorted(n for n in archive.namelist() if n.endswith(".json")):
                try:
                    data = json.loads(archive.read(name))
                except (json.JSONDecodeError, UnicodeDecodeError) as err:
                    raise BiblipError(f"not valid JSON: {err}", where=f"{path}:{name}") from None
                yield _from_packet(data, f"{path}:{name}")
    except zipfile.BadZipFile as err:
        raise BiblipError(f"not a zip file: {err}", where=str(path)) from None


def _terms(features: Any) -> tuple[list[str], list[str]]:
    observed: list[str] = []
    excluded: list[str] = []
    for feature in features if isinstance(features, list) else []:
        term = (feature.get("type") or {}).get("id") if isinstance(feature, dict) else None
        if isinstance(term, str) and term.startswith("HP:"):
            (excluded if feature.get("excluded") else observed).append(term)
    return observed, excluded


def _variants(interpretations: Any) -> Iterable[CaseVariant]:
    for interp in interpretations if isinstance(interpretations, list) else []:
        diagnosis = interp.get("diagnosis") if isinstance(interp, dict) else None
        for gi in (diagnosis or {}).get("genomicInterpretations") or []:
            descriptor = ((gi.get("variantInterpretation") or {}).get("variationDescriptor")) or {}
            gene = (descriptor.get("geneContext") or {}).get("symbol") or (gi.get("gene") or {}).get("symbol")
            if not gene:
                continue
            vcf = descriptor.get("vcfRecord") or {}
            hgvs_p = next(
                (
                    e.get("value", "")
                    for e in descriptor.get("expressions") or []
                    if e.get("syntax") == "hgvs.p"
                ),
                "",
            )
            yield CaseVariant(
                gene=str(gene), chrom=str(vcf.get("chrom") or ""), pos=int(vcf.get("pos") or 0),
                ref=str(vcf.get("ref") or ""), alt=str(vcf.get("alt") or ""), hgvs_p=str(hgvs_p),
                zygosity=str((descriptor.get("allelicState") or {}).get("label") or ""),
            )  # fmt: skip


def _from_packet(data: Any, where: str) -> CaseRecord | None:
    if not isinstance(data, dict):
        raise BiblipError("not a phenopacket (the top level is not an object)", where=where)
    observed, excluded = _terms(data.get("phenotypicFeatures"))
    variants = list(_variants(data.get("interpretations")))
    diseases = data.get("diseases") or []
    disease = ((diseases[0] or {}).get("term") or {}).get("id", "") if diseases else ""
    for interp in data.get("interpretations") or []:  # else the diagnosis the variants explain
        disease = disease or (((interp or {}).get("diagnosis") or {}).get("disease") or {}).get("id", "")
    sex = str((data.get("subject") or {}).get("sex") or "").upper()
    case_id = str(data.get("id") or Path(where.split(":")[-1]).stem)
    gene = variants[0].gene if variants else ""
    return CaseRecord(case_id, gene, observed, excluded, SEX_CODES.get(sex, 0), str(disease), variants)


def _from_tsv(path: Path) -> list[CaseRecord]:
    cases: dict[str, CaseRecord] = {}
    for _line, row in tsv_rows(path, TSV_COLUMNS, "cases file"):
        case = cases.get(row["case_id"])
        if case is None:
            case = cases[row["case_id"]] = CaseRecord(
                row["case_id"], row["gene"],
                [t for t in (row["hpo_present"] or "").split(";") if t],
                [t for t in (row["hpo_excluded"] or "").split(";") if t],
                SEX_CODES.get((row.get("sex") or "").upper(), 0), row.get("disease_id") or "",
            )  # fmt: skip
        if row["gene"]:
            pos = row["pos"] or "0"
            case.variants.append(
                CaseVariant(
                    row["gene"],
                    row["chrom"] or "",
                    int(pos) if pos.isdigit() else 0,
                    row["ref"] or "",
                    row["alt"] or "",
                    row["hgvs_p"] or "",
                    row["zygosity"] or "",
                )
            )
        case.gene = case.gene or row["gene"]
    return list(cases.values())
