"""Genotype logic (features/pedigree.py, zygosity.py, family.py) on small hand-written VCFs and PED files."""

from __future__ import annotations

from pathlib import Path

import cyvcf2
import pytest

from biblip_cli.errors import BiblipError
from biblip_cli.features import family, pedigree, zygosity

TRIO_VCF = """##fileformat=VCFv4.2
##contig=<ID=chr20,length=10000000>
##contig=<ID=chrX,length=156040895>
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##FORMAT=<ID=PS,Number=1,Type=Integer,Description="Phase set">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tKID\tDAD\tMUM
chr20\t100\t.\tA\tG\t.\tPASS\t.\tGT:PS\t0/1:.\t0/0:.\t0/0:.
chr20\t200\t.\tC\tT\t.\tPASS\t.\tGT:PS\t1/1:.\t0/1:.\t0/1:.
chr20\t300\t.\tG\tA,C\t.\tPASS\t.\tGT:PS\t1/2:.\t0/1:.\t0/2:.
chr20\t400\t.\tT\tC\t.\tPASS\t.\tGT:PS\t0|1:400\t0/0:.\t./.:.
chr20\t500\t.\tT\tC\t.\tPASS\t.\tGT:PS\t0|1:400\t0/0:.\t0/1:.
chr20\t600\t.\tT\tC\t.\tPASS\t.\tGT:PS\t1|0:400\t0/1:.\t0/0:.
chrX\t5000000\t.\tA\tT\t.\tPASS\t.\tGT:PS\t1/1:.\t1:.\t0/1:.
chrX\t100000\t.\tA\tT\t.\tPASS\t.\tGT:PS\t1/1:.\t0/0:.\t0/1:.
chr20\t700\t.\tA\tG\t.\tPASS\t.\tGT:PS\t./.:.\t0/0:.\t0/0:.
"""
TRIO_PED = "# family file\nF1 KID DAD MUM 1 2\nF1 DAD 0 0 1 1\nF1 MUM 0 0 2 1\n"


@pytest.fixture()
def trio(tmp_path: Path) -> tuple[list[cyvcf2.Variant], pedigree.Pedigree, list[str]]:
    vcf = tmp_path / "trio.vcf"
    vcf.write_text(TRIO_VCF)
    ped = tmp_path / "trio.ped"
    ped.write_text(TRIO_PED)
    reader = cyvcf2.VCF(str(vcf))
    return list(reader), pedigree.read_ped(ped), list(reader.samples)


def _calls(variant: cyvcf2.Variant, k: int, sexes: tuple[int, ...] = (1, 1, 2)) -> list[zygosity.Call]:
    ps = variant.format("PS")
    return [
        zygosity.call_for(
            variant.genotypes[i],
            k,
            variant.CHROM,
            variant.POS,
            sexes[i],
            int(ps[i][0]) if ps[i][0] >= 0 else None,
        )
        for i in range(3)
    ]


def test_zygosity_het_hom_multiallelic_missing(trio) -> None:
    variants, _, _ = trio
    assert [c.zygosity for c in _calls(variants[0], 1)] == ["het", "ref", "ref"]
    assert [c.zygosity for c in _calls(variants[1], 1)] == ["hom", "het", "het"]
    # 1/2: the child is het for each ALT; DAD carries ALT 1 only, MUM ALT 2 only
    assert [c.zygosity for c in _calls(variants[2], 1)] == ["het", "het", "ref"]
    assert [c.zygosity for c in _calls(variants[2], 2)] == ["het", "ref", "het"]
    assert _calls(variants[3], 1)[2].zygosity == "missing"
    assert _calls(variants[8], 1)[0].zygosity == "missing"
    assert zygosity.call_for(None, 1, "chr20", 1).zygosity == "unknown"


def test_hemizygous_on_x_for_males_outside_par(trio) -> None:
    variants, _, _ = trio
    kid, dad, mum = _calls(variants[6], 1)
    assert (kid.zygosity, dad.zygosity, mum.zygosity) == ("hemi", "hemi", "het")  # dad's call is haploid
    kid_par = _calls(variants[7], 1)[0]  # chrX:100000 is in PAR1: diploid rules
    assert kid_par.zygosity == "hom"
    assert zygosity.call_for([1, 1, False], 1, "chrX", 5_000_000, sex=2).zygosity == "hom"


def test_de_novo_needs_both_parents_called_hom_ref(trio) -> None:
    variants, _, _ = trio
    kid, dad, mum = _calls(variants[0], 1)
    assert zygosity.de_novo(kid, dad, mum)
    kid, dad, mum = _calls(variants[3], 1)  # mother's call missing: not called de novo
    assert not zygosity.de_novo(kid, dad, mum)
    kid, dad, mum = _calls(variants[1], 1)
    assert not zygosity.de_novo(kid, dad, mum)


def test_segregation(trio) -> None:
    variants, ped, samples = trio
    calls = dict(zip(samples, _calls(variants[1], 1), strict=True))  # kid hom, parents het (unaffected)
    assert family.segregation(calls, ped) == "segregates"
    calls = dict(zip(samples, _calls(variants[6], 1), strict=True))  # unaffected dad hemizygous
    assert family.segregation(calls, ped) == "does_not_segregate"


def test_compound_het_is_phase_aware(trio) -> None:
    variants, _, _ = trio
    kid = {v.POS: _calls(v, 1)[0] for v in variants[3:6]}
    hits = [family.GeneHit(f"chr20:{pos}", "GENE1", call, True) for pos, call in kid.items()]
    partners = family.compound_hets(hits)
    # 400 and 500 are on the same haplotype (cis): they pair only with 600 (trans)
    assert sorted(partners["chr20:400"]) == ["chr20:600"]
    assert sorted(partners["chr20:500"]) == ["chr20:600"]
    assert sorted(partners["chr20:600"]) == ["chr20:400", "chr20:500"]
    # unphased hets of one gene without parents: only a *possible* compound het (issue 17; they used
    # to be called compound_het); a non-qualifying one does not count
    het = zygosity.Call("het", 1)
    hits = [
        family.GeneHit("a", "G", het, True),
        family.GeneHit("b", "G", het, True),
        family.GeneHit("c", "G", het, False),
    ]
    assert family.compound_hets(hits) == {}
    assert family.compound_het_pairs(hits).possible == {"a": ["b"], "b": ["a"]}
    other_gene = [family.GeneHit("a", "G", het, True), family.GeneHit("b", "H", het, True)]
    assert family.compound_het_pairs(other_gene).possible == {}


def test_read_ped_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "x.ped"
    path.write_text(TRIO_PED)
    ped = pedigree.read_ped(path)
    assert ped.parents("KID") == ("DAD", "MUM")
    assert [p.id for p in ped.affected()] == ["KID"]
    assert ped.people["MUM"].sex == 2
    for text, message in [
        ("F1 KID DAD MUM 1\n", "expected 6"),
        ("F1 KID DAD MUM 3 2\n", "sex must be"),
        ("F1 KID DAD MUM 1 affected\n", "phenotype must be"),
        ("F1 KID 0 0 1 2\nF1 KID 0 0 1 2\n", "listed twice"),
        ("# nothing\n", "lists no individuals"),
    ]:
        path.write_text(text)
        with pytest.raises(BiblipError, match=message) as err:
            pedigree.read_ped(path)
        assert str(path) in err.value.one_line()
    with pytest.raises(BiblipError, match="PED file not found"):
        pedigree.read_ped(tmp_path / "missing.ped")


def test_choose_proband(tmp_path: Path) -> None:
    path = tmp_path / "x.ped"
    path.write_text(TRIO_PED)
    ped = pedigree.read_ped(path)
    samples = ["DAD", "MUM", "KID"]
    assert pedigree.choose_proband(samples, None, ped, "in.vcf") == "KID"
    assert pedigree.choose_proband(["ONLY"], None, None, "in.vcf") == "ONLY"
    assert pedigree.choose_proband(samples, "MUM", None, "in.vcf") == "MUM"
    assert pedigree.choose_proband([], None, None, "in.vcf") is None
    with pytest.raises(BiblipError, match="which is the proband") as err:
        pedigree.choose_proband(samples, None, None, "in.vcf")
    assert "DAD, MUM, KID" in err.value.one_line()
    with pytest.raises(BiblipError, match="'NOPE' is not in the VCF"):
        pedigree.choose_proband(samples, "NOPE", ped, "in.vcf")
