"""The gene-context modality: one feature row per candidate gene of an allele.

Candidates (at most K): the genes of the allele's effects (overlapping transcripts +-5 kb, most
severe first), then genes with a TSS within +-1 Mb, nearest first; the asked-about ("query") gene
is always among them. `gene_features` layout (GENE_FEATURE_DIM = 48 floats; the checkpoint depends
on it, keep it stable):

| cols  | feature                                                                      |
|-------|------------------------------------------------------------------------------|
| 0-24  | multi-hot SO consequence on this gene (records.SO_TERMS order); 0 for genes  |
|       | found only through the TSS window                                            |
| 25    | sign of the TSS distance (transcript orientation: +1 downstream, -1 up, 0)   |
| 26    | log10(abs(TSS distance) + 1) / 6                                             |
| 27    | relative position in the transcript span, 5'->3', clipped to [0, 1]          |
| 28-33 | flags: exon, intron, 5'UTR, 3'UTR, splice (acceptor/donor/region), coding    |
| 34    | strand: +1 plus, -1 minus, 0 unknown                                         |
| 35-38 | biotype group one-hot: protein_coding, lncRNA, pseudogene, other             |
| 39    | log10(gene span bp + 1) / 7                                                  |
| 40-43 | impact one-hot: HIGH, MODERATE, LOW, MODIFIER                                |
| 44    | has knowledge text (gene_text row is real; otherwise zeros)                  |
| 45    | query marker: 1.0 for the gene being asked about                             |
| 46    | from the allele's effects (overlapping +-5 kb) rather than the TSS window    |
| 47    | allele inside the transcript span                                            |
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from biblip_cli.features.inputs import GENE_FEATURE_DIM
from biblip_cli.features.protein import CODING_TERMS
from biblip_cli.records import SO_TERMS, GeneEffect

TSS_WINDOW = 1_000_000
SO_INDEX = {term: i for i, term in enumerate(SO_TERMS)}
COL_TSS_SIGN, COL_TSS_LOG, COL_RELPOS = 25, 26, 27
COL_EXON, COL_INTRON, COL_UTR5, COL_UTR3, COL_SPLICE, COL_CODING = 28, 29, 30, 31, 32, 33
COL_STRAND, COL_BIOTYPE, COL_LOGLEN, COL_IMPACT = 34, 35, 39, 40
COL_HAS_TEXT, COL_QUERY, COL_FROM_EFFECT, COL_INSIDE = 44, 45, 46, 47
IMPACTS = ("HIGH", "MODERATE", "LOW", "MODIFIER")
SPLICE_TERMS = frozenset({"splice_acceptor_variant", "splice_donor_variant", "splice_region_variant"})
EXON_TERMS = CODING_TERMS | {
    "5_prime_UTR_variant",
    "3_prime_UTR_variant",
    "non_coding_transcript_exon_variant",
}
assert len(SO_TERMS) <= COL_TSS_SIGN


@dataclass
class GeneCandidate:
    """One candidate gene of one allele: what the feature row is made from."""

    gene: str
    effect: GeneEffect | None = None  # the allele's effect on this gene (None: TSS-window gene)
    transcript: Any = None  # bundle.genes.Transcript, if the gene model has it
    tss_distance: int | None = None  # signed, transcript orientation
    pos0: int | None = None  # genomic 0-based position of the allele (None: protein-level)


def biotype_group(biotype: str) -> int:
    """0 protein_coding, 1 lncRNA, 2 pseudogene, 3 other."""
    b = (biotype or "").lower()
    if b == "protein_coding":
        return 0
    if "pseudogene" in b:
        return 2
    if "lnc" in b or "antisense" in b or "long_non_coding" in b or "lincrna" in b:
        return 1
    return 3


def relative_position(transcript: Any, pos0: int) -> float:
    """0 at the TSS, 1 at the transcript end, clipped; along the transcript's orientation."""
    span = max(transcript.end0 - transcript.start0, 1)
    offset = pos0 - transcript.start0 if transcript.strand == "+" else transcript.end0 - 1 - pos0
    return min(max(offset / span, 0.0), 1.0)


def gene_feature_row(candidate: GeneCandidate, is_query: bool, has_text: bool) -> np.ndarray:
    """One GENE_FEATURE_DIM row (layout in the module docstring)."""
    row = np.zeros(GENE_FEATURE_DIM, dtype=np.float32)
    effect, tx = candidate.effect, candidate.transcript
    terms: list[str] = effect.consequences if effect is not None else []
    for term in terms:
        index = SO_INDEX.get(term)
        if index is not None:
            row[index] = 1.0
    distance = candidate.tss_distance
    if distance is None and effect is not None:
        distance = effect.tss_distance
    if distance is not None:
        row[COL_TSS_SIGN] = float(np.sign(distance))
        row[COL_TSS_LOG] = math.log10(abs(distance) + 1) / 6.0
    term_set = set(terms)
    if tx is not None and candidate.pos0 is not None:
        row[COL_RELPOS] = relative_position(tx, candidate.pos0)
        row[COL_INSIDE] = float(tx.start0 <= candidate.pos0 < tx.end0)
    row[COL_EXON] = float(bool(term_set & EXON_TERMS) or bool(effect is not None and effect.exon))
    row[COL_INTRON] = float("intron_variant" in term_set or bool(effect is not None and effect.intron))
    row[COL_UTR5] = float("5_prime_UTR_variant" in term_set)
    row[COL_UTR3] = float("3_prime_UTR_variant" in term_set)
    row[COL_SPLICE] = float(bool(term_set & SPLICE_TERMS))
    row[COL_CODING] = float(bool(term_set & CODING_TERMS))
    strand = effect.strand if effect is not None else (tx.strand if tx is not None else "")
    row[COL_STRAND] = 1.0 if strand == "+" else -1.0 if strand == "-" else 0.0
    biotype = effect.biotype if effect is not None else (tx.biotype if tx is not None else "")
    row[COL_BIOTYPE + biotype_group(biotype)] = 1.0
    if tx is not None:
        row[COL_LOGLEN] = math.log10(max(tx.end0 - tx.start0, 0) + 1) / 7.0
    impact = effect.impact if effect is not None else "MODIFIER"
    row[COL_IMPACT + (IMPACTS.index(impact) if impact in IMPACTS else 3)] = 1.0
    row[COL_HAS_TEXT] = float(has_text)
    row[COL_QUERY] = float(is_query)
    row[COL_FROM_EFFECT] = float(effect is not None)
    return row


def codon_genome_pos0(transcript: Any, residue: int) -> int | None:
    """Genomic 0-based position of the first base of codon `residue` (1-based), or None."""
    start = transcript.cds_tx_start
    if start is None or residue < 1:
        return None
    return transcript.genomic_of_offset(start + 3 * (residue - 1))


def signed_tss_distance(transcript: Any, pos0: int) -> int:
    """Signed bp from the TSS in transcript orientation (+ downstream), as TranscriptIndex.tss_near."""
    return pos0 - transcript.tss0 if transcript.strand == "+" else transcript.tss0 - pos0
