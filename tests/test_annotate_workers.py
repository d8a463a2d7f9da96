"""`biblip annotate --no-model --threads N`: the spine in forked workers writes what the serial loop writes."""

from __future__ import annotations

import gzip
import os
import time
from pathlib import Path

import pytest
from test_resumable import cli, kill_once_done, make_snv_vcf, without_command

from biblip_cli.commands.annotate import run_annotate
from biblip_cli.commands.annotate_options import AnnotateOptions
from biblip_cli.errors import BiblipError


@pytest.fixture(scope="module")
def bundle():
    from biblip_cli.bundle import Bundle

    return Bundle.open()


def _run(bundle, source: Path, out: Path, threads: int | None, batch_size: int, **kw) -> object:
    tsv = out.with_suffix(".tsv")
    opts = AnnotateOptions(
        str(source), str(out), no_model=True, tsv=tsv, threads=threads, batch_size=batch_size, **kw
    )
    return run_annotate(opts, bundle=bundle)


@pytest.mark.parametrize("threads", [2, 3])
def test_workers_write_what_the_serial_loop_writes(bundle, resources: Path, tmp_path: Path, threads: int):
    demo = resources / "demo.vcf.gz"  # multi-allelic records, indels, every consequence the demo has
    serial = _run(bundle, demo, tmp_path / "serial.vcf", None, 37)
    parallel = _run(bundle, demo, tmp_path / "parallel.vcf", threads, 37)
    assert (tmp_path / "parallel.vcf").read_bytes() == (tmp_path / "serial.vcf").read_bytes()
    assert (tmp_path / "parallel.tsv").read_bytes() == (tmp_path / "serial.tsv").read_bytes()
    assert parallel.counters() == serial.counters()  # type: ignore[attr-defined]
    assert parallel.records > 400 and parallel.by_consequence["missense_variant"] > 0  # type: ignore[attr-defined]


def test_workers_with_region_and_a_batch_larger_than_the_input(bundle, resources: Path, tmp_path: Path):
    demo = resources / "demo.vcf.gz"
    for threads, name in ((None, "serial"), (2, "parallel")):
        _run(bundle, demo, tmp_path / f"{name}.vcf", threads, 100_000, region="chr20:1-5000000")
    assert (tmp_path / "parallel.vcf").read_bytes() == (tmp_path / "serial.vcf").read_bytes()
    assert (tmp_path / "parallel.tsv").read_bytes() == (tmp_path / "serial.tsv").read_bytes()


def test_a_bad_record_fails_with_its_line_and_leaves_nothing(bundle, tmp_path: Path):
    source = tmp_path / "in.vcf"
    make_snv_vcf(source, 400)
    lines = source.read_text().splitlines(keepends=True)
    bad = 3 + 250  # header lines + the 250th record
    lines[bad - 1] = (
        lines[bad - 1].replace("\t.\tPASS", "\t.\tPASS\tnot-a-column\tx", 1).replace("\t", "\tX", 1)
    )
    source.write_text("".join(lines))
    with pytest.raises(BiblipError) as err:
        _run(bundle, source, tmp_path / "out.vcf", 2, 20)
    assert "record 250" in err.value.where
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.vcf"]


def _processes_in(folder: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "cwd") == str(folder):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.mark.skipif(not Path("/proc/self/cwd").exists(), reason="needs /proc to find the workers")
def test_sigkill_with_workers_then_resume(tmp_path: Path):
    source = tmp_path / "in.vcf"
    make_snv_vcf(source, 6000)
    args = ["annotate", "in.vcf", "--no-model", "--batch-size", "100", "--threads", "2", "-O", "z"]
    killed = tmp_path / "killed.vcf.gz"
    state = Path(str(killed) + ".partial.json")
    run = cli([*args, "-o", killed.name, "--tsv", "killed.tsv"], tmp_path, {"BIBLIP_TEST_SLOW_BATCH": "0.05"})
    done = kill_once_done(run, state, 1000)
    deadline = time.monotonic() + 15  # the orphaned workers notice within a second or two and leave
    while _processes_in(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_in(tmp_path) == []
    assert not killed.exists() and 1000 <= done < 6000

    resumed = cli([*args, "-o", killed.name, "--tsv", "killed.tsv", "--resume"], tmp_path)
    assert resumed.wait(timeout=120) == 0, resumed.stderr.read().decode()
    whole = cli(
        ["annotate", "in.vcf", "--no-model", "-O", "z", "-o", "whole.vcf.gz", "--tsv", "whole.tsv"], tmp_path
    )
    assert whole.wait(timeout=120) == 0, whole.stderr.read().decode()
    text = [
        without_command(gzip.decompress(p.read_bytes()).decode()) for p in (killed, tmp_path / "whole.vcf.gz")
    ]
    assert text[0] == text[1]
    assert (tmp_path / "killed.tsv").read_bytes() == (tmp_path / "whole.tsv").read_bytes()


def test_stdin_to_stdout_with_workers(resources: Path, tmp_path: Path):
    """Workers never read the input (the parent does): a pipe in, a VCF stream out, bytes as serial."""
    import subprocess
    import sys

    demo = (resources / "demo.vcf.gz").read_bytes()
    outs = []
    for extra in ([], ["--threads", "2"]):
        done = subprocess.run(
            [sys.executable, "-m", "biblip_cli.cli", "-q", "annotate", "-", "--no-model", "--batch-size", "50",
             "-o", "-", *extra],
            input=demo, capture_output=True, check=False, cwd=tmp_path,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr.decode()
        outs.append(without_command(done.stdout.decode()))
    assert outs[0] == outs[1] and outs[0].count("BIOBLIP=") > 300


def test_workers_only_without_the_model():
    from biblip_cli.commands.annotate_workers import worker_count

    assert worker_count(AnnotateOptions("in.vcf", "o.vcf", no_model=True, threads=3)) == 3
    assert worker_count(AnnotateOptions("in.vcf", "o.vcf", no_model=True)) == 1
    assert worker_count(AnnotateOptions("in.vcf", "o.vcf", threads=4)) == 1  # the model: torch's threads


@pytest.mark.parametrize("in_flight", [0, 1, 64])
def test_whoever_renders_a_batch_the_bytes_are_the_same(
    bundle, resources: Path, tmp_path: Path, monkeypatch, in_flight
):
    """0: the parent renders every batch itself; 64: the workers render all; 1: a mix."""
    from biblip_cli.commands import annotate_workers

    monkeypatch.setattr(annotate_workers, "_IN_FLIGHT", in_flight)
    demo = resources / "demo.vcf.gz"
    _run(bundle, demo, tmp_path / "serial.vcf", None, 29)
    _run(bundle, demo, tmp_path / "parallel.vcf", 3, 29)
    assert (tmp_path / "parallel.vcf").read_bytes() == (tmp_path / "serial.vcf").read_bytes()
    assert (tmp_path / "parallel.tsv").read_bytes() == (tmp_path / "serial.tsv").read_bytes()


def test_a_worker_that_dies_is_an_error_not_a_hang(bundle, resources: Path, tmp_path: Path):
    from biblip_cli.features.consequence import annotate_allele

    parent = os.getpid()

    def dies_in_a_worker(allele):
        if os.getpid() != parent:
            os._exit(3)  # as if killed (out of memory): no result, no error message
        return annotate_allele(bundle, allele)

    opts = AnnotateOptions(
        str(resources / "demo.vcf.gz"), str(tmp_path / "o.vcf"), no_model=True, threads=2, batch_size=20
    )
    with pytest.raises(BiblipError, match="exit code 3"):
        run_annotate(opts, bundle=bundle, annotator=dies_in_a_worker)
    assert list(tmp_path.iterdir()) == []  # no output, no partial file
