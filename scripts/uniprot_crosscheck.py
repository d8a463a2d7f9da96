"""Cross-check the consequence annotator against UniProt protein changes (issue 3's acceptance test).

For every UniProt variant (labels/protein_variants.tsv.gz) in a gene of chr20:1-10,000,000 whose CDS
has sequence, derive the SNV(s) giving that change (`protein_variant_to_alleles`), write them as a VCF,
annotate each back (`annotate_allele`, the function `biblip annotate` runs), and require the annotated
HGVSp to equal the label's for >= 99% of the variants. Prints the counts and every miss with its reason.

Usage: python scripts/uniprot_crosscheck.py [--vcf out.vcf] [--min-rate 0.99]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data"
REGION = ("chr20", 0, 10_000_000)


@dataclass
class CrosscheckResult:
    total: int  # UniProt variants in coding genes of the region
    derived: int  # variants with >= 1 SNV giving the change on our transcript
    matched: int  # >= 1 derived SNV annotates back to the label's HGVSp
    misses: list[tuple[str, str, str]]  # (gene, hgvsp, reason)
    n_snvs: int

    @property
    def rate(self) -> float:
        """Share of derivable variants whose SNV annotates back to the label's HGVSp."""
        return self.matched / self.derived if self.derived else float("nan")


def default_bundle(data: Path = DATA) -> SimpleNamespace:
    """A bundle-like object over the raw shared files (Genome + TranscriptIndex)."""
    from biblip_cli.bundle.genes import TranscriptIndex
    from biblip_cli.bundle.genome import Genome

    return SimpleNamespace(
        genome=Genome(data / "reference" / "GRCh38.chr20_chr21_10M.fa.gz"),
        transcripts=TranscriptIndex.from_gtf(data / "genes" / "canonical.GRCh38.gtf.gz"),
    )


def crosscheck(
    bundle, labels: Path, vcf_out: Path | None = None, use_cli: bool = False, bundle_dir: Path | None = None
) -> CrosscheckResult:
    """`use_cli`: annotate the written VCF with `biblip annotate --no-model` (needs `vcf_out` and a bundle
    whose region covers chr20:1-10M, by default the demo bundle); else call `annotate_allele`."""
    from biblip_cli.features.consequence import annotate_allele, protein_variant_to_alleles
    from biblip_cli.records import ProteinVariant

    contig, lo, hi = REGION
    genes = {
        tx.gene
        for tx in bundle.transcripts.transcripts(contig)
        if tx.coding and tx.cds_start0 >= lo and tx.cds_end0 <= hi
    }
    total = derived = matched = n_snvs = 0
    misses: list[tuple[str, str, str]] = []
    records: list[tuple[int, str, str, str]] = []
    placed: list[tuple[ProteinVariant, list]] = []
    with gzip.open(labels, "rt") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            if row["gene_symbol"] not in genes:
                continue
            total += 1
            pv = ProteinVariant(
                gene=row["gene_symbol"],
                hgvsp=row["hgvs_p"],
                ref_aa=row["ref_aa"],
                position=int(row["position"]),
                alt_aa=row["alt_aa"],
            )
            alleles = protein_variant_to_alleles(bundle, pv)
            if not alleles:
                misses.append((pv.gene, pv.hgvsp, _why_underivable(bundle, pv)))
                continue
            derived += 1
            n_snvs += len(alleles)
            placed.append((pv, alleles))
            for al in alleles:
                records.append((al.pos, al.ref, al.alt, f"{pv.gene}:{pv.hgvsp}"))
    if vcf_out is not None:
        with open(vcf_out, "w") as out:
            out.write("##fileformat=VCFv4.2\n##contig=<ID=chr20,length=10000000>\n")
            out.write(
                '##INFO=<ID=UNIPROT,Number=1,Type=String,Description="gene:HGVSp of the UniProt variant">\n'
            )
            out.write("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
            out.writelines(
                f"chr20\t{pos}\t.\t{ref}\t{alt}\t.\t.\tUNIPROT={label}\n"
                for pos, ref, alt, label in sorted(set(records))
            )
    if use_cli:
        if vcf_out is None:
            raise ValueError("use_cli needs vcf_out")
        by_cli = annotate_with_cli(vcf_out, vcf_out.with_suffix(".annotated.vcf"), bundle_dir)
    for pv, alleles in placed:
        got = []
        for al in alleles:
            if use_cli:
                got.append(by_cli.get((al.pos, al.ref, al.alt), {}).get(pv.gene, ""))
            else:
                ann = annotate_allele(bundle, al)
                eff = next((e for e in ann.effects if e.gene == pv.gene), None)
                got.append(eff.hgvsp if eff else "")
        if pv.hgvsp in got:
            matched += 1
        else:
            misses.append((pv.gene, pv.hgvsp, f"annotated {','.join(got)}"))
    return CrosscheckResult(total=total, derived=derived, matched=matched, misses=misses, n_snvs=n_snvs)


def annotate_with_cli(
    vcf: Path, out_vcf: Path, bundle_dir: Path | None = None
) -> dict[tuple[int, str, str], dict]:
    """Run `biblip annotate --no-model` on the VCF; (pos, ref, alt) -> {gene: HGVSp} from BIOBLIP."""
    import shutil
    import subprocess
    from urllib.parse import unquote

    exe = shutil.which("biblip")
    cmd = [exe] if exe else [sys.executable, "-m", "biblip_cli.cli"]
    cmd += ["--quiet", "annotate", str(vcf), "--no-model", "-o", str(out_vcf)]
    if bundle_dir is not None:
        cmd += ["--bundle", str(bundle_dir)]
    subprocess.run(cmd, check=True)
    fields: list[str] = []
    out: dict[tuple[int, str, str], dict] = {}
    with open(out_vcf) as fh:
        for ln in fh:
            if ln.startswith("##INFO=<ID=BIOBLIP,"):
                fields = ln.split("Format: ", 1)[1].split('"')[0].split("|")
            if ln.startswith("#"):
                continue
            f = ln.rstrip("\n").split("\t")
            info = dict(kv.split("=", 1) for kv in f[7].split(";") if "=" in kv)
            per: dict[str, str] = {}
            for entry in info.get("BIOBLIP", "").split(","):
                vals = dict(zip(fields, entry.split("|")))
                if vals.get("SYMBOL"):  # HGVSp is `PROTEIN_OR_TRANSCRIPT:p.X` (VEP style)
                    per[unquote(vals["SYMBOL"])] = unquote(vals.get("HGVSp", "")).rpartition(":")[2]
            out[(int(f[1]), f[3], f[4])] = per
    return out


def _why_underivable(bundle, pv) -> str:
    from biblip_cli.features.coding import cds_seq
    from biblip_cli.features.codons import CODON_TABLE

    tx = bundle.transcripts.by_gene(pv.gene)
    cds = cds_seq(bundle, tx)
    codon = cds[(pv.position - 1) * 3 : pv.position * 3]
    if len(codon) < 3:
        return f"isoform: residue {pv.position} is beyond our {len(cds) // 3 - 1}-residue protein"
    aa = CODON_TABLE.get(codon, "X")
    if aa != pv.ref_aa:
        return f"isoform: our transcript has {aa} (codon {codon}) at {pv.position}, UniProt {pv.ref_aa}"
    return f"needs more than one base change ({codon} -> {pv.alt_aa})"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--labels", type=Path, default=DATA / "labels" / "protein_variants.tsv.gz")
    ap.add_argument("--vcf", type=Path, default=None, help="write the derived SNVs here")
    ap.add_argument("--min-rate", type=float, default=0.99)
    ap.add_argument(
        "--cli", action="store_true", help="annotate with `biblip annotate --no-model` (the real path)"
    )
    ap.add_argument("--bundle", type=Path, default=None, help="bundle for --cli (default: the demo bundle)")
    args = ap.parse_args(argv)
    vcf = args.vcf
    if args.cli and vcf is None:
        import tempfile

        vcf = Path(tempfile.mkdtemp(prefix="uniprot_crosscheck_")) / "uniprot_snvs.vcf"
    res = crosscheck(default_bundle(), args.labels, vcf, use_cli=args.cli, bundle_dir=args.bundle)
    print(f"UniProt variants in coding genes of chr20:1-10M: {res.total}; derived SNVs: {res.n_snvs}")
    print(
        f"derivable by one SNV on our transcript: {res.derived}; annotated HGVSp == label: "
        f"{res.matched}/{res.derived} ({100 * res.rate:.2f}%); of all: {res.matched}/{res.total}"
    )
    reasons = Counter(r.split(" ")[0].rstrip(":") + " " + g for g, _, r in res.misses)
    for gene, hgvsp, why in res.misses:
        print(f"  miss {gene} {hgvsp}: {why}")
    for why, n in reasons.most_common():
        print(f"  {n:4d} x {why}")
    return 0 if res.rate >= args.min_rate else 1


if __name__ == "__main__":
    sys.exit(main())
