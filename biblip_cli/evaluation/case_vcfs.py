"""The VCFs of simulated cases: the background SNVs read from a VCF, their simulated AFs, and the writer.

`build_cases` (evaluation/cases.py) and the real-case VCFs (evaluation/real_case_vcfs.py) use them.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from biblip_cli.errors import BiblipError

CASE_SAMPLE = "PROBAND"


@dataclass(frozen=True)
class BackgroundVariant:
    chrom: str
    pos: int
    ref: str
    alt: str
    rsid: str


def read_background(
    path: Path, contigs: Sequence[str] | None = None
) -> tuple[list[str], list[BackgroundVariant]]:
    """Header contig lines and biallelic SNVs of a VCF (cyvcf2), optionally limited to `contigs`."""
    from cyvcf2 import VCF

    if not Path(path).is_file():
        raise BiblipError("background VCF not found", where=str(path))
    reader = VCF(str(path))
    contig_lines = [line for line in reader.raw_header.splitlines() if line.startswith("##contig")]
    out = []
    for v in reader:
        if contigs and v.CHROM not in contigs:
            continue
        for alt in v.ALT:
            out.append(BackgroundVariant(v.CHROM, v.POS, v.REF, alt, v.ID or "."))
    reader.close()
    return contig_lines, out


AF_FIELD = "gnomAD_AF"  # the INFO field simulated backgrounds carry (`biblip rank` auto-detects it)


def background_af(rng: random.Random, kind: str) -> float | None:
    """A population allele frequency for a simulated background variant (None: no value written).

    Stated assumptions, since the shared data has no frequencies: the common dbSNP SNPs (MAF >= 1% by
    dbSNP's definition) get U(0.01, 0.5); benign UniProt missense polymorphisms get a log-uniform AF in
    [1e-4, 0.3] (so about a third are rarer than 1% and stay candidates); the causal allele and the random
    missense decoys (a case's own rare variants) have none."""
    if kind == "common":
        return rng.uniform(0.01, 0.5)
    if kind == "benign":
        return 10 ** rng.uniform(-4.0, math.log10(0.3))
    return None


def background_rows(
    rng: random.Random,
    af_rng: random.Random,
    chroms: set[str],
    taken: set[tuple[str, int]],
    benign: Sequence[Any],
    background: Sequence[BackgroundVariant],
) -> list[tuple]:
    """The background every case VCF gets on its causal contigs (simulated and real cases alike): each
    benign polymorphism with allele frequency 0.3 (0/1 42%, 1/1 9%), each common SNP with 0.5 (0/0 25%,
    dropped; 0/1 50%; 1/1 25%), each with a simulated gnomAD_AF (`background_af`); positions in `taken`
    are skipped and filled in."""
    rows: list[tuple] = []
    for poly in benign:
        draw = rng.random()
        if poly.chrom not in chroms or (poly.chrom, poly.pos) in taken or draw >= 0.51:
            continue
        taken.add((poly.chrom, poly.pos))
        rows.append(
            (poly.chrom, poly.pos, "benign", poly.ref, poly.alt, "0/1" if draw < 0.42 else "1/1",
             background_af(af_rng, "benign"))
        )  # fmt: skip
    for bg in background:
        if bg.chrom not in chroms or (bg.chrom, bg.pos) in taken:
            continue
        draw = rng.random()
        if draw < 0.25:
            continue
        rows.append(
            (bg.chrom, bg.pos, bg.rsid, bg.ref, bg.alt, "0/1" if draw < 0.75 else "1/1",
             background_af(af_rng, "common"))
        )  # fmt: skip
    return rows


def write_case_vcf(
    path: Path,
    contig_lines: Sequence[str],
    rows: Sequence[tuple[str, int, str, str, str, str] | tuple[str, int, str, str, str, str, float | None]],
) -> None:
    """Rows (chrom, pos, id, ref, alt, genotype[, gnomAD_AF]), sorted here; one sample named PROBAND."""
    contig_order = {line.split("ID=")[1].split(",")[0].rstrip(">"): i for i, line in enumerate(contig_lines)}
    rows = sorted(rows, key=lambda r: (contig_order.get(r[0], len(contig_order)), r[0], r[1], r[3], r[4]))
    with_af = any(len(r) > 6 for r in rows)

    def info(row: tuple) -> str:
        af = row[6] if len(row) > 6 else None
        return f"{AF_FIELD}={af:.4g}" if af is not None else "."

    with open(path, "w", encoding="utf-8") as fh:
        fh.write("##fileformat=VCFv4.2\n##source=biblip simulated Mendelian case\n")
        fh.writelines(line + "\n" for line in contig_lines)
        if with_af:
            fh.write(f'##INFO=<ID={AF_FIELD},Number=A,Type=Float,Description="Simulated population AF '
                     '(evaluation/cases.background_af)">\n')  # fmt: skip
        fh.write('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n')
        fh.write(f"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t{CASE_SAMPLE}\n")
        fh.writelines(
            f"{r[0]}\t{r[1]}\t{r[2]}\t{r[3]}\t{r[4]}\t.\tPASS\t{info(r)}\tGT\t{r[5]}\n" for r in rows
        )
