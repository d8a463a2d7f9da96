"""Turn annotated alleles (or protein-level variants) into the model's `VariantInputs` batch.

One builder per bundle + text encoder. Gene knowledge text is embedded once per gene and kept
(`precompute_genes` does it in bulk up front), so building a batch is table look-ups plus one genome
fetch per allele. Layouts: DNA windows in `dna.py`, gene rows in `gene.py`, protein rows in
`protein.py`, text slots in `text.py`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from biblip_cli.features.activity import activity_features
from biblip_cli.features.dna import dna_windows
from biblip_cli.features.evidence import COL_EVIDENCE, variant_evidence
from biblip_cli.features.gene import (
    COL_IMPACT,
    COL_INSIDE,
    COL_RELPOS,
    COL_TSS_LOG,
    COL_TSS_SIGN,
    IMPACTS,
    SO_INDEX,
    TSS_WINDOW,
    GeneCandidate,
    codon_genome_pos0,
    gene_feature_row,
    relative_position,
    signed_tss_distance,
)
from biblip_cli.features.inputs import (
    ACTIVITY_DIM,
    DNA_PAD,
    GENE_FEATURE_DIM,
    MAX_GENES,
    MAX_SNIPPETS,
    PROTEIN_FEATURE_DIM,
    TEXT_DIM,
    VariantInputs,
)
from biblip_cli.features.protein import (
    CODING_TERMS,
    PROTEIN_WINDOW,
    change_flags,
    protein_consequence,
    protein_feature_row,
    residue_windows,
)
from biblip_cli.features.text import gene_snippets
from biblip_cli.records import AlleleAnnotation, ElementActivity, GeneEffect, ProteinVariant, so_impact

log = logging.getLogger(__name__)

_SPLICE = frozenset({"splice_acceptor_variant", "splice_donor_variant", "splice_region_variant"})


class FeatureBuilder:
    """Builds `VariantInputs` from a bundle; `text_embedder` is a `TextEmbedder` (or None: no text)."""

    def __init__(
        self, bundle: Any, text_embedder: Any = None, dna_flank: int = 256, max_genes: int = MAX_GENES
    ):
        self.bundle = bundle
        self.text_embedder = text_embedder
        self.dna_flank = dna_flank
        self.max_genes = max_genes
        self._gene_text: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._protein_genes: dict[str, _ProteinGene] = {}
        self._missing: set[str] = set()  # bundle parts that failed to load (logged once)
        self._zero_text = (np.zeros((MAX_SNIPPETS, TEXT_DIM), np.float32), np.zeros(MAX_SNIPPETS, bool))

    # -- bundle parts (a bundle-like object may lack one: its modality is then masked) ----------
    def _part(self, name: str) -> Any:
        if name in self._missing:
            return None
        try:
            return getattr(self.bundle, name)
        except AttributeError as err:  # a bundle-like object without this part: mask, don't fail
            log.warning("bundle has no %s (%s): that modality is masked", name, err)
            self._missing.add(name)
            return None

    def _transcripts(self) -> Any:
        return self._part("transcripts")

    def _knowledge(self) -> dict:
        return self._part("knowledge") or {}

    def _proteins(self) -> dict:
        return self._part("proteins") or {}

    def evidence_context(self, gene: str) -> tuple[list, int]:
        """(paralogs, number of HPO diseases) of a gene, for `evidence.variant_evidence`."""
        paralogs = self._part("paralogs") or {}
        counts = self._part("gene_disease_counts") or {}
        return paralogs.get(gene, []), counts.get(gene, 0)

    # -- text ----------------------------------------------------------------------------------
    def precompute_genes(self, genes: Iterable[str]) -> int:
        """Embed the knowledge snippets of all these genes in one bulk pass; returns genes added."""
        todo = [g for g in dict.fromkeys(genes) if g and g not in self._gene_text]
        if not todo:
            return 0
        knowledge = self._knowledge()
        snippets = {g: gene_snippets(knowledge.get(g)) for g in todo}
        if self.text_embedder is None:
            for g, texts in snippets.items():
                self._gene_text[g] = (self._zero_text[0], np.zeros(MAX_SNIPPETS, bool))
            return len(todo)
        flat = [t for texts in snippets.values() for t in texts]
        self.text_embedder.precompute(flat)
        vectors = self.text_embedder.embed(flat).reshape(len(todo), MAX_SNIPPETS, TEXT_DIM)
        for i, (g, texts) in enumerate(snippets.items()):
            self._gene_text[g] = (vectors[i], np.array([bool(t) for t in texts]))
        return len(todo)

    def gene_text(self, gene: str | None) -> tuple[np.ndarray, np.ndarray]:
        """([T, TEXT_DIM] snippet embeddings, [T] mask) of one gene (zeros/False when unknown)."""
        if not gene:
            return self._zero_text
        if gene not in self._gene_text:
            self.precompute_genes([gene])
        return self._gene_text[gene]

    # -- genomic alleles -----------------------------------------------------------------------
    def _candidates(
        self, annotation: AlleleAnnotation, query: str | None
    ) -> tuple[list[GeneCandidate], str | None]:
        allele = annotation.allele
        transcripts = self._transcripts()
        genome = self.bundle.genome
        contig = genome.resolve(allele.chrom) if annotation.status != "unknown_contig" else None
        pos0 = allele.start0
        found: dict[str, GeneCandidate] = {}
        for effect in annotation.effects:
            if effect.gene not in found and effect.gene:
                tx = transcripts.by_gene(effect.gene) if transcripts is not None else None
                found[effect.gene] = GeneCandidate(effect.gene, effect, tx, effect.tss_distance, pos0)
        near: list[tuple[Any, int]] = []
        if (
            contig is not None
            and transcripts is not None
            and annotation.annotated
            and len(found) < self.max_genes
        ):
            near = transcripts.tss_near(contig, pos0, window=TSS_WINDOW)
        if query is None:
            query = annotation.effects[0].gene if annotation.effects else (near[0][0].gene if near else None)
        for tx, distance in near:
            if len(found) >= self.max_genes:
                break
            if tx.gene not in found:
                found[tx.gene] = GeneCandidate(tx.gene, None, tx, distance, pos0)
        candidates = list(found.values())
        if query is not None and query not in found:
            tx = transcripts.by_gene(query) if transcripts is not None else None
            on_contig = tx is not None and tx.chrom == contig
            distance = signed_tss_distance(tx, pos0) if on_contig else None
            extra = GeneCandidate(query, None, tx, distance, pos0 if on_contig else None)
            candidates = [extra] + candidates
        return candidates[: self.max_genes], query

    def build(
        self,
        annotations: Sequence[AlleleAnnotation],
        query_genes: Sequence[str | None] | None = None,
        activities: Sequence[ElementActivity | None] | None = None,
    ) -> VariantInputs:
        """Batch for genomic alleles. Query gene default: the most severe effect's gene, else the
        nearest TSS gene (intergenic); it gets the query marker, the protein and the text modality.
        `activities[i]`: the chromatin activity of the element carrying allele i (its own token)."""
        n, k = len(annotations), self.max_genes
        activity = np.zeros((n, ACTIVITY_DIM), np.float32)
        activity_mask = np.zeros(n, bool)
        dna = dna_windows(self.bundle.genome, annotations, self.dna_flank)
        gene_features = np.zeros((n, k, GENE_FEATURE_DIM), np.float32)
        gene_text = np.zeros((n, k, TEXT_DIM), np.float32)
        gene_mask = np.zeros((n, k), bool)
        prot = _ProteinBlock(n)
        text = np.zeros((n, MAX_SNIPPETS, TEXT_DIM), np.float32)
        text_mask = np.zeros((n, MAX_SNIPPETS), bool)
        proteins = self._proteins()
        per_allele = []
        for i, annotation in enumerate(annotations):
            asked = query_genes[i] if query_genes is not None else None
            per_allele.append(self._candidates(annotation, asked))
        self.precompute_genes(c.gene for cands, _ in per_allele for c in cands)
        for i, (annotation, (cands, query)) in enumerate(zip(annotations, per_allele, strict=True)):
            for j, cand in enumerate(cands):
                emb, mask = self.gene_text(cand.gene)
                gene_features[i, j] = gene_feature_row(cand, cand.gene == query, bool(mask[0]))
                gene_text[i, j] = emb[0]
                gene_mask[i, j] = True
            measured = activities[i] if activities is not None else None
            if measured is not None and measured.measured:
                distance = next((c.tss_distance for c in cands if c.gene == query), None)
                activity[i], activity_mask[i] = activity_features(measured, distance), True
            if query is not None:
                text[i], text_mask[i] = self.gene_text(query)
                effect = next((e for e in annotation.effects if e.gene == query), None)
                if effect is not None:
                    prot.fill_effect(i, effect, proteins.get(query), self.evidence_context(query))
        return _to_inputs(
            dna.ref, dna.alt, dna.mask, gene_features, gene_text, gene_mask, prot, text, text_mask,
            activity, activity_mask,
        )  # fmt: skip

    # -- protein-level variants ----------------------------------------------------------------
    def _protein_gene(self, gene: str) -> _ProteinGene:
        """Per-gene parts of a protein-level variant's inputs, computed once per gene."""
        got = self._protein_genes.get(gene)
        if got is not None:
            return got
        transcripts = self._transcripts()
        tx = transcripts.by_gene(gene) if transcripts is not None else None
        sequence = self._proteins().get(gene)
        if sequence:
            length: int | None = len(sequence)
        elif tx is not None and tx.cds_length >= 6:
            length = tx.cds_length // 3 - 1  # the CDS includes the stop codon
        else:
            length = None
        emb, mask = self.gene_text(gene)
        template = None
        if tx is not None or gene in self._knowledge():
            probe = GeneEffect(
                gene=gene,
                transcript="",
                biotype=tx.biotype if tx is not None else "protein_coding",
                strand=tx.strand if tx is not None else "",
                consequences=["missense_variant"],
                exon="1/1",  # a coding change is exonic (exon number unknown at protein level)
            )
            template = gene_feature_row(GeneCandidate(gene, probe, tx), True, bool(mask[0]))
            template[: len(SO_INDEX)] = 0.0
            template[COL_IMPACT : COL_IMPACT + len(IMPACTS)] = 0.0
        got = _ProteinGene(tx, sequence, length, template, emb, mask)
        self._protein_genes[gene] = got
        return got

    def build_protein(self, variants: Sequence[ProteinVariant]) -> VariantInputs:
        """Batch for protein-level variants (gene + residue change, no coordinates): DNA masked,
        one gene token from the gene model, protein window when the bundle has the sequence and its
        residue matches; gene token and protein row use the same layouts as genomic alleles."""
        n, k = len(variants), self.max_genes
        size = 2 * self.dna_flank
        gene_features = np.zeros((n, k, GENE_FEATURE_DIM), np.float32)
        gene_text = np.zeros((n, k, TEXT_DIM), np.float32)
        gene_mask = np.zeros((n, k), bool)
        prot = _ProteinBlock(n)
        missing = [v.gene for v in variants if v.gene not in self._protein_genes]
        if missing:
            self.precompute_genes(missing)
        per_gene = [self._protein_gene(v.gene) for v in variants]
        for i, (pv, info) in enumerate(zip(variants, per_gene, strict=True)):
            term = protein_consequence(pv.ref_aa, pv.alt_aa, pv.position)
            if info.template is not None:
                row = gene_features[i, 0]
                row[:] = info.template
                row[SO_INDEX[term]] = 1.0
                impact = so_impact(term)
                row[COL_IMPACT + (IMPACTS.index(impact) if impact in IMPACTS else 3)] = 1.0
                tx = info.transcript
                pos0 = codon_genome_pos0(tx, pv.position) if tx is not None else None
                if pos0 is not None:
                    distance = signed_tss_distance(tx, pos0)
                    row[COL_TSS_SIGN] = float(np.sign(distance))
                    row[COL_TSS_LOG] = math.log10(abs(distance) + 1) / 6.0
                    row[COL_RELPOS] = relative_position(tx, pos0)
                    row[COL_INSIDE] = 1.0
                gene_text[i, 0] = info.text[0]
                gene_mask[i, 0] = True
            prot.fill(
                i, pv.ref_aa, pv.alt_aa, pv.position, info.length, [term], info.sequence,
                self.evidence_context(pv.gene),
            )  # fmt: skip
        text = (
            np.stack([info.text for info in per_gene])
            if n
            else np.zeros((0, MAX_SNIPPETS, TEXT_DIM), np.float32)
        )
        text_mask = (
            np.stack([info.text_mask for info in per_gene]) if n else np.zeros((0, MAX_SNIPPETS), bool)
        )
        dna_ids = np.full((n, size), DNA_PAD, np.int64)
        return _to_inputs(
            dna_ids,
            dna_ids.copy(),
            np.zeros(n, bool),
            gene_features,
            gene_text,
            gene_mask,
            prot,
            text,
            text_mask,
        )


@dataclass
class _ProteinGene:
    transcript: Any
    sequence: str | None
    length: int | None
    template: np.ndarray | None  # gene row without the variant-specific columns; None: no gene token
    text: np.ndarray  # [T, TEXT_DIM]
    text_mask: np.ndarray  # [T]


class _ProteinBlock:
    """The protein part of a batch, filled row by row."""

    def __init__(self, n: int) -> None:
        self.ref = np.zeros((n, PROTEIN_WINDOW), np.int64)
        self.alt = np.zeros((n, PROTEIN_WINDOW), np.int64)
        self.window_mask = np.zeros(n, bool)
        self.features = np.zeros((n, PROTEIN_FEATURE_DIM), np.float32)
        self.mask = np.zeros(n, bool)

    def fill_effect(
        self, i: int, effect: GeneEffect, sequence: str | None, evidence: tuple[list, int] = ([], 0)
    ) -> None:
        """Row i from a coding effect of the query gene; non-coding effects leave the row masked."""
        if not (set(effect.consequences) & CODING_TERMS) or not effect.protein_position:
            return
        ref_aas, alt_aas = _residues(effect)
        self.fill(
            i, ref_aas, alt_aas, effect.protein_position, effect.protein_length, effect.consequences, sequence,
            evidence,
        )  # fmt: skip

    def fill(
        self,
        i: int,
        ref_aas: str,
        alt_aas: str,
        position: int,
        length: int | None,
        terms: list[str],
        sequence: str | None,
        evidence: tuple[list, int] = ([], 0),
    ) -> None:
        length = length or (len(sequence) if sequence else None)
        known = (
            bool(sequence)
            and bool(ref_aas)
            and sequence[position - 1 : position - 1 + len(ref_aas)] == ref_aas
        )
        flags = change_flags(terms, ref_aas[:1], alt_aas[:1], position)
        if known:
            self.ref[i], self.alt[i] = residue_windows(
                sequence, position, ref_aas, alt_aas, frameshift="frameshift" in flags
            )
            self.window_mask[i] = True
        self.features[i] = protein_feature_row(
            ref_aas, alt_aas, position, length, flags, known, splice=bool(_SPLICE.intersection(terms))
        )
        paralogs, n_diseases = evidence
        self.features[i, COL_EVIDENCE:] = variant_evidence(
            sequence if known else None, position, ref_aas, alt_aas[:1] if "missense" in flags else "",
            paralogs, n_diseases,
        )  # fmt: skip
        self.mask[i] = True


def _residues(effect: GeneEffect) -> tuple[str, str]:
    """(ref residues, alt residues) of a coding effect, '' when unknown; synonymous: alt = ref."""
    if effect.amino_acids:
        parts = effect.amino_acids.split("/")
        ref = parts[0].replace("-", "")
        alt = parts[1].replace("-", "") if len(parts) > 1 else ref
        return ref.upper(), alt.upper()
    ref, alt = effect.ref_aa or "", effect.alt_aa or ""
    return ref.upper(), (alt or ref).upper()


def _to_inputs(
    dna_ref: np.ndarray,
    dna_alt: np.ndarray,
    dna_mask: np.ndarray,
    gene_features: np.ndarray,
    gene_text: np.ndarray,
    gene_mask: np.ndarray,
    prot: _ProteinBlock,
    text: np.ndarray,
    text_mask: np.ndarray,
    activity: np.ndarray | None = None,
    activity_mask: np.ndarray | None = None,
) -> VariantInputs:
    t = torch.from_numpy
    n = len(dna_mask)
    if activity is None or activity_mask is None:  # protein-level variants: no element, no activity
        activity, activity_mask = np.zeros((n, ACTIVITY_DIM), np.float32), np.zeros(n, bool)
    return VariantInputs(
        dna_ref=t(np.ascontiguousarray(dna_ref, dtype=np.int64)),
        dna_alt=t(np.ascontiguousarray(dna_alt, dtype=np.int64)),
        dna_mask=t(dna_mask),
        gene_features=t(gene_features),
        gene_text=t(gene_text),
        gene_mask=t(gene_mask),
        protein_ref=t(prot.ref),
        protein_alt=t(prot.alt),
        protein_window_mask=t(prot.window_mask),
        protein_features=t(prot.features),
        protein_mask=t(prot.mask),
        text=t(text),
        text_mask=t(text_mask),
        activity=t(activity),
        activity_mask=t(activity_mask),
    )
