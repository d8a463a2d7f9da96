"""Family logic for `biblip rank` (`family_logic`, the rule table in docs/rank.md "Family rules", one test
per row in tests/test_family.py): compound hets only in trans (phase sets, else one allele from each parent)
and only in genes with a recessive or unknown mode, else "possible"; de novo only against confident hom-ref
parents (DP >= 10, GQ >= 20 where present); segregation by the gene's modes."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from biblip_cli.features.pedigree import HET, UNKNOWN, Pedigree, Person
from biblip_cli.features.zygosity import DE_NOVO, MATERNAL, PATERNAL, Call, inherited_from

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
