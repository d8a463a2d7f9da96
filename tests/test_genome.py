"""Genome: contig aliases, N-padding, index errors, chunk cache; real sequence from the demo bundle."""

from __future__ import annotations

import gzip
import random
import shutil
from pathlib import Path

import pytest

from biblip_cli.bundle.genome import CHUNK, Genome, to_start0
from biblip_cli.bundle.manifest import contig_aliases
from biblip_cli.bundle.subsets import index_fasta
from biblip_cli.errors import BiblipError


def _write_bgzip_fasta(path: Path, contigs: dict[str, str]) -> Path:
    from Bio import bgzf

    with bgzf.BgzfWriter(str(path), "wb") as fh:
        for name, seq in contigs.items():
            fh.write(f">{name}\n".encode())
            for i in range(0, len(seq), 60):
                fh.write((seq[i : i + 60] + "\n").encode())
    index_fasta(path)
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    rng = random.Random(7)
    contigs = {
        "chr1": "".join(rng.choice("ACGT") for _ in range(3 * CHUNK + 123)),
        "chrM": "GATCACAGGTCTATCACCCTATTAACCACTCACGGGAGCTCTCCATGCAT",
    }
    path = _write_bgzip_fasta(tmp_path_factory.mktemp("fa") / "tiny.fa.gz", contigs)
    return path, contigs


def test_aliases_both_directions():
    assert contig_aliases(["chr20", "chrM"]) == {"20": "chr20", "MT": "chrM", "M": "chrM", "chrMT": "chrM"}
    assert contig_aliases(["20", "MT"]) == {"chr20": "20", "chrM": "MT", "chrMT": "MT", "M": "MT"}
    # a name that is itself a contig never becomes an alias
    assert "20" not in contig_aliases(["chr20", "20"])


def test_resolve_through_aliases(tiny):
    path, _ = tiny
    genome = Genome(path, contig_aliases(["chr1", "chrM"]))
    assert genome.resolve("chr1") == "chr1"
    assert genome.resolve("1") == "chr1"
    assert genome.resolve("MT") == "chrM"
    assert genome.resolve("chrM") == "chrM"
    assert genome.resolve("chr2") is None
    assert genome.resolve("2") is None
    assert genome.fetch("MT", 0, 5) == "GATCA"


def test_fetch_values_and_n_padding(tiny):
    path, contigs = tiny
    genome = Genome(path, {})
    seq = contigs["chr1"]
    assert genome.length("chr1") == len(seq)
    assert genome.fetch("chr1", 100, 110) == seq[100:110]
    assert genome.fetch("chr1", -4, 3) == "NNNN" + seq[:3]
    assert genome.fetch("chr1", len(seq) - 2, len(seq) + 3) == seq[-2:] + "NNN"
    assert genome.fetch("chr1", len(seq) + 10, len(seq) + 14) == "NNNN"
    assert genome.fetch("chrM", -2, 52) == "NN" + contigs["chrM"] + "NN"
    assert genome.fetch("nochr", 0, 3) == "NNN"
    assert genome.fetch("chr1", 5, 5) == ""
    assert to_start0(1) == 0


def test_fetch_across_chunks_matches_sequence(tiny):
    path, contigs = tiny
    genome = Genome(path, {})
    seq = contigs["chr1"]
    rng = random.Random(1)
    cases = [(CHUNK - 3, CHUNK + 3), (0, 2 * CHUNK + 5), (2 * CHUNK - 1, 2 * CHUNK), (3 * CHUNK, len(seq))]
    cases += [(a, a + rng.randint(1, 3000)) for a in (rng.randint(0, len(seq)) for _ in range(300))]
    for a, b in cases:
        expected = seq[a:b] + "N" * max(0, b - max(len(seq), a))
        assert genome.fetch("chr1", a, b) == expected, (a, b)


def test_missing_index_is_a_clear_error(tiny, tmp_path):
    path, _ = tiny
    copy = tmp_path / "x.fa.gz"
    shutil.copy(path, copy)
    with pytest.raises(BiblipError, match="no .fai index") as err:
        Genome(copy, {})
    assert "samtools faidx" in err.value.hint
    shutil.copy(str(path) + ".fai", str(copy) + ".fai")
    with pytest.raises(BiblipError, match="no .gzi index"):
        Genome(copy, {})
    assert not Path(str(copy) + ".gzi").exists()  # we never write into a bundle


def test_plain_gzip_fasta_is_rejected(tmp_path):
    path = tmp_path / "plain.fa.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(">chr1\nACGT\n")
    Path(str(path) + ".fai").write_text("chr1\t4\t6\t4\t5\n")
    Path(str(path) + ".gzi").write_bytes(b"\0" * 8)
    with pytest.raises(BiblipError):
        Genome(path, {})


def test_demo_prnp_start_codon(resources):
    from biblip_cli.bundle import Bundle

    bundle = Bundle.open(resources / "demo_bundle")
    genome = bundle.genome
    # PRNP start codon: GRCh38 chr20:4,699,221-4,699,223 (1-based) = [4699220, 4699223) 0-based
    assert genome.fetch("chr20", to_start0(4_699_221), 4_699_223) == "ATG"
    assert genome.fetch("20", to_start0(4_699_980), 4_699_982) == "TGA"  # stop codon, via the alias
    assert genome.resolve("20") == "chr20"
    assert genome.length("chr20") == 10_000_000
    assert genome.fetch("chr20", 0, 5) == "NNNNN"  # telomeric gap
    assert genome.fetch("chr20", 9_999_998, 10_000_002)[2:] == "NN"  # past the demo sequence
