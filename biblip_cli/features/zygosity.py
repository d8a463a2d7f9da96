"""One sample's call for one ALT allele (`Call`, `call_for`): zygosity from GT (index k = alt_index + 1:
copies of k among the called alleles; a male outside the PARs of chrX/chrY is hemizygous, haploid calls too),
DP/GQ, and where an allele came from in a trio (`inherited_from`, `de_novo`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from biblip_cli.features.pedigree import (
    HEMI,
    HET,
    HOM,
    MISSING,
    REF,
    UNKNOWN,
    hemizygous_region,
    in_par,
    is_sex_chrom,
)

# --- calls ----------------------------------------------------------------------------------------
# A parent counts as homozygous reference for de novo calls only with this much evidence, where the
# VCF has the field (DP/GQ absent from the record or `.` for the sample: not checked).
PARENT_MIN_DP = 10
PARENT_MIN_GQ = 20


@dataclass(frozen=True)
class Call:
    """One sample's call for one ALT allele."""

    zygosity: str  # het | hom | hemi | ref | missing | unknown
    copies: int = 0
    phased: bool = False
    haplotype: int | None = None  # 0/1: which haplotype carries the allele when phased and het
    phase_set: int | None = None
    depth: int | None = None  # FORMAT/DP; None when absent
    gq: int | None = None  # FORMAT/GQ; None when absent

    @property
    def carries(self) -> bool:
        return self.zygosity in (HET, HOM, HEMI)

    @property
    def called(self) -> bool:
        return self.zygosity not in (MISSING, UNKNOWN)

    @property
    def biallelic(self) -> bool:
        """No reference copy left: homozygous, or hemizygous (one X in a male, a haploid call)."""
        return self.zygosity in (HOM, HEMI)

    def confident_ref(self, min_dp: int = PARENT_MIN_DP, min_gq: int = PARENT_MIN_GQ) -> bool:
        """Homozygous reference with DP >= min_dp and GQ >= min_gq (each checked only when present)."""
        return (
            self.zygosity == REF
            and (self.depth is None or self.depth >= min_dp)
            and (self.gq is None or self.gq >= min_gq)
        )


def call_for(
    gt: Sequence[Any] | None,
    allele_index: int,
    chrom: str,
    pos: int,
    sex: int = 0,
    phase_set: int | None = None,
    depth: int | None = None,
    gq: int | None = None,
) -> Call:
    """Zygosity of ALT `allele_index` (1-based) from a cyvcf2 genotype `[a1, a2, ..., phased]`."""
    if gt is None:
        return Call(UNKNOWN)
    *alleles_, phased = gt
    called = [a for a in alleles_ if a is not None and a >= 0]
    if not called:
        return Call(MISSING, depth=depth, gq=gq)
    copies = sum(1 for a in called if a == allele_index)
    if copies == 0:
        return Call(REF, 0, depth=depth, gq=gq)
    male_x = sex == 1 and is_sex_chrom(chrom) and not in_par(chrom, pos)
    if len(alleles_) == 1 or male_x:
        return Call(HEMI, copies, bool(phased), depth=depth, gq=gq)
    if copies >= 2:
        return Call(HOM, copies, bool(phased), depth=depth, gq=gq)
    hap = next((i for i, a in enumerate(alleles_) if a == allele_index), None) if phased else None
    return Call(HET, 1, bool(phased), hap, phase_set, depth, gq)


def format_ints(variant: Any, name: str) -> list[int | None] | None:
    """FORMAT/`name` (DP, GQ, PS) of a cyvcf2 record per sample, None for `.`; None without the field."""
    try:
        values = variant.format(name)
    except Exception:  # noqa: BLE001 - the field is not in the header
        return None
    if values is None:
        return None
    out: list[int | None] = []
    for row in values:
        v = float(row[0]) if len(row) else math.nan
        out.append(None if math.isnan(v) or v < 0 else int(v))  # int missing = -2**31
    return out


# --- parents: where an allele came from, de novo ----------------------------------------------------
PATERNAL, MATERNAL, BOTH_PARENTS, DE_NOVO, ORIGIN_UNKNOWN = "paternal", "maternal", "both", "de_novo", ""


def inherited_from(
    child: Call, father: Call | None, mother: Call | None, chrom: str = "", pos: int = 0, sex: int = 0
) -> str:
    """paternal | maternal | both | de_novo | '' (unknown) for an allele the child carries.

    A male's chrX outside the PARs comes from the mother only (chrY from the father only): the
    other parent's call is ignored there. de_novo needs the parent(s) called homozygous reference
    with enough depth (`Call.confident_ref`); a missing or thin parental call leaves it unknown."""
    if not child.carries:
        return ORIGIN_UNKNOWN
    region = hemizygous_region(chrom, pos, sex)
    if region:
        parent, side = (mother, MATERNAL) if region == "X" else (father, PATERNAL)
        if parent is None or not parent.called:
            return ORIGIN_UNKNOWN
        if parent.carries:
            return side
        return DE_NOVO if parent.confident_ref() else ORIGIN_UNKNOWN
    if father is None or mother is None or not father.called or not mother.called:
        return ORIGIN_UNKNOWN
    if father.carries and mother.carries:
        return BOTH_PARENTS
    if father.carries:
        return PATERNAL if mother.zygosity == REF else ORIGIN_UNKNOWN
    if mother.carries:
        return MATERNAL if father.zygosity == REF else ORIGIN_UNKNOWN
    return DE_NOVO if father.confident_ref() and mother.confident_ref() else ORIGIN_UNKNOWN


def de_novo(
    child: Call, father: Call | None, mother: Call | None, chrom: str = "", pos: int = 0, sex: int = 0
) -> bool:
    """Child carries the allele and both parents were called homozygous reference with DP >= 10 and
    GQ >= 20 where present (a male's chrX outside the PARs: the mother only)."""
    return inherited_from(child, father, mother, chrom, pos, sex) == DE_NOVO
