"""More of the output layer's promise (issue 19, second adversarial round): files the run keeps under
fixed names are never written through a link, every output of a run is committed only when all have
succeeded, a full disk leaves nothing behind, and outputs that are one file (stdin, FIFOs, hard links) are
refused before any work."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
HEADER = (
    "##fileformat=VCFv4.2\n##contig=<ID=chr20,length=64444167>\n"
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
)
RECORDS = "chr20\t96130\t.\tC\tT\t50.00\tPASS\t.\nchr20\t96200\t.\tG\tA\t.\tPASS\tDP=3\n"


@pytest.fixture
def vcf(tmp_path: Path) -> Path:
    path = tmp_path / "in.vcf"
    path.write_text(HEADER + RECORDS)
    return path


def cli(*args: str, cwd: Path, stdin=None, stdout=subprocess.PIPE, shell: str | None = None):
    """`biblip -q ARGS` from this checkout (or `shell`, a bash line where `biblip` is that command)."""
    env = {k: v for k, v in os.environ.items() if k != "BIBLIP_DEBUG"}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    if shell is not None:
        command = ["bash", "-c", f'biblip() {{ "{sys.executable}" -m biblip_cli.cli -q "$@"; }}; {shell}']
    else:
        command = [sys.executable, "-m", "biblip_cli.cli", "-q", *args]
    return subprocess.run(
        command, cwd=cwd, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, env=env, check=False, timeout=180
    )  # fmt: skip


def one_error_line(stderr: bytes) -> str:
    text = stderr.decode(errors="replace")
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("WARNING ")]
    assert len(lines) == 1 and "Traceback" not in text, text
    assert lines[0].startswith("error: ") and "(hint: " in lines[0], text
    return lines[0]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") or "partial" in p.name)


# --- 1: OUT.partial (and its .json, the lock) never followed --------------------------------------


@pytest.mark.parametrize("link", ["out.vcf.partial", "out.vcf.partial.json.tmp", ".out.vcf.lock"])
def test_a_symlink_in_place_of_a_kept_file_is_replaced_not_written_through(vcf: Path, link: str):
    before = vcf.read_bytes()
    (vcf.parent / link).symlink_to(vcf.name)
    done = cli("annotate", "in.vcf", "--no-model", "-o", "out.vcf", cwd=vcf.parent)
    assert done.returncode == 0, done.stderr.decode()
    assert vcf.read_bytes() == before
    out = vcf.parent / "out.vcf"
    assert out.is_file() and not out.is_symlink() and "BIOBLIP=" in out.read_text()
    assert leftovers(vcf.parent) == []


def test_a_hard_link_in_place_of_the_partial_loses_only_the_link(vcf: Path):
    before = vcf.read_bytes()
    os.link(vcf, vcf.parent / "out.vcf.partial")
    done = cli("annotate", "in.vcf", "--no-model", "-o", "out.vcf", cwd=vcf.parent)
    assert done.returncode == 0, done.stderr.decode()
    assert vcf.read_bytes() == before and "BIOBLIP=" in (vcf.parent / "out.vcf").read_text()


def test_resume_refuses_a_partial_that_is_a_link(vcf: Path):
    before = vcf.read_bytes()
    partial = vcf.parent / "out.vcf.partial"
    partial.symlink_to(vcf.name)
    from biblip_cli.io.guarded_file import GuardedFile
    from biblip_cli.io.os_errors import OutputError

    with pytest.raises(OutputError, match="not a regular file of its own"):
        GuardedFile.open_own(partial, resume=True)
    assert vcf.read_bytes() == before


# --- 2, 25, 26: one file under two names (stdin, a FIFO given twice, hard links) -------------------


def test_stdin_and_stdout_redirected_to_one_file_is_refused(vcf: Path):
    before = vcf.read_bytes()
    done = cli(shell="biblip annotate - --no-model < in.vcf >> in.vcf", cwd=vcf.parent)
    assert done.returncode == 2
    assert "redirected into the input - (stdin)" in one_error_line(done.stderr)
    assert vcf.read_bytes() == before


def test_an_output_file_that_is_stdin_is_refused(vcf: Path):
    before = vcf.read_bytes()
    with open(vcf, "rb") as stdin:
        done = cli("annotate", "-", "--no-model", "-o", "in.vcf", cwd=vcf.parent, stdin=stdin)
    assert done.returncode == 2 and "same file as the input - (stdin)" in one_error_line(done.stderr)
    assert vcf.read_bytes() == before


def test_the_same_fifo_twice_is_refused(tmp_path: Path):
    from biblip_cli.errors import UsageError
    from biblip_cli.io.outputs import check_outputs

    fifo = tmp_path / "ff"
    os.mkfifo(fifo)
    with pytest.raises(UsageError, match="--tsv is the same file as -o"):
        check_outputs(["in.vcf"], [("-o", fifo), ("--tsv", fifo)])
    os.symlink(fifo, tmp_path / "ff2")
    with pytest.raises(UsageError, match="--tsv is the same file as -o"):
        check_outputs(["in.vcf"], [("-o", fifo), ("--tsv", tmp_path / "ff2")])
    check_outputs(["in.vcf"], [("-o", "/dev/null"), ("--tsv", "/dev/null")])  # nothing is stored there


def test_two_outputs_that_are_hard_links_of_one_file_are_refused(vcf: Path):
    out = vcf.parent / "out.vcf"
    out.write_text("old\n")
    os.link(out, vcf.parent / "hard")
    done = cli("annotate", "in.vcf", "--no-model", "-o", "out.vcf", "--tsv", "hard", cwd=vcf.parent)
    assert done.returncode == 2 and "--tsv is the same file as -o" in one_error_line(done.stderr)
    assert out.read_text() == "old\n" and leftovers(vcf.parent) == []


# --- 9: stdout closed ----------------------------------------------------------------------------


def test_stdout_closed_is_one_line_not_a_traceback(vcf: Path):
    done = cli(shell="biblip annotate in.vcf --no-model >&-", cwd=vcf.parent)
    assert done.returncode == 1 and "stdout is closed" in one_error_line(done.stderr)
    done = cli(shell="biblip annotate in.vcf --no-model -o out.vcf >&-", cwd=vcf.parent)
    assert done.returncode == 0, done.stderr.decode()
    assert "BIOBLIP=" in (vcf.parent / "out.vcf").read_text() and leftovers(vcf.parent) == []


# --- 4: all outputs of a run or none -------------------------------------------------------------


@pytest.mark.parametrize("command", ["annotate", "target"])
def test_a_failing_written_through_output_leaves_no_other_output(vcf: Path, command: str):
    done = cli(command, "in.vcf", "--no-model", "-o", "out.vcf", "--tsv", "/dev/full", cwd=vcf.parent)
    assert done.returncode == 1 and "no space left on device" in one_error_line(done.stderr)
    assert not (vcf.parent / "out.vcf").exists() and leftovers(vcf.parent) == []


def test_stdout_on_a_full_device_leaves_no_file_output(vcf: Path):
    with open("/dev/full", "wb") as full:
        done = cli(
            "annotate", "in.vcf", "--no-model", "-o", "out.vcf", "--tsv", "-", cwd=vcf.parent, stdout=full
        )
    assert done.returncode == 1 and "<stdout>" in one_error_line(done.stderr)
    assert not (vcf.parent / "out.vcf").exists() and leftovers(vcf.parent) == []


def test_commit_all_flushes_written_through_outputs_before_any_rename(tmp_path: Path):
    from biblip_cli.errors import BiblipError
    from biblip_cli.io.outputs import OutputFile, commit_all

    kept = OutputFile(tmp_path / "a.tsv")
    kept.write(b"data\n")
    full = OutputFile("/dev/full")
    full.write(b"more\n")
    with pytest.raises(BiblipError, match="no space left"):
        commit_all(kept, full)
    assert list(tmp_path.iterdir()) == []


# --- 7, 8: a full disk (not Ctrl-C) leaves no partial file ------------------------------------------


@pytest.fixture
def tiny_disk(tmp_path: Path):
    """A 1 MiB tmpfs at tmp_path/small (root only: skipped where mounting is not permitted)."""
    small = tmp_path / "small"
    small.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(small)], capture_output=True, check=False
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip() or 'mount failed'}")
    yield small
    subprocess.run(["umount", str(small)], check=False)


def fill(folder: Path, leave_kib: int) -> None:
    with open(folder / "filler", "wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
                handle.flush()
                if os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize <= leave_kib * 1024:
                    break
        except OSError:
            pass


@pytest.mark.parametrize(
    ("args", "leave_kib"),
    [
        (["-o", "out.vcf", "--tsv", "small/out.tsv"], 40),
        (["-O", "z", "-o", "small/out.vcf.gz", "--tsv", "small/out.tsv"], 40),
        (["-o", "small/out.vcf"], 0),
    ],
)
def test_a_full_disk_removes_every_partial_file(tiny_disk: Path, resources: Path, args: list, leave_kib: int):
    fill(tiny_disk, leave_kib)
    folder = tiny_disk.parent
    done = cli("annotate", str(resources / "demo.vcf.gz"), "--no-model", *args, cwd=folder)
    assert done.returncode == 1 and "no space left on device" in one_error_line(done.stderr)
    assert sorted(p.name for p in tiny_disk.iterdir()) == ["filler"]
    assert sorted(p.name for p in folder.iterdir()) == ["small"]


# --- 27: --explain is never silently ignored --------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "message"),
    [(["--no-llm", "--no-model"], "--explain needs the LLM"), (["--no-model"], "--explain needs the model")],
)
def test_explain_without_the_model_is_a_usage_error(vcf: Path, flags: list, message: str):
    done = cli("annotate", "in.vcf", "--explain", *flags, "-o", "o.vcf", cwd=vcf.parent)
    assert done.returncode == 2 and message in one_error_line(done.stderr)
    assert not (vcf.parent / "o.vcf").exists()


# --- 19 (merge): sample names that are not UTF-8 ----------------------------------------------------

CP1252_VCF = (
    b"##fileformat=VCFv4.2\n##contig=<ID=chr20,length=64444167>\n"
    b'##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
    b"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tJos\xe9\n"
    b"chr20\t96130\t.\tC\tT\t50\tPASS\t.\tGT\t0/1\n"
)


def test_merge_keeps_a_sample_name_that_is_not_utf8(tmp_path: Path):
    from biblip_cli.io.vcf_read import open_vcf

    for name in ("a.vcf", "b.vcf"):
        (tmp_path / name).write_bytes(CP1252_VCF)
    reader = open_vcf(str(tmp_path / "a.vcf"))
    assert reader.samples == [b"Jos\xe9".decode("utf-8", "surrogateescape")]
    reader.close()
    done = cli("merge", "a.vcf", "b.vcf", "-o", "m.vcf", cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    merged = (tmp_path / "m.vcf").read_bytes()
    assert b"\tJos\xe9\n" in merged and merged.count(b"chr20\t96130\t") == 2


# --- 20, 21: damaged side inputs get one line with a hint -------------------------------------------


def test_bundle_info_on_a_truncated_gtf_is_one_line(tmp_path: Path, resources: Path):
    import shutil

    bundle = tmp_path / "bundle"
    shutil.copytree(resources / "demo_bundle", bundle)
    gtf = bundle / "genes" / "genes.gtf.gz"
    os.truncate(gtf, gtf.stat().st_size // 2)
    done = cli("bundle", "info", "bundle", cwd=tmp_path)
    line = one_error_line(done.stderr)
    assert (
        done.returncode == 1 and "genes.gtf.gz: truncated compressed file" in line and "Aborted" not in line
    )


def test_a_bed_start_that_is_not_a_number_names_the_line_and_the_columns(tmp_path: Path):
    (tmp_path / "bad.bed").write_text("chr20\t96000\t96100\tok\nchr20\tabc\t96300\tbad\n")
    done = cli("target", "--elements", "bad.bed", "--no-model", "-o", "t.tsv", cwd=tmp_path)
    line = one_error_line(done.stderr)
    assert done.returncode == 1 and "bad.bed:2: start/end are not integers" in line
    assert "0-based start" in line and "check line 2" in line
    assert not (tmp_path / "t.tsv").exists() and leftovers(tmp_path) == []


# --- 24: stdout closed early beside a file output ---------------------------------------------------


@pytest.mark.parametrize("command", ["annotate", "target"])
def test_stdout_closed_early_still_writes_the_file_output(tmp_path: Path, command: str):
    lines = [HEADER] + [f"chr20\t{96000 + i}\t.\tC\tT\t50\tPASS\t.\n" for i in range(3000)]
    (tmp_path / "big.vcf").write_text("".join(lines))
    shell = (
        f"biblip {command} big.vcf --no-model -o o.vcf --tsv - 2>err | head -c 200 > got; "
        "echo ${PIPESTATUS[0]} > rc"
    )
    cli(shell=shell, cwd=tmp_path)
    assert (tmp_path / "rc").read_text().strip() == "0", (tmp_path / "err").read_text()
    assert "error" not in (tmp_path / "err").read_text()
    assert len((tmp_path / "got").read_bytes()) == 200
    out = (tmp_path / "o.vcf").read_text()
    assert out.count("\nchr20\t") == 3000
    full = cli(command, "big.vcf", "--no-model", "-o", "whole.vcf", cwd=tmp_path)
    assert full.returncode == 0
    strip = lambda text: [x for x in text.splitlines() if not x.startswith("##biblip_command")]
    assert strip(out) == strip((tmp_path / "whole.vcf").read_text())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.vcf", "err", "got", "o.vcf", "rc", "whole.vcf"]


def test_target_with_a_truncated_gene_model_leaves_no_partials(tmp_path: Path):
    """The gene model is read when the VCF pass starts: a truncated GTF must not leave the resumable partials."""
    import shutil

    from biblip_cli.bundle import default_bundle_dir

    bundle = tmp_path / "bundle"
    shutil.copytree(default_bundle_dir(), bundle)
    gtf = bundle / "genes" / "genes.gtf.gz"
    data = gtf.read_bytes()
    gtf.write_bytes(data[: len(data) // 2])
    vcf = tmp_path / "in.vcf"
    vcf.write_text(
        "##fileformat=VCFv4.2\n##contig=<ID=chr20,length=64444167>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
        "chr20\t96130\t.\tC\tT\t.\tPASS\t.\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "BIBLIP_DEBUG"}
    done = subprocess.run(
        [sys.executable, "-m", "biblip_cli.cli", "-q", "target", str(vcf), "--no-model", "--bundle", str(bundle),
         "-o", "o.vcf", "--tsv", "o.tsv"],
        cwd=tmp_path, env=env, capture_output=True, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1 and b"Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle", "in.vcf"], done.stderr.decode()
