"""Model forward throughput: (a) Q-former + cheap head, (b) full LLM scoring, per batch size.

Random-weight Bio-BLIP of the chosen preset (or a checkpoint with --model) on random `VariantInputs`
shaped like real ones (DNA 512 bp, 8 genes, 31-residue window, 4 snippets), the real frozen LLM
(default SmolLM2-135M-Instruct) scoring " pathogenic" vs " benign" with the shared-instruction KV cache.
Features are not built here (see benchmarks/throughput.py for the whole pipeline).

    python benchmarks/model_forward.py --batch-sizes 1,8,32,128,256 [--markdown]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from test_model import random_inputs

from biblip_cli.model.biblip import BioBlip, BioBlipConfig
from biblip_cli.model.llm import FrozenLLM
from biblip_cli.model.llm_loading import resolve_device
from biblip_cli.model.prompts import pathogenicity_prompt


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn, min_seconds: float, device: torch.device) -> tuple[float, float]:
    """Best wall seconds per call and the CPU seconds of that call, over repeats until `min_seconds`.

    The CPU is shared with other jobs: best-of wall time is the least disturbed run, and the process CPU
    time (with --threads 1) is what the work costs whatever the load.
    """
    best, best_cpu, spent, runs = float("inf"), float("inf"), 0.0, 0
    while spent < min_seconds or runs < 2:
        if device.type == "cuda":
            torch.cuda.synchronize()
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        took, took_cpu = time.perf_counter() - start, time.process_time() - start_cpu
        if took < best:
            best, best_cpu = took, took_cpu
        spent, runs = spent + took, runs + 1
    return best, best_cpu


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="default")
    parser.add_argument("--model", type=Path, help="a checkpoint folder instead of random weights")
    parser.add_argument("--llm", type=Path, help="LLM folder (default: the prepared SmolLM2)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-sizes", default="1,8,32,128,256")
    parser.add_argument("--num-query-tokens", type=int, help="override the preset's Nq")
    parser.add_argument("--min-seconds", type=float, default=1.0, help="time spent per measurement")
    parser.add_argument("--no-llm", action="store_true")
    parser.add_argument("--threads", type=int)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    torch.manual_seed(0)
    if args.model:
        model = BioBlip.from_pretrained(args.model, device=device)
    else:
        overrides = {"num_query_tokens": args.num_query_tokens} if args.num_query_tokens else {}
        model = BioBlip(BioBlipConfig.preset(args.preset, **overrides)).to(device).eval()
    llm = None
    if not args.no_llm:
        from biblip_cli.model.weights import default_llm_dir

        llm = FrozenLLM.load(args.llm or default_llm_dir(), device=device)
    prompt = pathogenicity_prompt()
    nq = model.config.num_query_tokens
    per_allele_tokens = nq + (len(llm.tokens(prompt.tail)) if llm else 0)
    sizes = [int(s) for s in args.batch_sizes.split(",")]
    rows = []
    for batch_size in sizes:
        x = random_inputs(B=batch_size, L=model.config.dna_length, W=31, seed=batch_size).to(device)
        x.protein_window_mask[::2] = False  # most genes have no sequence in the shared bundle
        x.gene_mask[:, 3:] = False

        def cheap(x=x):
            with torch.inference_mode():
                model.pathogenicity_logit(model(x))

        def full(x=x):
            with torch.inference_mode():
                prefix = model.prefix(model(x))
                llm.score(prefix, prompt.instruction, list(prompt.answers), tail=prompt.tail)

        cheap_s, cheap_cpu = timed(cheap, args.min_seconds, device)
        full_s, full_cpu = timed(full, args.min_seconds, device) if llm else (float("nan"),) * 2
        rates = (batch_size / cheap_s, batch_size / cheap_cpu, batch_size / full_s, batch_size / full_cpu)
        rows.append((batch_size, *rates, batch_size * per_allele_tokens / full_cpu))
        print(f"batch {batch_size}: cheap {rates[0]:.0f}/s, LLM {rates[2]:.1f}/s", file=sys.stderr)

    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    if device.type == "cuda":
        machine = torch.cuda.get_device_name()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"- date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; machine: {machine}; device: {device}; "
          f"torch threads: {torch.get_num_threads()}; load average at the end: {load:.1f}")  # fmt: skip
    print(f"- model: preset {model.config.num_query_tokens} queries, d={model.config.d_model}, "
          f"{model.config.n_layers} layers; LLM: {llm.path.name if llm else '-'} ({llm.dtype if llm else '-'}); "
          f"LLM tokens per allele: {per_allele_tokens} (Nq + tail; instruction KV-cached)")  # fmt: skip
    print(f"- command: `python benchmarks/model_forward.py {' '.join(sys.argv[1:])}`")
    print(f"- peak RSS: {peak_rss_mib():.0f} MiB\n")
    print("| batch | Q-former + head: alleles/s (wall) | per CPU-second | LLM score: alleles/s (wall) "
          "| per CPU-second | LLM tokens per CPU-second |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|")
    for batch_size, cheap_wall, cheap_cpu, full_wall, full_cpu, tokens in rows:
        print(
            f"| {batch_size} | {cheap_wall:,.0f} | {cheap_cpu:,.0f} | {full_wall:,.1f} | {full_cpu:,.1f} | {tokens:,.0f} |"
        )


if __name__ == "__main__":
    main()
