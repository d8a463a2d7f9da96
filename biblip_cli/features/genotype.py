"""Genotypes for `biblip rank`: zygosity per allele, PED pedigrees, de novo and segregation, compound hets.

Zygosity comes from the GT of one sample for one ALT allele (index k = alt_index + 1): copies of k
among the called alleles. A male (PED sex 1) outside the pseudo-autosomal regions of chrX/chrY is
hemizygous when he carries the allele; haploid calls are hemizygous too.

Family logic (`family_logic`, the rule table in docs/rank.md "Family rules", one test per row in
tests/test_family.py): compound hets only in trans (phase sets, else one allele from each parent) and
only in genes with a recessive or unknown mode, else "possible"; de novo only against confident
hom-ref parents (DP >= 10, GQ >= 20 where present); segregation by the gene's modes.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from biblip_cli.errors import BiblipError
from biblip_cli.io.textfiles import read_user_text

# GRCh38 pseudo-autosomal regions (1-based, inclusive)
PAR = {
    "X": ((10_001, 2_781_479), (155_701_383, 156_030_895)),
    "Y": ((10_001, 2_781_479), (56_887_903, 57_217_415)),
}

HET, HOM, HEMI, REF, MISSING, UNKNOWN = "het", "hom", "hemi", "ref", "missing", "unknown"


@dataclass(frozen=True)
class Person:
    family: str
    id: str
    father: str  # "0" = not in the pedigree
    mother: str
    sex: int  # 1 male, 2 female, 0 unknown
    affected: int  # 2 affected, 1 unaffected, 0 unknown


@dataclass
class Pedigree:
    people: dict[str, Person] = field(default_factory=dict)

    def affected(self) -> list[Person]:
        return [p for p in self.people.values() if p.affected == 2]

    def parents(self, sample: str) -> tuple[str | None, str | None]:
        person = self.people.get(sample)
        if person is None:
            return None, None
        return (
            person.father if person.father != "0" else None,
            person.mother if person.mother != "0" else None,
        )


SEX = {"1": 1, "2": 2, "0": 0, "other": 0, "unknown": 0}
AFFECTED = {"2": 2, "1": 1, "0": 0, "-9": 0}


def read_ped(path: Path) -> Pedigree:
    """A PLINK/PED pedigree: 6 whitespace-separated columns (family, individual, father, mother,
    sex 1/2/0, phenotype 2 affected / 1 unaffected / 0 or -9 unknown); `#` lines are comments."""
    path = Path(path)
    text = read_user_text(path, "PED file", hint="use a text PED file")
    ped = Pedigree()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cols = line.split()
        where = f"{path}: line {number}"
        if len(cols) < 6:
            raise BiblipError(
                f"PED line has {len(cols)} columns, expected 6",
                where=where,
                hint="columns: family individual father mother sex(1/2/0) phenotype(2 affected/1 unaffected/0)",
            )
        family, ind, father, mother, sex, pheno = cols[:6]
        if sex.lower() not in SEX:
            raise BiblipError(
                f"sex must be 1, 2 or 0, got {sex!r}", where=where, hint="1 = male, 2 = female, 0 = unknown"
            )
        if pheno not in AFFECTED:
            raise BiblipError(
                f"phenotype must be 2, 1, 0 or -9, got {pheno!r}",
                where=where,
                hint="2 = affected, 1 = unaffected",
            )
        if ind in ped.people:
            raise BiblipError(f"individual {ind!r} listed twice", where=where, hint="one line per individual")
        if ind in (father, mother):
            raise BiblipError(
                f"{ind!r} is their own parent", where=where, hint="check the father/mother columns"
            )
        ped.people[ind] = Person(family, ind, father, mother, SEX[sex.lower()], AFFECTED[pheno])
    if not ped.people:
        raise BiblipError(
            "PED file lists no individuals", where=str(path), hint="one line per individual, 6 columns"
        )
    return ped


def choose_proband(
    samples: Sequence[str], sample: str | None, ped: Pedigree | None, where: str
) -> str | None:
    """`--sample`, else the first affected PED individual present in the VCF, else the only sample.

    None when the VCF has no samples (then every allele is a candidate with unknown zygosity)."""
    listing = ", ".join(samples[:20]) + (" ..." if len(samples) > 20 else "")
    if sample:
        if sample not in samples:
            raise BiblipError(
                f"sample {sample!r} is not in the VCF",
                where=where,
                hint=f"samples: {listing}" if samples else "the VCF has no samples",
            )
        return sample
    if not samples:
        return None
    if ped is not None:
        for person in ped.people.values():
            if person.affected == 2 and person.id in samples:
                return person.id
    if len(samples) == 1:
        return samples[0]
    raise BiblipError(
        f"the VCF has {len(samples)} samples; which is the proband?",
        where=where,
        hint=f"pass --sample NAME (or a --ped with the affected child); samples: {listing}",
    )


def _normal_chrom(chrom: str) -> str:
    c = chrom[3:] if chrom.lower().startswith("chr") else chrom
    return c.upper()


def in_par(chrom: str, pos: int) -> bool:
    return any(a <= pos <= b for a, b in PAR.get(_normal_chrom(chrom), ()))


def is_sex_chrom(chrom: str) -> bool:
    return _normal_chrom(chrom) in ("X", "Y")


def _hemizygous_region(chrom: str, pos: int, sex: int) -> str:
    """'X' or 'Y' for a male outside the PARs (one copy: X from the mother, Y from the father), else ''."""
    c = _normal_chrom(chrom)
    return c if sex == 1 and c in ("X", "Y") and not in_par(chrom, pos) else ""


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
    region = _hemizygous_region(chrom, pos, sex)
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


# --- compound heterozygotes -------------------------------------------------------------------------
# HPO modes (features/phenotype.INHERITANCE_MODES) by what segregation test they allow; XL (X-linked,
# unspecified) allows both. A gene without any mode is tested both ways (MT alone, too: segregation
# only; compound hets need a recessive mode or no mode at all).
DOMINANT_MODES = frozenset({"AD", "XLD", "XL", "Y"})
RECESSIVE_MODES = frozenset({"AR", "XLR", "XL"})
TRANS, CIS, PHASE_UNKNOWN = "trans", "cis", "unknown"


def _tests(modes: Any) -> tuple[bool, bool]:
    """(dominant test applies, recessive test applies) for a gene's modes."""
    m = set(modes or ())
    dominant, recessive = bool(m & DOMINANT_MODES), bool(m & RECESSIVE_MODES)
    return (dominant, recessive) if dominant or recessive else (True, True)


def may_be_recessive(modes: Any) -> bool:
    """A gene with a recessive mode (AR, XLR, XL), or with no known mode: compound hets can count."""
    return not modes or bool(set(modes) & RECESSIVE_MODES)


@dataclass
class GeneHit:
    """A candidate allele as seen by the compound-het and segregation checks."""

    key: str
    gene: str | None
    call: Call  # the proband's
    qualifies: bool  # damaging enough to count as one hit
    relatives: dict[str, Call] = field(default_factory=dict)  # PED samples in the VCF (the proband too)
    modes: Any = None  # the gene's modes (set of AD, AR, XL, ...); None or empty = unknown
    chrom: str = ""
    pos: int = 0


@dataclass(frozen=True)
class _Trio:
    proband: str | None
    father: str | None
    mother: str | None
    sex: int
    family: str | None


def _trio(ped: Pedigree | None, proband: str | None) -> _Trio:
    person = ped.people.get(proband) if ped is not None and proband else None
    if person is None:
        return _Trio(proband, None, None, 0, None)
    father, mother = ped.parents(proband)
    return _Trio(proband, father, mother, person.sex, person.family)


def _origin(hit: GeneHit, trio: _Trio) -> str:
    f = hit.relatives.get(trio.father) if trio.father else None
    m = hit.relatives.get(trio.mother) if trio.mother else None
    return inherited_from(hit.call, f, m, hit.chrom, hit.pos, trio.sex)


def _phase_by_ps(a: Call, b: Call) -> str | None:
    """trans/cis from phased genotypes in one phase set (a missing PS counts as the same set)."""
    if not (a.phased and b.phased) or a.haplotype is None or b.haplotype is None:
        return None
    if a.phase_set is not None and b.phase_set is not None and a.phase_set != b.phase_set:
        return None
    return CIS if a.haplotype == b.haplotype else TRANS


def pair_phase(a: GeneHit, b: GeneHit, trio: _Trio | None = None) -> tuple[str, str]:
    """(trans | cis | unknown, how: 'phased' | 'parents' | '') for two het alleles of the proband.

    Phased genotypes in one phase set decide first; else the parents: one allele from each parent is
    trans, both from the same parent cis. Anything else (no or missing parents, a de novo allele,
    an allele both parents carry) leaves the phase unknown."""
    by_ps = _phase_by_ps(a.call, b.call)
    if by_ps is not None:
        return by_ps, "phased"
    if trio is not None and (trio.father or trio.mother):
        oa, ob = _origin(a, trio), _origin(b, trio)
        if {oa, ob} == {PATERNAL, MATERNAL}:
            return TRANS, "parents"
        if oa == ob and oa in (PATERNAL, MATERNAL):
            return CIS, "parents"
    return PHASE_UNKNOWN, ""


@dataclass
class Pairs:
    trans: dict[str, list[str]]  # allele key -> partners known to be in trans: compound het
    possible: dict[str, list[str]]  # phase unknown: possible compound het
    how: dict[frozenset[str], str]  # pair -> 'phased' | 'parents' | ''


def compound_het_pairs(
    hits: Sequence[GeneHit], ped: Pedigree | None = None, proband: str | None = None
) -> Pairs:
    """Pairs of qualifying het alleles of the proband in one gene with a recessive (or unknown) mode.

    In trans (phased, or one from each parent): compound het. Phase unknown: possible compound
    het. In cis (same haplotype of one phase set, or both from the same parent): no pair."""
    trio = _trio(ped, proband)
    by_gene: dict[str, list[GeneHit]] = defaultdict(list)
    for hit in hits:
        if hit.gene and hit.qualifies and hit.call.zygosity == HET and may_be_recessive(hit.modes):
            by_gene[hit.gene].append(hit)
    pairs = Pairs(defaultdict(list), defaultdict(list), {})
    for gene_hits in by_gene.values():
        for i, a in enumerate(gene_hits):
            for b in gene_hits[i + 1 :]:
                phase, how = pair_phase(a, b, trio)
                if phase == CIS:
                    continue
                table = pairs.trans if phase == TRANS else pairs.possible
                table[a.key].append(b.key)
                table[b.key].append(a.key)
                pairs.how[frozenset((a.key, b.key))] = how
    pairs.trans, pairs.possible = dict(pairs.trans), dict(pairs.possible)
    return pairs


def compound_hets(
    hits: Sequence[GeneHit], ped: Pedigree | None = None, proband: str | None = None
) -> dict[str, list[str]]:
    """allele key -> partner keys in trans (the confirmed compound hets of `compound_het_pairs`)."""
    return compound_het_pairs(hits, ped, proband).trans


# --- segregation ------------------------------------------------------------------------------------
SEGREGATES, NOT_SEGREGATING = "segregates", "does_not_segregate"


@dataclass(frozen=True)
class Partner:
    """The other allele of a (possible) compound het, for the recessive segregation test."""

    relatives: dict[str, Call]
    by_parents: bool = (
        False  # each parent gave one of the two alleles (so a full sibling with both has them in trans)
    )


def _judged(calls: dict[str, Call], ped: Pedigree, trio: _Trio) -> list[tuple[Person, Call]]:
    out = []
    for sample, call in calls.items():
        person = ped.people.get(sample)
        if person is None or sample == trio.proband or not call.called or person.affected == 0:
            continue
        if trio.family is not None and person.family != trio.family:
            continue
        out.append((person, call))
    return out


def _full_sibling(person: Person, trio: _Trio) -> bool:
    return bool(trio.father and trio.mother) and (person.father, person.mother) == (trio.father, trio.mother)


def _dominant_fails(judged: list[tuple[Person, Call]]) -> list[str]:
    out = []
    for person, call in judged:
        if person.affected == 2 and not call.carries:
            out.append(f"affected {person.id} does not carry it")
        elif person.affected == 1 and call.carries:
            out.append(f"unaffected {person.id} carries it ({call.zygosity}; reduced penetrance?)")
    return out


def _pair_fails(judged: list[tuple[Person, Call]], partner: Partner, trio: _Trio) -> list[str]:
    out = []
    for person, a in judged:
        b = partner.relatives.get(person.id)
        if b is None or not b.called:
            continue
        if person.affected == 1:
            if a.biallelic or b.biallelic:
                out.append(f"unaffected {person.id} is {a.zygosity if a.biallelic else b.zygosity}")
            elif a.carries and b.carries:
                phase = _phase_by_ps(a, b)
                if phase == TRANS or (phase is None and partner.by_parents and _full_sibling(person, trio)):
                    out.append(f"unaffected {person.id} carries both alleles in trans")
        elif not (a.biallelic or b.biallelic or (a.carries and b.carries)):
            out.append(f"affected {person.id} does not carry both alleles")
    return out


def _recessive_fails(
    proband: Call, judged: list[tuple[Person, Call]], partners: Sequence[Partner], trio: _Trio
) -> list[str]:
    if proband.zygosity == HET and partners:
        reasons: list[str] = []
        for partner in partners:  # segregates when one pair does
            fails = _pair_fails(judged, partner, trio)
            if not fails:
                return []
            reasons += fails
        return sorted(set(reasons))
    out = []
    for person, call in judged:
        if person.affected == 1 and call.biallelic:
            out.append(f"unaffected {person.id} is {call.zygosity}")
        elif person.affected == 2:
            if proband.biallelic and not call.biallelic:
                out.append(f"affected {person.id} is not homozygous/hemizygous ({call.zygosity})")
            elif not call.carries:
                out.append(f"affected {person.id} does not carry it")
    return out


def segregation_detail(
    calls: dict[str, Call],
    ped: Pedigree,
    proband: str | None = None,
    modes: Any = None,
    partners: Sequence[Partner] = (),
) -> tuple[str, list[str]]:
    """(segregates | does_not_segregate | '', reasons it fails) for one allele of the proband.

    `calls`: the PED samples' calls for the allele (the proband's included). Relatives of the
    proband's PED family with a call and a known status are judged; '' when there are none.
    Dominant modes: every affected relative carries it, no unaffected relative does. Recessive
    modes: no unaffected relative is hom/hemi (for a compound het: for either allele, nor carries
    both in trans), every affected relative has the proband's biallelic genotype (a lone het: carries
    it). Several modes (or none known: both tests): segregates when one test passes."""
    if proband is None:  # the first affected carrier stands for the proband
        proband = next(
            (s for s, c in calls.items() if c.carries and s in ped.people and ped.people[s].affected == 2),
            None,
        )
    trio = _trio(ped, proband)
    judged = _judged(calls, ped, trio)
    if not judged:
        return "", []
    own = calls.get(proband) if proband else None
    dominant, recessive = _tests(modes)
    reasons: list[str] = []
    if dominant:
        fails = _dominant_fails(judged)
        if not fails:
            return SEGREGATES, []
        reasons += [f"dominant: {r}" for r in fails]
    if recessive:
        fails = _recessive_fails(own or Call(UNKNOWN), judged, partners, trio)
        if not fails:
            return SEGREGATES, []
        reasons += [f"recessive: {r}" for r in fails]
    return NOT_SEGREGATING, reasons


def segregation(
    calls: dict[str, Call],
    ped: Pedigree,
    proband: str | None = None,
    modes: Any = None,
    partners: Sequence[Partner] = (),
) -> str:
    """'segregates' | 'does_not_segregate' | '' (no relatives to judge by): `segregation_detail`."""
    return segregation_detail(calls, ped, proband, modes, partners)[0]


# --- everything rank needs --------------------------------------------------------------------------
@dataclass
class FamilyResult:
    partners: dict[str, list[str]]  # compound het (in trans)
    possible: dict[str, list[str]]  # possible compound het (phase unknown)
    status: dict[str, str]  # de_novo | segregates | does_not_segregate | '' per allele key
    notes: dict[str, list[str]]  # why an allele does not segregate


def family_logic(hits: Sequence[GeneHit], ped: Pedigree | None, proband: str | None) -> FamilyResult:
    """Compound hets, de novo and segregation for the proband's candidate alleles (docs/rank.md)."""
    pairs = compound_het_pairs(hits, ped, proband)
    result = FamilyResult(pairs.trans, pairs.possible, {}, {})
    if ped is None:
        return result
    trio = _trio(ped, proband)
    by_key = {h.key: h for h in hits}
    for hit in hits:
        if not hit.relatives:
            continue
        origin = _origin(hit, trio)
        if origin == DE_NOVO:
            result.status[hit.key] = DE_NOVO
            continue
        partners = [
            Partner(by_key[k].relatives, {origin, _origin(by_key[k], trio)} == {PATERNAL, MATERNAL})
            for k in pairs.trans.get(hit.key, []) + pairs.possible.get(hit.key, [])
        ]
        status, notes = segregation_detail(hit.relatives, ped, proband, hit.modes, partners)
        result.status[hit.key] = status
        if notes:
            result.notes[hit.key] = notes
    return result
