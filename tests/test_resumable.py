"""A run killed with SIGKILL resumes from its last completed batch and ends byte-identical."""

from __future__ import annotations

import gzip
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from biblip_cli.commands.annotate import run_annotate
from biblip_cli.commands.annotate_options import AnnotateOptions
from biblip_cli.errors import UsageError


def make_snv_vcf(path: Path, n: int, seed: int = 7) -> None:
    """n real SNVs (REF from the demo genome) on chr20, sorted."""
    from biblip_cli.bundle import Bundle

    genome = Bundle.open().genome
    rng = random.Random(seed)
    positions = sorted(rng.sample(range(100_000, 9_900_000), n))
    lines = ["##fileformat=VCFv4.2", "##contig=<ID=chr20,length=64444167>"]
    lines.append("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO")
    for pos in positions:
        ref = genome.fetch("chr20", pos - 1, pos)
        alt = rng.choice([b for b in "ACGT" if b != ref])
        lines.append(f"chr20\t{pos}\t.\t{ref}\t{alt}\t.\tPASS\t.")
    path.write_text("\n".join(lines) + "\n")


def cli(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    full_env = {k: v for k, v in os.environ.items() if k != "BIBLIP_DEBUG"}
    full_env.update(env or {})
    return subprocess.Popen(
        [sys.executable, "-m", "biblip_cli.cli", "-q", *args],
        cwd=cwd,
        env=full_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def kill_once_done(run: subprocess.Popen, state: Path, records: int) -> int:
    """SIGKILL `run` once its resume state says `records` records are written; returns that count."""
    deadline = time.monotonic() + 90
    done = 0
    while time.monotonic() < deadline and run.poll() is None:
        if state.exists():
            try:
                done = json.loads(state.read_text())["records_done"]
            except (ValueError, KeyError):
                done = 0
            if done >= records:
                break
        time.sleep(0.05)
    assert run.poll() is None, f"run ended before it could be killed: {run.stderr.read().decode()}"
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    return done


def without_command(text: str) -> str:
    return "".join(line for line in text.splitlines(keepends=True) if not line.startswith("##biblip_command"))


@pytest.mark.parametrize("output_type", ["v", "z"])
def test_sigkill_then_resume_equals_uninterrupted(tmp_path: Path, output_type: str):
    source = tmp_path / "in.vcf"
    make_snv_vcf(source, 6000)
    suffix = ".vcf.gz" if output_type == "z" else ".vcf"
    args = ["annotate", "in.vcf", "--no-model", "--batch-size", "100", "-O", output_type]
    killed = tmp_path / f"killed{suffix}"
    state = Path(str(killed) + ".partial.json")
    run = cli([*args, "-o", killed.name, "--tsv", "killed.tsv"], tmp_path, {"BIBLIP_TEST_SLOW_BATCH": "0.05"})
    done = kill_once_done(run, state, 1000)
    assert not killed.exists() and not (tmp_path / "killed.tsv").exists()  # nothing under the final names
    assert 1000 <= done < 6000

    resumed = cli([*args, "-o", killed.name, "--tsv", "killed.tsv", "--resume"], tmp_path)
    assert resumed.wait(timeout=120) == 0, resumed.stderr.read().decode()
    whole = cli([*args, "-o", f"whole{suffix}", "--tsv", "whole.tsv"], tmp_path)
    assert whole.wait(timeout=120) == 0, whole.stderr.read().decode()

    def text(path: Path) -> str:
        data = path.read_bytes()
        return gzip.decompress(data).decode() if output_type == "z" else data.decode()

    assert without_command(text(killed)) == without_command(text(tmp_path / f"whole{suffix}"))
    assert (tmp_path / "killed.tsv").read_bytes() == (tmp_path / "whole.tsv").read_bytes()
    assert sum(1 for line in text(killed).splitlines() if not line.startswith("#")) == 6000
    leftovers = sorted(p.name for p in tmp_path.iterdir() if "partial" in p.name or ".tmp" in p.name)
    assert leftovers == []
    if output_type == "z":
        assert Path(str(killed) + ".tbi").exists()


def test_resume_refuses_other_options(tmp_path: Path):
    from biblip_cli.bundle import Bundle
    from biblip_cli.io.resumable import ResumableOutput, input_fingerprint

    source = tmp_path / "in.vcf"
    make_snv_vcf(source, 50)
    opts = AnnotateOptions(str(source), str(tmp_path / "out.vcf"), no_model=True)
    partial = ResumableOutput(
        Path(opts.output), None, input_fingerprint(str(source), opts.output_options()), resume=False
    )
    partial.vcf.write(b"##fileformat=VCFv4.2\n")
    partial.checkpoint(0, {}, force=True)
    partial.close_for_resume()
    other = AnnotateOptions(str(source), opts.output, no_model=True, region="chr20:1-2000000", resume=True)
    with pytest.raises(UsageError, match="different input file or different options"):
        run_annotate(other, bundle=Bundle.open())
    assert (tmp_path / "out.vcf.partial.json").exists()  # refused: the unfinished run is kept


def test_resume_without_partial_starts_over(tmp_path: Path):
    from biblip_cli.bundle import Bundle

    source = tmp_path / "in.vcf"
    make_snv_vcf(source, 50)
    summary = run_annotate(
        AnnotateOptions(str(source), str(tmp_path / "out.vcf"), no_model=True, resume=True),
        bundle=Bundle.open(),
    )
    assert summary.records == 50
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.vcf", "out.vcf"]
    assert (tmp_path / "out.vcf").read_text().count("##fileformat") == 1
