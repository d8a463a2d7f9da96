"""gpu_table.md from the folder benchmarks/gpu_run.sh fills: alleles/s per batch size, GPU utilisation, and
what fraction of the card's bf16 dense peak those rates are.

    python benchmarks/gpu_report.py OUTDIR [--peak-tflops 989]     # writes OUTDIR/gpu_table.md, prints it
    python benchmarks/gpu_report.py --peak-for "NVIDIA H100 80GB HBM3"   # the peak it would use (exit 2: none)

Pure Python (no torch): the maths can be unit-tested without a GPU (tests/test_gpu_report.py) and the table
rebuilt anywhere from the files a GPU run left.

FLOPs of one LLM-scored allele (a dense estimate, the usual 2 x parameters x tokens):

- LLM: 2 x (parameters without the embedding table) x (Nq soft-prefix tokens + tail tokens), plus the output
  head once (2 x vocab x hidden: `logits_to_keep=1` computes logits for the last position only). The shared
  instruction is KV-cached (computed once per process), so it is not counted; attention over its ~42 cached
  positions is not counted either (~1%).
- Q-former share: 2 x (encoder parameters) x (modality tokens) + 2 x (Q-former + projection parameters) x Nq.

model_forward.py `--count-flops` also records torch's FlopCounterMode count of one batch; the table shows it
beside the estimate as a check.

Files read from OUTDIR (names as gpu_run.sh writes them; any may be missing, the table says so):
  card.csv                   `nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv`
  meta.env                   key=value lines (date_utc, host, torch, ...)
  forward.json               `model_forward.py --json` (rows per batch + the model sizes above)
  util_forward.csv           `nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader -lms 500`
  e2e_b{B}_{mode}.json       `throughput.py --json` rows, mode llm or cheap
  e2e_b{B}_{mode}.log        its stderr: one JSON line per finished row (used when the .json is missing)
  util_b{B}_{mode}.csv       utilisation samples during that throughput.py run
  skipped.tsv                batch, mode, reason (runs the time budget left out)
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("gpu_report")

TARGET_LLM_SCORED_PER_S = 20_000  # issue #18: LLM-scored alleles/s on one H100/H200
# bf16 dense (no sparsity) tensor-core peaks from NVIDIA's data sheets, TFLOP/s. Only the cards named in the
# issue; anything else needs --peak-tflops (a PCIe or NVL H100/H200 has a lower clock and peak).
PEAKS = {"H100 SXM": 989.0, "H200 SXM": 989.0}
E2E_FILE = re.compile(r"e2e_b(\d+)_(\w+)\.(json|log)$")
MODE_ORDER = {"llm": 0, "cheap": 1}


def peak_tflops_for(card_name: str) -> tuple[str, float] | None:
    """(which card, its bf16 dense peak) recognised from an `nvidia-smi` name, else None.

    Why so strict: the PCIe and NVL variants share the "H100"/"H200" name but not the peak, and a wrong
    peak makes the ratio wrong without anyone noticing. nvidia-smi names the SXM H100 "NVIDIA H100 80GB HBM3".
    """
    name = card_name.upper()
    if re.search(r"PCIE|NVL", name):
        return None
    if re.search(r"\bH200\b", name):
        return "H200 SXM", PEAKS["H200 SXM"]
    if re.search(r"\bH100\b", name) and re.search(r"HBM3|SXM", name):
        return "H100 SXM", PEAKS["H100 SXM"]
    return None


def llm_flops_per_allele(non_embedding_params: int, tokens_per_allele: int, vocab: int, hidden: int) -> float:
    """2 x P x T for the decoder stack plus the output head on the one kept position (see the module doc)."""
    return 2.0 * non_embedding_params * tokens_per_allele + 2.0 * vocab * hidden


def qformer_flops_per_allele(
    encoder_params: int, modality_tokens: int, qformer_params: int, projection_params: int, queries: int
) -> float:
    """The encoders see every modality token, the Q-former and the LLM projection only the Nq queries."""
    return 2.0 * encoder_params * modality_tokens + 2.0 * (qformer_params + projection_params) * queries


@dataclass(frozen=True)
class Flops:
    llm: float | None  # None: the forward run recorded no LLM
    qformer: float

    @property
    def total(self) -> float | None:
        return None if self.llm is None else self.llm + self.qformer


def flops_from_facts(facts: dict) -> Flops:
    """FLOPs per allele from the model sizes model_forward.py recorded (its `model` block)."""
    qformer = qformer_flops_per_allele(
        facts["encoder_params"],
        facts["modality_tokens"],
        facts["qformer_params"],
        facts["projection_params"],
        facts["num_query_tokens"],
    )
    if "llm_non_embedding_params" not in facts:
        return Flops(None, qformer)
    llm = llm_flops_per_allele(
        facts["llm_non_embedding_params"],
        facts["tokens_per_allele"],
        facts["llm_vocab_size"],
        facts["llm_hidden_size"],
    )
    return Flops(llm, qformer)


def fraction_of_peak(
    alleles_per_s: float | None, flops_per_allele: float | None, peak_tflops: float | None
) -> float | None:
    """Achieved FLOP/s over the peak, or None when any part is unknown."""
    if (
        alleles_per_s is None
        or flops_per_allele is None
        or not peak_tflops
        or not math.isfinite(alleles_per_s)
    ):
        return None
    return alleles_per_s * flops_per_allele / (peak_tflops * 1e12)


@dataclass(frozen=True)
class Utilisation:
    samples: int
    mean: float  # over every sample, idle start-up included
    busy_mean: float  # over the samples with utilisation > 0 (the GPU had work)
    max: float
    max_memory_mib: float


def read_utilisation(path: Path) -> Utilisation | None:
    """Samples of `utilization.gpu, memory.used` ("87 %, 12345 MiB"); unparsable lines ([N/A]) are skipped."""
    if not path.is_file():
        return None
    util, memory = [], []
    for line in path.read_text().splitlines():
        found = re.match(r"\s*(\d+(?:\.\d+)?)\s*%?\s*,\s*(\d+(?:\.\d+)?)", line)
        if found:
            util.append(float(found[1]))
            memory.append(float(found[2]))
    if not util:
        return None
    busy = [u for u in util if u > 0]
    return Utilisation(
        samples=len(util),
        mean=sum(util) / len(util),
        busy_mean=sum(busy) / len(busy) if busy else 0.0,
        max=max(util),
        max_memory_mib=max(memory),
    )


def read_throughput_rows(json_path: Path, log_path: Path) -> list[dict]:
    """throughput.py's rows: the --json file, else the JSON lines it printed to stderr as each run finished
    (all that is left when a run was cut short by the time budget)."""
    if json_path.is_file():
        return json.loads(json_path.read_text())
    rows = []
    if log_path.is_file():
        for line in log_path.read_text().splitlines():
            if line.startswith("{"):
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
    return rows


def marginal_rate(rows: list[dict], key: str = "model_scored") -> float | None:
    """(key at the largest N - at the smallest) / (seconds between them): the rate once started, without
    the process start-up and model load every run pays once."""
    done = sorted((r for r in rows if "seconds" in r), key=lambda r: r["alleles"])
    if len(done) < 2 or done[-1]["seconds"] <= done[0]["seconds"]:
        return None
    return (done[-1][key] - done[0][key]) / (done[-1]["seconds"] - done[0]["seconds"])


def read_card(path: Path) -> dict[str, str]:
    """name / memory.total / driver_version from nvidia-smi's CSV (first GPU)."""
    if not path.is_file():
        return {}
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    if len(lines) < 2:
        return {}
    keys = [k.strip().split(" ")[0] for k in lines[0].split(",")]
    return dict(zip(keys, (v.strip() for v in lines[1].split(","))))


def read_meta(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs}


def read_skipped(path: Path) -> dict[tuple[int, str], str]:
    if not path.is_file():
        return {}
    out = {}
    for line in path.read_text().splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[0].isdigit():
            out[(int(parts[0]), parts[1])] = parts[2]
    return out


def _num(x: float | None, digits: int = 0) -> str:
    return "" if x is None or not math.isfinite(x) else f"{x:,.{digits}f}"


def _rate(x: float | None) -> str:
    """Alleles/s: one decimal below 100/s (the CPU check runs), none above."""
    return _num(x, 1 if x is not None and abs(x) < 100 else 0)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.3g}%"


def _util(u: Utilisation | None) -> str:
    return "no samples" if u is None else f"{u.mean:.0f} / {u.busy_mean:.0f} / {u.max:.0f}"


def _header(
    name: str, card: dict, meta: dict, forward: dict | None, peak: float | None, source: str
) -> list[str]:
    date = meta.get("date_utc") or (forward["date_utc"] + " UTC" if forward else "?")
    out = [
        f"# GPU throughput: {name}",
        "",
        (
            f"- date: {date}; host: {meta.get('host', '?')}; card: {name}, {card.get('memory.total', '?')}, "
            f"driver {card.get('driver_version', '?')}"
        ),
    ]
    if forward:
        facts = forward["model"]
        out.append(
            f"- torch {forward['torch']} (CUDA {forward['cuda']}); LLM {facts.get('llm_name', '-')} in "
            f"{facts.get('llm_dtype', '-')}; Q-former in fp32 (as `biblip annotate` runs it)"
        )
    if meta.get("commit"):
        out.append(f"- code: {meta['commit']}")
    out.append(
        f"- bf16 dense peak: {f'{peak:g} TFLOP/s ({source})' if peak else 'unknown: pass --peak-tflops'}"
    )
    out.append(f"- target: {TARGET_LLM_SCORED_PER_S:,} LLM-scored alleles/s on one H100/H200")
    return out


def _flops_section(forward: dict | None, flops: Flops | None) -> list[str]:
    out = ["", "## FLOPs per LLM-scored allele", ""]
    if not forward or not flops:
        return [*out, "- no forward.json: the FLOPs (and every % of peak) are unknown"]
    f = forward["model"]
    if flops.llm is not None:
        out.append(
            f"- LLM: 2 x {f['llm_non_embedding_params']:,} non-embedding parameters x {f['tokens_per_allele']} "
            f"tokens ({f['num_query_tokens']} prefix + {f['tail_tokens']} tail) + 2 x {f['llm_vocab_size']:,} "
            f"x {f['llm_hidden_size']} (output head, last position) = {flops.llm / 1e9:.3f} GFLOP"
        )
    out.append(
        f"- Q-former (estimate): 2 x {f['encoder_params']:,} encoder parameters x {f['modality_tokens']} "
        f"modality tokens + 2 x ({f['qformer_params']:,} Q-former + {f['projection_params']:,} projection) "
        f"x {f['num_query_tokens']} queries = {flops.qformer / 1e6:.1f} MFLOP"
    )
    if flops.total is not None:
        out.append(f"- total: {flops.total / 1e9:.3f} GFLOP per allele")
    measured = f.get("measured_flops_per_allele")
    if measured:
        parts = ", ".join(f"{k} {v / 1e9:.3f} GFLOP" for k, v in measured.items())
        out.append(f"- check, torch FlopCounterMode on a batch of 8: {parts}")
    return out


def _forward_section(
    outdir: Path, forward: dict | None, flops: Flops | None, peak: float | None
) -> list[str]:
    out = ["", "## Forward only (`benchmarks/model_forward.py`: random inputs, no feature building)", ""]
    if not forward:
        return [*out, "not run (no forward.json)"]
    memory = (
        f"; peak memory allocated {forward['peak_gpu_mib']:,.0f} MiB" if forward.get("peak_gpu_mib") else ""
    )
    out.append(
        f"`{forward['command']}`; GPU utilisation over the whole run (mean / busy mean / max %): "
        f"{_util(read_utilisation(outdir / 'util_forward.csv'))}{memory}"
    )
    out += [
        "",
        "| batch | Q-former + head: alleles/s | Q-former + LLM score: alleles/s | % of peak "
        + "| LLM score alone: alleles/s | % of peak |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for row in forward["rows"]:
        full = _pct(fraction_of_peak(row["full_per_s"], flops and flops.total, peak))
        alone = _pct(fraction_of_peak(row.get("llm_alone_per_s"), flops and flops.llm, peak))
        out.append(
            f"| {row['batch']} | {_rate(row['cheap_per_s'])} | {_rate(row['full_per_s'])} | {full} "
            f"| {_rate(row.get('llm_alone_per_s'))} | {alone} |"
        )
    return out


Best = dict[str, tuple[float, int]]  # "whole run" / "marginal" -> (best LLM-scored alleles/s, its batch size)


def _e2e_section(outdir: Path, flops: Flops | None, peak: float | None) -> tuple[list[str], Best]:
    """The end-to-end table, and the best LLM-scored rates, whole run and marginal, with their batch sizes."""
    out = [
        "",
        "## End to end (`biblip annotate`, `benchmarks/throughput.py`)",
        "",
        (
            "Each row a separate process (start-up, LLM load, features on the CPU, VCF writing included). "
            "model-scored = alleles given a model pathogenicity (missense, the shipped checkpoint's domain); "
            "marginal = between the smallest and the largest N, i.e. without the start-up; GPU util = mean / busy "
            "mean / max % over all of that mode's runs at that batch size; memory = the card's most used."
        ),
        "",
        "| batch | mode | alleles | model-scored | seconds | alleles/s | model-scored/s "
        + "| marginal model-scored/s | % of peak (marginal) | GPU util | GPU memory (MiB) |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    skipped = read_skipped(outdir / "skipped.tsv")
    found = {(int(m[1]), m[2]) for p in outdir.iterdir() if (m := E2E_FILE.search(p.name))}
    best: Best = {}
    for batch, mode in sorted(
        found | set(skipped), key=lambda run: (run[0], MODE_ORDER.get(run[1], 9), run[1])
    ):
        rows = read_throughput_rows(outdir / f"e2e_b{batch}_{mode}.json", outdir / f"e2e_b{batch}_{mode}.log")
        done = [r for r in rows if "seconds" in r]
        why = skipped.get((batch, mode))
        if not done:
            out.append(f"| {batch} | {mode} | | | not run: {why or 'no rows (see its .log)'} | | | | | | |")
            continue
        util = read_utilisation(outdir / f"util_b{batch}_{mode}.csv")
        marginal = marginal_rate(done)
        per_allele = (flops.total if mode == "llm" else flops.qformer) if flops else None
        for row in done[:-1]:
            out.append(_e2e_row(batch, mode, row) + " | | | |")
        ratio = _pct(fraction_of_peak(marginal, per_allele, peak))
        memory = _num(util.max_memory_mib) if util else ""
        out.append(
            _e2e_row(batch, mode, done[-1]) + f" {_rate(marginal)} | {ratio} | {_util(util)} | {memory} |"
        )
        out += [f"| {batch} | {mode} | {r['alleles']:,} | | skipped ({r['skipped']}) | | | | | | |"
                for r in rows if "skipped" in r]  # fmt: skip
        if why:
            out.append(f"| {batch} | {mode} | | | cut short: {why} | | | | | | |")
        if mode == "llm":
            for kind, rate in [
                ("marginal", marginal),
                *(("whole run", r["model_scored_per_s"]) for r in done),
            ]:
                if rate is not None and rate > best.get(kind, (-1.0, 0))[0]:
                    best[kind] = (rate, batch)
    return out, best


def _e2e_row(batch: int, mode: str, row: dict) -> str:
    return (
        f"| {batch} | {mode} | {row['alleles']:,} | {row['model_scored']:,} | {row['seconds']:.1f} "
        f"| {_rate(row['alleles_per_s'])} | {_rate(row['model_scored_per_s'])} |"
    )


def render(outdir: Path, peak_tflops: float | None = None) -> str:
    """The whole gpu_table.md text for one output folder."""
    card, meta = read_card(outdir / "card.csv"), read_meta(outdir / "meta.env")
    name = card.get("name", "unknown card")
    source = "--peak-tflops"
    if peak_tflops is None and (found := peak_tflops_for(name)):
        source, peak_tflops = f"{found[0]} data sheet", found[1]
    forward_path = outdir / "forward.json"
    forward = json.loads(forward_path.read_text()) if forward_path.is_file() else None
    flops = flops_from_facts(forward["model"]) if forward else None

    out = _header(name, card, meta, forward, peak_tflops, source)
    out += _flops_section(forward, flops)
    out += _forward_section(outdir, forward, flops, peak_tflops)
    e2e, best = _e2e_section(outdir, flops, peak_tflops)
    out += e2e
    out += ["", f"## Against the target ({TARGET_LLM_SCORED_PER_S:,} LLM-scored alleles/s)", ""]
    if not best:
        out.append("No end-to-end LLM run finished: the target is not measured.")
    for kind, why in (("whole run", "start-up included"), ("marginal", "start-up excluded")):
        if kind in best:
            rate, batch = best[kind]
            verdict = "met" if rate >= TARGET_LLM_SCORED_PER_S else "not met"
            out.append(f"- end to end, {kind} ({why}): best {_rate(rate)}/s at batch {batch}: **{verdict}**")
    rates = [r for r in (forward or {}).get("rows", []) if math.isfinite(r["full_per_s"])]
    if rates:
        top = max(rates, key=lambda r: r["full_per_s"])
        verdict = "met" if top["full_per_s"] >= TARGET_LLM_SCORED_PER_S else "not met"
        out.append(
            f"- forward only (Q-former + LLM score, no feature building): best {_rate(top['full_per_s'])}/s at "
            f"batch {top['batch']}: {verdict} (no feature building, no start-up)"
        )
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("outdir", type=Path, nargs="?", help="the folder gpu_run.sh wrote")
    parser.add_argument("--peak-tflops", type=float, help="the card's bf16 dense peak (else from its name)")
    parser.add_argument("--peak-for", metavar="CARD_NAME", help="print the peak used for this card and exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    if args.peak_for is not None:
        if args.peak_tflops:
            print(f"{args.peak_tflops:g} (--peak-tflops)")
            return 0
        found = peak_tflops_for(args.peak_for)
        if found is None:
            log.error(
                "no bf16 peak known for %r (only H100 SXM / H200 SXM): pass --peak-tflops", args.peak_for
            )
            return 2
        print(f"{found[1]:g} ({found[0]})")
        return 0
    if args.outdir is None or not args.outdir.is_dir():
        parser.error("give the output folder of benchmarks/gpu_run.sh")
    text = render(args.outdir, args.peak_tflops)
    (args.outdir / "gpu_table.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
