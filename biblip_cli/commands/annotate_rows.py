"""What `biblip annotate` writes per batch: BIOBLIP INFO entries, TSV rows, the batch writer."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from Bio import bgzf

from biblip_cli.commands.annotate_options import AnnotateOptions, AnnotateSummary
from biblip_cli.features.consequence import hgvsg
from biblip_cli.features.picking import one_per_gene, select_effects
from biblip_cli.io.vcf_header import BIOBLIP_COLUMNS, INFO_ESCAPES, append_info, escape_info
from biblip_cli.io.vcf_read import record_text
from biblip_cli.records import ANNOTATED_STATUSES, Allele, AlleleAnnotation, GeneEffect

TSV_COLUMNS: tuple[str, ...] = ("chrom", "pos", "ref", "alt") + tuple(c.lower() for c in BIOBLIP_COLUMNS)
SCORED_STATUSES = ("ok",)  # ref mismatches are flagged, not scored


def _effect_values(
    allele: Allele, effect: GeneEffect | None, ann: AlleleAnnotation, score: str, genomic: str
) -> list[str]:
    """One entry in BIOBLIP_COLUMNS order (VEP's fields, then Pathogenicity and Status)."""
    status = "" if ann.status == "ok" else ann.status
    if effect is None:
        return [allele.alt, "intergenic_variant", "MODIFIER"] + [""] * 17 + [genomic, "", score, status]
    feature = effect.transcript
    return [
        allele.alt,
        effect.consequence,
        effect.impact,
        effect.gene,
        effect.gene_id or effect.gene,
        "Transcript",
        feature,
        effect.biotype,
        effect.exon,
        effect.intron,
        f"{feature}:{effect.hgvsc}" if effect.hgvsc else "",
        f"{effect.protein_id or feature}:{effect.hgvsp}" if effect.hgvsp else "",
        effect.cdna_position,
        effect.cds_span,
        "" if effect.protein_position is None else str(effect.protein_position),
        effect.amino_acids,
        effect.codons,
        "1" if effect.strand == "+" else "-1",
        "YES" if effect.canonical else "",
        feature if effect.mane_select else "",
        genomic,
        "" if effect.distance is None else str(effect.distance),
        score,
        status,
    ]


def annotation_rows(
    ann: AlleleAnnotation, score: float | None, *, pick: bool = False, canonical_only: bool = False
) -> list[list[str]]:
    """Values in BIOBLIP_COLUMNS order, one list per reported transcript (one for intergenic); `pick` /
    `canonical_only` choose the transcripts (features/picking.py)."""
    text = "" if score is None else f"{score:.4f}"
    if ann.status not in ANNOTATED_STATUSES:
        row = [ann.allele.alt] + [""] * (len(BIOBLIP_COLUMNS) - 2) + [ann.status]
        return [row]
    effects = (
        select_effects(ann.effects, pick=pick, canonical_only=canonical_only)
        if pick or canonical_only
        else ann.effects
    )
    allele = ann.allele
    genomic = hgvsg(allele.chrom, allele.start0, allele.ref, allele.alt)
    if not effects:
        return [_effect_values(allele, None, ann, text, genomic)]
    return [_effect_values(allele, effect, ann, text, genomic) for effect in effects]


def model_view(ann: AlleleAnnotation) -> AlleleAnnotation:
    """What the model scores: one effect per gene (`picking.one_per_gene`); `ann` itself when each gene
    has one transcript, so the shared GTF's scores are unchanged."""
    effects = one_per_gene(ann.effects)
    if effects is ann.effects:
        return ann
    return AlleleAnnotation(ann.allele, effects=effects, status=ann.status, note=ann.note)


def _tsv_cell(value: str) -> str:
    return value.translate(_TSV_ESCAPES)


# Rows are joined once with a separator no value contains, then escaped for INFO or TSV in one
# `translate` each (escaping cell by cell dominated the spine's profile).
_SEP = "\x1f"
_INFO_ROW = str.maketrans({**{ord(k): v for k, v in INFO_ESCAPES.items()}, ord(_SEP): "|"})
_TSV_ESCAPES = str.maketrans({"\t": " ", "\n": " ", "\r": " "})
_TSV_ROW = str.maketrans({"\t": " ", "\n": " ", "\r": " ", _SEP: "\t"})


_INFO_SPECIAL = tuple(INFO_ESCAPES)
_TSV_SPECIAL = ("\t", "\n", "\r")


def _info_row(joined: str) -> str:
    """A row joined with _SEP as one INFO entry; the escape table runs only where a value needs it
    (a substring test per special character is several times cheaper than a regex or the table)."""
    for char in _INFO_SPECIAL:
        if char in joined:
            return joined.translate(_INFO_ROW)
    return joined.replace(_SEP, "|")


def _tsv_row(joined: str) -> str:
    for char in _TSV_SPECIAL:
        if char in joined:
            return joined.translate(_TSV_ROW)
    return joined.replace(_SEP, "\t")


@dataclass
class Batch:
    records: list[tuple[Any, str | None]] = field(default_factory=list)  # (variant, original line)
    annotations: list[list[AlleleAnnotation]] = field(default_factory=list)  # per record
    n_alleles: int = 0


def write_batch(
    batch: Batch,
    engine: Any,
    opts: AnnotateOptions,
    summary: AnnotateSummary,
    vcf_sink: BinaryIO | bgzf.BgzfWriter,
    tsv_sink: BinaryIO | None,
) -> None:
    """Score one batch with the model and write its records and TSV rows."""
    if not batch.records:
        return
    scores: dict[int, float] = {}
    explanations: dict[int, str] = {}
    if engine is not None:
        scored = [ann for anns in batch.annotations for ann in anns if ann.status in SCORED_STATUSES]
        if scored:
            views = [model_view(ann) for ann in scored]
            if opts.score == "llm":
                report = engine.pathogenicity
            elif opts.score == "head":
                report = engine.cheap_pathogenicity
            else:  # the checkpoint's choice (engines without one report pathogenicity)
                report = getattr(engine, "reported_pathogenicity", engine.pathogenicity)
            probabilities = report(views)
            for ann, p in zip(scored, probabilities):
                if not math.isnan(p):  # NaN: outside the checkpoint's pathogenicity domain, left empty
                    scores[id(ann)] = float(p)
                    summary.model_scored += 1
            if opts.explain:  # generated where the model scored the allele; elsewhere the facts alone
                rows = [i for i, p in enumerate(probabilities) if not math.isnan(p)]
                rest = [i for i, p in enumerate(probabilities) if math.isnan(p)]
                told = engine.explain(
                    [views[i] for i in rows], probabilities=[probabilities[i] for i in rows]
                )
                looked_up = (
                    engine.facts([views[i] for i in rest], [probabilities[i] for i in rest]) if rest else []
                )
                for i, text in zip(rows + rest, list(told) + list(looked_up), strict=True):
                    explanations[id(scored[i])] = text
    vcf_parts: list[str] = []
    tsv_parts: list[str] = []
    statuses: list[str] = []
    consequences: list[str] = []
    explained = opts.explain and engine is not None
    pick, canonical_only = opts.pick, opts.canonical_only
    tsv_rows = tsv_sink is not None
    for (variant, text), anns in zip(batch.records, batch.annotations):
        entries: list[str] = []
        explain_values: list[str] = []
        for ann in anns:
            status = ann.status
            statuses.append(status)
            annotated = status in ANNOTATED_STATUSES
            if annotated:
                effects = ann.effects
                consequences.append(
                    effects[0].consequences[0]
                    if effects and effects[0].consequences
                    else "intergenic_variant"
                )
            rows = annotation_rows(
                ann, scores.get(id(ann)) if scores else None, pick=pick, canonical_only=canonical_only
            )
            explain_text = explanations.get(id(ann), "") if explanations else ""
            if explanations:
                explain_values.append(escape_info(explain_text) if explain_text else ".")
            if tsv_rows:
                allele = ann.allele
                prefix = f"{allele.chrom}\t{allele.pos}\t{allele.ref}\t{allele.alt}\t"
                tail = ("\t" + _tsv_cell(explain_text)) if explained else ""
            for row in rows:
                joined = _SEP.join(row)
                if annotated:
                    entries.append(_info_row(joined))
                if tsv_rows:
                    tsv_parts.append(prefix + _tsv_row(joined) + tail + "\n")
        if entries:
            added = "BIOBLIP=" + ",".join(entries)
            if explanations and any(v != "." for v in explain_values):
                added += ";BIOBLIP_EXPLAIN=" + ",".join(explain_values)
            vcf_parts.append(append_info(text or record_text(variant), added))
        else:
            vcf_parts.append(text or record_text(variant))
    summary.records += len(batch.records)
    summary.alleles += len(statuses)
    summary.by_status.update(statuses)
    summary.by_consequence.update(consequences)
    vcf_sink.write("".join(vcf_parts).encode("utf-8", "surrogateescape"))
    if tsv_sink is not None:
        tsv_sink.write("".join(tsv_parts).encode("utf-8", "surrogateescape"))
    if getattr(vcf_sink, "owned", True) is False:  # stdout: pass records on as they are done
        vcf_sink.flush()
