"""`biblip rank`'s outputs under the rules of the output layer (issue 19): input bytes kept, streams read
once, foreign BIOBLIP_RANK declarations refused before work, all outputs or none, an unwritable
`$BIBLIP_HOME` named before any slow work."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from biblip_cli.commands.rank import RankOptions, run_rank
from biblip_cli.errors import BiblipError

HEADER = (
    b"##fileformat=VCFv4.2\n##contig=<ID=chr20,length=64444167>\n"
    b'##INFO=<ID=NOTE,Number=1,Type=String,Description="caf\xe9 notes">\n'
    b'##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
    b"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tP1\n"
)
RECORDS = (
    b"chr20\t96130\t.\tC\tT\t50.00\tPASS\tNOTE=caf\xe9\tGT\t0/1\n"
    b"chr20\t96200\t.\tG\tA\t.\tPASS\tDP=3\tGT\t0/1\n"
)


@pytest.fixture(scope="module")
def bundle():
    from biblip_cli.bundle import Bundle

    return Bundle.open()


@pytest.fixture(scope="module")
def ontology(bundle):
    from biblip_cli.features.phenotype import HpoOntology

    return HpoOntology.from_bundle(bundle)


@pytest.fixture
def vcf(tmp_path: Path) -> Path:
    path = tmp_path / "in.vcf"
    path.write_bytes(HEADER + RECORDS)
    return path


def rank(bundle, ontology, source: str, **kw) -> None:
    opts = RankOptions(source, phenotypes=["HP:0001250"], no_model=True, **kw)
    run_rank(opts, bundle=bundle, ontology=ontology)


def records(data: bytes) -> list[bytes]:
    return [line for line in data.split(b"\n") if line and not line.startswith(b"#")]


def test_windows_1252_bytes_survive_the_ranked_vcf(bundle, ontology, vcf: Path):
    out = vcf.with_name("out.vcf")
    rank(bundle, ontology, str(vcf), output=str(out), tsv=vcf.with_name("t.tsv"))
    data = out.read_bytes()
    assert b'Description="caf\xe9 notes"' in data and b"\xef\xbf\xbd" not in data
    got, want = records(data), records(RECORDS)
    assert len(got) == 2
    for new, old in zip(got, want, strict=True):
        cols_new, cols_old = new.split(b"\t"), old.split(b"\t")
        assert cols_new[:7] == cols_old[:7] and cols_new[8:] == cols_old[8:]
        assert cols_new[7].startswith(cols_old[7]) and b"BIOBLIP_RANK=" in cols_new[7]


def test_fifo_input_is_read_once_for_both_passes(bundle, ontology, vcf: Path, tmp_path: Path):
    fifo = tmp_path / "in.fifo"
    os.mkfifo(fifo)
    feeder = threading.Thread(target=lambda: fifo.write_bytes(vcf.read_bytes()))
    feeder.start()
    out = tmp_path / "out.vcf"
    rank(bundle, ontology, str(fifo), output=str(out), tsv=tmp_path / "t.tsv")
    feeder.join(timeout=30)
    assert len(records(out.read_bytes())) == 2 and out.read_bytes().count(b"BIOBLIP_RANK=") == 2
    assert not list(tmp_path.glob(".*"))


def test_process_substitution_with_a_vcf_output(vcf: Path):
    env = {k: v for k, v in os.environ.items() if k != "BIBLIP_DEBUG"}
    cmd = f"{sys.executable} -m biblip_cli.cli -q rank <(cat in.vcf) -p HP:0001250 --no-model -o o.vcf --tsv t.tsv"
    done = subprocess.run(
        ["bash", "-c", cmd], cwd=vcf.parent, env=env, capture_output=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr.decode()
    assert records(vcf.with_name("o.vcf").read_bytes())[0].count(b"BIOBLIP_RANK=") == 1


def test_foreign_rank_declaration_refused_before_work_unless_overwritten(bundle, ontology, tmp_path: Path):
    import cyvcf2

    source = tmp_path / "old.vcf"
    source.write_bytes(
        HEADER.replace(b"#CHROM", b'##INFO=<ID=BIOBLIP_RANK,Number=1,Type=String,Description="x">\n#CHROM')
        + RECORDS.replace(b"DP=3", b"DP=3;BIOBLIP_RANK=first")
    )
    out, tsv = tmp_path / "out.vcf", tmp_path / "t.tsv"
    with pytest.raises(
        BiblipError, match="already declares INFO/BIOBLIP_RANK as Number=1,Type=String"
    ) as caught:
        rank(bundle, ontology, str(source), output=str(out), tsv=tsv)
    assert "--overwrite-info" in caught.value.hint
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.vcf"]
    rank(bundle, ontology, str(source), output=str(out), tsv=tsv, overwrite_info=True)
    text = out.read_bytes()
    assert text.count(b"##INFO=<ID=BIOBLIP_RANK,") == 1 and b"BIOBLIP_RANK=first" not in text
    ranks = [v.INFO.get("BIOBLIP_RANK") for v in cyvcf2.VCF(str(out))]
    assert sorted(ranks) == [1, 2]


def test_reranking_a_ranked_vcf_replaces_its_fields(bundle, ontology, vcf: Path):
    first, second = vcf.with_name("r1.vcf"), vcf.with_name("r2.vcf")
    rank(bundle, ontology, str(vcf), output=str(first), tsv=vcf.with_name("t1.tsv"))
    rank(bundle, ontology, str(first), output=str(second), tsv=vcf.with_name("t2.tsv"))
    for line in records(second.read_bytes()):
        assert line.count(b"BIOBLIP_RANK=") == 1 and line.count(b"BIOBLIP_SCORE=") == 1


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_one_failed_output_leaves_none_behind(bundle, ontology, vcf: Path):
    out, tsv, genes, html = (vcf.with_name(n) for n in ("out.vcf", "t.tsv", "g.tsv", "r.html"))
    with pytest.raises(BiblipError) as caught:
        rank(
            bundle, ontology, str(vcf), output=str(out), tsv=tsv, gene_tsv=genes, html=html, json="/dev/full"
        )
    assert caught.value.where == "/dev/full" and "space" in str(caught.value).lower()
    assert sorted(p.name for p in vcf.parent.iterdir()) == ["in.vcf"]


def test_unwritable_biblip_home_is_named_before_preparing_the_llm(tmp_path: Path, monkeypatch):
    from biblip_cli.model import weights

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("BIBLIP_HOME", str(blocker / "home"))
    monkeypatch.setattr(weights, "_find_or_fetch_package", lambda *_: pytest.fail("started the slow work"))
    with pytest.raises(BiblipError, match="cannot write the prepared LLM") as caught:
        weights.default_llm_dir()
    assert caught.value.where == "$BIBLIP_HOME" and "BIBLIP_HOME" in caught.value.hint


def _cli(*args: str, cwd: Path, stdout=subprocess.PIPE):
    env = {k: v for k, v in os.environ.items() if k != "BIBLIP_DEBUG"}
    return subprocess.run(
        [sys.executable, "-m", "biblip_cli.cli", "-q", "rank", *args], cwd=cwd, env=env, stdout=stdout,
        stderr=subprocess.PIPE, check=False, timeout=120,
    )  # fmt: skip


def test_stdout_appended_to_the_input_is_refused(vcf: Path):
    before = vcf.read_bytes()
    with open(vcf, "ab") as out:
        done = _cli(str(vcf), "-p", "HP:0001250", "--no-model", cwd=vcf.parent, stdout=out)
    assert done.returncode == 2 and b"redirected into the input" in done.stderr
    assert vcf.read_bytes() == before


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_a_full_device_output_leaves_no_file_output(vcf: Path):
    done = _cli(str(vcf), "-p", "HP:0001250", "--no-model", "-o", "r.vcf", "--tsv", "r.tsv", "--gene-tsv", "/dev/full",
                cwd=vcf.parent)  # fmt: skip
    assert done.returncode == 1 and b"/dev/full" in done.stderr
    with open("/dev/full", "wb") as full:
        done = _cli(str(vcf), "-p", "HP:0001250", "--no-model", "--tsv", "r.tsv", "--json", "-", cwd=vcf.parent,
                    stdout=full)  # fmt: skip
    assert done.returncode == 1 and b"<stdout>" in done.stderr, done.stderr
    assert sorted(p.name for p in vcf.parent.iterdir()) == ["in.vcf"]


@pytest.mark.parametrize("threads", ["0", "-1"])
def test_threads_below_one_is_a_usage_error(vcf: Path, threads: str):
    done = _cli(str(vcf), "-p", "HP:0001250", "--no-model", "--threads", threads, cwd=vcf.parent)
    assert (
        done.returncode == 2
        and b"--threads must be at least 1" in done.stderr
        and b"Traceback" not in done.stderr
    )


def test_sample_name_that_is_not_utf8(bundle, ontology, tmp_path: Path):
    source = tmp_path / "s.vcf"
    source.write_bytes(HEADER.replace(b"\tP1\n", b"\tPROB\xe9ND\n") + RECORDS)
    out = tmp_path / "o.vcf"
    rank(bundle, ontology, str(source), output=str(out), tsv=tmp_path / "t.tsv")
    assert b"\tPROB\xe9ND\n" in out.read_bytes() and out.read_bytes().count(b"BIOBLIP_RANK=") == 2


def test_ped_without_vcf_samples_warns(bundle, ontology, vcf: Path, caplog: pytest.LogCaptureFixture):
    ped = vcf.with_name("f.ped")
    ped.write_text("F KID DAD MUM 1 2\nF DAD 0 0 1 1\nF MUM 0 0 2 1\n")
    rank(bundle, ontology, str(vcf), ped=ped, tsv=vcf.with_name("t.tsv"))
    assert "none of its 3 people is a sample of the VCF" in caplog.text


def test_a_locked_output_stops_the_run_before_any_work(bundle, ontology, vcf: Path, monkeypatch):
    from biblip_cli.commands import rank as rank_module
    from biblip_cli.io.locks import OutputLock
    from biblip_cli.io.os_errors import OutputError

    monkeypatch.setattr(rank_module, "_rank_and_write", lambda *a: pytest.fail("the run started"))
    lock = OutputLock(vcf.with_name("t.tsv"))
    try:
        with pytest.raises(OutputError, match="another biblip run"):
            rank(bundle, ontology, str(vcf), tsv=vcf.with_name("t.tsv"))
    finally:
        lock.release()


def test_json_and_html_are_utf8_when_the_input_is_not(bundle, ontology, tmp_path: Path):
    import json

    source = tmp_path / "s.vcf"
    source.write_bytes(HEADER.replace(b"\tP1\n", b"\tPROB\xe9ND\n") + RECORDS)
    out, html = tmp_path / "r.json", tmp_path / "r.html"
    rank(bundle, ontology, str(source), json=str(out), html=html, tsv=tmp_path / "t.tsv")
    doc = json.loads(out.read_bytes().decode("utf-8"))  # strict UTF-8
    assert doc["proband"]["sample"] == "PROBéND"
    assert "PROBéND" in html.read_bytes().decode("utf-8")
