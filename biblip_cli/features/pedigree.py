"""PED pedigrees and the proband: who is affected, who is whose parent, sex (for chrX/chrY outside the
pseudo-autosomal regions), and the zygosity names the calls use."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from biblip_cli.errors import BiblipError
from biblip_cli.io.textfiles import read_user_text

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


def hemizygous_region(chrom: str, pos: int, sex: int) -> str:
    """'X' or 'Y' for a male outside the PARs (one copy: X from the mother, Y from the father), else ''."""
    c = _normal_chrom(chrom)
    return c if sex == 1 and c in ("X", "Y") and not in_par(chrom, pos) else ""
