"""The coding part of a consequence: a change inside a CDS -> SO terms, HGVSp, codons, amino acids.

Called by consequence.py for every transcript whose CDS the change touches; the CDS and 3' UTR
sequences are fetched once per transcript and cached on it.
"""

from __future__ import annotations

from typing import Any

from biblip_cli.bundle.genes import Transcript
from biblip_cli.features.codons import CODON_TABLE, revcomp, three_letter, translate, translate_to_stop
from biblip_cli.records import GeneEffect


def cds_seq(bundle: Any, tx: Transcript) -> str:
    got = tx._cache.get("cds_seq")
    if got is None:
        genomic = "".join(bundle.genome.fetch(tx.chrom, s, e) for s, e in sorted(tx.cds_segments()))
        got = genomic if tx.strand == "+" else revcomp(genomic)
        tx._cache["cds_seq"] = got
    return got


def utr3_seq(bundle: Any, tx: Transcript) -> str:
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


def coding_effect(
    bundle: Any, tx: Transcript, eff: GeneEffect, s0: int, r: str, a: str, seq_ok: bool
) -> set[str]:
    """Terms and protein fields for a change that touches the CDS (sets `eff` fields in place)."""
    plus = tx.strand == "+"
    cds_len = tx.cds_length
    span = _cds_span(tx, s0, r, cds_len)
    if span is None:
        return _edge_terms(tx, s0, r, cds_len)
    c_lo, c_hi = span
    eff.cds_position = c_lo + 1
    eff.protein_position = c_lo // 3 + 1
    if not seq_ok:
        return {"coding_sequence_variant"}
    cds = cds_seq(bundle, tx)
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
    if "X" in ref_p:
        return {"coding_sequence_variant"}
    if d % 3:
        return _frameshift(bundle, tx, eff, cds, new, first_codon)
    alt_p = translate(alt_seg)
    if "X" in alt_p:
        return {"coding_sequence_variant"}
    return _protein_change(bundle, tx, eff, cds, new, ref_p, alt_p, first_codon, rt, d)


def _cds_span(tx: Transcript, s0: int, r: str, cds_len: int) -> tuple[int, int] | None:
    """The change's CDS offsets (c_lo, c_hi; an insertion: c_hi = c_lo - 1), None where it is not clean:
    outside the CDS, across an intron, or (an insertion) not between two adjacent CDS bases."""
    if r:
        offs = [tx.cds_offset(p) for p in range(s0, s0 + len(r))]
        if not all(o is not None and 0 <= o < cds_len for o in offs):
            return None
        c_lo, c_hi = min(offs), max(offs)  # type: ignore[type-var]
        return (c_lo, c_hi) if c_hi - c_lo == len(r) - 1 else None  # no intron inside the deleted span
    o1, o2 = tx.cds_offset(s0 - 1), tx.cds_offset(s0)
    if o1 is None or o2 is None or abs(o1 - o2) != 1:
        return None
    c_lo = min(o1, o2) + 1
    return c_lo, c_lo - 1


def _edge_terms(tx: Transcript, s0: int, r: str, cds_len: int) -> set[str]:
    """A change that spans a CDS/UTR or exon/intron edge: VEP gives location terms plus
    coding_sequence_variant."""
    first = [tx.cds_offset(p) for p in range(s0, s0 + max(len(r), 1))]
    terms = {"coding_sequence_variant"}
    if any(o is not None and 0 <= o < 3 for o in first):
        terms.add("start_lost")
    if any(o is not None and cds_len - 3 <= o < cds_len for o in first):
        terms.add("stop_lost")
    return terms


def _protein_change(
    bundle: Any,
    tx: Transcript,
    eff: GeneEffect,
    cds: str,
    new: str,
    ref_p: str,
    alt_p: str,
    first_codon: int,
    rt: str,
    d: int,
) -> set[str]:
    """An in-frame change's terms and HGVSp from the ref and alt peptides of the touched codons."""
    pos = first_codon + 1
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
        ext = translate_to_stop(new[(pos - 1 + i) * 3 :] + utr3_seq(bundle, tx))
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
    return _inframe_change(eff, cds, ref_p, rp, ap, i, p1, d)


def _inframe_change(
    eff: GeneEffect, cds: str, ref_p: str, rp: str, ap: str, i: int, p1: int, d: int
) -> set[str]:
    """Missense, in-frame insertion/deletion/delins: `rp`/`ap` are the changed residues from `p1`."""
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
    alt_prot = translate_to_stop(new[first_codon * 3 :] + utr3_seq(bundle, tx))
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
