"""Plain records passed between layers (io/bundle -> features -> model -> engine -> commands).

Coordinates: VCF positions are 1-based (`Allele.pos`); every slice into the genome uses 0-based
half-open intervals, converted in exactly one place (`Allele.start0`, `Allele.end0`).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, init=False)
class Allele:
    """One ALT allele of one VCF record (multiallelic records give several)."""

    chrom: str  # contig name as written in the input
    pos: int  # 1-based POS of the record
    ref: str
    alt: str
    alt_index: int = 0  # 0-based index of this ALT in the record
    record_number: int = 0  # 1-based data-record number in the input, for messages

    def __init__(
        self, chrom: str, pos: int, ref: str, alt: str, alt_index: int = 0, record_number: int = 0
    ) -> None:
        # One dict update instead of the six object.__setattr__ calls a frozen dataclass pays on every
        # construction (~2 us of the spine's per-allele budget); the fields stay read-only afterwards.
        self.__dict__.update(
            chrom=chrom, pos=pos, ref=ref, alt=alt, alt_index=alt_index, record_number=record_number
        )

    @property
    def start0(self) -> int:
        return self.pos - 1

    @property
    def end0(self) -> int:
        return self.pos - 1 + len(self.ref)

    @property
    def key(self) -> str:
        return f"{self.chrom}:{self.pos}:{self.ref}:{self.alt}"


@dataclass(frozen=True)
class ProteinVariant:
    """A protein-level variant (UniProt/humsavar style), no genomic coordinates."""

    gene: str
    hgvsp: str  # p.Arg117His
    ref_aa: str  # one letter
    position: int  # 1-based residue
    alt_aa: str  # one letter


@dataclass(frozen=True)
class ElementActivity:
    """Chromatin activity of a regulatory element in one cell type (ABC / ENCODE-rE2G column names):
    reads per million in the element (`DHS.RPM`, `H3K27ac.RPM`, `ATAC.RPM`); None = not measured."""

    dhs: float | None = None
    h3k27ac: float | None = None
    atac: float | None = None

    @property
    def measured(self) -> bool:
        return any(v is not None for v in (self.dhs, self.h3k27ac, self.atac))


@dataclass
class GeneEffect:
    """The effect of one ALT allele on one gene's canonical transcript (VEP-like)."""

    gene: str
    transcript: str
    biotype: str
    strand: str  # "+" or "-"
    consequences: list[str]  # Sequence Ontology terms, most severe first
    impact: str = "MODIFIER"  # HIGH | MODERATE | LOW | MODIFIER
    hgvsc: str = ""  # c.350G>A (empty when not in a transcript)
    hgvsp: str = ""  # p.Arg117His, p.Arg117=, p.Arg117Ter, p.Lys5fs ; empty if not coding
    cds_position: int | None = None  # 1-based
    protein_position: int | None = None  # 1-based residue
    amino_acids: str = ""  # "R/H" (VEP style), "R" for synonymous
    codons: str = ""  # "cGc/cAc"
    exon: str = ""  # "2/5"
    intron: str = ""  # "1/4"
    distance: int | None = None  # bp to the transcript for upstream/downstream
    tss_distance: int = 0  # signed bp from the gene's TSS, transcript orientation
    protein_length: int | None = None
    ref_aa: str = ""  # one-letter, coding changes only
    alt_aa: str = ""
    gene_id: str = ""  # ENSG... (GENCODE/Ensembl GTFs); the symbol with our shared GTF
    protein_id: str = ""  # ENSP..., empty when the GTF has none
    cdna_position: str = ""  # VEP style: `350`, `350-352`, `?-12` (transcript coordinate, 1-based)
    cds_span: str = ""  # VEP's CDS_position: `184`, `184-186`
    canonical: bool = False
    mane_select: bool = False
    transcript_length: int = 0  # spliced length (the last --pick criterion)

    @property
    def consequence(self) -> str:
        return "&".join(self.consequences)


ANNOTATED_STATUSES = frozenset(("ok", "ref_mismatch"))  # statuses whose allele gets effects written


@dataclass
class AlleleAnnotation:
    """Everything the spine knows about one allele before the model runs."""

    allele: Allele
    effects: list[GeneEffect] = field(default_factory=list)  # most severe first; [] = intergenic
    status: str = "ok"  # ok | ref_mismatch | unknown_contig | symbolic | out_of_bounds | skipped
    note: str = ""

    @property
    def annotated(self) -> bool:
        return self.status in ANNOTATED_STATUSES


# Sequence Ontology terms we emit, most severe first (VEP's order). Index = one-hot position.
SO_TERMS: tuple[str, ...] = (
    "transcript_ablation",
    "splice_acceptor_variant",
    "splice_donor_variant",
    "stop_gained",
    "frameshift_variant",
    "stop_lost",
    "start_lost",
    "inframe_insertion",
    "inframe_deletion",
    "missense_variant",
    "protein_altering_variant",
    "splice_region_variant",
    "incomplete_terminal_codon_variant",
    "start_retained_variant",
    "stop_retained_variant",
    "synonymous_variant",
    "coding_sequence_variant",
    "5_prime_UTR_variant",
    "3_prime_UTR_variant",
    "non_coding_transcript_exon_variant",
    "intron_variant",
    "non_coding_transcript_variant",
    "upstream_gene_variant",
    "downstream_gene_variant",
    "intergenic_variant",
)

SO_IMPACT: dict[str, str] = {
    "transcript_ablation": "HIGH",
    "splice_acceptor_variant": "HIGH",
    "splice_donor_variant": "HIGH",
    "stop_gained": "HIGH",
    "frameshift_variant": "HIGH",
    "stop_lost": "HIGH",
    "start_lost": "HIGH",
    "inframe_insertion": "MODERATE",
    "inframe_deletion": "MODERATE",
    "missense_variant": "MODERATE",
    "protein_altering_variant": "MODERATE",
    "splice_region_variant": "LOW",
    "incomplete_terminal_codon_variant": "LOW",
    "start_retained_variant": "LOW",
    "stop_retained_variant": "LOW",
    "synonymous_variant": "LOW",
}


def so_impact(term: str) -> str:
    return SO_IMPACT.get(term, "MODIFIER")
