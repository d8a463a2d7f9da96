"""Throughput benchmark: alleles/s and peak RSS of `biblip annotate` for each path, at several input sizes.

    python benchmarks/throughput.py --sizes 1000,10000,100000 --modes spine,cheap,llm,explain

Each run is a separate `biblip annotate` process on a generated VCF of random SNVs in the demo region (REF
from the bundle's FASTA, fixed seed; `--coding` of them in coding exons, as in an exome; the shipped
checkpoint gives a model pathogenicity to missense alleles only, so both alleles/s and model-scored/s
are reported), so the numbers include start-up, VCF parsing and writing, exactly as a
user sees them. Peak RSS comes from `os.wait4` on that child alone. The LLM paths are slow on a CPU; sizes
above `--max-llm` are skipped for them (said in the table).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PATHOGENICITY = 22  # index of Pathogenicity in BIOBLIP (biblip_cli.io.vcf_header.BIOBLIP_COLUMNS)
MODES = {
    "spine": ["--no-model"],
    "cheap": ["--no-llm"],
    "llm": ["--score", "llm"],
    "explain": ["--explain"],
}


def make_vcf(path: Path, n: int, seed: int = 7, bundle: Path | None = None, coding: float = 0.0) -> None:
    """Write n sorted random SNVs in chr20:60,001-9,990,000 with REF read from the demo bundle; a
    `coding` fraction of them inside coding exons (an exome's mix: most of those are missense)."""
    from biblip_cli.bundle import Bundle, default_bundle_dir

    opened = Bundle.open(bundle or default_bundle_dir())
    genome = opened.genome
    rng = random.Random(seed)
    cds: list[int] = []
    for tx in opened.transcripts.transcripts("chr20"):
        if tx.coding:
            for start0, end0 in tx.exons:
                lo, hi = max(start0, tx.cds_start0), min(end0, tx.cds_end0)
                cds.extend(range(lo + 1, hi + 1))
    n_coding = min(int(n * coding), len(cds))
    picked = set(rng.sample(cds, n_coding)) if n_coding else set()
    while len(picked) < n:
        picked.add(rng.randrange(60_001, 9_990_000))
    positions = sorted(picked)
    lines = [
        "##fileformat=VCFv4.2",
        "##contig=<ID=chr20,length=64444167>",
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO",
    ]
    for pos in positions:
        ref = genome.fetch("chr20", pos - 1, pos)
        if ref not in "ACGT":
            continue
        alt = rng.choice([b for b in "ACGT" if b != ref])
        lines.append(f"chr20\t{pos}\t.\t{ref}\t{alt}\t.\t.\t.")
    path.write_text("\n".join(lines) + "\n")


def run_one(vcf: Path, out: Path, extra: list[str], device: str, batch_size: int) -> dict:
    cmd = [sys.executable, "-m", "biblip_cli.cli", "--quiet", "annotate", str(vcf), "-o", str(out)]
    cmd += ["--device", device, "--batch-size", str(batch_size), *extra]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    err = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"benchmark run failed: {' '.join(cmd)}\n{err}")
    return {"seconds": seconds, "peak_rss_mib": usage.ru_maxrss / 1024, "model_scored": model_scored(out)}


def model_scored(vcf: Path) -> int:
    """ALT alleles with a model pathogenicity in the output (the LLM/cheap head ran for them)."""
    scored = 0
    with open(vcf) as fh:
        for line in fh:
            if line.startswith("#") or "BIOBLIP=" not in line:
                continue
            info = line.split("\t")[7]
            field = next(kv for kv in info.split(";") if kv.startswith("BIOBLIP="))[len("BIOBLIP=") :]
            alleles = {
                e.split("|")[0] for e in field.split(",") if e.split("|")[PATHOGENICITY] not in ("", ".")
            }
            scored += len(alleles)
    return scored


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--modes", default="spine,cheap,llm,explain")
    parser.add_argument("--max-llm", type=int, default=10_000, help="largest N for the llm mode")
    parser.add_argument("--max-explain", type=int, default=200, help="largest N for the explain mode")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--coding", type=float, default=0.5,
                        help="fraction of SNVs placed in coding exons (0.5: exome-like; 0: genome-like)")  # fmt: skip
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args()

    sizes = [int(s) for s in args.sizes.split(",")]
    modes = args.modes.split(",")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            vcf = Path(tmp) / f"snvs_{n}.vcf"
            make_vcf(vcf, n, coding=args.coding)
            n_alleles = sum(1 for line in vcf.open() if not line.startswith("#"))
            for mode in modes:
                limit = {"llm": args.max_llm, "explain": args.max_explain}.get(mode)
                if limit is not None and n > limit:
                    rows.append({"mode": mode, "alleles": n_alleles, "skipped": f"N > {limit}"})
                    continue
                result = run_one(vcf, Path(tmp) / "out.vcf", MODES[mode], args.device, args.batch_size)
                rows.append({"mode": mode, "alleles": n_alleles, **result,
                             "alleles_per_s": n_alleles / result["seconds"],
                             "model_scored_per_s": result["model_scored"] / result["seconds"]})  # fmt: skip
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)

    print(f"# {dt.date.today()} {platform.node()} {platform.processor() or platform.machine()} "
          f"cpus={os.cpu_count()} python={platform.python_version()}")  # fmt: skip
    print(f"# command: python benchmarks/throughput.py {' '.join(sys.argv[1:])}")
    print(
        f"# {args.coding:.0%} of the SNVs in coding exons; model-scored = alleles given a model pathogenicity"
    )
    print("| mode | alleles | model-scored | seconds | alleles/s | model-scored/s | peak RSS (MiB) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        if "skipped" in row:
            print(f"| {row['mode']} | {row['alleles']} | | skipped ({row['skipped']}) | | | |")
        else:
            print(f"| {row['mode']} | {row['alleles']} | {row['model_scored']} | {row['seconds']:.1f} "
                  f"| {row['alleles_per_s']:.0f} | {row['model_scored_per_s']:.1f} | {row['peak_rss_mib']:.0f} |")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
