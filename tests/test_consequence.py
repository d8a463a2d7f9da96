"""Consequence annotation on hand-made alleles in real chr20 genes, both strands.

Expected values were worked out by hand from the FASTA (each test asserts the reference bases it
relies on): PRNP (+ strand; exon 1 = 4,686,236-4,686,512, exon 2 = 4,699,211-4,701,590, CDS
4,699,221-4,699,982 incl. TGA), CSNK2A1 (- strand; ATG = genomic CAT at 508,549-508,551; TAA stop at genomic TTA 483,961-483,963), PRNT (lncRNA, - strand).
"""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from biblip_cli.bundle.genes import TranscriptIndex
from biblip_cli.bundle.genome import Genome
from biblip_cli.features.consequence import annotate_allele, hgvsg, normalise, protein_variant_to_alleles
from biblip_cli.records import Allele, ProteinVariant


@pytest.fixture(scope="module")
def bundle(shared_data: Path) -> SimpleNamespace:
    return SimpleNamespace(
        genome=Genome(shared_data / "reference" / "GRCh38.chr20_chr21_10M.fa.gz", aliases={"20": "chr20"}),
        transcripts=TranscriptIndex.from_gtf(shared_data / "genes" / "canonical.GRCh38.gtf.gz"),
    )


def ref(bundle, pos1: int, n: int = 1) -> str:
    return bundle.genome.fetch("chr20", pos1 - 1, pos1 - 1 + n)


def eff(bundle, pos: int, r: str, a: str, gene: str, chrom: str = "chr20"):
    ann = annotate_allele(bundle, Allele(chrom, pos, r, a))
    assert ann.status == "ok", ann.note
    hits = [e for e in ann.effects if e.gene == gene]
    assert len(hits) == 1, [e.gene for e in ann.effects]
    return hits[0]


# ---------------------------------------------------------------- PRNP, + strand


def test_prnp_p102l_classic(bundle) -> None:
    assert ref(bundle, 4699524, 3) == "CCG"  # codon 102 = Pro
    e = eff(bundle, 4699525, "C", "T", "PRNP")
    assert e.consequences == ["missense_variant"] and e.impact == "MODERATE"
    assert (e.hgvsp, e.hgvsc, e.amino_acids, e.codons) == ("p.Pro102Leu", "c.305C>T", "P/L", "cCg/cTg")
    assert (e.protein_position, e.cds_position, e.ref_aa, e.alt_aa) == (102, 305, "P", "L")
    assert (e.exon, e.intron, e.strand, e.transcript, e.protein_length) == (
        "2/2",
        "",
        "+",
        "PRNP.canonical",
        253,
    )
    assert e.tss_distance == 4699524 - 4686235


def test_chrom_alias_and_lowercase(bundle) -> None:
    e = eff(bundle, 4699525, "c", "t", "PRNP", chrom="20")
    assert e.hgvsp == "p.Pro102Leu"


def test_prnp_synonymous_stop_gained_start_lost(bundle) -> None:
    assert ref(bundle, 4699221, 6) == "ATGGCG"  # Met1 Ala2
    e = eff(bundle, 4699226, "G", "A", "PRNP")
    assert (e.consequences, e.hgvsp, e.hgvsc, e.amino_acids, e.impact) == (
        ["synonymous_variant"], "p.Ala2=", "c.6G>A", "A", "LOW",
    )  # fmt: skip
    assert ref(bundle, 4699239, 3) == "TGG"  # Trp7
    e = eff(bundle, 4699240, "G", "A", "PRNP")
    assert (e.consequences, e.hgvsp, e.codons, e.impact) == (["stop_gained"], "p.Trp7Ter", "tGg/tAg", "HIGH")
    e = eff(bundle, 4699221, "A", "G", "PRNP")
    assert (e.consequences, e.hgvsp, e.hgvsc) == (["start_lost"], "p.Met1?", "c.1A>G")


def test_prnp_stop_lost_and_retained(bundle) -> None:
    assert ref(bundle, 4699980, 3) == "TGA"
    e = eff(bundle, 4699980, "T", "C", "PRNP")  # TGA -> CGA Arg
    assert e.consequences == ["stop_lost"] and re.fullmatch(r"p\.Ter254ArgextTer(\d+|\?)", e.hgvsp)
    e = eff(bundle, 4699982, "A", "G", "PRNP")  # TGA -> TGG Trp
    assert e.consequences == ["stop_lost"] and e.hgvsp.startswith("p.Ter254Trpext")
    e = eff(bundle, 4699981, "G", "A", "PRNP")  # TGA -> TAA
    assert (e.consequences, e.hgvsp) == (["stop_retained_variant"], "p.Ter254=")


def test_prnp_mnv(bundle) -> None:
    e = eff(bundle, 4699524, "CC", "TT", "PRNP")  # CCG -> TTG
    assert (e.consequences, e.hgvsp, e.codons) == (["missense_variant"], "p.Pro102Leu", "CCg/TTg")


def test_prnp_indels(bundle) -> None:
    # in-frame deletion of codon 2 (GCG), VCF-padded with the G of ATG
    e = eff(bundle, 4699223, "GGCG", "G", "PRNP")
    assert (e.consequences, e.hgvsp, e.hgvsc) == (["inframe_deletion"], "p.Ala2del", "c.4_6del")
    # in-frame insertion of AAA (Lys) between codons 2 and 3
    e = eff(bundle, 4699226, "G", "GAAA", "PRNP")
    assert (e.consequences, e.hgvsp, e.hgvsc) == (["inframe_insertion"], "p.Ala2_Asn3insLys", "c.6_7insAAA")
    # frameshifts: 1-bp insertion and 1-bp deletion
    e = eff(bundle, 4699525, "C", "CA", "PRNP")
    assert e.consequences == ["frameshift_variant"] and e.impact == "HIGH"
    assert (e.hgvsp, e.codons, e.amino_acids) == ("p.Ser103GlufsTer2", "ccg/ccAg", "S/X")  # WNKP E *
    e = eff(bundle, 4699524, "CC", "C", "PRNP")  # checked with Bio.Seq: ...WNK R V S Q K P T *
    assert (e.consequences, e.hgvsc, e.hgvsp) == (["frameshift_variant"], "c.305del", "p.Pro102ArgfsTer8")


def test_prnp_splice_and_utr_and_intron(bundle) -> None:
    assert ref(bundle, 4686513, 2) == "GT"  # donor of intron 1
    e = eff(bundle, 4686513, "G", "A", "PRNP")
    assert (e.consequences, e.intron, e.impact) == (["splice_donor_variant"], "1/1", "HIGH")
    assert ref(bundle, 4699209, 2) == "AG"  # acceptor
    e = eff(bundle, 4699210, "G", "A", "PRNP")
    assert (e.consequences, e.hgvsc) == (["splice_acceptor_variant"], "c.-10-1G>A")
    assert ref(bundle, 4686517) == "A"
    e = eff(bundle, 4686517, "A", "G", "PRNP")  # intron +5
    assert (e.consequences, e.hgvsc) == (["splice_region_variant", "intron_variant"], "c.-11+5A>G")
    e = eff(bundle, 4699212, "G", "A", "PRNP")  # 2nd base of exon 2 (5' UTR)
    assert e.consequences == ["splice_region_variant", "5_prime_UTR_variant"] and e.exon == "2/2"
    assert ref(bundle, 4699215) == "G"
    e = eff(bundle, 4699215, "G", "A", "PRNP")
    assert (e.consequences, e.hgvsc, e.impact) == (["5_prime_UTR_variant"], "c.-6G>A", "MODIFIER")
    b = ref(bundle, 4700100)
    e = eff(bundle, 4700100, b, "A" if b != "A" else "C", "PRNP")
    assert e.consequences == ["3_prime_UTR_variant"] and e.hgvsc.startswith("c.*118")
    b = ref(bundle, 4690000)
    e = eff(bundle, 4690000, b, "A" if b != "A" else "C", "PRNP")
    assert (e.consequences, e.intron, e.exon, e.hgvsp) == (["intron_variant"], "1/1", "", "")


def test_prnp_upstream_downstream(bundle) -> None:
    b = ref(bundle, 4686000)
    e = eff(bundle, 4686000, b, "A" if b != "A" else "C", "PRNP")
    assert (e.consequences, e.distance) == (["upstream_gene_variant"], 236)
    b = ref(bundle, 4702000)
    e = eff(bundle, 4702000, b, "A" if b != "A" else "C", "PRNP")
    assert (e.consequences, e.distance) == (["downstream_gene_variant"], 410)


# ---------------------------------------------------------------- CSNK2A1, - strand


def test_csnk2a1_minus_strand_coding(bundle) -> None:
    assert ref(bundle, 508546, 6) == "CGACAT"  # revcomp ATGTCG: Met1 Ser2
    e = eff(bundle, 508551, "T", "C", "CSNK2A1")  # ATG -> GTG
    assert (e.consequences, e.hgvsp, e.hgvsc, e.strand) == (["start_lost"], "p.Met1?", "c.1A>G", "-")
    e = eff(bundle, 508546, "C", "T", "CSNK2A1")  # TCG -> TCA
    assert (e.consequences, e.hgvsp, e.hgvsc, e.codons) == (
        ["synonymous_variant"],
        "p.Ser2=",
        "c.6G>A",
        "tcG/tcA",
    )
    e = eff(bundle, 508548, "A", "C", "CSNK2A1")  # TCG -> GCG
    assert (e.consequences, e.hgvsp, e.hgvsc, e.amino_acids) == (
        ["missense_variant"],
        "p.Ser2Ala",
        "c.4T>G",
        "S/A",
    )
    assert e.exon == "3/14"  # ATG exon 508,451-508,660 is the 3rd of 14 counted 5'->3'
    assert ref(bundle, 483961, 6) == "TTACTG"  # revcomp CAGTAA: Gln391 Ter392
    e = eff(bundle, 483966, "G", "A", "CSNK2A1")  # CAG -> TAG
    assert (e.consequences, e.hgvsp, e.hgvsc) == (["stop_gained"], "p.Gln391Ter", "c.1171C>T")
    e = eff(bundle, 483963, "A", "G", "CSNK2A1")  # TAA -> CAA
    assert e.consequences == ["stop_lost"] and e.hgvsp.startswith("p.Ter392Glnext")
    assert e.exon == "14/14"
    e = eff(bundle, 508548, "AC", "A", "CSNK2A1")  # deletes the G of ATG
    assert (e.consequences, e.hgvsc, e.hgvsp) == (["frameshift_variant", "start_lost"], "c.3del", "p.Met1?")


def test_csnk2a1_minus_strand_noncoding_parts(bundle) -> None:
    assert ref(bundle, 486374, 2) == "AC"  # revcomp GT: donor of the last intron
    e = eff(bundle, 486375, "C", "T", "CSNK2A1")
    assert (e.consequences, e.intron, e.hgvsc) == (["splice_donor_variant"], "13/13", "c.1060+1G>A")
    assert ref(bundle, 484077, 2) == "CT"  # revcomp AG: acceptor
    e = eff(bundle, 484077, "C", "T", "CSNK2A1")
    assert (e.consequences, e.intron) == (["splice_acceptor_variant"], "13/13")
    b = ref(bundle, 483000)
    e = eff(bundle, 483000, b, "A" if b != "A" else "C", "CSNK2A1")
    assert e.consequences == ["3_prime_UTR_variant"] and e.hgvsc.startswith("c.*")
    b = ref(bundle, 508600)
    e = eff(bundle, 508600, b, "A" if b != "A" else "C", "CSNK2A1")
    assert e.consequences == ["5_prime_UTR_variant"] and e.hgvsc.startswith("c.-")
    b = ref(bundle, 544000)
    e = eff(bundle, 544000, b, "A" if b != "A" else "C", "CSNK2A1")
    assert (e.consequences, e.distance) == (["upstream_gene_variant"], 179)
    b = ref(bundle, 480000)
    e = eff(bundle, 480000, b, "A" if b != "A" else "C", "CSNK2A1")
    assert (e.consequences, e.distance) == (["downstream_gene_variant"], 1097)


# ---------------------------------------------------------------- non-coding, intergenic, statuses


def test_lncrna(bundle) -> None:
    b = ref(bundle, 4732000)
    e = eff(bundle, 4732000, b, "A" if b != "A" else "C", "PRNT")
    assert (e.consequences, e.biotype, e.hgvsp) == (["non_coding_transcript_exon_variant"], "lncRNA", "")
    assert e.hgvsc.startswith("n.")
    b = ref(bundle, 4735000)
    e = eff(bundle, 4735000, b, "A" if b != "A" else "C", "PRNT")
    assert e.consequences == ["intron_variant", "non_coding_transcript_variant"]


def test_intergenic(bundle) -> None:
    pos = 60_500  # 60,001-: sequence starts; first gene (DEFB125) begins at ~68 kb
    assert bundle.transcripts.overlapping("chr20", pos - 1, pos) == []
    b = ref(bundle, pos)
    ann = annotate_allele(bundle, Allele("chr20", pos, b, "A" if b != "A" else "C"))
    assert ann.status == "ok" and ann.effects == []


def test_statuses(bundle) -> None:
    ann = annotate_allele(bundle, Allele("chr20", 4699525, "G", "A"))  # reference is C
    assert ann.status == "ref_mismatch" and "C" in ann.note
    e = ann.effects[0]
    assert e.gene == "PRNP" and e.consequences == ["coding_sequence_variant"] and e.hgvsp == ""
    ann = annotate_allele(bundle, Allele("chr20", 4699525, "N", "T"))  # N in REF: no mismatch claim
    assert ann.status == "ok"
    assert annotate_allele(bundle, Allele("chrUn_x", 10, "A", "G")).status == "unknown_contig"
    for alt in ("<DEL>", "*", "C[chr20:123[", "."):
        assert annotate_allele(bundle, Allele("chr20", 4699525, "C", alt)).status == "symbolic"
    assert annotate_allele(bundle, Allele("chr20", 10_000_001, "A", "G")).status == "out_of_bounds"


def test_normalise() -> None:
    assert normalise(100, "ATT", "AT") == (102, "T", "")
    assert normalise(100, "A", "ATTT") == (101, "", "TTT")
    assert normalise(100, "CAG", "CTG") == (101, "A", "T")


def test_protein_variant_to_alleles(bundle) -> None:
    alleles = protein_variant_to_alleles(bundle, ProteinVariant("PRNP", "p.Pro102Leu", "P", 102, "L"))
    assert [(a.chrom, a.pos, a.ref, a.alt) for a in alleles] == [("chr20", 4699525, "C", "T")]
    alleles = protein_variant_to_alleles(bundle, ProteinVariant("CSNK2A1", "p.Ser2Ala", "S", 2, "A"))
    assert [(a.pos, a.ref, a.alt) for a in alleles] == [(508548, "A", "C")]
    assert protein_variant_to_alleles(bundle, ProteinVariant("PRNP", "p.Ala102Leu", "A", 102, "L")) == []
    assert protein_variant_to_alleles(bundle, ProteinVariant("NOPE", "p.Ala1Leu", "A", 1, "L")) == []


def test_vep_positions_and_hgvsg(bundle) -> None:
    """cDNA_position/CDS_position in VEP's notation (PRNP exon 1 is 277 bp, so c.1 = cDNA 288) and HGVSg."""
    e = eff(bundle, 4699525, "C", "T", "PRNP")
    assert (e.cdna_position, e.cds_span, e.canonical, e.mane_select, e.gene_id) == (
        "592",
        "305",
        True,
        False,
        "PRNP",
    )
    e = eff(bundle, 4699223, "GGCG", "G", "PRNP")  # c.4_6del
    assert (e.cdna_position, e.cds_span) == ("291-293", "4-6")
    e = eff(bundle, 4699226, "G", "GAAA", "PRNP")  # c.6_7insAAA: the two flanking bases
    assert (e.cdna_position, e.cds_span) == ("293-294", "6-7")
    e = eff(bundle, 508546, "C", "T", "CSNK2A1")  # - strand c.6G>A
    assert e.cds_span == "6"
    base = ref(bundle, 4699206)  # 5 bp into intron 1
    e = eff(bundle, 4699206, base, "A" if base != "A" else "C", "PRNP")
    assert (e.cdna_position, e.cds_span) == ("", "")  # intronic
    assert hgvsg("chr20", 4699524, "C", "T") == "chr20:g.4699525C>T"
    assert hgvsg("chr20", 4699222, "GGCG", "G") == "chr20:g.4699224_4699226del"
    assert hgvsg("chr20", 4699225, "G", "GAAA") == "chr20:g.4699226_4699227insAAA"
    assert hgvsg("chr20", 4699223, "C", "G") == "chr20:g.4699224C>G"
    assert hgvsg("chr20", 99, "AC", "GT") == "chr20:g.100_101delinsGT"
    assert hgvsg("chr20", 99, "A", "A") == ""
