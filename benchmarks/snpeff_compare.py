"""Side by side with SnpEff 5.1 on random SNVs of the demo region: agreement and speed.

Builds a SnpEff database from the same GTF + FASTA (chr20 genes ending before 10 Mb), draws N random
SNVs in chr20:60,001-10,000,000 (REF from the FASTA, fixed seed), annotates them with SnpEff and with
biblip, and prints (a) per (variant, transcript) agreement of the most severe SO term, with every
kind of disagreement counted, (b) variants/s and peak RSS of both tools (each timed as a child process
under /usr/bin/time -v, JVM / interpreter start included) and the ratio.

Comparison, precisely: for every variant, the set of transcripts either tool reports (ours: every
canonical transcript within 5 kb; SnpEff: every ANN entry whose Feature_ID is a transcript) is
joined on transcript id. A pair agrees when the most severe SO term of our consequence equals the
most severe of SnpEff's (SnpEff names mapped to SO: intergenic_region -> intergenic_variant,
5_prime_UTR_premature_start_codon_gain_variant -> 5_prime_UTR_variant, ...; severity = records.SO_TERMS
order). A variant with no transcript on either side is intergenic on both and agrees.

Speed: `--repeat` alternating runs of each tool (SnpEff, then biblip at each `--threads` value); the
medians are reported, with CPU seconds beside wall time (SnpEff's JVM keeps both cores busy).

Usage: python benchmarks/snpeff_compare.py [--n 100000] [--workdir DIR] [--ours cli|function]
       [--threads 1,2] [--repeat 3] [--json OUT]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data"
FASTA = DATA / "reference" / "GRCh38.chr20_chr21_10M.fa.gz"
GTF = DATA / "genes" / "canonical.GRCh38.gtf.gz"
CONTIG, LO, HI = "chr20", 60_001, 10_000_000
GENOME = "biblip_demo"

SNPEFF_TO_SO = {
    "intergenic_region": "intergenic_variant",
    "5_prime_UTR_premature_start_codon_gain_variant": "5_prime_UTR_variant",
    "intragenic_variant": "intron_variant",
    "initiator_codon_variant": "start_retained_variant",
    "non_coding_exon_variant": "non_coding_transcript_exon_variant",
    "exon_loss_variant": "transcript_ablation",
    "gene_fusion": "transcript_ablation",
    "splice_region_variant": "splice_region_variant",
}


def _severity() -> dict[str, int]:
    from biblip_cli.records import SO_TERMS

    return {t: i for i, t in enumerate(SO_TERMS)}


def most_severe(terms: list[str]) -> str:
    sev = _severity()
    mapped = [SNPEFF_TO_SO.get(t, t) for t in terms]
    return min(mapped, key=lambda t: sev.get(t, 98))


def build_snpeff_db(work: Path) -> Path:
    """Write GTF (chr20 genes ending before 10 Mb) + chr20 FASTA + config; run `snpEff build`."""
    data = work / "data"
    gdir = data / GENOME
    gdir.mkdir(parents=True, exist_ok=True)
    keep: set[str] = set()
    with gzip.open(GTF, "rt") as fh:
        lines = [ln for ln in fh if ln.startswith(CONTIG + "\t")]
    for ln in lines:
        f = ln.split("\t")
        if f[2] == "transcript" and int(f[4]) <= HI:
            keep.add(re.search(r'transcript_id "([^"]+)"', f[8]).group(1))  # type: ignore[union-attr]
    with open(gdir / "genes.gtf", "w") as out:
        for ln in lines:
            m = re.search(r'transcript_id "([^"]+)"', ln)
            if m and m.group(1) in keep:
                out.write(ln)
    import pyfaidx

    fa = pyfaidx.Fasta(str(FASTA), as_raw=True)
    seq = str(fa[CONTIG][:])
    with open(gdir / "sequences.fa", "w") as out:
        out.write(f">{CONTIG}\n")
        out.writelines(seq[i : i + 60] + "\n" for i in range(0, len(seq), 60))
    config = work / "snpEff.config"
    config.write_text(f"data.dir = {data}\n{GENOME}.genome : biblip demo chr20 1-10M\n")
    cmd = ["snpEff", "build", "-gtf22", "-noCheckCds", "-noCheckProtein", "-c", str(config), "-v", GENOME]
    res = subprocess.run(cmd, check=False, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"snpEff build failed:\n{res.stderr[-3000:]}")
    return config


def make_vcf(path: Path, n: int, seed: int = 20) -> None:
    """N random SNVs (sorted, distinct positions, REF from the FASTA, ALT != REF, no N)."""
    import pyfaidx

    fa = pyfaidx.Fasta(str(FASTA), as_raw=True, sequence_always_upper=True)
    seq = str(fa[CONTIG][:])
    rng = random.Random(seed)
    positions: set[int] = set()
    while len(positions) < n:
        p = rng.randint(LO, HI)
        if seq[p - 1] in "ACGT":
            positions.add(p)
    with open(path, "w") as out:
        out.write("##fileformat=VCFv4.2\n")
        out.write(f"##contig=<ID={CONTIG},length=10000000>\n")
        out.write("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        for p in sorted(positions):
            ref = seq[p - 1]
            alt = rng.choice([b for b in "ACGT" if b != ref])
            out.write(f"{CONTIG}\t{p}\t.\t{ref}\t{alt}\t.\t.\t.\n")


def timed(
    cmd: list[str], stdout_path: Path | None = None, env: dict | None = None
) -> tuple[float, float, float]:
    """Run under /usr/bin/time -v: wall seconds, peak RSS (MiB) and CPU seconds (user + system, all
    threads and child processes)."""
    full = ["/usr/bin/time", "-v", *cmd]
    t = time.perf_counter()
    with open(stdout_path or os.devnull, "w") as out:
        res = subprocess.run(full, check=False, stdout=out, stderr=subprocess.PIPE, text=True, env=env)
    wall = time.perf_counter() - t
    if res.returncode != 0:
        raise SystemExit(f"command failed: {' '.join(cmd)}\n{res.stderr[-3000:]}")
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", res.stderr)
    cpu = sum(float(x) for x in re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", res.stderr))
    return wall, (int(m.group(1)) / 1024 if m else float("nan")), cpu


def _compile_package() -> None:
    """Byte-compile biblip_cli as `pip install` does, so that an editable checkout (or
    PYTHONDONTWRITEBYTECODE) does not time the compilation of ~150 modules on every start."""
    import compileall

    compileall.compile_dir(str(REPO / "biblip_cli"), quiet=1)


def parse_snpeff(path: Path) -> dict[str, dict[str, list[str]]]:
    """variant key -> {transcript id -> SO terms} from SnpEff's ANN (intergenic under '')."""
    out: dict[str, dict[str, list[str]]] = {}
    with open(path) as fh:
        for ln in fh:
            if ln.startswith("#"):
                continue
            f = ln.rstrip("\n").split("\t")
            if len(f) < 8:  # SnpEff's ##SnpEffCmd header can wrap onto a second line
                continue
            key = f"{f[0]}:{f[1]}:{f[3]}:{f[4]}"
            per: dict[str, list[str]] = {}
            ann = next((x[4:] for x in f[7].split(";") if x.startswith("ANN=")), "")
            for entry in ann.split(","):
                parts = entry.split("|")
                if len(parts) < 7:
                    continue
                terms = parts[1].split("&")
                feature_type, feature = parts[5], parts[6]
                if feature_type == "transcript" and feature:
                    per.setdefault(feature, []).extend(terms)
                elif "intergenic_region" in terms:
                    per.setdefault("", []).extend(terms)
            out[key] = per
    return out


def ours_child(vcf: str) -> None:
    """Child process: the annotation function over a cyvcf2 read (used when the CLI is unavailable)."""
    import cyvcf2

    from biblip_cli.bundle.genes import TranscriptIndex
    from biblip_cli.bundle.genome import Genome
    from biblip_cli.features.consequence import annotate_allele
    from biblip_cli.records import Allele

    bundle = SimpleNamespace(genome=Genome(FASTA), transcripts=TranscriptIndex.from_gtf(GTF))
    out = sys.stdout
    for i, v in enumerate(cyvcf2.VCF(vcf), 1):
        for k, alt in enumerate(v.ALT):
            ann = annotate_allele(bundle, Allele(v.CHROM, v.POS, v.REF, alt, k, i))
            out.write(
                f"{ann.allele.key}\t"
                + ",".join(f"{e.transcript}|{e.consequence}|{e.hgvsp}" for e in ann.effects)
                + "\n"
            )


def ours_in_process(vcf: Path) -> dict[str, dict[str, list[str]]]:
    """Our consequences per variant/transcript, for the agreement table."""
    import cyvcf2

    from biblip_cli.bundle.genes import TranscriptIndex
    from biblip_cli.bundle.genome import Genome
    from biblip_cli.features.consequence import annotate_allele
    from biblip_cli.records import Allele

    bundle = SimpleNamespace(genome=Genome(FASTA), transcripts=TranscriptIndex.from_gtf(GTF))
    out: dict[str, dict[str, list[str]]] = {}
    for i, v in enumerate(cyvcf2.VCF(str(vcf)), 1):
        al = Allele(v.CHROM, v.POS, v.REF, v.ALT[0], 0, i)
        ann = annotate_allele(bundle, al)
        out[al.key] = {e.transcript: e.consequences for e in ann.effects} or {"": ["intergenic_variant"]}
    return out


def compare(ours: dict, theirs: dict) -> tuple[int, int, Counter, list[str], int, Counter]:
    """Most-severe-term agreement per (variant, transcript) pair; also full term-set agreement."""
    agree = total = same_set = 0
    kinds: Counter = Counter()
    set_kinds: Counter = Counter()
    examples: list[str] = []
    for key, per_ours in ours.items():
        per_theirs = theirs.get(key, {})
        if set(per_ours) == {""} and (not per_theirs or set(per_theirs) == {""}):
            total += 1
            agree += 1
            same_set += 1
            continue
        for tid in sorted((set(per_ours) | set(per_theirs)) - {""}):
            total += 1
            a = most_severe(per_ours[tid]) if tid in per_ours else "(none)"
            b = most_severe(per_theirs[tid]) if tid in per_theirs else "(none)"
            sa = {SNPEFF_TO_SO.get(t, t) for t in per_ours.get(tid, [])}
            sb = {SNPEFF_TO_SO.get(t, t) for t in per_theirs.get(tid, [])}
            if sa == sb:
                same_set += 1
            else:
                set_kinds[("&".join(sorted(sa - sb)) or "-", "&".join(sorted(sb - sa)) or "-")] += 1
            if a == b:
                agree += 1
            else:
                kinds[(a, b)] += 1
                if len(examples) < 40:
                    examples.append(
                        f"{key}\t{tid}\tours={'&'.join(per_ours.get(tid, []))}\tsnpeff={'&'.join(per_theirs.get(tid, []))}"
                    )
    return agree, total, kinds, examples, same_set, set_kinds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000, help="random SNVs (default 100,000)")
    ap.add_argument("--workdir", type=Path, default=None, help="keep the SnpEff DB and files here")
    ap.add_argument("--ours", choices=["auto", "cli", "function"], default="auto")
    ap.add_argument("--bundle", type=Path, default=REPO / "resources" / "demo_bundle")
    ap.add_argument("--json", type=Path, default=None, help="also write the numbers as JSON")
    ap.add_argument("--threads", default="1,2", help="biblip --threads values to time, comma-separated")
    ap.add_argument("--repeat", type=int, default=3, help="alternating runs per tool; medians reported")
    ap.add_argument("--ours-child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.ours_child:
        ours_child(args.ours_child)
        return 0
    if shutil.which("snpEff") is None:
        print("snpEff not installed (Debian package snpeff)", file=sys.stderr)
        return 2
    work = args.workdir or Path(tempfile.mkdtemp(prefix="snpeff_compare_"))
    work.mkdir(parents=True, exist_ok=True)
    config = work / "snpEff.config"
    if not (work / "data" / GENOME / "snpEffectPredictor.bin").exists():
        t = time.perf_counter()
        config = build_snpeff_db(work)
        print(f"snpEff database built in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    vcf = work / f"random_snvs_{args.n}.vcf"
    make_vcf(vcf, args.n)
    snp_out = work / "snpeff.vcf"
    snp_cmd = ["snpEff", "ann", "-noStats", "-noLog", "-c", str(config), GENOME, str(vcf)]
    use_cli = args.ours == "cli" or (
        args.ours == "auto"
        and (args.bundle / "manifest.json").exists()
        and shutil.which("biblip") is not None
    )
    threads = [int(t) for t in args.threads.split(",")]
    if use_cli:
        _compile_package()
        ours_cmds = {
            t: ["biblip", "annotate", str(vcf), "--no-model", "--bundle", str(args.bundle),
                "-o", str(work / "ours.vcf")] + (["--threads", str(t)] if t > 1 else [])
            for t in threads
        }  # fmt: skip
    else:
        threads = [1]
        ours_cmds = {1: [sys.executable, str(Path(__file__).resolve()), "--ours-child", str(vcf)]}
    runs: dict[str, list[tuple[float, float, float]]] = {"snpeff": []}
    for t in threads:
        runs[f"biblip_t{t}"] = []
    for _ in range(args.repeat):  # alternating, so a slow spell of the machine hits both tools
        runs["snpeff"].append(timed(snp_cmd, stdout_path=snp_out))
        for t in threads:
            runs[f"biblip_t{t}"].append(timed(ours_cmds[t], stdout_path=work / "ours.tsv"))
    medians = {k: tuple(statistics.median(r[i] for r in v) for i in range(3)) for k, v in runs.items()}
    s_wall, s_rss, s_cpu = medians["snpeff"]
    o_wall, o_rss, o_cpu = medians[f"biblip_t{threads[0]}"]
    agree, total, kinds, examples, same_set, set_kinds = compare(ours_in_process(vcf), parse_snpeff(snp_out))
    result = {
        "n_variants": args.n,
        "pairs": total,
        "agree": agree,
        "agreement": agree / total if total else float("nan"),
        "disagreements": {f"ours={a} snpeff={b}": c for (a, b), c in kinds.most_common()},
        "same_term_set": same_set,
        "term_set_differences": {
            f"only_ours={a} only_snpeff={b}": c for (a, b), c in set_kinds.most_common()
        },
        "snpeff_s": s_wall,
        "snpeff_cpu_s": s_cpu,
        "snpeff_variants_per_s": args.n / s_wall,
        "snpeff_peak_rss_mib": s_rss,
        "ours_path": "biblip annotate --no-model"
        if use_cli
        else "annotate_allele over cyvcf2 (child process)",
        "ours_s": o_wall,
        "ours_cpu_s": o_cpu,
        "ours_variants_per_s": args.n / o_wall,
        "ours_peak_rss_mib": o_rss,
        "speed_ratio_ours_over_snpeff": s_wall / o_wall,
        "rss_ratio_ours_over_snpeff": o_rss / s_rss,
        "repeat": args.repeat,
        "runs": {k: [{"wall_s": w, "peak_rss_mib": r, "cpu_s": c} for w, r, c in v] for k, v in runs.items()},
        "by_threads": {
            str(t): {
                "wall_s": medians[f"biblip_t{t}"][0],
                "cpu_s": medians[f"biblip_t{t}"][2],
                "peak_rss_mib": medians[f"biblip_t{t}"][1],
                "speed_ratio_over_snpeff": s_wall / medians[f"biblip_t{t}"][0],
            }
            for t in threads
        },
    }
    print(
        f"variant x transcript pairs: {total}, most-severe SO term agrees: {agree} ({100 * agree / max(total, 1):.2f}%)"
    )
    for (a, b), c in kinds.most_common():
        print(f"  {c:6d}  ours={a:35s} snpeff={b}")
    print(f"full SO term set identical: {same_set} ({100 * same_set / max(total, 1):.2f}%); differences:")
    for (a, b), c in set_kinds.most_common(12):
        print(f"  {c:6d}  only ours: {a:30s} only SnpEff: {b}")
    print(f"medians of {args.repeat} alternating runs (wall, CPU = user + system, peak RSS):")
    print(
        f"SnpEff            : {s_wall:6.2f} s  {s_cpu:6.2f} CPU-s  {args.n / s_wall:9.0f} variants/s  {s_rss:7.1f} MiB"
    )
    for t in threads:
        w, r, c = medians[f"biblip_t{t}"]
        label = f"biblip --threads {t}" if t > 1 else "biblip (1 process)"
        print(
            f"{label:18s}: {w:6.2f} s  {c:6.2f} CPU-s  {args.n / w:9.0f} variants/s  {r:7.1f} MiB"
            f"  -> {s_wall / w:.2f}x SnpEff's speed, {r / s_rss:.2f}x its memory"
        )
    (work / "disagreements.txt").write_text("\n".join(examples) + "\n")
    print(f"examples of disagreements: {work / 'disagreements.txt'}", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
