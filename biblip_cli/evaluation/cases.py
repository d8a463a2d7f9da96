"""Evaluation inputs: HPO gene links, and simulated Mendelian cases.

`biblip evaluate` takes every case as a file so any new file of the same format (a hold-out set)
runs without code changes: the labels and enhancer-gene pairs TSVs are read by `io/datasets.py`
(the same readers as training); the cases TSV written by `build_cases` (one VCF per case beside it) here.

A simulated case = the real common SNPs of the region with random genotypes (background) plus one
pathogenic allele of a labelled gene, and 3-8 HPO terms of that gene plus 0-2 unrelated terms.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from biblip_cli.errors import BiblipError
from biblip_cli.evaluation.case_vcfs import (
    BackgroundVariant,
    background_rows,
    read_background,
    write_case_vcf,
)
from biblip_cli.io.datasets import LabeledVariant, tsv_rows
from biblip_cli.records import Allele, ProteinVariant

log = logging.getLogger(__name__)

CASES_TSV = "cases.tsv"
CASE_COLUMNS = (
    "case_id",
    "vcf",
    "chrom",
    "pos",
    "ref",
    "alt",
    "gene",
    "hgvsp",
    "genotype",
    "terms",
    "noise_terms",
    "gene_split",
)
# HPO terms that are not phenotypes (inheritance, onset, course): never sampled as patient terms.
NON_PHENOTYPE_WORDS = (
    "inheritance",
    "onset",
    "sporadic",
    "anticipation",
    "penetrance",
    "mosaicism",
    "heterogeneity",
)


def _rows(path: Path, required: Sequence[str]) -> Iterable[tuple[int, dict[str, str]]]:
    return tsv_rows(path, required, hint=None, quoted=True)  # HPO names may be quoted


# --- HPO annotations -----------------------------------------------------------------------------
def read_gene_phenotypes(path: Path) -> dict[str, dict[str, str]]:
    """`genes_to_phenotype.txt(.gz)` -> gene symbol -> {HPO id: name}, phenotype terms only."""
    out: dict[str, dict[str, str]] = {}
    for _, row in _rows(Path(path), ("gene_symbol", "hpo_id", "hpo_name")):
        name = row["hpo_name"]
        if any(word in name.lower() for word in NON_PHENOTYPE_WORDS):
            continue
        out.setdefault(row["gene_symbol"], {})[row["hpo_id"]] = name
    return out


def read_gene_disease_counts(path: Path) -> dict[str, int]:
    """`genes_to_phenotype.txt(.gz)` -> gene symbol -> number of distinct diseases (the gene-level prior)."""
    diseases: dict[str, set[str]] = {}
    for _, row in _rows(Path(path), ("gene_symbol", "disease_id")):
        diseases.setdefault(row["gene_symbol"], set()).add(row["disease_id"])
    return {gene: len(ids) for gene, ids in diseases.items()}


RECESSIVE_TERMS = {"HP:0000007", "HP:0001419"}  # autosomal / X-linked recessive inheritance
DOMINANT_TERMS = {"HP:0000006", "HP:0001423", "HP:0001417"}  # autosomal / X-linked dominant, X-linked


def read_recessive_genes(path: Path) -> set[str]:
    """Genes annotated with a recessive mode of inheritance and no dominant one (HPO gene links)."""
    recessive: set[str] = set()
    dominant: set[str] = set()
    for _, row in _rows(Path(path), ("gene_symbol", "hpo_id", "hpo_name")):
        if row["hpo_id"] in RECESSIVE_TERMS:
            recessive.add(row["gene_symbol"])
        elif row["hpo_id"] in DOMINANT_TERMS:
            dominant.add(row["gene_symbol"])
    return recessive - dominant


# --- simulated cases -----------------------------------------------------------------------------
@dataclass
class SimulatedCase:
    case_id: str
    vcf: Path
    causal: Allele
    gene: str
    hgvsp: str
    genotype: str  # "0/1" or "1/1"
    terms: list[str]  # all patient terms (gene terms + noise), in the order given to methods
    noise_terms: list[str] = field(default_factory=list)
    gene_split: str = ""  # test | val | train | "" (unknown)


def _placed_pathogenic(
    labels: Sequence[LabeledVariant],
    alleles_of: Callable[[ProteinVariant], list[Allele]],
    gene_terms: dict[str, dict[str, str]],
    min_terms: int,
    gene_split: Callable[[str], str] | None,
    splits: Sequence[str],
) -> dict[str, list[tuple[LabeledVariant, Allele]]]:
    """Each eligible gene's distinct pathogenic changes with their first genomic allele: the possible causes."""
    by_gene: dict[str, list[LabeledVariant]] = {}
    for lv in labels:
        if not lv.is_pathogenic or len(gene_terms.get(lv.variant.gene, {})) < min_terms:
            continue
        if gene_split is not None and gene_split(lv.variant.gene) not in splits:
            continue
        by_gene.setdefault(lv.variant.gene, []).append(lv)
    placed: dict[str, list[tuple[LabeledVariant, Allele]]] = {}
    for gene in sorted(by_gene):
        seen: set[str] = set()
        for lv in sorted(by_gene[gene], key=lambda x: (x.variant.position, x.variant.alt_aa)):
            if lv.variant.hgvsp in seen:
                continue
            seen.add(lv.variant.hgvsp)
            alleles = alleles_of(lv.variant)
            if alleles:
                placed.setdefault(gene, []).append((lv, alleles[0]))
    return placed


def _benign_alleles(
    labels: Sequence[LabeledVariant], alleles_of: Callable[[ProteinVariant], list[Allele]]
) -> list[Allele]:
    """The placeable benign-labelled changes, deduplicated and sorted: every case's polymorphisms."""
    benign: list[Allele] = []
    seen_benign: set[tuple[str, int, str]] = set()
    for lv in labels:
        if lv.label != "benign":
            continue
        for allele in alleles_of(lv.variant)[:1]:
            key = (allele.chrom, allele.pos, allele.alt)
            if key not in seen_benign:
                seen_benign.add(key)
                benign.append(allele)
    benign.sort(key=lambda a: (a.chrom, a.pos, a.alt))
    return benign


def _case_terms(
    rng: random.Random, gene_terms: dict[str, dict[str, str]], gene: str, noise_pool: Sequence[str]
) -> tuple[list[str], list[str]]:
    """A case's shuffled patient terms (3-8 of the gene's own plus 0-2 unrelated) and the unrelated ones."""
    own = sorted(gene_terms[gene])
    k = min(rng.randint(3, 8), len(own))
    terms = rng.sample(own, k)
    noise: list[str] = []
    for _ in range(rng.randint(0, 2)):
        term = rng.choice(noise_pool)
        if term not in gene_terms[gene] and term not in noise:
            noise.append(term)
    all_terms = terms + noise
    rng.shuffle(all_terms)
    return all_terms, noise


def _case_rows(
    rng: random.Random,
    af_rng: random.Random,
    causal: Allele,
    genotype: str,
    decoys: Sequence[Allele],
    benign: Sequence[Allele],
    background: Sequence[BackgroundVariant],
) -> list[tuple]:
    """A case's VCF rows: the causal allele, then decoys, benign polymorphisms and common SNPs around it."""
    rows = [(causal.chrom, causal.pos, "causal", causal.ref, causal.alt, genotype)]
    taken = {causal.pos}
    for decoy in decoys:
        if decoy.chrom == causal.chrom and decoy.pos not in taken:
            taken.add(decoy.pos)
            rows.append((decoy.chrom, decoy.pos, "decoy", decoy.ref, decoy.alt, "0/1"))
    taken_at = {(causal.chrom, pos) for pos in taken}
    rows += background_rows(rng, af_rng, {causal.chrom}, taken_at, benign, background)
    return rows


def build_cases(
    labels: Sequence[LabeledVariant],
    alleles_of: Callable[[ProteinVariant], list[Allele]],
    gene_terms: dict[str, dict[str, str]],
    background_vcf: Path,
    out_dir: Path,
    n_cases: int = 50,
    seed: int = 13,
    gene_split: Callable[[str], str] | None = None,
    splits: Sequence[str] = ("test",),
    min_terms: int = 3,
    proteins: dict[str, str] | None = None,
    n_decoys: int = 10,
    recessive_genes: set[str] | None = None,
    benign_background: bool = True,
) -> list[SimulatedCase]:
    """Simulate up to `n_cases` cases, round-robin over eligible genes, reproducible for a seed.

    Eligible: a pathogenic label that `alleles_of` can place on the genome (sequence present), a
    gene with >= `min_terms` HPO phenotype terms, and (with `gene_split`) a gene in `splits`.
    With `proteins`, each case also gets `n_decoys` random missense SNVs in random coding genes
    (rare variants every exome has; unlabelled, so no training label leaks into the background).
    The causal allele is heterozygous (homozygous with probability 1/4), and homozygous always in
    `recessive_genes` (recessive-only genes: one heterozygous allele would not explain the disease).
    With `benign_background`, every benign-labelled missense change that `alleles_of` can place (the
    region's known polymorphisms, many in disease genes and in the causal gene itself) joins each case
    with allele frequency 0.3 (0/1 42%, 1/1 9%): the background a real exome has, where a ranker must
    tell the causal change from benign ones of the same gene, not only from random decoys.
    """
    rng = random.Random(seed)
    af_rng = random.Random(seed + 1)  # its own stream: the cases stay the ones the seed gave before AFs
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    benign: list[Allele] = _benign_alleles(labels, alleles_of) if benign_background else []
    placed = _placed_pathogenic(labels, alleles_of, gene_terms, min_terms, gene_split, splits)
    genes = sorted(placed)
    if not genes:
        log.warning("no eligible gene for simulated cases (splits %s)", ",".join(splits))
        return []
    rng.shuffle(genes)
    contigs = sorted({a.chrom for pairs in placed.values() for _, a in pairs})
    contig_lines, background = read_background(background_vcf, contigs)
    noise_pool = sorted({t for terms in gene_terms.values() for t in terms})
    cases: list[SimulatedCase] = []
    for index in range(n_cases):
        gene = genes[index % len(genes)]
        lv, causal = rng.choice(placed[gene])
        all_terms, noise = _case_terms(rng, gene_terms, gene, noise_pool)
        genotype = "1/1" if rng.random() < 0.25 or gene in (recessive_genes or ()) else "0/1"
        decoys = random_missense(rng, proteins or {}, alleles_of, n_decoys)
        rows = _case_rows(rng, af_rng, causal, genotype, decoys, benign, background)
        case_id = f"case{index + 1:03d}"
        vcf = out_dir / f"{case_id}.vcf"
        write_case_vcf(vcf, contig_lines, rows)
        split = gene_split(gene) if gene_split is not None else ""
        cases.append(
            SimulatedCase(
                case_id, vcf, causal, gene, lv.variant.hgvsp, genotype, all_terms, noise, split or ""
            )
        )
    write_cases(out_dir / CASES_TSV, cases)
    return cases


def random_missense(
    rng: random.Random, proteins: dict[str, str], alleles_of: Callable[[ProteinVariant], list[Allele]], n: int
) -> list[Allele]:
    """`n` random single-residue substitutions reachable by one SNV, placed on the genome."""
    genes = sorted(g for g, seq in proteins.items() if len(seq) > 2)
    out: list[Allele] = []
    for _ in range(n * 20):
        if len(out) >= n or not genes:
            break
        gene = rng.choice(genes)
        seq = proteins[gene]
        position = rng.randint(2, len(seq) - 1)
        ref = seq[position - 1]
        alt = rng.choice([a for a in "ACDEFGHIKLMNPQRSTVWY" if a != ref])
        if ref not in "ACDEFGHIKLMNPQRSTVWY":
            continue
        alleles = alleles_of(ProteinVariant(gene, f"p.{ref}{position}{alt}", ref, position, alt))
        if alleles:
            out.append(rng.choice(alleles))
    return out


def write_cases(path: Path, cases: Sequence[SimulatedCase]) -> None:
    path = Path(path)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\t".join(CASE_COLUMNS) + "\n")
        for c in cases:
            vcf = c.vcf.name if c.vcf.parent.resolve() == path.parent.resolve() else str(c.vcf)
            a = c.causal
            fields = (
                c.case_id,
                vcf,
                a.chrom,
                str(a.pos),
                a.ref,
                a.alt,
                c.gene,
                c.hgvsp,
                c.genotype,
                ",".join(c.terms),
                ",".join(c.noise_terms),
                c.gene_split,
            )
            fh.write("\t".join(fields) + "\n")


def read_cases(path: Path) -> list[SimulatedCase]:
    """Read `cases.tsv` (or a directory holding one); VCF paths are relative to the TSV."""
    path = Path(path)
    if path.is_dir():
        path = path / CASES_TSV
    out = []
    for line_number, row in _rows(path, ("case_id", "vcf", "chrom", "pos", "ref", "alt", "gene", "terms")):
        vcf = Path(row["vcf"])
        if not vcf.is_absolute():
            vcf = path.parent / vcf
        if not vcf.is_file():
            raise BiblipError("case VCF not found", where=f"{path}:{line_number}", hint=str(vcf))
        causal = Allele(row["chrom"], int(row["pos"]), row["ref"], row["alt"])
        split_terms = [t for t in (row["terms"] or "").split(",") if t]
        noise = [t for t in (row.get("noise_terms") or "").split(",") if t]
        out.append(
            SimulatedCase(
                row["case_id"],
                vcf,
                causal,
                row["gene"],
                row.get("hgvsp", "") or "",
                row.get("genotype", "0/1") or "0/1",
                split_terms,
                noise,
                row.get("gene_split", "") or "",
            )
        )
    return out
