"""Published cases whose causal variants lie in the bundle's sequence, written as VCFs for `biblip rank`.

Each case VCF holds the patient's own causal variant(s) (their GRCh38 vcfRecord and zygosity) over the
same background as the simulated cases (`cases.build_cases`): the region's common SNPs with random
genotypes and the region's benign missense polymorphisms, with simulated gnomAD_AF values (`case_vcfs.background_af`); the patient's own HPO terms are the
phenotypes. The rank task (`ranking_task.evaluate_ranking`) then scores them with biblip and the
Exomiser-like baseline, so real cases and simulated ones are measured by one code path.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from biblip_cli.evaluation.case_vcfs import background_rows, read_background, write_case_vcf
from biblip_cli.evaluation.cases import SimulatedCase
from biblip_cli.io.case_records import CaseRecord
from biblip_cli.io.datasets import LabeledVariant
from biblip_cli.records import Allele

log = logging.getLogger(__name__)

_GENOTYPE = {"homozygous": "1/1", "hemizygous": "1/1"}


def sequence_check(bundle: Any) -> Callable[[str, int], bool]:
    """(chrom, pos) -> whether the bundle has the base there (not N, inside a contig with sequence)."""
    genome = bundle.genome

    def inside(chrom: str, pos: int) -> bool:
        contig = genome.resolve(chrom)
        return bool(contig) and 0 < pos <= genome.length(contig) and genome.fetch(contig, pos - 1, pos) != "N"

    return inside


def benign_alleles(labels: Sequence[LabeledVariant], bundle: Any) -> list[Allele]:
    """The benign-labelled missense changes the bundle can place on its genome (one allele each)."""
    from biblip_cli.evaluation.patho import has_protein
    from biblip_cli.features.consequence import protein_variant_to_alleles

    seen: dict[tuple[str, int, str], Allele] = {}
    for lv in labels:
        if lv.label == "benign" and has_protein(bundle, lv.variant.gene):
            for allele in protein_variant_to_alleles(bundle, lv.variant)[:1]:
                seen.setdefault((allele.chrom, allele.pos, allele.alt), allele)
    return sorted(seen.values(), key=lambda a: (a.chrom, a.pos, a.alt))


def build_real_cases(
    records: Sequence[CaseRecord],
    in_sequence: Callable[[str, int], bool],
    background_vcf: Path,
    benign: Sequence[Allele],
    out_dir: Path,
    split_of: Callable[[str], str],
    seed: int = 13,
    limit: int = 0,
) -> list[SimulatedCase]:
    """Case VCFs for the records whose every causal variant has a vcfRecord in the sequence."""
    usable = [
        r for r in records
        if r.observed and r.variants and all(v.chrom and v.pos and in_sequence(v.chrom, v.pos) for v in r.variants)
    ]  # fmt: skip
    if limit:
        usable = usable[:limit]
    if not usable:
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    contigs = sorted({v.chrom for r in usable for v in r.variants})
    contig_lines, background = read_background(background_vcf, contigs)
    rng = random.Random(seed)
    af_rng = random.Random(seed + 1)  # its own stream, as in cases.build_cases
    cases: list[SimulatedCase] = []
    for record in usable:
        chroms = {v.chrom for v in record.variants}
        rows = [
            (v.chrom, v.pos, f"causal{i + 1}", v.ref, v.alt, _GENOTYPE.get(v.zygosity.lower(), "0/1"))
            for i, v in enumerate(record.variants)
        ]
        taken = {(v.chrom, v.pos) for v in record.variants}
        rows += background_rows(rng, af_rng, chroms, taken, benign, background)
        safe_id = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in record.case_id)
        vcf = out_dir / f"{safe_id}.vcf"
        write_case_vcf(vcf, contig_lines, rows)
        first = record.variants[0]
        causal = Allele(first.chrom, first.pos, first.ref, first.alt)
        cases.append(
            SimulatedCase(
                record.case_id,
                vcf,
                causal,
                record.gene,
                first.hgvs_p,
                rows[0][5],
                list(record.observed),
                gene_split=split_of(record.gene),
            )
        )
    log.info("real cases with sequence in the bundle: %d of %d", len(cases), len(records))
    return cases
