"""`annotate_batch` (zone tables for SNVs) gives exactly what `annotate_allele` gives, allele by allele."""

from __future__ import annotations

import itertools
import random
from pathlib import Path
from types import SimpleNamespace

import pytest

from biblip_cli.bundle.genes import TranscriptIndex
from biblip_cli.bundle.genome import Genome
from biblip_cli.features.consequence import annotate_allele
from biblip_cli.features.consequence_batch import _breakpoints, annotate_batch
from biblip_cli.records import Allele


@pytest.fixture(scope="module")
def demo():
    from biblip_cli.bundle import Bundle

    return Bundle.open()


def _snv(genome, contig: str, p: int, k: int) -> Allele | None:
    ref = genome.fetch(contig, p, p + 1)
    if ref not in "ACGT" or not ref:
        return None
    return Allele(contig, p + 1, ref, [b for b in "ACGT" if b != ref][k % 3])


def _same(bundle, alleles: list[Allele]) -> None:
    fresh = SimpleNamespace(genome=bundle.genome, transcripts=bundle.transcripts)
    batch = annotate_batch(fresh, alleles)
    one_by_one = [annotate_allele(bundle, a) for a in alleles]
    for got, want in zip(batch, one_by_one, strict=True):
        assert got == want, want.allele


def test_every_zone_of_the_demo_gene_model_at_both_ends(demo):
    """Both ends of every zone (the positions where a term, an EXON/INTRON number or the HGVS anchor
    could change), on every demo transcript, both strands, coding and non-coding."""
    genome, index = demo.genome, demo.transcripts
    alleles: list[Allele] = []
    for contig in index.contigs():
        if not genome.length(contig):
            continue
        for tx in index.transcripts(contig):
            points = _breakpoints(tx)
            for k, (a, b) in enumerate(itertools.pairwise(points)):
                for p in {a, b - 1, (a + b) // 2}:
                    if 0 <= p < genome.length(contig):
                        snv = _snv(genome, contig, p, k)
                        if snv is not None:
                            alleles.append(snv)
    assert len(alleles) > 10_000
    strands = {tx.strand for c in index.contigs() for tx in index.transcripts(c)}
    assert strands == {"+", "-"}
    _same(demo, alleles)


def test_mixed_batches_take_the_one_by_one_path_where_they_must(demo):
    """REF mismatches, N, lowercase-free multi-base alleles, an unknown contig, positions beyond the end,
    unsorted input and two contigs in one batch."""
    genome = demo.genome
    rng = random.Random(3)
    alleles = [_snv(genome, "chr20", rng.randrange(60_000, 9_000_000), k) for k in range(3000)]
    batch = [a for a in alleles if a is not None]
    rng.shuffle(batch)  # unsorted: the sequence is read per allele past _WHOLE_FETCH
    first = batch[0]
    wrong = next(b for b in "ACGT" if b != first.ref)
    batch += [
        Allele("chr20", first.pos, wrong, first.ref),  # REF mismatch
        Allele("chr20", first.pos, first.ref, first.ref),  # ALT = REF
        Allele("chr20", first.pos, first.ref + "A", first.ref),  # a deletion
        Allele("chr20", first.pos, first.ref, first.ref + "TT"),  # an insertion
        Allele("chrUn_nowhere", 100, "A", "C"),
        Allele("chr20", genome.length("chr20") + 5, "A", "C"),
        Allele("20", first.pos, first.ref, wrong),  # an alias
    ]
    for p in range(400_000, 400_030):
        snv = _snv(genome, "chr21", 5_000_000 + p, p) if genome.length("chr21") else None
        if snv is not None:
            batch.append(snv)
    _same(demo, batch)
    assert annotate_batch(demo, []) == []


def test_genome_wide_gene_model(shared_data: Path):
    """The shared canonical GTF (every gene of chr20/chr21's first 10 Mb) with 8,000 random SNVs."""
    bundle = SimpleNamespace(
        genome=Genome(shared_data / "reference" / "GRCh38.chr20_chr21_10M.fa.gz"),
        transcripts=TranscriptIndex.from_gtf(shared_data / "genes" / "canonical.GRCh38.gtf.gz"),
    )
    rng = random.Random(11)
    alleles = []
    for k in range(8_000):
        contig = "chr20" if k % 2 else "chr21"
        snv = _snv(bundle.genome, contig, rng.randrange(60_000, 9_990_000), k)
        if snv is not None:
            alleles.append(snv)
    alleles.sort(key=lambda a: (a.chrom, a.pos))
    _same(bundle, alleles)
