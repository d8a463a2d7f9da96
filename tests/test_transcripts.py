"""Every transcript of a GENCODE-style GTF, and the choices among them (--pick, --canonical-only).

A hand-written GENCODE GTF: PRNP's MANE Select transcript (Ensembl_canonical, MANE_Select, ENSG/ENSP ids)
with the shared GTF's exons and CDS, and a second, non-coding transcript of the same gene spanning exon 1,
the intron and the start of exon 2 (so an intronic allele of the MANE transcript is exonic in it).
"""

from __future__ import annotations

import csv
from pathlib import Path
from types import SimpleNamespace

import pytest

from biblip_cli.bundle.genes import TranscriptIndex
from biblip_cli.bundle.genome import Genome
from biblip_cli.commands.annotate import run_annotate
from biblip_cli.commands.annotate_options import AnnotateOptions
from biblip_cli.features.consequence import annotate_allele
from biblip_cli.features.picking import one_per_gene, select_effects
from biblip_cli.records import Allele

GENE = 'gene_id "ENSG00000171867.19"; gene_type "protein_coding"; gene_name "PRNP";'
MANE = (
    GENE + ' transcript_id "ENST00000379440.9"; transcript_type "protein_coding"; transcript_name "PRNP-201";'
    ' tag "basic"; tag "Ensembl_canonical"; tag "MANE_Select"; tag "CCDS";'
)
ALT = (
    GENE
    + ' transcript_id "ENST00000424424.2"; transcript_type "retained_intron"; transcript_name "PRNP-202";'
)
ROWS = [
    ("gene", 4686236, 4701590, GENE),
    ("transcript", 4686236, 4701590, MANE),
    ("exon", 4686236, 4686512, MANE + ' exon_number 1;'),
    ("exon", 4699211, 4701590, MANE + ' exon_number 2;'),
    ("CDS", 4699221, 4699979, MANE + ' protein_id "ENSP00000368752.4";'),
    ("stop_codon", 4699980, 4699982, MANE + ' protein_id "ENSP00000368752.4";'),
    ("transcript", 4686300, 4699400, ALT),
    ("exon", 4686300, 4699400, ALT + ' exon_number 1;'),
]  # fmt: skip
INTRONIC = 4690000  # intron 1 of the MANE transcript, inside the retained-intron transcript's exon


@pytest.fixture(scope="module")
def gencode(shared_data: Path, tmp_path_factory) -> SimpleNamespace:
    gtf = tmp_path_factory.mktemp("gencode") / "gencode.gtf"
    gtf.write_text(
        "##description: hand-written GENCODE-format test GTF\n"
        + "".join(f"chr20\tHAVANA\t{f}\t{s}\t{e}\t.\t+\t.\t{a}\n" for f, s, e, a in ROWS)
    )
    genome = Genome(shared_data / "reference" / "GRCh38.chr20_chr21_10M.fa.gz")
    return SimpleNamespace(genome=genome, transcripts=TranscriptIndex.from_gtf(gtf), gtf=gtf)


def test_every_transcript_and_its_tags(gencode) -> None:
    txs = gencode.transcripts.transcripts("chr20")
    assert [t.transcript_id for t in txs] == ["ENST00000379440.9", "ENST00000424424.2"]
    mane, other = txs
    assert (mane.gene, mane.gene_id, mane.protein_id, mane.canonical, mane.mane_select) == (
        "PRNP", "ENSG00000171867.19", "ENSP00000368752.4", True, True,
    )  # fmt: skip
    assert {"basic", "CCDS"} <= mane.tags and (other.canonical, other.mane_select, other.coding) == (
        False,
        False,
        False,
    )
    assert gencode.transcripts.by_gene("PRNP") is mane  # MANE Select stands for the gene


def test_choices_among_transcripts(gencode) -> None:
    ref = gencode.genome.fetch("chr20", INTRONIC - 1, INTRONIC)
    ann = annotate_allele(gencode, Allele("chr20", INTRONIC, ref, "A" if ref != "A" else "C"))
    assert [(e.transcript, e.consequences[0]) for e in ann.effects] == [
        ("ENST00000424424.2", "non_coding_transcript_exon_variant"),  # more severe, listed first
        ("ENST00000379440.9", "intron_variant"),
    ]
    assert [e.transcript for e in select_effects(ann.effects, pick=True)] == [
        "ENST00000379440.9"
    ]  # MANE first
    assert [e.transcript for e in select_effects(ann.effects, canonical_only=True)] == ["ENST00000379440.9"]
    assert [e.transcript for e in one_per_gene(ann.effects)] == ["ENST00000379440.9"]  # the model's view


def _run(gencode, tmp_path: Path, **options) -> list[dict[str, str]]:
    ref_intron = gencode.genome.fetch("chr20", INTRONIC - 1, INTRONIC)
    alt_intron = "A" if ref_intron != "A" else "C"
    vcf = tmp_path / "in.vcf"
    vcf.write_text(
        "##fileformat=VCFv4.2\n##contig=<ID=chr20>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
        f"chr20\t{INTRONIC}\t.\t{ref_intron}\t{alt_intron}\t.\tPASS\t.\n"
        "chr20\t4699525\t.\tC\tT\t.\tPASS\t.\n"
    )
    tag = "_".join(options) or "all"
    out, tsv = tmp_path / f"{tag}.vcf", tmp_path / f"{tag}.tsv"
    run_annotate(AnnotateOptions(str(vcf), str(out), no_model=True, tsv=tsv, **options), bundle=gencode)
    with open(tsv) as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def test_annotate_reports_every_transcript_pick_and_canonical_only(gencode, tmp_path: Path) -> None:
    rows = _run(gencode, tmp_path)
    assert [(r["pos"], r["feature"], r["consequence"]) for r in rows] == [
        (str(INTRONIC), "ENST00000424424.2", "non_coding_transcript_exon_variant"),
        (str(INTRONIC), "ENST00000379440.9", "intron_variant"),
        ("4699525", "ENST00000379440.9", "missense_variant"),
        ("4699525", "ENST00000424424.2", "downstream_gene_variant"),  # 125 bp past its end
    ]
    assert rows[3]["distance"] == "125"
    missense = rows[2]
    assert (missense["symbol"], missense["gene"], missense["biotype"]) == (
        "PRNP",
        "ENSG00000171867.19",
        "protein_coding",
    )
    assert missense["hgvsc"] == "ENST00000379440.9:c.305C>T"
    assert missense["hgvsp"] == "ENSP00000368752.4:p.Pro102Leu"  # the protein id, as VEP
    assert (missense["canonical"], missense["mane_select"]) == ("YES", "ENST00000379440.9")
    assert (rows[0]["canonical"], rows[0]["mane_select"], rows[0]["hgvsp"]) == ("", "", "")
    for options in ({"pick": True}, {"canonical_only": True}):
        picked = _run(gencode, tmp_path, **options)
        assert [(r["pos"], r["feature"]) for r in picked] == [
            (str(INTRONIC), "ENST00000379440.9"), ("4699525", "ENST00000379440.9"),
        ], options  # fmt: skip


def test_shared_gtf_unchanged(resources: Path) -> None:
    """Our shared GTF (one transcript per gene, `tag "canonical"`, gene_id = symbol), here the demo bundle's
    subset: every transcript canonical, none MANE, the gene id its symbol, `by_gene` the only transcript."""
    index = TranscriptIndex.from_gtf(resources / "demo_bundle" / "genes" / "genes.gtf.gz")
    txs = [tx for contig in index.contigs() for tx in index.transcripts(contig)]
    assert len(txs) == len(index.genes()) == 103
    assert all(tx.canonical and not tx.mane_select and tx.gene_id == tx.gene for tx in txs)
    assert all(index.by_gene(tx.gene) is tx for tx in txs)
