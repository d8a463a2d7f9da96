"""Family (inheritance) rules of `biblip rank`: one test per row of the table in docs/rank.md
("Family rules"), named after the row (C = compound het, D = de novo, S = segregation, X = X-linked).

Genotypes are written as small VCFs and read with cyvcf2 the way tasks/rank.py reads them
(GT, PS, DP, GQ through `call_for` / `format_ints`); the end-to-end tests at the bottom run
`run_rank` on trios in AVP (AD) and PANK2 (AR), including the AVP trio of issue 17.
"""

from __future__ import annotations

from pathlib import Path

import cyvcf2
import pytest
from test_rank import AVP_TERMS, env  # noqa: F401  (env: the demo bundle with the HPO subset)

from biblip_cli.features import family as family_rules
from biblip_cli.features import pedigree, zygosity

TRIO_PED = "F1 KID DAD MUM 1 2\nF1 DAD 0 0 1 1\nF1 MUM 0 0 2 1\n"
# quad: affected son, unaffected parents, a sibling whose status the test sets
QUAD_PED = "F1 KID DAD MUM 1 2\nF1 DAD 0 0 1 1\nF1 MUM 0 0 2 1\nF1 SIB DAD MUM {sex} {status}\n"


def family(
    tmp_path: Path,
    ped_text: str,
    rows: list[tuple[str, int, list[str]]],
    samples: tuple[str, ...] = ("KID", "DAD", "MUM"),
    modes: tuple[str, ...] | None = ("AR",),
    proband: str = "KID",
    qualifies: bool = True,
) -> tuple[family_rules.FamilyResult, dict[str, family_rules.GeneHit]]:
    """Rows (chrom, pos, one `GT[:PS[:DP[:GQ]]]` per sample) of one gene -> family_logic and the hits
    by position (`str(pos)`), built as tasks/rank.py builds them."""
    ped_path = tmp_path / "f.ped"
    ped_path.write_text(ped_text)
    ped = pedigree.read_ped(ped_path)
    header = (
        "##fileformat=VCFv4.2\n##contig=<ID=chr1,length=1000000>\n##contig=<ID=chrX,length=156040895>\n"
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
        '##FORMAT=<ID=PS,Number=1,Type=Integer,Description="Phase set">\n'
        '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">\n'
        '##FORMAT=<ID=GQ,Number=1,Type=Integer,Description="Genotype quality">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(samples) + "\n"
    )
    body = "".join(f"{c}\t{p}\t.\tA\tG\t.\tPASS\t.\tGT:PS:DP:GQ\t" + "\t".join(s) + "\n" for c, p, s in rows)
    vcf_path = tmp_path / "f.vcf"
    vcf_path.write_text(header + body)
    reader = cyvcf2.VCF(str(vcf_path))
    index = {s: i for i, s in enumerate(reader.samples)}
    hits = {}
    for v in reader:
        ps, dp, gq = (zygosity.format_ints(v, name) for name in ("PS", "DP", "GQ"))
        calls = {
            s: zygosity.call_for(
                v.genotypes[i], 1, v.CHROM, v.POS, ped.people[s].sex if s in ped.people else 0,
                ps[i] if ps else None, dp[i] if dp else None, gq[i] if gq else None,
            )
            for s, i in index.items()
        }  # fmt: skip
        key = str(v.POS)
        hits[key] = family_rules.GeneHit(key, "G", calls[proband], qualifies, calls, set(modes or ()), v.CHROM, v.POS)
    reader.close()
    return family_rules.family_logic(list(hits.values()), ped, proband), hits


def quad(status: int, sex: int = 1) -> str:
    return QUAD_PED.format(sex=sex, status=status)


# --- compound heterozygotes -----------------------------------------------------------------------
def test_C1_one_allele_from_each_parent_is_compound_het(tmp_path: Path) -> None:
    fam, _ = family(
        tmp_path, TRIO_PED, [("chr1", 100, ["0/1", "0/1", "0/0"]), ("chr1", 200, ["0/1", "0/0", "0/1"])]
    )
    assert fam.partners == {"100": ["200"], "200": ["100"]}
    assert fam.possible == {}


def test_C2_both_alleles_from_one_parent_are_in_cis(tmp_path: Path) -> None:
    rows = [
        ("chr1", 100, ["0/1", "0/1", "0/0"]),
        ("chr1", 200, ["0/1", "0/1", "0/0"]),  # both from DAD: cis, no pair
        ("chr1", 300, ["0/1", "0/0", "0/1"]),  # from MUM: in trans with each of them
    ]
    fam, _ = family(tmp_path, TRIO_PED, rows)
    assert fam.partners == {"100": ["300"], "200": ["300"], "300": ["100", "200"]}
    assert fam.possible == {}
    fam, _ = family(tmp_path, TRIO_PED, rows[:2])
    assert fam.partners == {} and fam.possible == {}


def test_C3_phased_different_haplotypes_is_compound_het(tmp_path: Path) -> None:
    # phased in one phase set; the parents (both unphased carriers of nothing informative) are not needed
    rows = [("chr1", 100, ["0|1:100", "./.", "./."]), ("chr1", 200, ["1|0:100", "./.", "./."])]
    fam, _ = family(tmp_path, TRIO_PED, rows)
    assert fam.partners == {"100": ["200"], "200": ["100"]}
    # a singleton VCF with a missing PS: phased genotypes count as one phase set
    fam, _ = family(tmp_path, "F1 KID 0 0 1 2\n", [("chr1", 100, ["0|1"]), ("chr1", 200, ["1|0"])], ("KID",))
    assert fam.partners == {"100": ["200"], "200": ["100"]}


def test_C4_phased_same_haplotype_is_cis_even_if_parents_say_trans(tmp_path: Path) -> None:
    rows = [("chr1", 100, ["0|1:100", "0/1", "0/0"]), ("chr1", 200, ["0|1:100", "0/0", "0/1"])]
    fam, _ = family(tmp_path, TRIO_PED, rows)
    assert fam.partners == {} and fam.possible == {}


def test_C5_unphased_singleton_or_two_phase_sets_is_possible_compound_het(tmp_path: Path) -> None:
    single = "F1 KID 0 0 1 2\n"
    fam, _ = family(tmp_path, single, [("chr1", 100, ["0/1"]), ("chr1", 200, ["0/1"])], ("KID",))
    assert fam.partners == {} and fam.possible == {"100": ["200"], "200": ["100"]}
    rows = [("chr1", 100, ["0|1:100"]), ("chr1", 200, ["1|0:150"])]  # different phase sets: unknown
    fam, _ = family(tmp_path, single, rows, ("KID",))
    assert fam.partners == {} and fam.possible == {"100": ["200"], "200": ["100"]}


@pytest.mark.parametrize(
    ("second", "why"),
    [
        (
            ["0/1:.:30:60", "0/0:.:30:60", "0/0:.:30:60"],
            "de novo + paternal: de novo allele on either haplotype",
        ),
        (["0/1", "0/1", "0/1"], "both parents carry the second allele"),
        (["0/1", "0/0", "./."], "mother's call missing"),
    ],
)
def test_C6_phase_unknown_with_parents_is_possible_compound_het(
    tmp_path: Path, second: list[str], why: str
) -> None:
    rows = [("chr1", 100, ["0/1", "0/1", "0/0"]), ("chr1", 200, second)]
    fam, _ = family(tmp_path, TRIO_PED, rows)
    assert fam.partners == {}, why
    assert fam.possible == {"100": ["200"], "200": ["100"]}, why


@pytest.mark.parametrize("modes", [("AD",), ("XLD",), ("MT",), ("AD", "MT")])
def test_C7_no_pair_in_genes_without_a_recessive_mode(tmp_path: Path, modes: tuple[str, ...]) -> None:
    rows = [("chr1", 100, ["0/1", "0/1", "0/0"]), ("chr1", 200, ["0/1", "0/0", "0/1"])]  # in trans
    fam, _ = family(tmp_path, TRIO_PED, rows, modes=modes)
    assert fam.partners == {} and fam.possible == {}
    single = [("chr1", 100, ["0/1"]), ("chr1", 200, ["0/1"])]
    fam, _ = family(tmp_path, "F1 KID 0 0 1 2\n", single, ("KID",), modes=modes)
    assert fam.possible == {}


@pytest.mark.parametrize("modes", [("AR",), ("AD", "AR"), ("XLR",), ("XL",), None])
def test_C8_pairs_in_genes_with_a_recessive_or_unknown_mode(
    tmp_path: Path, modes: tuple[str, ...] | None
) -> None:
    rows = [("chr1", 100, ["0/1", "0/1", "0/0"]), ("chr1", 200, ["0/1", "0/0", "0/1"])]
    fam, _ = family(tmp_path, TRIO_PED, rows, modes=modes)
    assert fam.partners == {"100": ["200"], "200": ["100"]}


def test_C9_only_qualifying_het_alleles_pair(tmp_path: Path) -> None:
    rows = [("chr1", 100, ["0/1", "0/1", "0/0"]), ("chr1", 200, ["0/1", "0/0", "0/1"])]
    fam, _ = family(tmp_path, TRIO_PED, rows, qualifies=False)
    assert fam.partners == {} and fam.possible == {}
    rows = [("chr1", 100, ["1/1", "0/1", "0/1"]), ("chr1", 200, ["0/1", "0/0", "0/1"])]  # hom + het
    fam, _ = family(tmp_path, TRIO_PED, rows)
    assert fam.partners == {} and fam.possible == {}


# --- de novo --------------------------------------------------------------------------------------
def test_D1_both_parents_confident_hom_ref_is_de_novo(tmp_path: Path) -> None:
    rows = [
        ("chr1", 100, ["0/1:.:30:99", "0/0:.:10:20", "0/0:.:35:99"]),  # exactly at the thresholds
        ("chr1", 200, ["0/1", "0/0", "0/0"]),  # no DP/GQ values: not checked
        ("chr1", 300, ["1/1", "0/0:.:40:99", "0/0:.:40:99"]),
    ]
    fam, _ = family(tmp_path, TRIO_PED, rows, modes=("AD",))
    assert fam.status == {"100": "de_novo", "200": "de_novo", "300": "de_novo"}


@pytest.mark.parametrize("dad", ["0/0:.:9:99", "0/0:.:40:19", "0/0:.:9:."])
def test_D2_thin_parental_ref_call_is_not_de_novo(tmp_path: Path, dad: str) -> None:
    fam, hits = family(
        tmp_path, TRIO_PED, [("chr1", 100, ["0/1:.:30:99", dad, "0/0:.:30:99"])], modes=("AD",)
    )
    assert fam.status["100"] == "segregates"  # judged by segregation instead (nobody unaffected carries it)
    h = hits["100"]
    assert zygosity.inherited_from(h.call, h.relatives["DAD"], h.relatives["MUM"]) == ""


def test_D3_missing_or_absent_parent_is_not_de_novo(tmp_path: Path) -> None:
    fam, _ = family(tmp_path, TRIO_PED, [("chr1", 100, ["0/1", "./.", "0/0"])], modes=("AD",))
    assert fam.status["100"] == "segregates"
    duo = "F1 KID DAD MUM 1 2\nF1 MUM 0 0 2 1\n"  # DAD not sequenced
    fam, _ = family(tmp_path, duo, [("chr1", 100, ["0/1", "0/0"])], ("KID", "MUM"), modes=("AD",))
    assert fam.status["100"] == "segregates"


def test_D4_allele_a_parent_carries_is_inherited(tmp_path: Path) -> None:
    rows = [
        ("chr1", 100, ["0/1", "0/1", "0/0"]),
        ("chr1", 200, ["0/1", "0/0", "0/1"]),
        ("chr1", 300, ["1/1", "0/1", "0/1"]),
    ]
    fam, hits = family(tmp_path, TRIO_PED, rows, modes=("AD",))
    origin = {k: zygosity.inherited_from(h.call, h.relatives["DAD"], h.relatives["MUM"]) for k, h in hits.items()}
    assert origin == {"100": "paternal", "200": "maternal", "300": "both"}
    assert "de_novo" not in fam.status.values()


def test_D5_male_chrX_outside_par_needs_only_the_mother(tmp_path: Path) -> None:
    rows = [
        ("chrX", 5_000_000, ["1", "1", "0/0:.:30:99"]),  # father's X does not go to a son
        ("chrX", 5_000_100, ["0/1", "./.", "0/0:.:30:99"]),  # male 0/1 outside PAR = hemi
        ("chrX", 5_000_200, ["1", "0", "0/1"]),  # maternal
        ("chrX", 5_000_300, ["1", "0", "0/0:.:5:99"]),  # mother thin: unknown
    ]
    fam, hits = family(tmp_path, TRIO_PED, rows, modes=("XLR",))
    assert hits["5000100"].call.zygosity == "hemi"
    assert fam.status["5000000"] == "de_novo" and fam.status["5000100"] == "de_novo"
    assert fam.status["5000200"] != "de_novo" and fam.status["5000300"] != "de_novo"
    h = hits["5000200"]
    assert zygosity.inherited_from(h.call, h.relatives["DAD"], h.relatives["MUM"], "chrX", h.pos, 1) == "maternal"
    # chrY outside the PARs: the father only (the mother's call, here nonsense, is ignored)
    son, ref, carrier = zygosity.Call("hemi", 1), zygosity.Call("ref", depth=30, gq=99), zygosity.Call("hemi", 1)
    assert zygosity.inherited_from(son, ref, carrier, "chrY", 5_000_000, 1) == "de_novo"
    assert zygosity.inherited_from(son, carrier, ref, "chrY", 5_000_000, 1) == "paternal"
    assert not zygosity.de_novo(son, zygosity.Call("ref", depth=4), ref, "chrY", 5_000_000, 1)


def test_D6_chrX_par_uses_both_parents(tmp_path: Path) -> None:
    rows = [("chrX", 100_000, ["0/1", "0/1", "0/0:.:30:99"])]  # PAR1: diploid, father can give it
    fam, hits = family(tmp_path, TRIO_PED, rows, modes=("AD",))
    assert hits["100000"].call.zygosity == "het"
    assert fam.status["100000"] == "does_not_segregate"  # inherited from the unaffected father


# --- segregation ----------------------------------------------------------------------------------
def test_S1_dominant_fails_when_an_unaffected_relative_carries_it(tmp_path: Path) -> None:
    fam, _ = family(tmp_path, TRIO_PED, [("chr1", 100, ["0/1", "0/1", "0/0"])], modes=("AD",))
    assert fam.status["100"] == "does_not_segregate"
    assert fam.notes["100"] == ["dominant: unaffected DAD carries it (het; reduced penetrance?)"]


def test_S2_dominant_fails_when_an_affected_relative_lacks_it(tmp_path: Path) -> None:
    samples = ("KID", "DAD", "MUM", "SIB")
    rows = [("chr1", 100, ["0/1", "0/0:.:3", "0/0:.:3", "0/0"])]  # parents' ref calls thin: not de novo
    fam, _ = family(tmp_path, quad(2), rows, samples, modes=("AD",))
    assert fam.status["100"] == "does_not_segregate"
    assert fam.notes["100"] == ["dominant: affected SIB does not carry it"]


def test_S3_dominant_segregates_with_affected_carriers_only(tmp_path: Path) -> None:
    ped = "F1 KID DAD MUM 1 2\nF1 DAD 0 0 1 2\nF1 MUM 0 0 2 1\nF1 SIB DAD MUM 2 1\n"  # affected father
    samples = ("KID", "DAD", "MUM", "SIB")
    fam, _ = family(tmp_path, ped, [("chr1", 100, ["0/1", "0/1", "0/0", "0/0"])], samples, modes=("AD",))
    assert fam.status["100"] == "segregates"


def test_S4_recessive_hom_fails_when_an_unaffected_relative_is_hom(tmp_path: Path) -> None:
    samples = ("KID", "DAD", "MUM", "SIB")
    fam, _ = family(tmp_path, quad(1), [("chr1", 100, ["1/1", "0/1", "0/1", "1/1"])], samples)
    assert fam.status["100"] == "does_not_segregate"
    assert fam.notes["100"] == ["recessive: unaffected SIB is hom"]


def test_S5_recessive_hom_fails_when_an_affected_relative_is_not_hom(tmp_path: Path) -> None:
    samples = ("KID", "DAD", "MUM", "SIB")
    fam, _ = family(tmp_path, quad(2), [("chr1", 100, ["1/1", "0/1", "0/1", "0/1"])], samples)
    assert fam.status["100"] == "does_not_segregate"


def test_S6_recessive_hom_with_carrier_parents_segregates(tmp_path: Path) -> None:
    samples = ("KID", "DAD", "MUM", "SIB")
    fam, _ = family(tmp_path, quad(2), [("chr1", 100, ["1/1", "0/1", "0/1", "1/1"])], samples)
    assert fam.status["100"] == "segregates"
    fam, _ = family(tmp_path, quad(1), [("chr1", 100, ["1/1", "0/1", "0/1", "0/1"])], samples)
    assert fam.status["100"] == "segregates"  # an unaffected carrier sibling fits recessive


def test_S7_compound_het_fails_when_an_unaffected_sibling_has_both_in_trans(tmp_path: Path) -> None:
    samples = ("KID", "DAD", "MUM", "SIB")
    rows = [("chr1", 100, ["0/1", "0/1", "0/0", "0/1"]), ("chr1", 200, ["0/1", "0/0", "0/1", "0/1"])]
    fam, _ = family(tmp_path, quad(1), rows, samples)
    assert fam.partners == {"100": ["200"], "200": ["100"]}  # still a compound het in the proband ...
    assert fam.status == {"100": "does_not_segregate", "200": "does_not_segregate"}  # ... that SIB has too
    assert fam.notes["100"] == ["recessive: unaffected SIB carries both alleles in trans"]
    # the same when the proband's pair is phased (PS) and the parents agree
    rows = [("chr1", 100, ["0|1:1", "0/1", "0/0", "0/1"]), ("chr1", 200, ["1|0:1", "0/0", "0/1", "0/1"])]
    fam, _ = family(tmp_path, quad(1), rows, samples)
    assert fam.partners == {"100": ["200"], "200": ["100"]}
    assert fam.status == {"100": "does_not_segregate", "200": "does_not_segregate"}
    # phased in a relative who is no full sibling (a half-sibling through the mother)
    ped = "F1 KID DAD MUM 1 2\nF1 DAD 0 0 1 1\nF1 MUM 0 0 2 1\nF1 HALF X MUM 1 1\n"
    rows = [
        ("chr1", 100, ["0|1:1", "./.", "./.", "0|1:1"]),
        ("chr1", 200, ["1|0:1", "./.", "./.", "1|0:1"]),
    ]
    fam, _ = family(tmp_path, ped, rows, ("KID", "DAD", "MUM", "HALF"))
    assert fam.partners == {"100": ["200"], "200": ["100"]}
    assert fam.status["100"] == "does_not_segregate"


def test_S8_compound_het_segregates_when_unaffected_carry_one_or_phase_is_unknown(tmp_path: Path) -> None:
    samples = ("KID", "DAD", "MUM", "SIB")
    rows = [("chr1", 100, ["0/1", "0/1", "0/0", "0/1"]), ("chr1", 200, ["0/1", "0/0", "0/1", "0/0"])]
    fam, _ = family(tmp_path, quad(1), rows, samples)
    assert fam.status == {"100": "segregates", "200": "segregates"}
    # an unaffected paternal half-sibling with both (unphased): the maternal allele came from another
    # mother, so the phase in HALF is unknown -> not a failure (a full sibling would fail: S7)
    ped = "F1 KID DAD MUM 1 2\nF1 DAD 0 0 1 1\nF1 MUM 0 0 2 1\nF1 HALF DAD OTHER 1 1\n"
    rows = [("chr1", 100, ["0/1", "0/1", "0/0", "0/1"]), ("chr1", 200, ["0/1", "0/0", "0/1", "0/1"])]
    fam, _ = family(tmp_path, ped, rows, ("KID", "DAD", "MUM", "HALF"))
    assert fam.partners == {"100": ["200"], "200": ["100"]}
    assert fam.status == {"100": "segregates", "200": "segregates"}
    # proband + unaffected sibling, no parents: both carry both, phase unknown in each -> not a failure
    ped = "F1 KID 0 0 1 2\nF1 SIB 0 0 1 1\n"
    rows = [("chr1", 100, ["0/1", "0/1"]), ("chr1", 200, ["0/1", "0/1"])]
    fam, _ = family(tmp_path, ped, rows, ("KID", "SIB"))
    assert fam.possible == {"100": ["200"], "200": ["100"]}
    assert fam.status == {"100": "segregates", "200": "segregates"}


def test_S9_compound_het_fails_when_an_unaffected_relative_is_hom_for_either(tmp_path: Path) -> None:
    samples = ("KID", "DAD", "MUM", "SIB")
    rows = [("chr1", 100, ["0/1", "0/1", "0/0", "1/1"]), ("chr1", 200, ["0/1", "0/0", "0/1", "0/0"])]
    fam, _ = family(tmp_path, quad(1), rows, samples)
    assert fam.status == {"100": "does_not_segregate", "200": "does_not_segregate"}


def test_S10_compound_het_fails_when_an_affected_relative_lacks_one(tmp_path: Path) -> None:
    samples = ("KID", "DAD", "MUM", "SIB")
    rows = [("chr1", 100, ["0/1", "0/1", "0/0", "0/1"]), ("chr1", 200, ["0/1", "0/0", "0/1", "0/0"])]
    fam, _ = family(tmp_path, quad(2), rows, samples)
    assert fam.status == {"100": "does_not_segregate", "200": "does_not_segregate"}
    rows[1] = ("chr1", 200, ["0/1", "0/0", "0/1", "0/1"])  # affected SIB has both
    fam, _ = family(tmp_path, quad(2), rows, samples)
    assert fam.status == {"100": "segregates", "200": "segregates"}


def test_S11_recessive_lone_het(tmp_path: Path) -> None:
    samples = ("KID", "DAD", "MUM", "SIB")
    rows = [
        ("chr1", 100, ["0/1", "0/1", "0/0", "0/1"]),  # carrier father and sibling: fits (second hit unseen)
        ("chr1", 300, ["0/1", "0/1", "0/0", "1/1"]),  # unaffected SIB hom
    ]
    fam, _ = family(tmp_path, quad(1), rows, samples, qualifies=False)  # no pairing between them
    assert fam.status == {"100": "segregates", "300": "does_not_segregate"}
    rows = [("chr1", 100, ["0/1", "0/1", "0/0", "0/0"])]  # affected SIB lacks it
    fam, _ = family(tmp_path, quad(2), rows, samples)
    assert fam.status == {"100": "does_not_segregate"}


@pytest.mark.parametrize(
    ("modes", "expected"),
    [
        (("AD",), "does_not_segregate"),
        (("AR",), "segregates"),
        (("AD", "AR"), "segregates"),
        (None, "segregates"),
    ],
)
def test_S12_several_or_no_modes_segregate_when_one_test_passes(
    tmp_path: Path, modes: tuple[str, ...] | None, expected: str
) -> None:
    fam, _ = family(tmp_path, TRIO_PED, [("chr1", 100, ["1/1", "0/1", "0/1"])], modes=modes)
    assert fam.status["100"] == expected


def test_S13_unrelated_unknown_status_and_missing_calls_are_not_judged(tmp_path: Path) -> None:
    ped = "F1 KID DAD MUM 1 2\nF1 DAD 0 0 1 0\nF1 MUM 0 0 2 1\nF2 OTHER 0 0 1 1\n"
    rows = [
        ("chr1", 100, ["0/1", "0/1", "./.", "0/1"])
    ]  # DAD status unknown, MUM missing, OTHER other family
    fam, _ = family(tmp_path, ped, rows, ("KID", "DAD", "MUM", "OTHER"), modes=("AD",))
    assert fam.status == {"100": ""}
    fam, _ = family(tmp_path, "F1 KID 0 0 1 2\n", [("chr1", 100, ["0/1"])], ("KID",), modes=("AD",))
    assert fam.status == {"100": ""}  # singleton: nothing to judge by


# --- X-linked (sex from the PED) ------------------------------------------------------------------
def test_X1_xlr_son_with_carrier_mother_segregates(tmp_path: Path) -> None:
    samples = ("KID", "DAD", "MUM", "SIB")
    rows = [("chrX", 5_000_000, ["0/1", "0", "0/1", "0/0"])]  # son's 0/1 read as hemi (PED sex 1)
    fam, hits = family(tmp_path, quad(1), rows, samples, modes=("XLR",))
    assert hits["5000000"].call.zygosity == "hemi"
    assert fam.status["5000000"] == "segregates"


def test_X2_xlr_fails_with_an_unaffected_hemizygous_brother(tmp_path: Path) -> None:
    samples = ("KID", "DAD", "MUM", "SIB")
    rows = [("chrX", 5_000_000, ["1", "0", "0/1", "1"])]
    fam, _ = family(tmp_path, quad(1, sex=1), rows, samples, modes=("XLR",))
    assert fam.status["5000000"] == "does_not_segregate"
    assert fam.notes["5000000"] == ["recessive: unaffected SIB is hemi"]
    # the same call in an unaffected *sister* (PED sex 2) is a heterozygous carrier: fits
    rows = [("chrX", 5_000_000, ["1", "0", "0/1", "0/1"])]
    fam, _ = family(tmp_path, quad(1, sex=2), rows, samples, modes=("XLR",))
    assert fam.status["5000000"] == "segregates"


def test_X3_xld_fails_with_an_unaffected_carrier_mother_xl_allows_either(tmp_path: Path) -> None:
    rows = [("chrX", 5_000_000, ["1", "0", "0/1"])]
    fam, _ = family(tmp_path, TRIO_PED, rows, modes=("XLD",))
    assert fam.status["5000000"] == "does_not_segregate"
    assert fam.notes["5000000"] == ["dominant: unaffected MUM carries it (het; reduced penetrance?)"]
    fam, _ = family(tmp_path, TRIO_PED, rows, modes=("XL",))
    assert fam.status["5000000"] == "segregates"  # the recessive reading fits


def test_X4_female_proband_compound_het_on_x(tmp_path: Path) -> None:
    ped = "F1 KID DAD MUM 2 2\nF1 DAD 0 0 1 1\nF1 MUM 0 0 2 1\n"
    rows = [("chrX", 5_000_000, ["0/1", "1", "0/0"]), ("chrX", 5_000_100, ["0/1", "0", "0/1"])]
    fam, _ = family(tmp_path, ped, rows, modes=("XLR",))
    assert fam.partners == {"5000000": ["5000100"], "5000100": ["5000000"]}
    # an unaffected hemizygous father carries the paternal allele: the recessive test fails
    assert fam.status["5000000"] == "does_not_segregate"


# --- through `biblip rank` ------------------------------------------------------------------------
RANK_HEADER = """##fileformat=VCFv4.2
##contig=<ID=chr20,length=64444167>
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">
##FORMAT=<ID=GQ,Number=1,Type=Integer,Description="Genotype quality">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tDAD\tMUM\tKID
"""
# AVP (AD only in the demo HPO): four missense alleles and the stop-gain p.Tyr164Ter
AVP_PATERNAL = [(3082644, "G", "A"), (3082658, "A", "C"), (3082679, "A", "C"), (3082707, "C", "A")]
AVP_DE_NOVO = (3082633, "G", "T")
# PANK2 (AR): missense alleles
PANK2 = [(3889111, "T", "G"), (3889122, "C", "A"), (3889144, "C", "A")]


def _rank(env: dict, tmp_path: Path, rows: list[tuple[int, str, str, str]], ped: str) -> dict:  # noqa: F811
    from biblip_cli.commands.rank import RankOptions, run_rank

    vcf = tmp_path / "trio.vcf"
    vcf.write_text(
        RANK_HEADER + "".join(f"chr20\t{p}\t.\t{r}\t{a}\t.\tPASS\t.\tGT:DP:GQ\t{g}\n" for p, r, a, g in rows)
    )
    ped_path = tmp_path / "trio.ped"
    ped_path.write_text(ped)
    opts = RankOptions(
        input=str(vcf), phenotypes=[AVP_TERMS], ped=ped_path, no_model=True, tsv=tmp_path / "r.tsv"
    )
    result = run_rank(opts, bundle=env["bundle"], ontology=env["ontology"])
    return {c.allele.pos: c for c in result.candidates}


RANK_TRIO_PED = "F KID DAD MUM 1 2\nF DAD 0 0 1 1\nF MUM 0 0 2 1\n"


def test_issue17_avp_trio_one_de_novo_no_compound_het(env: dict, tmp_path: Path) -> None:  # noqa: F811
    rows = [(p, r, a, "0/1:30:99\t0/0:30:99\t0/1:30:99") for p, r, a in AVP_PATERNAL]
    rows.append((*AVP_DE_NOVO, "0/0:30:99\t0/0:30:99\t0/1:30:99"))
    cands = _rank(env, tmp_path, sorted(rows), RANK_TRIO_PED)
    assert len(cands) == 5 and {c.gene for c in cands.values()} == {"AVP"}
    assert all(c.modes == {"AD"} for c in cands.values())
    assert [p for p, c in cands.items() if c.family == "de_novo"] == [AVP_DE_NOVO[0]]
    assert all(c.zygosity == "het" and not c.partners and not c.possible_partners for c in cands.values())
    for p, _, _ in AVP_PATERNAL:  # the unaffected father carries them: no segregation in an AD gene
        assert (cands[p].family, cands[p].moi) == ("does_not_segregate", 0.25)
    assert (cands[AVP_DE_NOVO[0]].moi, cands[AVP_DE_NOVO[0]].rank) == (1.0, 1)
    rows = {r["pos"]: r for r in _tsv(tmp_path / "r.tsv")}
    assert rows[str(AVP_DE_NOVO[0])]["zygosity"] == "het"
    assert rows[str(AVP_DE_NOVO[0])]["inheritance"] == "AD,de_novo"
    assert "compound" not in (tmp_path / "r.tsv").read_text()


def test_rank_trio_thin_father_is_not_de_novo(env: dict, tmp_path: Path) -> None:  # noqa: F811
    cands = _rank(env, tmp_path, [(*AVP_DE_NOVO, "0/0:6:99\t0/0:30:99\t0/1:30:99")], RANK_TRIO_PED)
    assert cands[AVP_DE_NOVO[0]].family == "segregates"  # DP 6 < 10: origin unknown


def test_rank_pank2_trans_cis_and_singleton(env: dict, tmp_path: Path) -> None:  # noqa: F811
    (p1, r1, a1), (p2, r2, a2), (p3, r3, a3) = PANK2
    rows = [
        (p1, r1, a1, "0/1\t0/0\t0/1"),  # paternal
        (p2, r2, a2, "0/1\t0/0\t0/1"),  # paternal: cis with p1
        (p3, r3, a3, "0/0\t0/1\t0/1"),  # maternal: in trans with both
    ]
    cands = _rank(env, tmp_path, rows, RANK_TRIO_PED)
    assert "AR" in cands[p1].modes
    assert sorted(cands[p3].partners) == [p1_key(p1, r1, a1), p1_key(p2, r2, a2)]
    assert cands[p1].partners == [p1_key(p3, r3, a3)] and cands[p2].partners == [p1_key(p3, r3, a3)]
    assert {c.zygosity for c in cands.values()} == {"compound_het"}
    assert {c.family for c in cands.values()} == {"segregates"} and {c.moi for c in cands.values()} == {1.0}
    # the same alleles in a singleton: possible compound het (each pair), scored as before (moi 1)
    (tmp_path / "single").mkdir()
    single = [(p, r, a, g.split("\t")[2]) for p, r, a, g in rows]
    vcf_header = RANK_HEADER.replace("\tDAD\tMUM\tKID", "\tKID")
    from biblip_cli.commands.rank import RankOptions, run_rank

    vcf = tmp_path / "single" / "s.vcf"
    vcf.write_text(
        vcf_header + "".join(f"chr20\t{p}\t.\t{r}\t{a}\t.\tPASS\t.\tGT\t{g}\n" for p, r, a, g in single)
    )
    opts = RankOptions(
        input=str(vcf), phenotypes=[AVP_TERMS], no_model=True, tsv=tmp_path / "single" / "r.tsv"
    )
    result = run_rank(opts, bundle=env["bundle"], ontology=env["ontology"])
    assert {c.zygosity for c in result.candidates} == {"possible_compound_het"}
    assert all(len(c.possible_partners) == 2 and not c.partners for c in result.candidates)
    assert {c.moi for c in result.candidates} == {1.0}


def p1_key(pos: int, ref: str, alt: str) -> str:
    return f"chr20:{pos}:{ref}:{alt}"


def _tsv(path: Path) -> list[dict[str, str]]:
    header, *rows = path.read_text().splitlines()
    return [dict(zip(header.split("\t"), r.split("\t"), strict=True)) for r in rows]
