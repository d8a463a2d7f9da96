"""FeatureBuilder: shapes, masks, DNA windows, gene rows, protein windows/features (real loci)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from biblip_cli.features.builder import FeatureBuilder
from biblip_cli.features.consequence import annotate_allele
from biblip_cli.features.dna import decode, dna_windows
from biblip_cli.features.gene import COL_HAS_TEXT, COL_QUERY, SO_INDEX
from biblip_cli.features.inputs import (
    AA_VOCAB,
    DNA_PAD,
    GENE_FEATURE_DIM,
    MAX_GENES,
    MAX_SNIPPETS,
    PROTEIN_FEATURE_DIM,
    TEXT_DIM,
)
from biblip_cli.features.protein import (
    AA21,
    COL_ALT_ONEHOT,
    COL_BLOSUM,
    COL_GRANTHAM,
    COL_LOGLEN,
    COL_RELPOS,
    COL_WINDOW_KNOWN,
    FLAG_COLUMNS,
    PROTEIN_FLANK,
    PROTEIN_WINDOW,
    blosum62,
    grantham,
)
from biblip_cli.records import Allele, AlleleAnnotation, ProteinVariant

FLANK = 256
DEMO_BUNDLE = Path(__file__).resolve().parent.parent / "resources" / "demo_bundle"


class StubEmbedder:
    """Deterministic 'encoder': a unit vector per text; counts texts embedded."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def precompute(self, texts):
        return 0

    def embed(self, texts):
        out = np.zeros((len(texts), TEXT_DIM), np.float32)
        for i, text in enumerate(texts):
            if text:
                self.seen.append(text)
                out[i, hash(text) % TEXT_DIM] = 1.0
        return out


@pytest.fixture(scope="module")
def bundle(request):
    """The demo bundle when it exists, else the same files read from ../shared/data."""
    if (DEMO_BUNDLE / "manifest.json").is_file():
        from biblip_cli.bundle import Bundle

        return Bundle.open(DEMO_BUNDLE)
    shared = request.getfixturevalue("shared_data")
    from biblip_cli.bundle.genes import TranscriptIndex
    from biblip_cli.bundle.genome import Genome
    from biblip_cli.bundle.knowledge import load_knowledge, load_proteins

    return SimpleNamespace(
        genome=Genome(shared / "reference" / "GRCh38.chr20_chr21_10M.fa.gz", {"20": "chr20", "21": "chr21"}),
        transcripts=TranscriptIndex.from_gtf(shared / "genes" / "canonical.GRCh38.gtf.gz"),
        knowledge=load_knowledge(shared / "knowledge" / "genes.tsv.gz"),
        proteins=load_proteins(shared / "genes" / "proteins.demo.fa"),
    )


@pytest.fixture(scope="module")
def builder(bundle):
    return FeatureBuilder(bundle, StubEmbedder(), dna_flank=FLANK)


def codon_start0(bundle, gene: str, residue: int) -> int:
    tx = bundle.transcripts.by_gene(gene)
    return tx.genomic_of_offset(tx.cds_tx_start + 3 * (residue - 1))


def snv(bundle, chrom: str, start0: int, alt: str) -> Allele:
    return Allele(chrom, start0 + 1, bundle.genome.fetch(chrom, start0, start0 + 1), alt)


@pytest.fixture(scope="module")
def prnp_p102l(bundle) -> Allele:
    start0 = codon_start0(bundle, "PRNP", 102)  # PRNP is on the + strand: CCG -> CTG
    assert bundle.genome.fetch("chr20", start0, start0 + 3) == "CCG"
    return Allele("chr20", start0 + 2, "C", "T")


def intergenic_allele(bundle) -> Allele:
    """A sequenced chr20 base with no transcript within 5 kb."""
    for start0 in range(1_000_000, 10_000_000, 25_000):
        base = bundle.genome.fetch("chr20", start0, start0 + 1)
        if base in "ACGT" and not bundle.transcripts.overlapping("chr20", start0, start0 + 1, flank=5000):
            return Allele("chr20", start0 + 1, base, "A" if base != "A" else "G")
    raise AssertionError("no intergenic locus found")


def test_batch_shapes_and_masks(bundle, builder, prnp_p102l):
    start0 = codon_start0(bundle, "PRNP", 102)
    synonymous = Allele("chr20", start0 + 3, "G", "A")  # CCG -> CCA, still Pro
    alleles = [prnp_p102l, synonymous, intergenic_allele(bundle), Allele("chrUn_x", 100, "A", "G")]
    annotations = [annotate_allele(bundle, a) for a in alleles]
    assert annotations[1].effects[0].consequences == ["synonymous_variant"]
    assert annotations[2].effects == [] and annotations[3].status == "unknown_contig"
    x = builder.build(annotations)
    b, L = 4, 2 * FLANK
    expected = {
        "dna_ref": ((b, L), torch.int64),
        "dna_alt": ((b, L), torch.int64),
        "dna_mask": ((b,), torch.bool),
        "gene_features": ((b, MAX_GENES, GENE_FEATURE_DIM), torch.float32),
        "gene_text": ((b, MAX_GENES, TEXT_DIM), torch.float32),
        "gene_mask": ((b, MAX_GENES), torch.bool),
        "protein_ref": ((b, PROTEIN_WINDOW), torch.int64),
        "protein_alt": ((b, PROTEIN_WINDOW), torch.int64),
        "protein_window_mask": ((b,), torch.bool),
        "protein_features": ((b, PROTEIN_FEATURE_DIM), torch.float32),
        "protein_mask": ((b,), torch.bool),
        "text": ((b, MAX_SNIPPETS, TEXT_DIM), torch.float32),
        "text_mask": ((b, MAX_SNIPPETS), torch.bool),
    }
    for name, (shape, dtype) in expected.items():
        value = getattr(x, name)
        assert tuple(value.shape) == shape and value.dtype == dtype, name
    assert x.dna_mask.tolist() == [True, True, True, False]
    assert (x.dna_ref[3] == DNA_PAD).all()
    assert x.protein_mask.tolist() == [True, True, False, False]
    assert x.protein_window_mask.tolist() == [True, True, False, False]
    assert x.protein_features[1, FLAG_COLUMNS["synonymous"]] == 1.0
    assert x.protein_features[1, COL_BLOSUM] == pytest.approx(0.7)  # BLOSUM62(P, P) = 7
    assert x.protein_features[2:].abs().sum() == 0
    # intergenic: candidates from the TSS window, nearest first, query = nearest gene, no SO terms
    assert x.gene_mask[2].any() and not x.gene_mask[3].any()
    assert x.gene_features[2, 0, COL_QUERY] == 1.0 and x.gene_features[2, 0, : len(SO_INDEX)].sum() == 0
    tss = [abs(float(v)) for v in x.gene_features[2, x.gene_mask[2], 26]]
    assert tss == sorted(tss)
    # missense on PRNP: the one-hot SO term, the query marker, the text of PRNP
    assert x.gene_features[0, 0, SO_INDEX["missense_variant"]] == 1.0
    assert x.gene_features[0, 0, COL_QUERY] == 1.0 and x.gene_features[0, 1:, COL_QUERY].sum() == 0
    assert x.gene_features[0, 0, COL_HAS_TEXT] == 1.0 and x.gene_text[0, 0].abs().sum() > 0
    assert x.text_mask[0].all() and not x.text_mask[3].any()


def test_dna_window_centred_with_alt(bundle, prnp_p102l):
    w = dna_windows(bundle.genome, [AlleleAnnotation(prnp_p102l)], FLANK)
    start0 = prnp_p102l.start0
    ref, alt = decode(w.ref[0]), decode(w.alt[0])
    assert ref == bundle.genome.fetch("chr20", start0 - FLANK, start0 + FLANK)
    assert ref[FLANK - 1 : FLANK + 2] == "CCG" and alt[FLANK - 1 : FLANK + 2] == "CTG"
    assert ref[:FLANK] == alt[:FLANK] and ref[FLANK + 1 :] == alt[FLANK + 1 :]


def test_indels_keep_window_length(bundle):
    start0 = 4_700_000
    seq = bundle.genome.fetch("chr20", start0, start0 + 1 + FLANK + 10)
    deletion = Allele("chr20", start0 + 1, seq[:4], seq[0])
    insertion = Allele("chr20", start0 + 1, seq[0], seq[0] + "GGGT")
    mnv = Allele("chr20", start0 + 1, seq[:2], "CC" if seq[:2] != "CC" else "AA")
    w = dna_windows(bundle.genome, [AlleleAnnotation(a) for a in (deletion, insertion, mnv)], FLANK)
    assert w.ref.shape == w.alt.shape == (3, 2 * FLANK) and w.mask.all()
    left = bundle.genome.fetch("chr20", start0 - FLANK, start0)
    dele, ins, mnv_alt = (decode(row) for row in w.alt)
    assert dele == left + seq[0] + seq[4 : 4 + FLANK - 1]
    assert ins == left + seq[0] + "GGGT" + seq[1 : FLANK - 4]
    assert mnv_alt[FLANK : FLANK + 2] == mnv.alt and mnv_alt[FLANK + 2 :] == seq[2:FLANK]


def test_contig_end_padding(bundle):
    length = bundle.genome.length("chr20")
    start0 = length - 10
    allele = snv(bundle, "chr20", start0, "A")
    w = dna_windows(bundle.genome, [AlleleAnnotation(allele)], FLANK)
    assert w.mask[0] and w.ref.shape == (1, 2 * FLANK)
    assert (w.ref[0, FLANK + 10 :] == DNA_PAD).all() and (w.ref[0, : FLANK + 10] != DNA_PAD).all()
    assert (w.alt[0, FLANK + 10 :] == DNA_PAD).all()


class TinyGenome:
    """One 20-bp contig, as bundle.genome."""

    seq = "ACGTACGTAAGGCCTTACGT"

    def resolve(self, chrom):
        return chrom if chrom == "t" else None

    def length(self, contig):
        return len(self.seq) if contig == "t" else 0

    def fetch(self, chrom, start0, end0):
        return "".join(self.seq[i] if 0 <= i < len(self.seq) else "N" for i in range(start0, end0))


def test_contig_start_padding_and_masks():
    genome = TinyGenome()
    annotations = [
        AlleleAnnotation(Allele("t", 3, "G", "T")),
        AlleleAnnotation(Allele("t", 3, "G", "T"), status="ref_mismatch"),
        AlleleAnnotation(Allele("t", 3, "G", "<DEL>")),
    ]
    w = dna_windows(genome, annotations, flank=8)
    assert decode(w.ref[0]) == "------ACGTACGTAA" and decode(w.alt[0]) == "------ACTTACGTAA"
    assert w.mask.tolist() == [True, False, False]


def test_prnp_p102l_protein_window(bundle, builder, prnp_p102l):
    assert blosum62("P", "L") == -3 and grantham("P", "L") == 98
    from_protein = builder.build_protein([ProteinVariant("PRNP", "p.Pro102Leu", "P", 102, "L")])
    from_genome = builder.build([annotate_allele(bundle, prnp_p102l)])
    for x in (from_protein, from_genome):
        assert x.protein_mask[0] and x.protein_window_mask[0]
        assert x.protein_ref[0, PROTEIN_FLANK] == AA_VOCAB.index("P") + 1
        assert x.protein_alt[0, PROTEIN_FLANK] == AA_VOCAB.index("L") + 1
        assert torch.equal(x.protein_ref[0, :PROTEIN_FLANK], x.protein_alt[0, :PROTEIN_FLANK])
        features = x.protein_features[0]
        assert features[COL_BLOSUM] == pytest.approx(-0.3)
        assert features[COL_GRANTHAM] == pytest.approx(98 / 215)
        assert features[COL_RELPOS] == pytest.approx(102 / 253)
        assert features[COL_ALT_ONEHOT + AA21.index("L")] == 1.0
        assert features[FLAG_COLUMNS["missense"]] == 1.0
    assert torch.equal(from_protein.protein_features, from_genome.protein_features)
    assert from_protein.gene_mask[0].tolist() == [True] + [False] * (MAX_GENES - 1)
    assert not from_protein.dna_mask.any() and (from_protein.dna_ref == DNA_PAD).all()
    # gene token of the protein-level variant matches the genomic one up to the codon base offset
    assert torch.allclose(from_protein.gene_features[0, 0], from_genome.gene_features[0, 0], atol=1e-3)


def test_protein_features_without_sequence(bundle):
    no_sequence = SimpleNamespace(
        genome=bundle.genome, transcripts=bundle.transcripts, knowledge=bundle.knowledge, proteins={}
    )
    x = FeatureBuilder(no_sequence, None).build_protein(
        [
            ProteinVariant("PRNP", "p.Pro102Leu", "P", 102, "L"),
            ProteinVariant("PRNP", "p.Gln160Ter", "Q", 160, "*"),
            ProteinVariant("NOT_A_GENE", "p.Ala2Val", "A", 2, "V"),
        ]
    )
    assert x.protein_mask.tolist() == [True, True, True]
    assert not x.protein_window_mask.any() and (x.protein_ref == 0).all()
    features = x.protein_features
    assert features[0, COL_LOGLEN] == pytest.approx(np.log10(254) / 4)  # length from the CDS: 253 aa
    assert features[0, COL_BLOSUM] == pytest.approx(-0.3) and features[0, COL_WINDOW_KNOWN] == 0
    assert features[1, FLAG_COLUMNS["stop_gained"]] == 1.0 and features[1, COL_GRANTHAM] == 1.0
    assert features[2, COL_LOGLEN] == 0 and features[2, COL_BLOSUM] == 0  # BLOSUM62(A, V) = 0
    assert x.gene_mask[0, 0] and not x.gene_mask[2].any()


def test_stop_gained_alt_window_ends(builder):
    x = builder.build_protein([ProteinVariant("PRNP", "p.Gln160Ter", "Q", 160, "*")])
    assert x.protein_window_mask[0]
    assert x.protein_ref[0, PROTEIN_FLANK] == AA_VOCAB.index("Q") + 1
    assert x.protein_alt[0, PROTEIN_FLANK] == AA_VOCAB.index("*") + 1
    assert (x.protein_alt[0, PROTEIN_FLANK + 1 :] == 0).all() and (
        x.protein_ref[0, PROTEIN_FLANK + 1 :] > 0
    ).all()


def test_mismatched_ref_residue_masks_window(builder):
    x = builder.build_protein([ProteinVariant("PRNP", "p.Trp102Leu", "W", 102, "L")])
    assert x.protein_mask[0] and not x.protein_window_mask[0]


def test_query_marker_on_asked_gene(bundle, builder):
    allele = intergenic_allele(bundle)
    annotation = annotate_allele(bundle, allele)
    default = builder.build([annotation])
    genes = [tx.gene for tx, _ in bundle.transcripts.tss_near("chr20", allele.start0)][:MAX_GENES]
    asked = genes[2]
    x = builder.build([annotation, annotation], query_genes=[asked, "PRNP"])
    assert x.gene_features[0, :, COL_QUERY].tolist() == [0, 0, 1] + [0] * (MAX_GENES - 3)
    assert default.gene_features[0, :, COL_QUERY].tolist() == [1] + [0] * (MAX_GENES - 1)
    # a gene outside the candidate list is added first and marked
    assert x.gene_features[1, 0, COL_QUERY] == 1.0 and x.gene_features[1, 1:, COL_QUERY].sum() == 0
    assert not torch.equal(x.text[0], x.text[1])


def test_substitution_tables():
    assert grantham("C", "W") == 215 and grantham("I", "L") == 5 and grantham("L", "I") == 5
    assert grantham("S", "N") == 46 and grantham("D", "E") == 45 and grantham("A", "A") == 0
    assert blosum62("W", "W") == 11 and blosum62("C", "C") == 9 and blosum62("R", "K") == 2
    assert blosum62("Q", "*") == -4 and grantham("X", "A") is None
