"""The output layer (`io/outputs.py`, issue 19 "nothing lost, ever"), one section per class of failure:
1 outputs that are inputs (or each other), 2 what an output path is (device, FIFO, symlink, directory),
3 two runs on one output, 4 OS faults, 5 bytes that are not UTF-8 and BIOBLIP declarations, 6 the rest."""

from __future__ import annotations

import errno
import gzip
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from biblip_cli.commands.annotate import run_annotate
from biblip_cli.commands.annotate_options import AnnotateOptions
from biblip_cli.errors import BiblipError, UsageError
from biblip_cli.io import outputs
from biblip_cli.io.locks import OutputLock
from biblip_cli.io.outputs import OutputFile, check_outputs

HEADER = (
    "##fileformat=VCFv4.2\n##contig=<ID=chr20,length=64444167>\n"
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
)
RECORDS = "chr20\t96130\t.\tC\tT\t50.00\tPASS\t.\nchr20\t96200\t.\tG\tA\t.\tPASS\tDP=3\n"


@pytest.fixture(scope="module")
def bundle():
    from biblip_cli.bundle import Bundle

    return Bundle.open()


@pytest.fixture
def vcf(tmp_path: Path) -> Path:
    path = tmp_path / "in.vcf"
    path.write_text(HEADER + RECORDS)
    return path


def cli(*args: str, cwd: Path, stdin=None, stdout=subprocess.PIPE, env: dict | None = None):
    full = {k: v for k, v in os.environ.items() if k != "BIBLIP_DEBUG"}
    full.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "biblip_cli.cli", "-q", *args],
        cwd=cwd, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, env=full, check=False, timeout=120,
    )  # fmt: skip


def one_error_line(stderr: bytes) -> str:
    lines = [line for line in stderr.decode().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in stderr.decode(), stderr.decode()
    return lines[0]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") or "partial" in p.name)


def never(*_args, **_kwargs):
    raise AssertionError("the run started although an output was refused")


# --- 1: an output that is an input or another output ------------------------------------------------


@pytest.mark.parametrize("kind", ["same", "symlink", "hardlink", "dotted"])
def test_output_same_as_input_is_refused_before_work(vcf: Path, kind: str):
    before = vcf.read_bytes()
    if kind == "same":
        out = vcf
    elif kind == "symlink":
        out = vcf.with_name("link.vcf")
        out.symlink_to(vcf.name)
    elif kind == "hardlink":
        out = vcf.with_name("hard.vcf")
        os.link(vcf, out)
    else:
        out = vcf.parent / "." / vcf.name
    with pytest.raises(UsageError, match="-o is the same file as the input"):
        run_annotate(AnnotateOptions(str(vcf), str(out), no_model=True), annotator=never)
    with pytest.raises(UsageError, match="--tsv is the same file as the input"):
        run_annotate(
            AnnotateOptions(str(vcf), str(vcf.with_name("o.vcf")), no_model=True, tsv=out), annotator=never
        )
    assert vcf.read_bytes() == before
    assert leftovers(vcf.parent) == []


def test_tsv_same_as_output_is_refused(vcf: Path):
    out = vcf.with_name("out.vcf")
    for tsv in (out, vcf.parent / "sub" / ".." / "out.vcf"):
        (vcf.parent / "sub").mkdir(exist_ok=True)
        with pytest.raises(UsageError, match="--tsv is the same file as -o"):
            run_annotate(AnnotateOptions(str(vcf), str(out), no_model=True, tsv=tsv), annotator=never)
    assert not out.exists()


def test_cli_same_file_exit_2_one_line(vcf: Path):
    before = vcf.read_bytes()
    done = cli("annotate", "in.vcf", "-o", "in.vcf", "--no-model", cwd=vcf.parent)
    assert done.returncode == 2
    assert one_error_line(done.stderr).startswith("error: in.vcf: -o is the same file as the input")
    done = cli("merge", "in.vcf", "-o", "in.vcf", cwd=vcf.parent)
    assert done.returncode == 2 and "same file as the input" in one_error_line(done.stderr)
    assert vcf.read_bytes() == before


def test_rank_and_target_refuse_their_input(vcf: Path):
    from biblip_cli.commands.rank import RankOptions, run_rank
    from biblip_cli.commands.target import run_target
    from biblip_cli.commands.target_options import TargetOptions

    with pytest.raises(UsageError, match="-o is the same file as the input"):
        run_rank(RankOptions(str(vcf), phenotypes=["HP:0001250"], output=str(vcf), no_model=True))
    with pytest.raises(UsageError, match="--gene-tsv is the same file as --tsv"):
        run_rank(
            RankOptions(
                str(vcf), phenotypes=["HP:0001250"], tsv=vcf.with_name("a"), gene_tsv=vcf.with_name("a")
            )
        )
    with pytest.raises(UsageError, match="-o is the same file as the input"):
        run_target(TargetOptions(str(vcf), output=str(vcf), no_model=True), bundle=object())
    with pytest.raises(UsageError, match="--tsv is the same file as -o"):
        run_target(
            TargetOptions(str(vcf), output=str(vcf.with_name("t")), tsv=vcf.with_name("t"), no_model=True),
            bundle=object(),
        )


def test_check_outputs_stdout_twice():
    with pytest.raises(UsageError, match="stdout cannot carry both"):
        check_outputs([], [("-o", "-"), ("--tsv", "/dev/stdout")])


# --- 2: devices, FIFOs, symlinks, directories ---------------------------------------------------------


def test_dev_null_stays_a_device(bundle, vcf: Path):
    run_annotate(AnnotateOptions(str(vcf), "/dev/null", no_model=True), bundle=bundle)
    assert Path("/dev/null").is_char_device()
    assert leftovers(vcf.parent) == []


def test_dev_stdout_written_through(vcf: Path):
    out = vcf.with_name("captured.vcf")
    with open(out, "wb") as handle:
        done = cli("annotate", "in.vcf", "-o", "/dev/stdout", "--no-model", cwd=vcf.parent, stdout=handle)
    assert done.returncode == 0, done.stderr.decode()
    assert os.path.islink("/dev/stdout")
    assert out.read_text().count("BIOBLIP=") == 2


def test_fifo_output_written_through(bundle, vcf: Path):
    fifo = vcf.with_name("pipe.vcf")
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    run_annotate(AnnotateOptions(str(vcf), str(fifo), no_model=True), bundle=bundle)
    reader.join(timeout=30)
    assert fifo.is_fifo() and b"BIOBLIP=" in got[0]
    assert leftovers(vcf.parent) == []


def test_symlinked_output_replaces_its_target_and_keeps_the_link(bundle, vcf: Path):
    real = vcf.parent / "real"
    real.mkdir()
    (real / "out.vcf").write_text("old\n")
    link = vcf.with_name("out.vcf")
    link.symlink_to(real / "out.vcf")
    run_annotate(AnnotateOptions(str(vcf), str(link), no_model=True), bundle=bundle)
    assert link.is_symlink() and "BIOBLIP=" in (real / "out.vcf").read_text()
    assert leftovers(real) == [] and leftovers(vcf.parent) == []


def test_directory_output_fails_before_the_run(vcf: Path):
    folder = vcf.with_name("folder")
    folder.mkdir()
    with pytest.raises(UsageError, match="-o is a directory"):
        run_annotate(AnnotateOptions(str(vcf), str(folder), no_model=True), annotator=never)
    with pytest.raises(UsageError, match="--tsv is a directory"):
        run_annotate(AnnotateOptions(str(vcf), "-", no_model=True, tsv=folder), annotator=never)


# --- 3: two runs on one output ------------------------------------------------------------------------


def test_second_run_on_a_locked_output_stops_at_once(bundle, vcf: Path):
    out = vcf.with_name("out.vcf")
    held = OutputLock(out)
    try:
        with pytest.raises(BiblipError, match="another biblip run is writing this output"):
            run_annotate(AnnotateOptions(str(vcf), str(out), no_model=True), bundle=bundle)
        with pytest.raises(BiblipError, match="another biblip run is writing this output"):
            OutputFile(out)
        assert not Path(str(out) + ".partial").exists()  # the other run's files are not touched
    finally:
        held.release()
    run_annotate(AnnotateOptions(str(vcf), str(out), no_model=True), bundle=bundle)
    assert leftovers(vcf.parent) == [] and "BIOBLIP=" in out.read_text()


def test_temp_files_are_unique_and_removed(tmp_path: Path):
    target = tmp_path / "x.txt"
    first, second = OutputFile(target, lock=False), OutputFile(target, lock=False)
    assert first.temp != second.temp and first.temp.parent == tmp_path
    first.write(b"one")
    second.write(b"two")
    first.commit()
    second.abort()
    assert target.read_bytes() == b"one" and leftovers(tmp_path) == []
    with OutputFile(target) as out:
        assert (tmp_path / ".x.txt.lock").exists()
        out.write(b"three")
    assert target.read_bytes() == b"three" and leftovers(tmp_path) == []


def test_cli_concurrent_runs(tmp_path: Path):
    source = tmp_path / "big.vcf"
    # 100 batches x 0.2 s: the run cannot finish (and rename its TSV) before the signal, even on a loaded CPU
    source.write_text(HEADER + "".join(f"chr20\t{96000 + i}\t.\tC\tT\t.\tPASS\t.\n" for i in range(2000)))
    env = {k: v for k, v in os.environ.items() if k != "BIBLIP_DEBUG"}
    env["BIBLIP_TEST_SLOW_BATCH"] = "0.2"
    args = [sys.executable, "-m", "biblip_cli.cli", "-q", "annotate", "big.vcf", "-o", "out.vcf"]
    first = subprocess.Popen(
        [*args, "--no-model", "--batch-size", "20"], cwd=tmp_path, env=env, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "out.vcf.partial.json").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        second = cli("annotate", "big.vcf", "-o", "out.vcf", "--no-model", cwd=tmp_path)
        assert second.returncode == 1
        assert "another biblip run is writing this output" in one_error_line(second.stderr)
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=60) == 128 + signal.SIGTERM
    assert not (tmp_path / ".out.vcf.lock").exists()  # SIGTERM: the lock goes, the partial stays for --resume
    assert (tmp_path / "out.vcf.partial").exists()


# --- 4: OS faults -----------------------------------------------------------------------------------


def test_disk_full_is_one_line_exit_1(vcf: Path):
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    done = cli("annotate", "in.vcf", "-o", "/dev/full", "--no-model", cwd=vcf.parent)
    assert done.returncode == 1
    assert one_error_line(done.stderr) == (
        "error: /dev/full: cannot write: no space left on device (hint: free some space or write to another disk)"
    )
    with open("/dev/full", "wb") as full:
        done = cli("annotate", "in.vcf", "--no-model", cwd=vcf.parent, stdout=full)
    assert done.returncode == 1 and one_error_line(done.stderr).startswith("error: <stdout>: cannot write")
    assert leftovers(vcf.parent) == []


def test_disk_full_mid_file_removes_the_temp_file(tmp_path: Path):
    out = OutputFile(tmp_path / "x.vcf")

    class Full:
        closed = False

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

        def close(self):
            self.closed = True

    real = out.raw
    out.raw = Full()  # type: ignore[assignment]
    with pytest.raises(BiblipError, match="no space left on device") as caught:
        out.write(b"x")
    assert caught.value.where == str(tmp_path / "x.vcf")
    real.close()
    out.abort()
    assert list(tmp_path.iterdir()) == []


def test_rename_failure_is_one_line_and_cleans_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def read_only(*_args):
        raise OSError(errno.EROFS, "Read-only file system")

    out = OutputFile(tmp_path / "x.vcf")
    out.write(b"data")
    monkeypatch.setattr(outputs.os, "replace", read_only)
    with pytest.raises(BiblipError, match="read-only file system") as caught:
        out.commit()
    assert "writable location" in caught.value.hint
    assert list(tmp_path.iterdir()) == []


def test_unwritable_or_missing_directory_before_the_run(vcf: Path, monkeypatch: pytest.MonkeyPatch):
    with pytest.raises(BiblipError, match="output directory does not exist"):
        run_annotate(
            AnnotateOptions(str(vcf), str(vcf.parent / "no" / "o.vcf"), no_model=True), annotator=never
        )
    monkeypatch.setattr(outputs.os, "access", lambda *_a: False)
    with pytest.raises(BiblipError, match="output directory is not writable"):
        run_annotate(AnnotateOptions(str(vcf), str(vcf.with_name("o.vcf")), no_model=True), annotator=never)
    assert leftovers(vcf.parent) == []


def test_any_oserror_reaching_main_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
):
    from biblip_cli import cli as cli_module

    def boom():
        raise PermissionError(errno.EACCES, "Permission denied", "/root/.cache/biblip/llm")

    monkeypatch.setattr(cli_module, "app", boom)
    with pytest.raises(SystemExit) as done:
        cli_module.main()
    assert done.value.code == 1
    assert capsys.readouterr().err.strip() == (
        "error: /root/.cache/biblip/llm: permission denied (hint: check the permissions, or write elsewhere)"
    )


def test_threads_must_be_positive(vcf: Path):
    done = cli("annotate", "in.vcf", "--threads", "-1", "--no-model", cwd=vcf.parent)
    assert done.returncode == 2 and "--threads must be at least 1" in one_error_line(done.stderr)


def test_broken_pipe_on_stdout_is_quiet(vcf: Path):
    big = vcf.with_name("big.vcf")
    big.write_text(HEADER + "".join(f"chr20\t{96000 + i}\t.\tC\tT\t.\tPASS\t.\n" for i in range(3000)))
    env = {k: v for k, v in os.environ.items() if k != "BIBLIP_DEBUG"}
    run = subprocess.Popen(
        [sys.executable, "-m", "biblip_cli.cli", "-q", "annotate", "big.vcf", "--no-model", "--tsv", "t.tsv"],
        cwd=vcf.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert run.stdout is not None
    run.stdout.read(100)
    run.stdout.close()
    assert run.wait(timeout=120) == 0
    assert run.stderr is not None and run.stderr.read() == b""
    # the file output beside stdout is still written, whole (issue 19, case 24: it was silently missing)
    assert leftovers(vcf.parent) == [] and vcf.with_name("t.tsv").read_text().startswith("chrom\t")


def test_sigterm_removes_temp_files(tmp_path: Path):
    source = tmp_path / "big.vcf"
    # 100 batches x 0.2 s: the run cannot finish (and rename its TSV) before the signal, even on a loaded CPU
    source.write_text(HEADER + "".join(f"chr20\t{96000 + i}\t.\tC\tT\t.\tPASS\t.\n" for i in range(2000)))
    env = {k: v for k, v in os.environ.items() if k != "BIBLIP_DEBUG"}
    env["BIBLIP_TEST_SLOW_BATCH"] = "0.2"
    run = subprocess.Popen(
        [sys.executable, "-m", "biblip_cli.cli", "-q", "annotate", "big.vcf", "--no-model", "--batch-size", "20",
         "--tsv", "t.tsv", "-o", "-"],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not any(p.name.endswith(".tmp") for p in tmp_path.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    run.send_signal(signal.SIGTERM)
    assert run.wait(timeout=60) == 128 + signal.SIGTERM
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.vcf"]


def test_merge_to_bgzip_file(tmp_path: Path, vcf: Path):
    done = cli("merge", "in.vcf", "in.vcf", "-o", "m.vcf.gz", cwd=vcf.parent)
    assert done.returncode == 0, done.stderr.decode()
    assert gzip.decompress((tmp_path / "m.vcf.gz").read_bytes()).count(b"chr20\t96130") == 2
    assert leftovers(tmp_path) == []


# --- 5: bytes that are not UTF-8, BIOBLIP declarations of another type -------------------------------

CP1252 = (
    b"##fileformat=VCFv4.2\n##source=caf\xe9\n##contig=<ID=chr20,length=64444167>\n"
    b'##INFO=<ID=X,Number=1,Type=String,Description="d\xe9">\n'
    b"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
    b"chr20\t96130\t.\tC\tT\t50.00\tPASS\tX=caf\xe9\nchr20\t96200\t.\tG\tA\t.\tPASS\tX=na\xefve\n"
)


def _bytes_kept(data: bytes) -> bool:
    return (
        b"##source=caf\xe9\n" in data
        and b'Description="d\xe9"' in data
        and b"X=caf\xe9" in data
        and b"X=na\xefve" in data
        and b"\xef\xbf\xbd" not in data  # no U+FFFD replacement anywhere
    )


@pytest.fixture
def cp1252(tmp_path: Path) -> Path:
    path = tmp_path / "cp.vcf"
    path.write_bytes(CP1252)
    return path


def test_windows_1252_bytes_pass_through_file_stdin_and_bcf(bundle, cp1252: Path):
    import cyvcf2

    bcf = cp1252.with_name("cp.bcf")
    reader = cyvcf2.VCF(str(cp1252))
    writer = cyvcf2.Writer(str(bcf), reader, mode="wb")
    for variant in reader:
        writer.write_record(variant)
    writer.close()
    for source in (cp1252, bcf):
        out = source.with_name(source.name + ".out.vcf")
        run_annotate(AnnotateOptions(str(source), str(out), no_model=True), bundle=bundle)
        assert _bytes_kept(out.read_bytes()), source
        assert out.read_bytes().count(b"BIOBLIP=T|missense_variant|MODERATE|DEFB125") == 1
    for source in (cp1252, bcf):
        with open(source, "rb") as stdin:
            done = cli("annotate", "-", "--no-model", cwd=cp1252.parent, stdin=stdin)
        assert done.returncode == 0, done.stderr.decode()
        assert _bytes_kept(done.stdout), source


def test_windows_1252_bytes_in_target(bundle, cp1252: Path):
    from biblip_cli.commands.target import run_target
    from biblip_cli.commands.target_options import TargetOptions

    out, tsv = cp1252.with_name("t.vcf"), cp1252.with_name("t.tsv")
    run_target(
        TargetOptions(str(cp1252), output=str(out), tsv=tsv, no_model=True, include_coding=True),
        bundle=bundle,
    )
    assert _bytes_kept(out.read_bytes()) and b"BIOBLIP_TARGET=" in out.read_bytes()


OLD_BIOBLIP = (
    "##fileformat=VCFv4.2\n##contig=<ID=chr20,length=64444167>\n"
    '##INFO=<ID=BIOBLIP,Number=1,Type=Integer,Description="someone else\'s">\n'
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
    "chr20\t96130\t.\tC\tT\t50.00\tPASS\tBIOBLIP=3;DP=4\n"
)


def test_foreign_bioblip_declaration_is_an_error_unless_overwritten(bundle, tmp_path: Path):
    import cyvcf2

    source = tmp_path / "old.vcf"
    source.write_text(OLD_BIOBLIP)
    out = tmp_path / "out.vcf"
    with pytest.raises(BiblipError, match="already declares INFO/BIOBLIP as Number=1,Type=Integer") as caught:
        run_annotate(AnnotateOptions(str(source), str(out), no_model=True), bundle=bundle)
    assert "--overwrite-info" in caught.value.hint
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.vcf"]
    run_annotate(AnnotateOptions(str(source), str(out), no_model=True, overwrite_info=True), bundle=bundle)
    text = out.read_text()
    assert text.count("##INFO=<ID=BIOBLIP,") == 1 and "Type=Integer" not in text
    (record,) = list(cyvcf2.VCF(str(out)))  # htslib reads our values with our declaration
    assert (
        record.INFO["BIOBLIP"].startswith("T|missense_variant|MODERATE|DEFB125|") and record.INFO["DP"] == "4"
    )
    assert "BIOBLIP=3" not in text


# --- 6: smaller ----------------------------------------------------------------------------------------


def test_fifo_and_process_substitution_input(bundle, vcf: Path, tmp_path: Path):
    fifo = tmp_path / "in.fifo"
    os.mkfifo(fifo)
    feeder = threading.Thread(target=lambda: fifo.write_bytes(vcf.read_bytes()))
    feeder.start()
    out = tmp_path / "out.vcf"
    summary = run_annotate(AnnotateOptions(str(fifo), str(out), no_model=True), bundle=bundle)
    feeder.join(timeout=30)
    assert summary.records == 2 and out.read_text().count("BIOBLIP=") == 2
    done = subprocess.run(
        ["bash", "-c", f"{sys.executable} -m biblip_cli.cli -q annotate <(cat in.vcf) --no-model"],
        cwd=vcf.parent, capture_output=True, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.count(b"BIOBLIP=") == 2


def test_duplicate_sample_names(tmp_path: Path):
    source = tmp_path / "dup.vcf"
    source.write_text(
        "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tA\tB\tA\n"
        "chr20\t96130\t.\tC\tT\t50\tPASS\t.\tGT\t0/1\t0/1\t0/0\n"
    )
    with pytest.raises(BiblipError, match="duplicate sample name in the #CHROM line: 'A'"):
        run_annotate(AnnotateOptions(str(source), str(tmp_path / "o.vcf"), no_model=True), annotator=never)


def test_target_bad_record_leaves_no_tsv(bundle, tmp_path: Path):
    from biblip_cli.commands.target import run_target
    from biblip_cli.commands.target_options import TargetOptions

    source = tmp_path / "bad.vcf"
    source.write_text(HEADER + RECORDS + "chr20\tx\t.\tC\tT\t.\tPASS\t.\n" * 300)
    out, tsv = tmp_path / "t.vcf", tmp_path / "t.tsv"
    with pytest.raises(BiblipError, match="POS is not a number"):
        run_target(TargetOptions(str(source), output=str(out), tsv=tsv, no_model=True), bundle=bundle)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.vcf"]


def test_explain_without_llm_is_a_usage_error(vcf: Path):
    done = cli("annotate", "in.vcf", "--explain", "--no-llm", cwd=vcf.parent)
    assert done.returncode == 2 and "--explain needs the LLM" in one_error_line(done.stderr)


def test_corrupt_checkpoint_weights_one_line(bundle, vcf: Path, repo: Path, tmp_path: Path):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(repo / "resources" / "model", model)
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    opts = AnnotateOptions(str(vcf), str(tmp_path / "o.vcf"), model_dir=model, no_llm=True)
    with pytest.raises(BiblipError, match="cannot read the checkpoint weights") as caught:
        run_annotate(opts, bundle=bundle)
    assert caught.value.where == str(weights) and "--no-model" in caught.value.hint
    assert not (tmp_path / "o.vcf").exists() and leftovers(tmp_path) == []


def test_pickle_only_weights_folder_is_named(tmp_path: Path):
    import pickle

    from biblip_cli.engine.loading import EngineSpec, _weights_error

    llm = tmp_path / "llm"
    llm.mkdir()
    (llm / "pytorch_model.bin").write_bytes(b"\x80\x04")
    found = _weights_error(
        pickle.UnpicklingError("Weights only load failed"), EngineSpec(None, llm, None, "cpu")
    )
    assert found is not None and found[1] == str(llm) and "pickle .bin" in found[0]
    assert _weights_error(RuntimeError("a bug"), EngineSpec(None, llm, None, "cpu")) is None


def test_bundle_build_refuses_an_input_inside_its_output(tmp_path: Path):
    from biblip_cli.commands.bundle import run_build

    out = tmp_path / "bundle"
    out.mkdir()
    fasta = out / "genome.fa"
    fasta.write_text(">chr1\nACGT\n")
    args: dict = {
        "gtf": "x.gtf", "proteins": "p.fa", "knowledge": "k.tsv", "hpo_dir": None, "hpo_obo": "h.obo",
        "hpo_genes": "g.txt", "hpo_annotations": "a.hpoa", "enhancers": None, "region": None, "name": None,
        "build": "GRCh38", "sha256": [],
    }  # fmt: skip
    with pytest.raises(UsageError, match="is inside the output directory"):
        run_build(fasta=str(fasta), out=out, force=True, **args)
    assert fasta.exists()
    with pytest.raises(UsageError, match="-o is a file, not a bundle directory"):
        run_build(fasta="g.fa", out=fasta, **args)
    held = OutputLock(tmp_path / "other")
    try:
        with pytest.raises(BiblipError, match="another biblip run is writing this output"):
            run_build(fasta="g.fa", out=tmp_path / "other", **args)
    finally:
        held.release()


def test_stdout_redirected_into_the_input_is_refused(vcf: Path):
    before = vcf.read_bytes()
    with open(vcf, "ab") as append:
        done = cli("annotate", "in.vcf", "--no-model", cwd=vcf.parent, stdout=append)
    assert done.returncode == 2 and "(stdout) is redirected into the input" in one_error_line(done.stderr)
    assert vcf.read_bytes() == before


def test_tsv_to_stdout_with_a_vcf_file(vcf: Path):
    done = cli("annotate", "in.vcf", "--no-model", "-o", "out.vcf", "--tsv", "-", cwd=vcf.parent)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.startswith(b"chrom\tpos\t") and (vcf.parent / "out.vcf").exists()
    assert not (vcf.parent / "-").exists() and leftovers(vcf.parent) == []
    done = cli("annotate", "in.vcf", "--no-model", "-o", "o.vcf", "--tsv", "-", "--resume", cwd=vcf.parent)
    assert done.returncode == 2 and "--resume needs an output file" in one_error_line(done.stderr)


def test_quiet_turns_off_the_weights_loading_bars(bundle, vcf: Path):
    from typer.testing import CliRunner

    from biblip_cli.cli import app

    keys = ("HF_HUB_DISABLE_PROGRESS_BARS", "TQDM_DISABLE")
    saved = {key: os.environ.pop(key, None) for key in keys}
    try:
        done = CliRunner().invoke(
            app, ["-q", "annotate", str(vcf), "--no-model", "-o", str(vcf.with_name("q.vcf"))]
        )
        assert done.exit_code == 0, done.output
        assert all(os.environ.get(key) == "1" for key in keys)
    finally:
        for key, value in saved.items():
            os.environ.pop(key, None)
            if value is not None:
                os.environ[key] = value


def test_fd_names_are_written_through(tmp_path: Path, vcf: Path):
    log = tmp_path / "log.txt"
    log.write_text("kept\n")
    with open(log, "ab") as handle:
        done = cli("annotate", "in.vcf", "--no-model", "-o", "/dev/stderr", cwd=vcf.parent, stdout=handle)
    # stderr is the PIPE here: the VCF went there, the log file and the /dev/stderr link are untouched
    assert done.returncode == 0 and done.stderr.count(b"BIOBLIP=") == 2
    assert log.read_text() == "kept\n" and os.path.islink("/dev/stderr")
