"""Consequence of one ALT allele on every transcript within 5 kb (VEP rules, SO terms).

What VEP does for each transcript, restricted to what our records carry: SO terms (most severe
first), HGVSc/HGVSp (3-letter, `Ter`), codon/amino-acid/CDS positions, exon/intron numbers. Choices
that differ from VEP and why are listed in docs/benchmarks.md ("Consequences vs SnpEff"):
- HGVS notation is not 3'-shifted and duplications are written as insertions (`ins`, not `dup`).
- Stop lost: `p.Ter394GlnextTer12` (new stop counted from the changed codon, read through the
  spliced 3' UTR); `p.Ter394GlnextTer?` when the 3' UTR has no in-frame stop.
- Frameshift: `p.Lys5AsnfsTer12` (same reading through the 3' UTR), `...fsTer?` when no stop.
- A REF that disagrees with the FASTA keeps the location terms (intron, UTR, ...) but a coding
  change becomes `coding_sequence_variant` with no protein change: we never translate a wrong REF.

Sequence of each CDS and 3' UTR is fetched once per transcript and cached on the transcript.
"""

from __future__ import annotations

from typing import Any, Protocol

from biblip_cli.bundle.genes import Transcript
from biblip_cli.features.coding import cds_seq, coding_effect
from biblip_cli.features.codons import AA1, CODON_TABLE, revcomp
from biblip_cli.records import SO_TERMS, Allele, AlleleAnnotation, GeneEffect, ProteinVariant, so_impact

FLANK = 5000  # upstream/downstream window (VEP default)
_SEVERITY = {term: i for i, term in enumerate(SO_TERMS)}
_ACGT = frozenset("ACGT")


class _GenomeLike(Protocol):
    def resolve(self, chrom: str) -> str | None: ...
    def fetch(self, chrom: str, start0: int, end0: int) -> str: ...
    def length(self, contig: str) -> int: ...


def _severity(term: str) -> int:
    return _SEVERITY.get(term, 99)


def is_symbolic(alt: str) -> bool:
    """`<DEL>`, `*` (spanning deletion), breakends, missing ALT: not a sequence change we can place."""
    return not alt or alt in (".", "*") or alt.startswith("<") or "[" in alt or "]" in alt or "<" in alt


def normalise(start0: int, ref: str, alt: str) -> tuple[int, str, str]:
    """Trim the common prefix (VCF padding base), then the common suffix: minimal REF/ALT and start.
    Prefix first, so a repeat-unit deletion lands on its 3'-most copy as HGVS prefers on + strand."""
    i = 0
    while i < len(ref) and i < len(alt) and ref[i] == alt[i]:
        i += 1
    ref, alt = ref[i:], alt[i:]
    while ref and alt and ref[-1] == alt[-1]:
        ref, alt = ref[:-1], alt[:-1]
    return start0 + i, ref, alt


def annotate_allele(bundle: Any, allele: Allele) -> AlleleAnnotation:
    """Status (REF check, contig, symbolic) and effects on every transcript within 5 kb."""
    genome: _GenomeLike = bundle.genome
    contig = genome.resolve(allele.chrom)
    if contig is None:
        return AlleleAnnotation(
            allele, status="unknown_contig", note=f"contig {allele.chrom} is not in the bundle"
        )
    alt = allele.alt.upper()
    if is_symbolic(alt):
        return AlleleAnnotation(allele, status="symbolic", note=f"symbolic ALT {allele.alt} passed through")
    ref = allele.ref.upper()
    length = genome.length(contig)
    start0, end0 = allele.start0, allele.end0
    if start0 < 0 or (length and end0 > length):
        return AlleleAnnotation(
            allele,
            status="out_of_bounds",
            note=f"{allele.chrom}:{allele.pos} is beyond the contig end ({length})",
        )
    status, note = "ok", ""
    if length:
        fasta = genome.fetch(contig, start0, end0)
        if fasta != ref and any(r != f and r in _ACGT and f in _ACGT for r, f in zip(ref, fasta)):
            status = "ref_mismatch"
            note = f"REF {ref} differs from the reference {fasta} at {allele.chrom}:{allele.pos}"
    s0, r, a = normalise(start0, ref, alt)
    if not r and not a:
        return AlleleAnnotation(allele, status="skipped", note="ALT equals REF")
    seq_ok = status == "ok" and bool(length) and _ACGT.issuperset(r) and _ACGT.issuperset(a)
    e0 = s0 + len(r)
    effects = [
        _effect(bundle, tx, s0, e0, r, a, seq_ok)
        for tx in bundle.transcripts.overlapping(
            contig, s0 if r else s0 - 1, e0 if r else s0 + 1, flank=FLANK
        )
    ]
    effects = sort_effects([e for e in effects if e is not None])
    return AlleleAnnotation(allele, effects=effects, status=status, note=note)


def sort_effects(effects: list[GeneEffect]) -> list[GeneEffect]:
    """Most severe first, then the nearest TSS, then the gene name (in place; returned for chaining)."""
    if len(effects) > 1:
        effects.sort(key=lambda e: (_severity(e.consequences[0]), abs(e.tss_distance), e.gene))
    return effects


# ---------------------------------------------------------------- per transcript


def _c_pos(tx: Transcript, pos0: int) -> str:
    """HGVS c./n. coordinate of a genomic base (exonic `350`, `-14`, `*20`; intronic `350+5`, `351-2`)."""
    off = tx.tx_offset(pos0)
    if off is not None:
        return _c_of_offset(tx, off)
    # intronic: nearest exon boundary in transcript orientation
    intron = tx.intron_at(pos0)
    if intron is None:
        return "?"
    left_end, right_start = intron
    d_left, d_right = pos0 - left_end + 1, right_start - pos0
    if tx.strand == "+":
        if d_left <= d_right:
            return f"{_c_of_offset(tx, tx.tx_offset(left_end - 1))}+{d_left}"  # type: ignore[arg-type]
        return f"{_c_of_offset(tx, tx.tx_offset(right_start))}-{d_right}"  # type: ignore[arg-type]
    if d_right <= d_left:
        return f"{_c_of_offset(tx, tx.tx_offset(right_start))}+{d_right}"  # type: ignore[arg-type]
    return f"{_c_of_offset(tx, tx.tx_offset(left_end - 1))}-{d_left}"  # type: ignore[arg-type]


def _c_of_offset(tx: Transcript, off: int) -> str:
    cstart = tx.cds_tx_start
    if cstart is None:
        return str(off + 1)
    c = off - cstart + 1
    if c <= 0:
        return f"-{1 - c}"
    if c > tx.cds_length:
        return f"*{c - tx.cds_length}"
    return str(c)


def _hgvsc(tx: Transcript, s0: int, r: str, a: str) -> str:
    prefix = "c." if tx.coding else "n."
    rt, at = (r, a) if tx.strand == "+" else (revcomp(r), revcomp(a))
    if not r:  # insertion between s0-1 and s0
        left, right = (s0 - 1, s0) if tx.strand == "+" else (s0, s0 - 1)
        return f"{prefix}{_c_pos(tx, left)}_{_c_pos(tx, right)}ins{at}"
    first, last = (s0, s0 + len(r) - 1) if tx.strand == "+" else (s0 + len(r) - 1, s0)
    span = _c_pos(tx, first) if first == last else f"{_c_pos(tx, first)}_{_c_pos(tx, last)}"
    if len(r) == 1 and len(a) == 1:
        return f"{prefix}{span}{rt}>{at}"
    if not a:
        return f"{prefix}{span}del"
    return f"{prefix}{span}delins{at}"


def _effect(bundle: Any, tx: Transcript, s0: int, e0: int, r: str, a: str, seq_ok: bool) -> GeneEffect | None:
    plus = tx.strand == "+"
    pos_ref = s0 if r else s0 - 1  # insertion: anchor on the base before
    tss = (pos_ref - tx.tss0) if plus else (tx.tss0 - pos_ref)
    eff = GeneEffect(
        gene=tx.gene, transcript=tx.transcript_id, biotype=tx.biotype, strand=tx.strand, consequences=[],
        tss_distance=tss, gene_id=tx.gene_id or tx.gene, protein_id=tx.protein_id, canonical=tx.canonical,
        mane_select=tx.mane_select, transcript_length=tx.tx_length,
    )  # fmt: skip
    if tx.coding:
        eff.protein_length = tx.cds_length // 3 - 1
    # interval of reference bases the allele touches (an insertion touches its two flanking bases)
    lo, hi = (s0, e0) if r else (s0 - 1, s0 + 1)
    if hi <= tx.start0 or lo >= tx.end0:
        return _flanking_effect(tx, eff, s0, e0, r, hi)

    terms: set[str] = set()
    exon_hits = list(tx.exon_range(lo, hi))
    if not r and exon_hits:  # an insertion is exonic only if both flanking bases are in one exon
        exon_hits = [i for i in exon_hits if tx.exons[i][0] <= s0 - 1 and s0 < tx.exons[i][1]]
    intron_hits = _intron_terms(tx, s0, lo, hi, r, terms)
    _number_exons_introns(tx, eff, exon_hits, intron_hits)

    if exon_hits:
        _exon_terms(bundle, tx, eff, s0, r, a, seq_ok, lo, hi, exon_hits, terms)
    if not tx.coding and (intron_hits or not exon_hits):
        terms.add("non_coding_transcript_variant")
    if not terms:
        terms.add("intron_variant" if intron_hits else "coding_sequence_variant")
    eff.consequences = sorted(terms, key=_severity) if len(terms) > 1 else list(terms)
    eff.impact = so_impact(eff.consequences[0])
    eff.hgvsc = _hgvsc(tx, s0, r, a)
    if exon_hits:
        _positions(tx, eff, s0, r)
    return eff


def _flanking_effect(tx: Transcript, eff: GeneEffect, s0: int, e0: int, r: str, hi: int) -> GeneEffect | None:
    """Upstream/downstream of the transcript: within FLANK bp, else None (no effect)."""
    plus = tx.strand == "+"
    if hi <= tx.start0:
        dist = tx.start0 - (e0 if r else s0) + 1
        term = "upstream_gene_variant" if plus else "downstream_gene_variant"
    else:
        dist = s0 - tx.end0 + 1
        term = "downstream_gene_variant" if plus else "upstream_gene_variant"
    if dist > FLANK:
        return None
    eff.consequences = [term]
    eff.distance = dist
    return eff


def _intron_terms(tx: Transcript, s0: int, lo: int, hi: int, r: str, terms: set[str]) -> list[int]:
    """The introns the change touches (their indexes); adds intron and splice terms to `terms`."""
    plus = tx.strand == "+"
    intron_hits = []
    for i in tx.intron_range(lo, hi, margin=8):  # the terms below look at most 8 bp past an intron
        i_s, i_e = tx.exons[i][1], tx.exons[i + 1][0]
        if i_s >= i_e:
            continue
        donor_lo = (i_s, i_s + 2) if plus else (i_e - 2, i_e)
        accept = (i_e - 2, i_e) if plus else (i_s, i_s + 2)
        if r:
            if lo < i_e and hi > i_s:
                intron_hits.append(i)
            if lo < donor_lo[1] and hi > donor_lo[0]:
                terms.add("splice_donor_variant")
            if lo < accept[1] and hi > accept[0]:
                terms.add("splice_acceptor_variant")
            if lo < i_e - 2 and hi > i_s + 2:
                terms.add("intron_variant")
            # splice region: intron 3-8 bp, exon 1-3 bp from the boundary
            if (lo < i_s + 8 and hi > i_s + 2) or (lo < i_e - 2 and hi > i_e - 8):
                terms.add("splice_region_variant")
            if (lo < i_s and hi > i_s - 3) or (lo < i_e + 3 and hi > i_e):
                terms.add("splice_region_variant")
        else:
            if i_s <= s0 - 1 and s0 < i_e:  # both flanks intronic
                intron_hits.append(i)
                if s0 - 1 >= i_s + 2 and s0 < i_e - 2:
                    terms.add("intron_variant")
                if s0 == (i_s + 1 if plus else i_e - 1):
                    terms.add("splice_donor_variant")
                if s0 == (i_e - 1 if plus else i_s + 1):
                    terms.add("splice_acceptor_variant")
                if (i_s + 2 <= s0 - 1 < i_s + 8) or (i_e - 8 < s0 < i_e - 2 + 1):
                    terms.add("splice_region_variant")
            elif (i_s - 3 < s0 <= i_s) or (i_e <= s0 - 1 < i_e + 3) or s0 == i_s or s0 == i_e:
                terms.add("splice_region_variant")
    return intron_hits


def _number_exons_introns(
    tx: Transcript, eff: GeneEffect, exon_hits: list[int], intron_hits: list[int]
) -> None:
    """VEP's EXON/INTRON fields ("k/n" or "k-k2/n", in transcript order)."""
    plus = tx.strand == "+"
    n_exons = len(tx.exons)
    if intron_hits:
        k = intron_hits[0] if plus else n_exons - 2 - intron_hits[-1]
        k2 = intron_hits[-1] if plus else n_exons - 2 - intron_hits[0]
        eff.intron = f"{k + 1}/{n_exons - 1}" if k == k2 else f"{k + 1}-{k2 + 1}/{n_exons - 1}"
    if exon_hits:
        k = exon_hits[0] if plus else n_exons - 1 - exon_hits[-1]
        k2 = exon_hits[-1] if plus else n_exons - 1 - exon_hits[0]
        eff.exon = f"{k + 1}/{n_exons}" if k == k2 else f"{k + 1}-{k2 + 1}/{n_exons}"


def _exon_terms(
    bundle: Any,
    tx: Transcript,
    eff: GeneEffect,
    s0: int,
    r: str,
    a: str,
    seq_ok: bool,
    lo: int,
    hi: int,
    exon_hits: list[int],
    terms: set[str],
) -> None:
    """Adds the terms of the exonic part: non-coding exon, UTRs, and the coding effect."""
    plus = tx.strand == "+"
    if not tx.coding:
        terms.add("non_coding_transcript_exon_variant")
    else:
        cs, ce = tx.cds_start0, tx.cds_end0
        assert cs is not None and ce is not None
        exonic = [(max(lo, tx.exons[i][0]), min(hi, tx.exons[i][1])) for i in exon_hits]
        if any(x < cs for x, _ in exonic):
            terms.add("5_prime_UTR_variant" if plus else "3_prime_UTR_variant")
        if any(y > ce for _, y in exonic):
            terms.add("3_prime_UTR_variant" if plus else "5_prime_UTR_variant")
        if r:
            in_cds = any(x < ce and y > cs for x, y in exonic)
        else:
            in_cds = cs <= s0 - 1 and s0 < ce
        if in_cds:
            terms.update(coding_effect(bundle, tx, eff, s0, r, a, seq_ok))


def _positions(tx: Transcript, eff: GeneEffect, s0: int, r: str) -> None:
    """cDNA_position and CDS_position of an exonic change (VEP's spans)."""
    plus = tx.strand == "+"
    ends = (s0, s0 + len(r) - 1) if r else (s0 - 1, s0)  # an insertion: its two flanking bases
    ends = ends if plus else ends[::-1]  # transcript order
    eff.cdna_position = _vep_span([tx.tx_offset(p) for p in ends])
    if tx.coding:
        cds_len = tx.cds_length
        offsets = [tx.cds_offset(p) for p in ends]
        eff.cds_span = _vep_span([o if o is not None and 0 <= o < cds_len else None for o in offsets])


def _vep_span(offsets: list[int | None]) -> str:
    """VEP's cDNA_position/CDS_position from the 0-based offsets of the first and last base (transcript
    order): `12`,
    `12-14` (ascending), `?-14` when one end lies outside (intron, UTR), empty when both do."""
    if all(o is None for o in offsets):
        return ""
    known = sorted(o + 1 for o in offsets if o is not None)
    if len(known) == 1:
        return f"?-{known[0]}" if offsets[0] is None else f"{known[0]}-?"
    lo, hi = known
    return str(lo) if lo == hi else f"{lo}-{hi}"


def hgvsg(chrom: str, start0: int, ref: str, alt: str) -> str:
    """Genomic HGVS of one VCF allele (`chr20:g.4699525C>T`, `g.10_12del`, `g.10_11insAC`, `g.10_12delinsT`).

    Like our HGVSc, not 3'-shifted and insertions are never written as `dup` (docs/output.md)."""
    if len(ref) == 1 and len(alt) == 1 and ref != alt and ref.isupper() and alt.isupper():  # an SNV
        return f"{chrom}:g.{start0 + 1}{ref}>{alt}"
    s0, r, a = normalise(start0, ref.upper(), alt.upper())
    if not r and not a:
        return ""
    if not r:  # between s0 (1-based) and s0 + 1
        return f"{chrom}:g.{s0}_{s0 + 1}ins{a}"
    span = str(s0 + 1) if len(r) == 1 else f"{s0 + 1}_{s0 + len(r)}"
    if len(r) == 1 and len(a) == 1:
        return f"{chrom}:g.{span}{r}>{a}"
    return f"{chrom}:g.{span}del" if not a else f"{chrom}:g.{span}delins{a}"


# ---------------------------------------------------------------- protein -> genome


def protein_variant_to_alleles(bundle: Any, pv: ProteinVariant) -> list[Allele]:
    """Every SNV in the gene's CDS that turns the reference codon at `pv.position` into a codon for
    `pv.alt_aa`; [] when the gene/sequence is unknown or the reference residue does not match."""
    tx = bundle.transcripts.by_gene(pv.gene)
    if tx is None or not tx.coding or bundle.genome.length(tx.chrom) == 0:
        return []
    cds = cds_seq(bundle, tx)
    i = (pv.position - 1) * 3
    codon = cds[i : i + 3]
    ref_aa, alt_aa = AA1.get(pv.ref_aa, pv.ref_aa), AA1.get(pv.alt_aa, pv.alt_aa)
    if len(codon) < 3 or CODON_TABLE.get(codon) != ref_aa:
        return []
    out = []
    for k in range(3):
        for base in "ACGT":
            if base == codon[k]:
                continue
            alt_codon = codon[:k] + base + codon[k + 1 :]
            if CODON_TABLE[alt_codon] != alt_aa:
                continue
            pos0 = tx.genomic_of_offset(tx.cds_tx_start + i + k)  # type: ignore[operator]
            if pos0 is None:
                continue
            ref_b, alt_b = (codon[k], base) if tx.strand == "+" else (revcomp(codon[k]), revcomp(base))
            out.append(Allele(chrom=tx.chrom, pos=pos0 + 1, ref=ref_b, alt=alt_b))
    out.sort(key=lambda al: (al.pos, al.alt))
    return out
