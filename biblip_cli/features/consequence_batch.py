"""The consequence spine over a batch of alleles: SNVs outside coding sequence through zone tables.

Most alleles of a real VCF are SNVs, and most of those fall in introns, UTRs, flanks or between genes.
For such an SNV, every term `consequence._effect` can give (intron, splice donor/acceptor/region, UTR,
non-coding exon, up/downstream) and its EXON/INTRON numbers stay the same between consecutive
*breakpoints* of a transcript: its ends, its ends +-5 kb, its CDS ends, every exon boundary +-8 bp
(the widest window the splice rules look at) and every intron's midpoint (where HGVS switches the
exon it counts from). So `_effect` runs once per (transcript, zone), at one position of the zone, and
the SNVs that fall there reuse its terms; the fields that move with the position are linear in it
within a zone: HGVSc's number and the cDNA position as offset + slope x position, the TSS distance
and the up/downstream distance from the transcript's ends. Which transcripts lie within 5 kb comes from a per-contig table of elementary
intervals, looked up for the whole batch with one `numpy.searchsorted`.

Everything else takes `consequence.annotate_allele` unchanged: indels, CDS changes (codons), a REF
that disagrees with the FASTA, unknown contigs, contigs without sequence. Output is identical by
construction; `tests/test_consequence_batch.py` checks it allele by allele, and zone by zone at both
ends of every zone of the demo gene model.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any

import numpy as np

from biblip_cli.bundle.genes import Transcript
from biblip_cli.features.consequence import FLANK, _c_pos, _effect, annotate_allele, sort_effects
from biblip_cli.records import Allele, AlleleAnnotation, GeneEffect

_ACGT = frozenset("ACGT")
_COMPLEMENT = {"A": "T", "C": "G", "G": "C", "T": "A"}
_SPLICE_REACH = 8  # bp past an exon boundary that a splice rule of `_intron_terms` can look
_WHOLE_FETCH = 8_000_000  # a batch spanning less than this reads its sequence in one fetch


def annotate_batch(bundle: Any, alleles: list[Allele]) -> list[AlleleAnnotation]:
    """`[annotate_allele(bundle, a) for a in alleles]`, faster; alleles must have passed `precheck`."""
    genome = bundle.genome
    out: list[AlleleAnnotation | None] = [None] * len(alleles)
    by_contig: dict[str, list[int]] = {}
    for i, allele in enumerate(alleles):
        ref, alt = allele.ref, allele.alt
        if len(ref) == 1 and len(alt) == 1 and ref != alt and ref in _ACGT and alt in _ACGT:
            contig = genome.resolve(allele.chrom)
            if contig is not None and genome.length(contig) >= allele.pos >= 1:
                by_contig.setdefault(contig, []).append(i)
                continue
        out[i] = annotate_allele(bundle, allele)
    for contig, indexes in by_contig.items():
        _annotate_snvs(bundle, contig, [alleles[i] for i in indexes], indexes, out)
    return out  # type: ignore[return-value]


def _annotate_snvs(
    bundle: Any, contig: str, snvs: list[Allele], indexes: list[int], out: list[AlleleAnnotation | None]
) -> None:
    genome = bundle.genome
    positions = np.fromiter((a.pos - 1 for a in snvs), dtype=np.int64, count=len(snvs))
    lo, hi = int(positions.min()), int(positions.max()) + 1
    whole = genome.fetch(contig, lo, hi) if hi - lo <= _WHOLE_FETCH else None
    table = _overlap_table(bundle, contig)
    segments = (
        (np.searchsorted(table.breaks, positions, side="right") - 1).tolist()
        if table is not None
        else [-1] * len(snvs)
    )
    for allele, i, p, segment in zip(snvs, indexes, positions.tolist(), segments):
        base = whole[p - lo] if whole is not None else genome.fetch(contig, p, p + 1)
        if base != allele.ref and base in _ACGT:
            out[i] = annotate_allele(bundle, allele)  # a REF mismatch: flagged, with its note
            continue
        if segment < 0:
            out[i] = AlleleAnnotation(allele)
            continue
        effects: list[GeneEffect] = []
        for tx in table.transcripts[segment]:  # type: ignore[union-attr]
            effect = _zone_effect(bundle, tx, p, allele.ref, allele.alt)
            if effect is not None:
                effects.append(effect)
        out[i] = AlleleAnnotation(allele, effects=sort_effects(effects))


# ---------------------------------------------------------------- which transcripts are within 5 kb


class _OverlapTable:
    """Elementary intervals of a contig: `transcripts[j]` lie within FLANK of every base of
    `[breaks[j], breaks[j + 1])`, in the order `TranscriptIndex.overlapping` gives them."""

    def __init__(self, txs: list[Transcript]) -> None:
        edges = sorted({t.start0 - FLANK for t in txs} | {t.end0 + FLANK for t in txs})
        self.breaks = np.asarray(edges, dtype=np.int64)
        spans = [[] for _ in edges]  # type: list[list[int]]
        for order, t in enumerate(txs):
            first = int(np.searchsorted(self.breaks, t.start0 - FLANK))
            last = int(np.searchsorted(self.breaks, t.end0 + FLANK))
            for j in range(first, last):
                spans[j].append(order)
        self.transcripts = [tuple(txs[o] for o in sorted(span)) for span in spans]


def _overlap_table(bundle: Any, contig: str) -> _OverlapTable | None:
    index = bundle.transcripts
    cache = index.derived.setdefault("overlap_tables", {})
    if contig not in cache:
        txs = index.transcripts(contig)  # sorted by (start0, end0), GTF order among equals
        cache[contig] = _OverlapTable(txs) if txs else None
    return cache[contig]


# ---------------------------------------------------------------- one transcript: zones


@dataclass(frozen=True)
class _Zone:
    """What an SNV anywhere in one zone of one transcript gets: `template` (None: no effect), and the
    fields that move with the position p as `offset + slope * p` (HGVSc's number, the cDNA position)."""

    kind: str  # flank | exon | intron | scalar (a CDS base: the codon decides) | none
    template: GeneEffect | None = None
    hgvsc_prefix: str = ""  # `c.350+`, `c.-`, `c.*`, `n.`, `c.` (with the transcript's c./n.)
    offset: int = 0
    slope: int = 0
    cdna_offset: int = 0  # exon zones: cDNA position = cdna_offset + cdna_slope * p
    cdna_slope: int = 0


def _breakpoints(tx: Transcript) -> list[int]:
    got = tx._cache.get("zone_breaks")
    if got is None:
        points = {tx.start0 - FLANK, tx.start0, tx.end0, tx.end0 + FLANK}
        if tx.cds_start0 is not None and tx.cds_end0 is not None:
            points |= {tx.cds_start0, tx.cds_end0}
        for s, e in tx.exons:
            for d in range(-_SPLICE_REACH, _SPLICE_REACH + 1):
                points.add(s + d)
                points.add(e + d)
        for (_, left_end), (right_start, _) in zip(tx.exons, tx.exons[1:]):
            middle = left_end + right_start - 1  # HGVS counts from the nearer exon: the side flips here
            points |= {middle // 2 + 1, (middle + 1) // 2}
        got = tx._cache["zone_breaks"] = sorted(points)
    return got


def _zone(bundle: Any, tx: Transcript, p: int) -> _Zone:
    z = bisect.bisect_right(_breakpoints(tx), p)
    zones = tx._cache.setdefault("zones", {})
    got = zones.get(z)
    if got is None:
        got = zones[z] = _build_zone(bundle, tx, p)
    return got


def _build_zone(bundle: Any, tx: Transcript, p: int) -> _Zone:
    exon = tx.exon_index(p)
    if tx.coding and tx.cds_start0 <= p < tx.cds_end0 and exon is not None:  # type: ignore[operator]
        return _Zone("scalar")
    template = _effect(bundle, tx, p, p + 1, "A", "C", False)  # no CDS base: the bases do not matter
    if template is None:
        return _Zone("none")
    if template.distance is not None:
        return _Zone("flank", template)
    prefix = "c." if tx.coding else "n."
    plus = tx.strand == "+"
    if exon is not None:  # offset in the spliced transcript = base + slope * p
        s, e = tx.exons[exon]
        first = tx._offsets()[exon]
        base, slope = (first - s, 1) if plus else (first + e - 1, -1)
        cstart = tx.cds_tx_start
        if cstart is None:  # n.(offset + 1)
            return _Zone("exon", template, prefix, base + 1, slope, base + 1, slope)
        if base + slope * p - cstart + 1 <= 0:  # c.-(cstart - offset)
            return _Zone("exon", template, prefix + "-", cstart - base, -slope, base + 1, slope)
        return _Zone(
            "exon", template, prefix + "*", base - cstart + 1 - tx.cds_length, slope, base + 1, slope
        )
    intron = tx.intron_at(p)  # intronic: counted from the nearer exon, as `consequence._c_pos`
    assert intron is not None  # inside the transcript (not a flank) and not exonic
    left_end, right_start = intron
    d_left, d_right = p - left_end + 1, right_start - p
    if (d_left <= d_right) if plus else (d_right > d_left):
        anchor, sign, offset, slope = left_end - 1, "+" if plus else "-", 1 - left_end, 1
    else:
        anchor, sign, offset, slope = right_start, "-" if plus else "+", right_start, -1
    return _Zone("intron", template, f"{prefix}{_c_pos(tx, anchor)}{sign}", offset, slope)


def _zone_effect(bundle: Any, tx: Transcript, p: int, ref: str, alt: str) -> GeneEffect | None:
    zone = _zone(bundle, tx, p)
    if zone.kind == "scalar":
        return _effect(bundle, tx, p, p + 1, ref, alt, True)
    template = zone.template
    if template is None:
        return None
    effect = GeneEffect.__new__(GeneEffect)  # a copy of the zone's effect: every field, then what moves
    effect.__dict__.update(template.__dict__)
    effect.consequences = list(template.consequences)
    if tx.strand == "+":
        effect.tss_distance = p - tx.start0
    else:
        effect.tss_distance = tx.end0 - 1 - p
        ref, alt = _COMPLEMENT[ref], _COMPLEMENT[alt]  # single ACGT bases (annotate_batch's test)
    if zone.kind == "flank":
        effect.distance = tx.start0 - p if p < tx.start0 else p - tx.end0 + 1
        return effect
    effect.hgvsc = f"{zone.hgvsc_prefix}{zone.offset + zone.slope * p}{ref}>{alt}"
    if zone.kind == "exon":
        effect.cdna_position = str(zone.cdna_offset + zone.cdna_slope * p)
    return effect
