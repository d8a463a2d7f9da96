"""Model forward throughput: (a) Q-former + cheap head, (b) full LLM scoring, (c) the LLM score alone.

Random-weight Bio-BLIP of the chosen preset (or a checkpoint with --model) on random `VariantInputs`
shaped like real ones (DNA 512 bp, 8 genes, 31-residue window, 4 snippets), the real frozen LLM
(default SmolLM2-135M-Instruct) scoring " pathogenic" vs " benign" with the shared-instruction KV cache.
(c) scores a soft prefix computed once beforehand, so it is the LLM forward with no Q-former.
Features are not built here (see benchmarks/throughput.py for the whole pipeline).

    python benchmarks/model_forward.py --batch-sizes 1,8,32,128,256
    python benchmarks/model_forward.py --device cuda --dtype bf16 --batch-sizes 256,1024,4096 \
        --model resources/model --count-flops --json forward.json   # the GPU run (benchmarks/gpu_run.sh)

`--json` also records what the FLOPs of one allele are computed from (LLM parameters without the
embedding table, vocabulary, tokens per allele, Q-former parameters and token counts); benchmarks/gpu_report.py
turns that into a fraction of the card's peak. `--count-flops` adds torch's FlopCounterMode count of one
small batch as a check on that estimate.
"""

from __future__ import annotations

import argparse
import json
import logging
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

log = logging.getLogger("model_forward")
DTYPES = {"auto": None, "fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


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


def count_flops(fn, batch_size: int) -> float:
    """FLOPs per allele of one call, as torch's FlopCounterMode counts them (matmuls, convolutions, attention).

    Why: a check on the parameter-count estimate in benchmarks/gpu_report.py. Grad mode stays on: the
    counter's module tracker fails under inference_mode/no_grad in torch 2.13 (nothing is backpropagated).
    """
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return counter.get_total_flops() / batch_size


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def model_facts(model: BioBlip, llm: FrozenLLM | None, tail_tokens: int, modality_tokens: int) -> dict:
    """What the FLOPs of one allele follow from: the sizes of the loaded models and prompt, not a preset table."""
    facts = {
        "num_query_tokens": model.config.num_query_tokens,
        "modality_tokens": modality_tokens,
        "encoder_params": n_params(model.encoders),
        "qformer_params": n_params(model.qformer),
        "projection_params": n_params(model.language_projection),
        "bioblip_params": n_params(model),
    }
    if llm is not None:
        config = llm.model.config
        # the input table, and the output head too when it is a separate matrix (a tied one is the table)
        tables = llm.embed.weight.numel() * (1 if getattr(config, "tie_word_embeddings", False) else 2)
        facts |= {
            "llm_name": llm.path.name,
            "llm_dtype": str(llm.dtype).removeprefix("torch."),
            "llm_params": n_params(llm.model),
            "llm_non_embedding_params": n_params(llm.model) - tables,
            "llm_vocab_size": llm.embed.num_embeddings,
            "llm_hidden_size": llm.hidden_size,
            "llm_layers": getattr(config, "num_hidden_layers", None),
            "tail_tokens": tail_tokens,
            "tokens_per_allele": model.config.num_query_tokens + tail_tokens,
        }
    return facts


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="default")
    parser.add_argument("--model", type=Path, help="a checkpoint folder instead of random weights")
    parser.add_argument("--llm", type=Path, help="LLM folder (default: the prepared SmolLM2)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="auto",
                        help="the LLM's dtype (auto: the loader's choice, fp32 on CPU, bf16 on CUDA)")  # fmt: skip
    parser.add_argument("--batch-sizes", default="1,8,32,128,256")
    parser.add_argument("--num-query-tokens", type=int, help="override the preset's Nq")
    parser.add_argument("--min-seconds", type=float, default=1.0, help="time spent per measurement")
    parser.add_argument("--no-llm", action="store_true")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--json", type=Path, help="also write the rows and the model's sizes as JSON here")
    parser.add_argument("--count-flops", action="store_true", help="count the FLOPs of one batch of 8")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
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

        llm = FrozenLLM.load(args.llm or default_llm_dir(), device=device, dtype=DTYPES[args.dtype])
    prompt = pathogenicity_prompt()
    nq = model.config.num_query_tokens
    tail_tokens = len(llm.tokens(prompt.tail)) if llm else 0
    per_allele_tokens = nq + tail_tokens

    def batch_of(batch_size: int):
        x = random_inputs(B=batch_size, L=model.config.dna_length, W=31, seed=batch_size).to(device)
        x.protein_window_mask[::2] = False  # most genes have no sequence in the shared bundle
        x.gene_mask[:, 3:] = False
        return x

    def cheap(x):
        with torch.inference_mode():
            model.pathogenicity_logit(model(x))

    def full(x):
        with torch.inference_mode():
            prefix = model.prefix(model(x))
            llm.score(prefix, prompt.instruction, list(prompt.answers), tail=prompt.tail)

    def llm_alone(prefix):
        with torch.inference_mode():
            llm.score(prefix, prompt.instruction, list(prompt.answers), tail=prompt.tail)

    with torch.inference_mode():
        modality_tokens = model.encode(batch_of(2))[0].shape[1]
    facts = model_facts(model, llm, tail_tokens, modality_tokens)
    if args.count_flops:
        x8 = batch_of(8)
        facts["measured_flops_per_allele"] = {
            "qformer_head": count_flops(lambda: model.pathogenicity_logit(model(x8)), 8),
            "qformer_prefix": count_flops(lambda: model.prefix(model(x8)), 8),
        }
        if llm:
            full(x8)  # the instruction's KV cache is built once per process: count the steady state
            with torch.inference_mode():
                prefix8 = model.prefix(model(x8))
            facts["measured_flops_per_allele"]["llm_score"] = count_flops(
                lambda: llm.score(prefix8, prompt.instruction, list(prompt.answers), tail=prompt.tail), 8
            )
        log.info("measured FLOPs per allele: %s", facts["measured_flops_per_allele"])
    sizes = [int(s) for s in args.batch_sizes.split(",")]
    rows = []
    nan2 = (float("nan"), float("nan"))
    for batch_size in sizes:
        x = batch_of(batch_size)
        cheap_s, cheap_cpu = timed(lambda x=x: cheap(x), args.min_seconds, device)
        full_s, full_cpu = timed(lambda x=x: full(x), args.min_seconds, device) if llm else nan2
        alone_s = nan2[0]
        if llm:
            with torch.inference_mode():
                prefix = model.prefix(model(x))
            alone_s = timed(lambda p=prefix: llm_alone(p), args.min_seconds, device)[0]
        rates = (batch_size / cheap_s, batch_size / cheap_cpu, batch_size / full_s, batch_size / full_cpu)
        rows.append((batch_size, *rates, batch_size * per_allele_tokens / full_cpu, batch_size / alone_s))
        log.info(
            "batch %d: cheap %.0f/s, Q-former + LLM %.1f/s, LLM alone %.1f/s",
            batch_size, rates[0], rates[2], rows[-1][-1],
        )  # fmt: skip
        del x
        if device.type == "cuda":
            torch.cuda.empty_cache()

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
    gpu_peak = torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else None
    gpu_text = f"; peak GPU memory allocated: {gpu_peak:,.0f} MiB" if gpu_peak else ""
    print(f"- peak RSS: {peak_rss_mib():.0f} MiB{gpu_text}\n")
    print("| batch | Q-former + head: alleles/s (wall) | per CPU-second | LLM score: alleles/s (wall) "
          "| per CPU-second | LLM tokens per CPU-second | LLM alone: alleles/s (wall) |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for batch_size, cheap_wall, cheap_cpu, full_wall, full_cpu, tokens, alone in rows:
        print(
            f"| {batch_size} | {cheap_wall:,.0f} | {cheap_cpu:,.0f} | {full_wall:,.1f} | {full_cpu:,.1f} "
            f"| {tokens:,.0f} | {alone:,.1f} |"
        )
    if args.json:
        names = ("batch", "cheap_per_s", "cheap_per_cpu_s", "full_per_s", "full_per_cpu_s",
                 "llm_tokens_per_cpu_s", "llm_alone_per_s")  # fmt: skip
        args.json.write_text(json.dumps({
            "date_utc": f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M}",
            "machine": machine, "device": str(device), "torch": torch.__version__,
            "cuda": torch.version.cuda, "command": f"python benchmarks/model_forward.py {' '.join(sys.argv[1:])}",
            "min_seconds": args.min_seconds, "peak_gpu_mib": gpu_peak, "model": facts,
            "rows": [dict(zip(names, row)) for row in rows],
        }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
