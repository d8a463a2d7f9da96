"""The `--json` document of `biblip rank` (schema in docs/output.md): the TSV rows typed, the terms with
their sources, the run's parameters and counts, and a phenopacket-style interpretation of the top alleles.
"""

from __future__ import annotations

import datetime as _dt
import math
from typing import TYPE_CHECKING, Any

from biblip_cli.ranking.report import GENE_COLUMNS, TSV_COLUMNS, gene_rows, ranked_rows

if TYPE_CHECKING:
    from biblip_cli.ranking.candidates import RankResult

JSON_SCHEMA_VERSION = "1.0"
_INT_COLUMNS = {"rank", "pos", "n_candidates"}
_FLOAT_COLUMNS = {"score", "pathogenicity", "phenotype_score"}


def _typed(columns: tuple[str, ...], row: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in zip(columns, row, strict=True):
        if value == ".":
            out[name] = None
        elif name in _INT_COLUMNS:
            out[name] = int(value)
        elif name in _FLOAT_COLUMNS:
            number = float(value)
            out[name] = None if math.isnan(number) else number
        else:
            out[name] = value
    return out


def _term_json(terms: Any, term: Any) -> dict[str, Any]:
    sources = getattr(terms, "sources", {}).get(term.id) or ["--phenotype"]
    return {"id": term.id, "name": term.name, "sources": list(sources)}


def json_document(result: RankResult, top: int | None = None) -> dict[str, Any]:
    """The `--json` document (docs/output.md, schema_version 1.0)."""
    from biblip_cli import __version__

    params = dict(result.params)
    alleles = []
    for c, row in zip(result.candidates, ranked_rows(result, top), strict=False):
        record = _typed(TSV_COLUMNS, row)
        record["matched_phenotypes"] = list(c.matched)
        record["excluded_phenotypes"] = list(c.excluded)
        record["moi_factor"] = c.moi
        record["passes"] = c.passes
        record["allele_frequency"] = c.allele_frequency
        record["af_field"] = c.af_field or None
        record["frequency_factor"] = c.frequency_factor
        record["filter"] = c.filter or "PASS"
        alleles.append(record)
    genes = [_typed(GENE_COLUMNS, row) for row in gene_rows(result)[: top or None]]
    excluded = list(getattr(result.terms, "excluded", None) or [])
    return {
        "schema_version": JSON_SCHEMA_VERSION,
        "tool": {"name": "biblip", "command": "rank", "version": __version__},
        "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "bundle": {
            "name": params.get("bundle_name", ""),
            "build": params.get("bundle_build", ""),
            "path": params.get("bundle", ""),
            "manifest_sha256": params.get("bundle_manifest_sha256", ""),
        },
        "model": result.model,
        "provenance": result.provenance.as_dict() if result.provenance is not None else None,
        "proband": {
            "sample": result.proband,
            "sex": params.get("sex", "unknown"),
            "phenopacket": params.get("phenopacket") or None,
            "phenopacket_id": params.get("phenopacket_id") or None,
            "phenopacket_subject": params.get("phenopacket_subject") or None,
        },
        "phenotypes": [_term_json(result.terms, t) for t in result.terms.terms],
        "excluded_phenotypes": [{"id": t.id, "name": t.name, "sources": ["phenopacket"]} for t in excluded],
        "unknown_terms": list(getattr(result.terms, "unknown", []) or []),
        "warnings": list(result.terms.warnings) + list(result.filters.warnings),
        "notes": list(result.terms.notes),
        "parameters": params,
        "counts": {
            "records": result.records,
            "alleles": result.alleles,
            "not_carried": result.not_carried,
            "unannotated": result.unannotated,
            "candidates": len(result.candidates),
            "shortlisted": result.shortlisted,
            "seconds": round(result.seconds, 3),
            "filters": result.filters.as_dict(),
        },
        "alleles": alleles,
        "genes": genes,
        "interpretations": [_interpretation(result, params, INTERPRETATION_TOP)],
    }


INTERPRETATION_TOP = 10  # candidates in the phenopacket-style interpretations block
GENO = {
    "het": ("GENO:0000135", "heterozygous"),
    "hom": ("GENO:0000136", "homozygous"),
    "hemi": ("GENO:0000134", "hemizygous"),
    "compound_het": ("GENO:0000402", "compound heterozygous"),
    "possible_compound_het": ("GENO:0000135", "heterozygous"),
}


def _interpretation(result: RankResult, params: dict[str, str], top: int) -> dict[str, Any]:
    """A GA4GH Phenopacket v2 `Interpretation` (progressStatus IN_PROGRESS) listing the top candidate
    alleles as CANDIDATE genomicInterpretations, ranked as in `alleles`; paste it into the packet's
    `interpretations` to record the result."""
    subject = params.get("phenopacket_subject") or result.proband or ""
    items = []
    for c in result.candidates[:top]:
        descriptor: dict[str, Any] = {
            "id": c.key,
            "vcfRecord": {
                "genomeAssembly": params.get("bundle_build", ""),
                "chrom": c.allele.chrom,
                "pos": c.allele.pos,
                "ref": c.allele.ref,
                "alt": c.allele.alt,
            },
            "moleculeContext": "genomic",
        }
        if c.gene:
            descriptor["geneContext"] = {"valueId": c.gene, "symbol": c.gene}
        if c.effect is not None and c.effect.hgvsp:
            descriptor["expressions"] = [{"syntax": "hgvs.p", "value": c.effect.hgvsp}]
        if c.zygosity in GENO:
            geno_id, label = GENO[c.zygosity]
            descriptor["allelicState"] = {"id": geno_id, "label": label}
        items.append(
            {
                "subjectOrBiosampleId": subject,
                "interpretationStatus": "CANDIDATE",
                "variantInterpretation": {"variationDescriptor": descriptor},
            }
        )
    return {
        "id": f"biblip-rank-{params.get('phenopacket_id') or subject or 'case'}",
        "progressStatus": "IN_PROGRESS",
        "summary": f"biblip rank: top {len(items)} of {len(result.candidates)} candidate alleles (rank order)",
        "diagnosis": {"genomicInterpretations": items},  # no disease: biblip ranks, it does not diagnose
    }


def json_text(result: RankResult, top: int | None = None) -> str:
    import json

    return json.dumps(json_document(result, top), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
