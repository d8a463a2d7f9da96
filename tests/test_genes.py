"""Gene model: GTF parsing (stop codon folded into the CDS), cDNA mapping, overlap and TSS queries."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from biblip_cli.bundle.genes import TranscriptIndex
from biblip_cli.errors import BiblipError

ATTR = (
    'gene_id "{g}"; transcript_id "{g}.canonical"; gene_type "{gt}"; gene_name "{g}"; transcript_type "{tt}";'
)
TINY_GTF = [
    # PLUS: exons 101-200, 301-400 (1-based); CDS 151-200 + 301-357, stop 358-360
    ("chr1", "transcript", 101, 400, "+", "PLUS", "protein_coding"),
    ("chr1", "exon", 101, 200, "+", "PLUS", "protein_coding"),
    ("chr1", "exon", 301, 400, "+", "PLUS", "protein_coding"),
    ("chr1", "CDS", 151, 200, "+", "PLUS", "protein_coding"),
    ("chr1", "CDS", 301, 357, "+", "PLUS", "protein_coding"),
    ("chr1", "stop_codon", 358, 360, "+", "PLUS", "protein_coding"),
    # MINUS: exons 1001-1100, 1201-1300; CDS 1041-1100 + 1201-1250, stop 1038-1040
    ("chr1", "transcript", 1001, 1300, "-", "MINUS", "protein_coding"),
    ("chr1", "exon", 1001, 1100, "-", "MINUS", "protein_coding"),
    ("chr1", "exon", 1201, 1300, "-", "MINUS", "protein_coding"),
    ("chr1", "CDS", 1041, 1100, "-", "MINUS", "protein_coding"),
    ("chr1", "CDS", 1201, 1250, "-", "MINUS", "protein_coding"),
    ("chr1", "stop_codon", 1038, 1040, "-", "MINUS", "protein_coding"),
    ("chr2", "transcript", 5001, 6000, "+", "LNC", "lncRNA"),
    ("chr2", "exon", 5001, 6000, "+", "LNC", "lncRNA"),
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> TranscriptIndex:
    path = tmp_path_factory.mktemp("gtf") / "tiny.gtf.gz"
    with gzip.open(path, "wt") as out:
        out.write("##format: gtf\n")
        for chrom, feat, s, e, strand, g, tt in TINY_GTF:
            attrs = ATTR.format(g=g, gt=tt, tt=tt)
            out.write(f"{chrom}\tT\t{feat}\t{s}\t{e}\t.\t{strand}\t.\t{attrs}\n")
    return TranscriptIndex.from_gtf(path)


def test_parse_plus_strand_with_stop_codon(tiny: TranscriptIndex) -> None:
    tx = tiny.by_gene("PLUS")
    assert tx is not None
    assert (tx.chrom, tx.strand, tx.start0, tx.end0) == ("chr1", "+", 100, 400)
    assert tx.exons == [(100, 200), (300, 400)]
    assert (tx.cds_start0, tx.cds_end0) == (150, 360)  # stop codon 358-360 included
    assert tx.cds_length == 50 + 60
    assert tx.tss0 == 100
    assert tx.tx_offset(100) == 0 and tx.tx_offset(300) == 100 and tx.tx_offset(250) is None
    assert tx.cds_tx_start == 50
    assert tx.cds_offset(150) == 0 and tx.cds_offset(300) == 50
    assert tx.genomic_of_offset(100) == 300
    assert tx.biotype == "protein_coding" and tx.coding


def test_parse_minus_strand(tiny: TranscriptIndex) -> None:
    tx = tiny.by_gene("MINUS")
    assert tx is not None
    assert tx.exons == [(1000, 1100), (1200, 1300)]
    assert (tx.cds_start0, tx.cds_end0) == (1037, 1250)
    assert tx.tss0 == 1299
    assert tx.tx_offset(1299) == 0 and tx.tx_offset(1200) == 99 and tx.tx_offset(1099) == 100
    assert tx.cds_tx_start == 50  # first CDS base 1249 is 50 bases into the transcript
    assert tx.cds_offset(1249) == 0 and tx.cds_offset(1099) == 50
    assert tx.cds_length == 50 + 63
    assert tx.cds_segments() == [(1200, 1250), (1037, 1100)]
    assert [t.gene for t in tiny.overlapping("chr1", 1300, 1301, flank=0)] == []
    assert [t.gene for t in tiny.overlapping("chr1", 1300, 1301)] == ["PLUS", "MINUS"]


def test_noncoding_and_listing(tiny: TranscriptIndex) -> None:
    lnc = tiny.by_gene("LNC")
    assert lnc is not None and not lnc.coding and lnc.cds_length == 0 and lnc.cds_tx_start is None
    assert sorted(tiny.genes()) == ["LNC", "MINUS", "PLUS"]
    assert sorted(tiny.contigs()) == ["chr1", "chr2"]
    assert tiny.by_gene("NOPE") is None
    assert tiny.overlapping("chrX", 1, 2) == []


def test_overlapping_flank(tiny: TranscriptIndex) -> None:
    assert [t.gene for t in tiny.overlapping("chr1", 50, 51, flank=0)] == []
    assert [t.gene for t in tiny.overlapping("chr1", 50, 51)] == ["PLUS", "MINUS"]
    assert [t.gene for t in tiny.overlapping("chr1", 150, 151, flank=0)] == ["PLUS"]
    assert [t.gene for t in tiny.overlapping("chr1", 5400, 5401)] == ["MINUS"]  # 4,101 bp past its end
    assert [t.gene for t in tiny.overlapping("chr1", 6300, 6301)] == []


def test_tss_near_order_and_sign(tiny: TranscriptIndex) -> None:
    hits = tiny.tss_near("chr1", 700)
    assert [(t.gene, d) for t, d in hits] == [("MINUS", 599), ("PLUS", 600)]
    # MINUS's TSS is 1299; 700 lies 3' of it in transcript orientation -> positive
    hits = tiny.tss_near("chr1", 1400, window=200)
    assert [(t.gene, d) for t, d in hits] == [("MINUS", -101)]
    assert tiny.tss_near("chr1", 1400, window=50) == []


def test_missing_gtf(tmp_path: Path) -> None:
    with pytest.raises(BiblipError):
        TranscriptIndex.from_gtf(tmp_path / "nope.gtf.gz")


def test_genome_wide_gtf(shared_data: Path) -> None:
    ix = TranscriptIndex.from_gtf(shared_data / "genes" / "canonical.GRCh38.gtf.gz")
    assert len(ix) == 19223
    prnp = ix.by_gene("PRNP")
    assert prnp is not None and prnp.strand == "+" and prnp.chrom == "chr20"
    assert (prnp.cds_start0, prnp.cds_end0) == (4699220, 4699982)  # ATG at 4,699,221; TGA ends 4,699,982
    assert prnp.cds_length == 762 and prnp.exons == [(4686235, 4686512), (4699210, 4701590)]
    hits = ix.tss_near("chr20", 4699524, window=50_000)
    assert [(t.gene, d) for t, d in hits] == [("PRNP", 13289), ("PRND", -22385), ("PRNT", 41143)]
    assert [t.gene for t in ix.overlapping("chr20", 4699524, 4699525)] == ["PRNP"]


def _fields(index: TranscriptIndex) -> list[tuple]:
    return [
        (t.gene, t.transcript_id, t.chrom, t.strand, t.biotype, t.gene_type, t.start0, t.end0, t.exons,
         t.cds_start0, t.cds_end0, t.gene_id, t.protein_id, t.tags, t.canonical)
        for c in index.contigs() for t in index.transcripts(c)
    ]  # fmt: skip


def test_gene_model_cache_round_trip(resources: Path, tmp_path: Path, monkeypatch) -> None:
    """`load` parses once, then reads the JSON cache (keyed by the GTF's bytes) and never imports pyranges."""
    import sys

    gtf = resources / "demo_bundle" / "genes" / "genes.gtf.gz"
    cache = tmp_path / "cache"
    first = TranscriptIndex.load(gtf, cache)
    parsed = TranscriptIndex.load(gtf, cache=False)
    assert len(list(cache.glob("*.json"))) == 1
    monkeypatch.setitem(sys.modules, "pyranges", None)  # importing it now would fail
    second = TranscriptIndex.load(gtf, cache)
    assert _fields(second) == _fields(first) == _fields(parsed)
    assert second.by_gene("PRNP").transcript_id == first.by_gene("PRNP").transcript_id  # type: ignore[union-attr]
    assert [t.transcript_id for t, _ in second.tss_near("chr20", 4_690_000)][:3] == [
        t.transcript_id for t, _ in first.tss_near("chr20", 4_690_000)
    ][:3]


def test_gene_model_cache_ignores_a_damaged_file_and_other_gtfs(resources: Path, tmp_path: Path) -> None:
    gtf = resources / "demo_bundle" / "genes" / "genes.gtf.gz"
    cache = tmp_path / "cache"
    want = _fields(TranscriptIndex.load(gtf, cache))
    (entry,) = cache.glob("*.json")
    entry.write_text('{"key": "x", "transcripts": [[1, 2]]}')  # another key: rebuilt
    assert _fields(TranscriptIndex.load(gtf, cache)) == want
    entry.write_text("{not json")
    assert _fields(TranscriptIndex.load(gtf, cache)) == want
    other = tmp_path / "other.gtf.gz"
    other.write_bytes(gzip.compress(gzip.decompress(gtf.read_bytes()).splitlines(keepends=True)[0] * 1))
    with pytest.raises(BiblipError):  # a GTF without transcripts fails as from_gtf does; no cache entry
        TranscriptIndex.load(other, cache)
    assert len(list(cache.glob("*.json"))) == 1
    with pytest.raises(BiblipError, match="not found"):
        TranscriptIndex.load(tmp_path / "missing.gtf.gz", cache)
