"""Consequence of one ALT allele on every canonical transcript within 5 kb (VEP rules, SO terms).

What VEP does for a canonical transcript, restricted to what our records carry: SO terms (most severe
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
from biblip_cli.features.codons import AA1, CODON_TABLE, revcomp, three_letter, translate, translate_to_stop
from biblip_cli.records import SO_TERMS, Allele, AlleleAnnotation, GeneEffect, ProteinVariant, so_impact

FLANK = 5000  # upstream/downstream window (VEP default)
_SEVERITY = {term: i for i, term in enumerate(SO_TERMS)}
_ACGT = frozenset("ACGT")


class _GenomeLike(Protocol):
    def resolve(self, chrom: str) -> str | None: ...
    def fetch(self, chrom: str, start0: int, end0: int) -> str: ...
    def length(self, contig: str) -> int: ...


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
        if any(r != f and r in _ACGT and f in _ACGT for r, f in zip(ref, fasta)):
            status = "ref_mismatch"
            note = f"REF {ref} differs from the reference {fasta} at {allele.chrom}:{allele.pos}"
    s0, r, a = normalise(start0, ref, alt)
    if not r and not a:
        return AlleleAnnotation(allele, status="skipped", note="ALT equals REF")
    seq_ok = status == "ok" and bool(length) and all(c in _ACGT for c in r + a)
    e0 = s0 + len(r)
    effects = [
        _effect(bundle, tx, s0, e0, r, a, seq_ok)
        for tx in bundle.transcripts.overlapping(
            contig, s0 if r else s0 - 1, e0 if r else s0 + 1, flank=FLANK
        )
    ]
    effects = [e for e in effects if e is not None]
    effects.sort(key=lambda e: (_SEVERITY.get(e.consequences[0], 99), abs(e.tss_distance), e.gene))
    return AlleleAnnotation(allele, effects=effects, status=status, note=note)


# ---------------------------------------------------------------- per transcript


def _cds_seq(bundle: Any, tx: Transcript) -> str:
    got = tx._cache.get("cds_seq")
    if got is None:
        genomic = "".join(bundle.genome.fetch(tx.chrom, s, e) for s, e in sorted(tx.cds_segments()))
        got = genomic if tx.strand == "+" else revcomp(genomic)
        tx._cache["cds_seq"] = got
    return got


def _utr3_seq(bundle: Any, tx: Transcript) -> str:
    """Spliced 3' UTR (transcript orientation), for reading frameshifts and stop losses through."""
    got = tx._cache.get("utr3_seq")
    if got is None:
        assert tx.cds_start0 is not None and tx.cds_end0 is not None
        if tx.strand == "+":
            segs = [(max(s, tx.cds_end0), e) for s, e in tx.exons if e > tx.cds_end0]
            got = "".join(bundle.genome.fetch(tx.chrom, s, e) for s, e in segs)
        else:
            segs = [(s, min(e, tx.cds_start0)) for s, e in tx.exons if s < tx.cds_start0]
            got = revcomp("".join(bundle.genome.fetch(tx.chrom, s, e) for s, e in segs))
        tx._cache["utr3_seq"] = got
    return got


def _c_pos(tx: Transcript, pos0: int) -> str:
    """HGVS c./n. coordinate of a genomic base (exonic `350`, `-14`, `*20`; intronic `350+5`, `351-2`)."""
    off = tx.tx_offset(pos0)
    if off is not None:
        return _c_of_offset(tx, off)
    # intronic: nearest exon boundary in transcript orientation
    for i in range(len(tx.exons) - 1):
        left_end, right_start = tx.exons[i][1], tx.exons[i + 1][0]
        if left_end <= pos0 < right_start:
            d_left, d_right = pos0 - left_end + 1, right_start - pos0
            if tx.strand == "+":
                if d_left <= d_right:
                    return f"{_c_of_offset(tx, tx.tx_offset(left_end - 1))}+{d_left}"  # type: ignore[arg-type]
                return f"{_c_of_offset(tx, tx.tx_offset(right_start))}-{d_right}"  # type: ignore[arg-type]
            if d_right <= d_left:
                return f"{_c_of_offset(tx, tx.tx_offset(right_start))}+{d_right}"  # type: ignore[arg-type]
            return f"{_c_of_offset(tx, tx.tx_offset(left_end - 1))}-{d_left}"  # type: ignore[arg-type]
    return "?"


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
        tss_distance=tss,
    )  # fmt: skip
    if tx.coding:
        eff.protein_length = tx.cds_length // 3 - 1
    # interval of reference bases the allele touches (an insertion touches its two flanking bases)
    lo, hi = (s0, e0) if r else (s0 - 1, s0 + 1)
    if hi <= tx.start0 or lo >= tx.end0:
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

    terms: set[str] = set()
    n_exons = len(tx.exons)
    exon_hits = [i for i, (s, e) in enumerate(tx.exons) if s < hi and e > lo]
    if not r and exon_hits:  # an insertion is exonic only if both flanking bases are in one exon
        exon_hits = [i for i in exon_hits if tx.exons[i][0] <= s0 - 1 and s0 < tx.exons[i][1]]
    intron_hits = []
    for i in range(n_exons - 1):
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
    if intron_hits:
        k = intron_hits[0] if plus else n_exons - 2 - intron_hits[-1]
        k2 = intron_hits[-1] if plus else n_exons - 2 - intron_hits[0]
        eff.intron = f"{k + 1}/{n_exons - 1}" if k == k2 else f"{k + 1}-{k2 + 1}/{n_exons - 1}"
    if exon_hits:
        k = exon_hits[0] if plus else n_exons - 1 - exon_hits[-1]
        k2 = exon_hits[-1] if plus else n_exons - 1 - exon_hits[0]
        eff.exon = f"{k + 1}/{n_exons}" if k == k2 else f"{k + 1}-{k2 + 1}/{n_exons}"

    if exon_hits:
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
                terms.update(_coding(bundle, tx, eff, s0, r, a, seq_ok))
    if not tx.coding and (intron_hits or not exon_hits):
        terms.add("non_coding_transcript_variant")
    if not terms:
        terms.add("intron_variant" if intron_hits else "coding_sequence_variant")
    eff.consequences = sorted(terms, key=lambda t: _SEVERITY.get(t, 99))
    eff.impact = so_impact(eff.consequences[0])
    eff.hgvsc = _hgvsc(tx, s0, r, a)
    return eff


def _coding(bundle: Any, tx: Transcript, eff: GeneEffect, s0: int, r: str, a: str, seq_ok: bool) -> set[str]:
    """Terms and protein fields for a change that touches the CDS (sets `eff` fields in place)."""
    plus = tx.strand == "+"
    cds_len = tx.cds_length
    if r:
        offs = [tx.cds_offset(p) for p in range(s0, s0 + len(r))]
        clean = all(o is not None and 0 <= o < cds_len for o in offs)
        if clean:
            c_lo, c_hi = min(offs), max(offs)  # type: ignore[type-var]
            clean = c_hi - c_lo == len(r) - 1  # no intron inside the deleted span
    else:
        o1, o2 = tx.cds_offset(s0 - 1), tx.cds_offset(s0)
        clean = o1 is not None and o2 is not None and abs(o1 - o2) == 1
        if clean:
            c_lo = min(o1, o2) + 1  # type: ignore[type-var]
            c_hi = c_lo - 1
    if not clean:
        # spans a CDS/UTR or exon/intron edge: VEP gives location terms plus coding_sequence_variant
        first = [tx.cds_offset(p) for p in range(s0, s0 + max(len(r), 1))]
        terms = {"coding_sequence_variant"}
        if any(o is not None and 0 <= o < 3 for o in first):
            terms.add("start_lost")
        if any(o is not None and cds_len - 3 <= o < cds_len for o in first):
            terms.add("stop_lost")
        return terms
    eff.cds_position = c_lo + 1
    eff.protein_position = c_lo // 3 + 1
    if not seq_ok:
        return {"coding_sequence_variant"}
    cds = _cds_seq(bundle, tx)
    rt, at = (r, a) if plus else (revcomp(r), revcomp(a))
    if cds[c_lo : c_hi + 1] != rt:
        return {"coding_sequence_variant"}
    new = cds[:c_lo] + at + cds[c_hi + 1 :]
    first_codon = c_lo // 3
    d = len(at) - len(rt)
    last_codon = max(c_hi, c_lo) // 3 if rt else c_lo // 3
    if not rt and c_lo % 3 == 0:  # insertion exactly between codons touches no ref codon
        last_codon = first_codon - 1 if first_codon > 0 else 0
    ref_seg = cds[first_codon * 3 : (last_codon + 1) * 3]
    alt_seg = new[first_codon * 3 : (last_codon + 1) * 3 + d]
    rel = c_lo - first_codon * 3
    eff.codons = _codon_text(ref_seg, rel, len(rt)) + "/" + _codon_text(alt_seg, rel, len(at))
    ref_p = translate(ref_seg)
    pos = first_codon + 1
    if "X" in ref_p:
        return {"coding_sequence_variant"}
    if d % 3:
        return _frameshift(bundle, tx, eff, cds, new, first_codon)
    alt_p = translate(alt_seg)
    if "X" in alt_p:
        return {"coding_sequence_variant"}
    # trim the common amino-acid prefix/suffix to name the change
    i = 0
    while i < len(ref_p) and i < len(alt_p) and ref_p[i] == alt_p[i]:
        i += 1
    j = 0
    while j < len(ref_p) - i and j < len(alt_p) - i and ref_p[-1 - j] == alt_p[-1 - j]:
        j += 1
    rp, ap = ref_p[i : len(ref_p) - j], alt_p[i : len(alt_p) - j]
    p1 = pos + i
    terms: set[str] = set()
    eff.amino_acids = f"{ref_p}/{alt_p}" if ref_p != alt_p else ref_p
    if not ref_p and d:
        eff.amino_acids = f"-/{alt_p}"
    eff.ref_aa, eff.alt_aa = (rp or ref_p[:1]), ap
    starts_at_1 = first_codon == 0 and ref_p[:1] == "M"
    if starts_at_1 and alt_p[:1] != "M":
        eff.hgvsp = "p.Met1?"
        return {"start_lost"}
    if d == 0 and len(rt) == 1 and ref_p == alt_p:
        eff.alt_aa = alt_p
        eff.ref_aa = ref_p
        if starts_at_1:
            eff.hgvsp = f"p.Met{pos}="
            return {"start_retained_variant"}
        if ref_p == "*":
            eff.hgvsp = f"p.Ter{pos}="
            return {"stop_retained_variant"}
        eff.hgvsp = f"p.{three_letter(ref_p)}{pos}="
        return {"synonymous_variant"}
    if not rp and not ap:  # in-frame change that keeps the peptide (e.g. MNV synonymous)
        eff.hgvsp = f"p.{three_letter(ref_p[:1])}{pos}="
        return {"stop_retained_variant" if "*" in ref_p else "synonymous_variant"}
    if "*" in rp and "*" not in ap:  # stop codon changed to sense
        ext = translate_to_stop(new[(pos - 1 + i) * 3 :] + _utr3_seq(bundle, tx))
        tail = f"Ter{len(ext)}" if ext.endswith("*") else "Ter?"
        eff.hgvsp = f"p.Ter{p1}{three_letter(ap[:1] or ext[:1])}ext{tail}"
        terms.add("stop_lost")
        return terms
    if "*" in ap and "*" not in rp:
        stop_at = ap.index("*")
        if stop_at == 0 and len(rp) >= 1:
            eff.hgvsp = f"p.{three_letter(rp[0])}{p1}Ter"
        else:
            eff.hgvsp = f"p.{three_letter(rp[:1])}{p1}delins{three_letter(ap[: stop_at + 1])}"
        terms.add("stop_gained")
        if d > 0:
            terms.add("inframe_insertion")
        elif d < 0:
            terms.add("inframe_deletion")
        return terms
    if d == 0:
        if len(rp) == 1 and len(ap) == 1:
            eff.hgvsp = f"p.{three_letter(rp)}{p1}{three_letter(ap)}"
        else:
            eff.hgvsp = f"p.{three_letter(rp[0])}{p1}_{three_letter(rp[-1])}{p1 + len(rp) - 1}delins{three_letter(ap)}"
        return {"missense_variant"}
    if not rp:  # pure insertion between residues p1-1 and p1
        left, right = (
            ref_p[i - 1] if i > 0 else cds_aa(cds, p1 - 2),
            ref_p[i] if i < len(ref_p) else cds_aa(cds, p1 - 1),
        )
        eff.hgvsp = f"p.{three_letter(left)}{p1 - 1}_{three_letter(right)}{p1}ins{three_letter(ap)}"
        return {"inframe_insertion"}
    if not ap:
        span = (
            f"{three_letter(rp[0])}{p1}"
            if len(rp) == 1
            else f"{three_letter(rp[0])}{p1}_{three_letter(rp[-1])}{p1 + len(rp) - 1}"
        )
        eff.hgvsp = f"p.{span}del"
        return {"inframe_deletion"}
    span = (
        f"{three_letter(rp[0])}{p1}"
        if len(rp) == 1
        else f"{three_letter(rp[0])}{p1}_{three_letter(rp[-1])}{p1 + len(rp) - 1}"
    )
    eff.hgvsp = f"p.{span}delins{three_letter(ap)}"
    return (
        {"inframe_insertion" if d > 0 else "inframe_deletion"}
        if len(rp) == 1 or len(ap) == 1
        else {"protein_altering_variant"}
    )


def cds_aa(cds: str, index0: int) -> str:
    """One-letter residue at 0-based residue index of a CDS (X outside)."""
    if index0 < 0 or index0 * 3 + 3 > len(cds):
        return "X"
    return CODON_TABLE.get(cds[index0 * 3 : index0 * 3 + 3], "X")


def _codon_text(seg: str, rel: int, n: int) -> str:
    """VEP codon notation: changed bases upper case, the rest lower case; '-' when empty."""
    if not seg:
        return "-"
    return seg[:rel].lower() + seg[rel : rel + n].upper() + seg[rel + n :].lower()


def _frameshift(
    bundle: Any, tx: Transcript, eff: GeneEffect, cds: str, new: str, first_codon: int
) -> set[str]:
    ref_prot = translate(cds)
    alt_prot = translate_to_stop(new[first_codon * 3 :] + _utr3_seq(bundle, tx))
    k = 0
    while k < len(alt_prot) and first_codon + k < len(ref_prot) and alt_prot[k] == ref_prot[first_codon + k]:
        k += 1
    p = first_codon + k + 1
    eff.protein_position = p
    ref_aa = ref_prot[p - 1] if p - 1 < len(ref_prot) else "X"
    eff.ref_aa = ref_aa
    if k >= len(alt_prot):
        eff.hgvsp = f"p.{three_letter(ref_aa)}{p}fs"
        return {"frameshift_variant"}
    alt_aa = alt_prot[k]
    eff.alt_aa = alt_aa
    eff.amino_acids = f"{ref_aa}/X"
    if ref_aa == "*":
        tail = alt_prot[k:]
        eff.hgvsp = f"p.Ter{p}{three_letter(alt_aa)}extTer{len(tail) if tail.endswith('*') else '?'}"
        return {"frameshift_variant", "stop_lost"}
    if alt_aa == "*":
        eff.hgvsp = f"p.{three_letter(ref_aa)}{p}Ter"
        return {"frameshift_variant"}
    tail = alt_prot[k:]
    ter = f"Ter{len(tail)}" if tail.endswith("*") else "Ter?"
    eff.hgvsp = f"p.{three_letter(ref_aa)}{p}{three_letter(alt_aa)}fs{ter}"
    if first_codon == 0 and alt_prot[:1] != "M":
        eff.hgvsp = "p.Met1?"  # HGVS: a lost start makes the protein unpredictable
        return {"frameshift_variant", "start_lost"}
    return {"frameshift_variant"}


# ---------------------------------------------------------------- protein -> genome


def protein_variant_to_alleles(bundle: Any, pv: ProteinVariant) -> list[Allele]:
    """Every SNV in the gene's CDS that turns the reference codon at `pv.position` into a codon for
    `pv.alt_aa`; [] when the gene/sequence is unknown or the reference residue does not match."""
    tx = bundle.transcripts.by_gene(pv.gene)
    if tx is None or not tx.coding or bundle.genome.length(tx.chrom) == 0:
        return []
    cds = _cds_seq(bundle, tx)
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
