"""vcf.py: reading with record/line numbers, alleles, escaping, BGZF + index, atomic output, concat."""

from __future__ import annotations

import gzip
from pathlib import Path

import cyvcf2
import pytest

from biblip_cli.errors import BiblipError
from biblip_cli.io.vcf_compress import bgzf_writer, index_vcf_gz
from biblip_cli.io.vcf_header import add_rank_header, add_target_header, escape_info
from biblip_cli.io.vcf_read import alleles, open_vcf, precheck
from biblip_cli.io.vcf_write import VcfOutput, concat_vcfs
from biblip_cli.records import Allele

HEADER = "##fileformat=VCFv4.2\n##contig=<ID=chr20,length=64444167>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"


def write(path: Path, records: str, header: str = HEADER) -> Path:
    path.write_text(header + records)
    return path


def test_escape_info():
    assert escape_info("a b,c;d=e|f") == "a_b%2Cc%3Bd%3De%7Cf"
    assert escape_info("p.Arg117His") == "p.Arg117His"


def test_records_numbers_and_alleles(tmp_path: Path):
    vcf = write(tmp_path / "a.vcf", "chr20\t100\t.\ta\tg,<DEL>,*\t.\t.\t.\nchr20\t200\t.\tC\t.\t.\t.\t.\n")
    reader = open_vcf(vcf)
    got = list(reader.records())
    assert [n for n, _ in got] == [1, 2]
    assert reader.where(2) == f"{vcf}: line 5 (record 2)"
    first = alleles(got[0][1], 1)
    assert first == [
        Allele("chr20", 100, "A", "G", 0, 1),
        Allele("chr20", 100, "A", "<DEL>", 1, 1),
        Allele("chr20", 100, "A", "*", 2, 1),
    ]
    assert [precheck(a) for a in first] == [None, "symbolic", "symbolic"]
    second = alleles(got[1][1], 2)
    assert len(second) == 1 and precheck(second[0]) == "skipped"
    assert precheck(Allele("chr20", 1, "A", "G]chr1:5]")) == "symbolic"
    assert precheck(Allele("chr20", 1, "R", "G")) == "skipped"


def test_bcf_and_gzip_inputs(tmp_path: Path, resources: Path):
    reader = open_vcf(resources / "demo.vcf.gz")
    assert reader.kind == "gzip" and reader.has_index() and reader.samples == ["PROBAND"]
    assert sum(1 for _ in reader.records("chr20:96000-97000")) == 1
    bcf = tmp_path / "demo.bcf"
    writer = cyvcf2.Writer(str(bcf), cyvcf2.VCF(str(resources / "demo.vcf.gz")), mode="wb")
    for variant in cyvcf2.VCF(str(resources / "demo.vcf.gz")):
        writer.write_record(variant)
    writer.close()
    reader = open_vcf(bcf)
    assert reader.kind == "bcf" and reader.where(3) == f"{bcf}: record 3"
    assert sum(1 for _ in reader.records()) == 466


def test_bgzf_writer_and_index(tmp_path: Path):
    text = HEADER + "".join(f"chr20\t{p}\t.\tA\tG\t.\t.\t.\n" for p in range(1, 30_000))
    path = tmp_path / "x.vcf.gz"
    with open(path, "wb") as raw:
        writer = bgzf_writer(raw)
        writer.write(text.encode())
        writer.close()
    assert gzip.decompress(path.read_bytes()).decode() == text
    assert path.read_bytes().endswith(
        bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
    )
    assert index_vcf_gz(path) == Path(str(path) + ".tbi")
    assert [v.POS for v in cyvcf2.VCF(str(path))("chr20:20000-20002")] == [20000, 20001, 20002]


def test_vcf_output_is_atomic(tmp_path: Path):
    source = write(tmp_path / "in.vcf", "chr20\t100\t.\tA\tG\t.\t.\t.\n")
    reader = open_vcf(source)
    add_rank_header(reader)
    add_target_header(reader)
    target = tmp_path / "out.vcf.gz"
    output = VcfOutput(target, reader, "z", extra_header_lines=["##note=x"])
    for _, variant in reader.records():
        variant.INFO["BIOBLIP_RANK"] = 1
        output.write(variant)
    assert not target.exists()  # only the temp file until close()
    assert output.close() == target
    text = gzip.decompress(target.read_bytes()).decode()
    assert "##note=x" in text and "ID=BIOBLIP_TARGET,Number=.,Type=String" in text
    assert text.endswith("chr20\t100\t.\tA\tG\t.\t.\tBIOBLIP_RANK=1\n")
    assert Path(str(target) + ".tbi").exists()
    aborted = VcfOutput(tmp_path / "never.vcf", open_vcf(source))
    aborted.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.vcf", "out.vcf.gz", "out.vcf.gz.tbi"]


def test_concat_checks_headers(tmp_path: Path):
    a = write(tmp_path / "a.vcf", "chr20\t100\t.\tA\tG\t.\t.\t.\n")
    b = write(tmp_path / "b.vcf", "chr20\t200\t.\tA\tG\t.\t.\t.\n")
    assert concat_vcfs([str(a), str(b)], str(tmp_path / "ab.vcf")) == 2
    assert [v.POS for v in cyvcf2.VCF(str(tmp_path / "ab.vcf"))] == [100, 200]
    other = write(
        tmp_path / "c.vcf",
        "chr20\t300\t.\tA\tG\t.\t.\tX=1\n",
        HEADER.replace("#CHROM", '##INFO=<ID=X,Number=1,Type=Integer,Description="x">\n#CHROM'),
    )
    with pytest.raises(BiblipError, match="INFO/FORMAT header lines differ"):
        concat_vcfs([str(a), str(other)], str(tmp_path / "ac.vcf"))
    assert not (tmp_path / "ac.vcf").exists()


def test_open_errors(tmp_path: Path):
    with pytest.raises(BiblipError, match="file not found"):
        open_vcf(tmp_path / "missing.vcf")
    with pytest.raises(BiblipError, match="is a directory"):
        open_vcf(tmp_path)
