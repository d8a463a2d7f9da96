#!/usr/bin/env python
"""Rebuild the shipped demo data from ../shared/data (GRCh38 chr20:1-10,000,000).

    python scripts/make_demo_bundle.py            # writes resources/demo_bundle/ and resources/demo.vcf.gz(.tbi)
    python scripts/make_demo_bundle.py --vcf-only # only the VCF

The bundle comes from `biblip bundle build` (so the script also exercises the command). The demo
VCF holds real variants of the region, one sample (PROBAND) with 0/1 and 1/1 calls:
  * a deterministic subset of the common dbSNP SNVs (../shared/data/variants),
  * UniProt (humsavar) missense variants of the region's genes placed on the genome: the codon is
    read from the GTF CDS + FASTA, and the first single-nucleotide change (in codon order) that
    gives the labelled amino acid is written; INFO carries UniProt's protein change (UP_HGVSP) and
    the label (UP_LABEL) so annotation can be checked against it,
  * a few indels whose REF was checked against the FASTA (frameshift and in-frame in PRNP, one in
    an intron) and one multiallelic record (two ALTs at a common SNP site).
Needs `bgzip` and `tabix` (Debian package `tabix`). Set SOURCE_DATE_EPOCH for byte-identical rebuilds.
"""

from __future__ import annotations

import argparse
import gzip
import os
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "data"
REGION = ("chr20", 1, 10_000_000)
CHR20_LENGTH = 64_444_167  # GRCh38
SNP_EVERY = 4  # keep every 4th common SNP (~310 of 1,241)
MAX_UNIPROT = 150

CODON = {
    a + b + c: aa
    for (a, b, c), aa in zip(
        ((x, y, z) for x in "TCAG" for y in "TCAG" for z in "TCAG"),
        "FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG",
    )
}
COMP = str.maketrans("ACGTN", "TGCAN")
THREE = {
    "A": "Ala", "R": "Arg", "N": "Asn", "D": "Asp", "C": "Cys", "Q": "Gln", "E": "Glu", "G": "Gly", "H": "His",
    "I": "Ile", "L": "Leu", "K": "Lys", "M": "Met", "F": "Phe", "P": "Pro", "S": "Ser", "T": "Thr", "W": "Trp",
    "Y": "Tyr", "V": "Val", "*": "Ter",
}  # fmt: skip


def build_bundle(out: Path) -> None:
    rel = os.path.relpath(SHARED, REPO)
    cmd = [
        sys.executable, "-m", "biblip_cli.cli", "bundle", "build",
        "--fasta", f"{rel}/reference/GRCh38.chr20_chr21_10M.fa.gz",
        "--gtf", f"{rel}/genes/canonical.GRCh38.gtf.gz",
        # demo translations first (they match the bundle's CDS); RefSeq adds the proteins the paralog
        # search runs against (only the region's genes are written to the bundle)
        "--proteins", f"{rel}/genes/proteins.demo.fa,{rel}/proteins/proteins.refseq.fa",
        "--knowledge", f"{rel}/knowledge/genes.tsv.gz",
        "--hpo-dir", f"{rel}/hpo",
        "--enhancers", f"{rel}/enhancers/crispr_K562_training.GRCh38.tsv.gz",
        "--region", "{}:{}-{}".format(*REGION),
        "--name", "biblip-demo GRCh38 chr20:1-10,000,000",
        "--build", "GRCh38",
        "--force", "-o", os.path.relpath(out, REPO),
    ]  # fmt: skip
    subprocess.run(cmd, cwd=REPO, check=True)


def cds_models(gtf: Path) -> dict[str, tuple[str, str, list[tuple[int, int]]]]:
    """gene -> (chrom, strand, CDS segments incl. stop codon, 1-based inclusive, transcript order)."""
    segs: dict[str, list[tuple[int, int]]] = defaultdict(list)
    info: dict[str, tuple[str, str]] = {}
    with gzip.open(gtf, "rt") as fh:
        for line in fh:
            if line.startswith("#"):
                continue
            c = line.rstrip("\n").split("\t")
            if c[2] not in ("CDS", "stop_codon"):
                continue
            gene = re.search(r'gene_id "([^"]+)"', c[8]).group(1)
            segs[gene].append((int(c[3]), int(c[4])))
            info[gene] = (c[0], c[6])
    models = {}
    for gene, parts in segs.items():
        merged: list[list[int]] = []
        for s, e in sorted(parts):
            if merged and s <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], e)
            else:
                merged.append([s, e])
        chrom, strand = info[gene]
        order = [(s, e) for s, e in merged]
        models[gene] = (chrom, strand, order[::-1] if strand == "-" else order)
    return models


def cds_positions(strand: str, segments: list[tuple[int, int]]) -> list[int]:
    """Genomic 1-based position of each CDS base in transcript order."""
    pos: list[int] = []
    for s, e in segments:
        pos.extend(range(e, s - 1, -1) if strand == "-" else range(s, e + 1))
    return pos


def uniprot_snvs(genome, models, labels: Path) -> list[tuple]:
    """(chrom, pos, id, ref, alt, info, source) for UniProt missense variants of the region's genes."""
    by_gene: dict[str, list[dict]] = defaultdict(list)
    with gzip.open(labels, "rt") as fh:
        header = fh.readline().rstrip("\n").split("\t")
        for line in fh:
            row = dict(zip(header, line.rstrip("\n").split("\t")))
            if row["gene_symbol"] in models:
                by_gene[row["gene_symbol"]].append(row)
    out, checked, placed = [], 0, 0
    for gene in sorted(by_gene):
        chrom, strand, segments = models[gene]
        positions = cds_positions(strand, segments)
        seq = "".join(genome.fetch(chrom, p - 1, p) for p in positions)
        if strand == "-":
            seq = seq.translate(COMP)
        for row in by_gene[gene]:
            checked += 1
            aa_pos = int(row["position"])
            codon = seq[3 * (aa_pos - 1) : 3 * aa_pos]
            if len(codon) != 3 or CODON.get(codon) != row["ref_aa"]:
                continue
            for i in range(3):
                for base in "ACGT":
                    if base == codon[i]:
                        continue
                    if CODON.get(codon[:i] + base + codon[i + 1 :]) == row["alt_aa"]:
                        gpos = positions[3 * (aa_pos - 1) + i]
                        ref = genome.fetch(chrom, gpos - 1, gpos)
                        alt = base.translate(COMP) if strand == "-" else base
                        info = f"UP_GENE={gene};UP_HGVSP={row['hgvs_p']};UP_LABEL={row['label']}"
                        out.append((chrom, gpos, row["variant_id"], ref, alt, info, "uniprot"))
                        placed += 1
                        break
                else:
                    continue
                break
    print(f"UniProt variants in region genes: {checked}, placed as SNVs: {placed}", file=sys.stderr)
    return out


def make_vcf(bundle_dir: Path, dest: Path) -> None:
    sys.path.insert(0, str(REPO))
    from biblip_cli.bundle import Bundle

    bundle = Bundle.open(bundle_dir)
    genome = bundle.genome
    models = cds_models(bundle.require("gtf"))
    records: list[tuple] = []

    with gzip.open(SHARED / "variants" / "common_snps.GRCh38.chr20_chr21_10M.vcf.gz", "rt") as fh:
        snps = [line.split("\t")[:5] for line in fh if line.startswith("chr20\t")]
    for i, (chrom, pos, vid, ref, alt) in enumerate(snps):
        if i % SNP_EVERY == 0:
            records.append((chrom, int(pos), vid, ref, alt, "SRC=dbsnp_common", "common"))

    up = uniprot_snvs(genome, models, SHARED / "labels" / "protein_variants.tsv.gz")
    # spread the choice over genes and labels: take every k-th so that ~MAX_UNIPROT remain
    picks = sorted({round(k * (len(up) - 1) / (MAX_UNIPROT - 1)) for k in range(MAX_UNIPROT)}) if up else []
    records += [
        (c, p, i, r, a, f"SRC=uniprot;{info}", s) for c, p, i, r, a, info, s in (up[k] for k in picks)
    ]

    # hand-checked indels (REF read from the FASTA below): PRNP CDS starts at 4,699,221 (+ strand)
    def ref_at(pos: int, n: int) -> str:
        return genome.fetch("chr20", pos - 1, pos - 1 + n)

    indels = [
        (4_699_300, 2, "del1_frameshift_PRNP"),  # REF 2 bp -> ALT 1 bp: 1-bp deletion in codon 27
        (4_699_350, 4, "del3_inframe_PRNP"),  # 3-bp deletion, in frame
        (4_699_400, 1, "ins1_frameshift_PRNP"),  # 1-bp insertion
        (4_690_000, 3, "del2_intron_PRNP"),  # PRNP intron 1
    ]
    for pos, n, name in indels:
        ref = ref_at(pos, n)
        if name.startswith("ins"):
            alt = ref + ("A" if ref[-1] != "A" else "C")
        else:
            alt = ref[0]
        records.append(("chr20", pos, name, ref, alt, "SRC=handmade_indel", "indel"))

    # a multiallelic record at a common SNP site: the real ALT plus a second one
    chrom, pos, vid, ref, alt = snps[1]
    second = next(b for b in "ACGT" if b not in (ref, alt))
    records = [r for r in records if not (r[0] == chrom and r[1] == int(pos))]
    records.append((chrom, int(pos), vid, ref, f"{alt},{second}", "SRC=multiallelic_demo", "multi"))

    records.sort(key=lambda r: (r[1], r[3], r[4]))
    seen, unique = set(), []
    for r in records:
        if (r[1], r[3], r[4]) not in seen:
            seen.add((r[1], r[3], r[4]))
            unique.append(r)
    for r in unique:
        assert genome.fetch(r[0], r[1] - 1, r[1] - 1 + len(r[3])) == r[3], r

    header = [
        "##fileformat=VCFv4.2",
        "##reference=GRCh38",
        (
            "##source=biblip scripts/make_demo_bundle.py: dbSNP common SNVs, UniProt humsavar missense variants "
            "placed via GTF+FASTA, hand-checked indels, one multiallelic record (chr20:1-10,000,000)"
        ),
        f"##contig=<ID=chr20,length={CHR20_LENGTH},assembly=GRCh38>",
        '##INFO=<ID=SRC,Number=1,Type=String,Description="Where the variant comes from">',
        '##INFO=<ID=UP_GENE,Number=1,Type=String,Description="UniProt variant: gene">',
        '##INFO=<ID=UP_HGVSP,Number=1,Type=String,Description="UniProt variant: protein change">',
        '##INFO=<ID=UP_LABEL,Number=1,Type=String,Description="UniProt variant: pathogenic, benign or uncertain">',
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tPROBAND",
    ]
    lines = []
    for n, (chrom, pos, vid, ref, alt, info, src) in enumerate(unique):
        gt = "1/2" if src == "multi" else ("1/1" if n % 5 == 0 else "0/1")
        lines.append(f"{chrom}\t{pos}\t{vid}\t{ref}\t{alt}\t.\tPASS\t{info}\tGT\t{gt}")
    plain = dest.with_suffix("")
    plain.write_text("\n".join(header + lines) + "\n")
    subprocess.run(["bgzip", "-f", str(plain)], check=True)
    subprocess.run(["tabix", "-f", "-p", "vcf", str(dest)], check=True)
    kinds = defaultdict(int)
    for r in unique:
        kinds[r[6]] += 1
    print(f"{dest}: {len(unique)} records {dict(kinds)}", file=sys.stderr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vcf-only", action="store_true")
    args = ap.parse_args()
    if not (SHARED / "reference").is_dir():
        sys.exit(f"needs {SHARED}")
    for tool in ("bgzip", "tabix"):
        if not shutil.which(tool):
            sys.exit(f"needs `{tool}` (apt-get install tabix)")
    bundle_dir = REPO / "resources" / "demo_bundle"
    if not args.vcf_only:
        build_bundle(bundle_dir)
    make_vcf(bundle_dir, REPO / "resources" / "demo.vcf.gz")
    subprocess.run(["du", "-sh", str(bundle_dir)], check=True)


if __name__ == "__main__":
    main()
