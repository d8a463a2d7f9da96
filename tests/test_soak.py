"""Soak: 200k generated records through `biblip annotate --no-model`; count in = count out, RSS flat."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

psutil = pytest.importorskip("psutil")

N_RECORDS = 200_000


def make_vcf(path: Path, n: int) -> None:
    """n records over the demo region: SNVs with real REF, some indels, multiallelics, other contigs."""
    from biblip_cli.bundle import Bundle

    sequence = Bundle.open().genome.fetch("chr20", 0, 10_000_000)
    rng = random.Random(11)
    positions = sorted(rng.sample(range(60_000, 9_990_000), n))
    with open(path, "w") as out:
        out.write("##fileformat=VCFv4.2\n##contig=<ID=chr20,length=64444167>\n")
        out.write("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        for i, pos in enumerate(positions):
            ref = sequence[pos - 1]
            alt = "G" if ref != "G" else "T"
            if i % 50 == 0:
                alt += ",T" if ref != "T" else ",C"
            elif i % 37 == 0:
                ref = sequence[pos - 1 : pos + 2]
                alt = ref[0]
            out.write(f"chr20\t{pos}\t.\t{ref}\t{alt}\t.\tPASS\tI={i}\n")


@pytest.mark.slow
def test_soak_200k_records(tmp_path: Path):
    source = tmp_path / "soak.vcf"
    make_vcf(source, N_RECORDS)
    out = tmp_path / "soak.out.vcf"
    state = Path(str(out) + ".partial.json")
    env = {k: v for k, v in os.environ.items() if k != "BIBLIP_DEBUG"}
    started = time.monotonic()
    run = subprocess.Popen(
        [sys.executable, "-m", "biblip_cli.cli", "-q", "annotate", str(source), "--no-model", "-o", str(out)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    child = psutil.Process(run.pid)
    samples: dict[int, int] = {}  # progress checkpoint -> RSS bytes
    while run.poll() is None:
        try:
            done = json.loads(state.read_text())["records_done"] if state.exists() else 0
            rss = child.memory_info().rss
        except (ValueError, KeyError, psutil.NoSuchProcess, FileNotFoundError):
            time.sleep(0.05)
            continue
        for mark in (N_RECORDS // 5, (N_RECORDS * 4) // 5):
            if done >= mark and mark not in samples:
                samples[mark] = rss
        time.sleep(0.05)
    assert run.returncode == 0, run.stderr.read().decode()
    seconds = time.monotonic() - started
    with open(out) as handle:
        n_out = sum(1 for line in handle if not line.startswith("#"))
    assert n_out == N_RECORDS
    assert len(samples) == 2, f"progress was not sampled: {samples}"
    early, late = samples[N_RECORDS // 5], samples[(N_RECORDS * 4) // 5]
    # 120k more records must not cost memory (a leak of 100 bytes/record would add 12 MB)
    assert late - early < 8 * 2**20, f"RSS grew from {early / 2**20:.1f} to {late / 2**20:.1f} MiB"
    print(f"soak: {N_RECORDS} records in {seconds:.1f} s, RSS {early / 2**20:.0f} -> {late / 2**20:.0f} MiB")
