"""Genotypes for `biblip rank`: zygosity per allele, PED pedigrees, de novo and segregation, compound hets.

Zygosity comes from the GT of one sample for one ALT allele (index k = alt_index + 1): copies of k
among the called alleles. A male (PED sex 1) outside the pseudo-autosomal regions of chrX/chrY is
hemizygous when he carries the allele; haploid calls are hemizygous too.
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class Call:
    """One sample's call for one ALT allele."""

    zygosity: str  # het | hom | hemi | ref | missing | unknown
    copies: int = 0
    phased: bool = False
    haplotype: int | None = None  # 0/1: which haplotype carries the allele when phased and het
    phase_set: int | None = None

    @property
    def carries(self) -> bool:
        return self.zygosity in (HET, HOM, HEMI)


def call_for(
    gt: Sequence[Any] | None,
    allele_index: int,
    chrom: str,
    pos: int,
    sex: int = 0,
    phase_set: int | None = None,
) -> Call:
    """Zygosity of ALT `allele_index` (1-based) from a cyvcf2 genotype `[a1, a2, ..., phased]`."""
    if gt is None:
        return Call(UNKNOWN)
    *alleles_, phased = gt
    called = [a for a in alleles_ if a is not None and a >= 0]
    if not called:
        return Call(MISSING)
    copies = sum(1 for a in called if a == allele_index)
    if copies == 0:
        return Call(REF, 0)
    male_x = sex == 1 and is_sex_chrom(chrom) and not in_par(chrom, pos)
    if len(alleles_) == 1 or male_x:
        return Call(HEMI, copies, bool(phased))
    if copies >= 2:
        return Call(HOM, copies, bool(phased))
    hap = next((i for i, a in enumerate(alleles_) if a == allele_index), None) if phased else None
    return Call(HET, 1, bool(phased), hap, phase_set)


def de_novo(child: Call, father: Call | None, mother: Call | None) -> bool:
    """Child carries the allele and both parents were called homozygous reference."""
    return (
        child.carries
        and father is not None
        and mother is not None
        and father.zygosity == REF
        and mother.zygosity == REF
    )


def segregation(calls: dict[str, Call], ped: Pedigree) -> str:
    """'segregates' when every called affected relative carries it and no unaffected is hom/hemi;
    'does_not_segregate' otherwise; '' without relatives to judge by."""
    judged = False
    for sample, call in calls.items():
        person = ped.people.get(sample)
        if person is None or call.zygosity in (MISSING, UNKNOWN) or person.affected == 0:
            continue
        judged = True
        if person.affected == 2 and not call.carries:
            return "does_not_segregate"
        if person.affected == 1 and call.zygosity in (HOM, HEMI):
            return "does_not_segregate"
    return "segregates" if judged and len(calls) > 1 else ""


@dataclass
class GeneHit:
    """A candidate allele as seen by the compound-het check."""

    key: str
    gene: str
    call: Call
    qualifies: bool  # damaging enough to count as one hit


def compound_hets(hits: Sequence[GeneHit]) -> dict[str, list[str]]:
    """allele key -> partner keys, for genes with >= 2 qualifying het alleles that may be in trans.

    Two alleles phased in the same phase set on the same haplotype are in cis and do not pair."""
    by_gene: dict[str, list[GeneHit]] = defaultdict(list)
    for hit in hits:
        if hit.qualifies and hit.call.zygosity == HET:
            by_gene[hit.gene].append(hit)
    partners: dict[str, list[str]] = defaultdict(list)
    for gene_hits in by_gene.values():
        for i, a in enumerate(gene_hits):
            for b in gene_hits[i + 1 :]:
                if _in_cis(a.call, b.call):
                    continue
                partners[a.key].append(b.key)
                partners[b.key].append(a.key)
    return dict(partners)


def _in_cis(a: Call, b: Call) -> bool:
    if not (a.phased and b.phased) or a.haplotype is None or b.haplotype is None:
        return False
    if a.phase_set is not None and b.phase_set is not None and a.phase_set != b.phase_set:
        return False
    return a.haplotype == b.haplotype
