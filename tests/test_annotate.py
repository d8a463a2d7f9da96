"""`biblip annotate` end to end on the demo VCF and bundle (the real consequence spine)."""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import cyvcf2
import numpy as np
import pytest

from biblip_cli.commands.annotate import run_annotate
from biblip_cli.commands.annotate_options import AnnotateOptions
from biblip_cli.commands.annotate_rows import TSV_COLUMNS
from biblip_cli.errors import UsageError
from biblip_cli.io.vcf_compress import infer_output_type
from biblip_cli.io.vcf_header import BIOBLIP_COLUMNS
from biblip_cli.io.vcf_regions import ShardPlan, parse_region, parse_shard
from biblip_cli.io.vcf_write import concat_vcfs


@pytest.fixture(scope="module")
def bundle():
    from biblip_cli.bundle import Bundle

    return Bundle.open()


@pytest.fixture(scope="module")
def demo(resources: Path) -> Path:
    return resources / "demo.vcf.gz"


@pytest.fixture(scope="module")
def whole(bundle, demo: Path, tmp_path_factory) -> tuple[Path, Path, object]:
    tmp = tmp_path_factory.mktemp("whole")
    out, tsv = tmp / "whole.vcf", tmp / "whole.tsv"
    summary = run_annotate(AnnotateOptions(str(demo), str(out), no_model=True, tsv=tsv), bundle=bundle)
    return out, tsv, summary


def body(path: Path) -> list[str]:
    opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
    with opener(path, "rt") as handle:
        return [line for line in handle if not line.startswith("#")]


def test_demo_annotation(whole, demo: Path, bundle):
    out, _tsv, summary = whole
    n_in = sum(1 for _ in cyvcf2.VCF(str(demo)))
    reader = cyvcf2.VCF(str(out))
    info = reader.get_header_type("BIOBLIP")
    assert info["Number"] == "." and info["Type"] == "String"
    assert info["Description"].endswith("Format: " + "|".join(BIOBLIP_COLUMNS) + '"')
    assert "##biblip_version=" in reader.raw_header and "##biblip_command=" in reader.raw_header
    manifest = hashlib.sha256((Path(bundle.dir) / "manifest.json").read_bytes()).hexdigest()
    provenance = [
        line for line in reader.raw_header.splitlines() if line.startswith("##biblip_") and "=<" in line
    ]
    assert provenance == [
        f'##biblip_bundle=<name="biblip-demo GRCh38 chr20:1-10,000,000",build="GRCh38",manifest_sha256="{manifest}">',
        '##biblip_model=<sha256="none">',  # --no-model
        '##biblip_llm=<name="none",sha256="none">',
        '##biblip_hpo=<release="hp/releases/2025-01-16">',
    ]
    sidecar = json.loads(Path(str(_tsv) + ".provenance.json").read_text())
    assert sidecar["bundle"]["manifest_sha256"] == manifest and sidecar["model"] == {"sha256": "none"}
    records = list(reader)
    assert len(records) == n_in == summary.records == 466
    assert summary.alleles == 467 and summary.by_status["ok"] == 467
    by_pos = {r.POS: r for r in records}
    entries = by_pos[96130].INFO["BIOBLIP"].split(",")
    fields = dict(zip(BIOBLIP_COLUMNS, entries[0].split("|")))
    assert fields["SYMBOL"] == fields["Gene"] == "DEFB125" and fields["Consequence"] == "missense_variant"
    assert (fields["IMPACT"], fields["Feature_type"], fields["Feature"], fields["BIOTYPE"]) == (
        "MODERATE", "Transcript", "DEFB125.canonical", "protein_coding",
    )  # fmt: skip
    assert (
        fields["HGVSp"] == "DEFB125.canonical:p.His62Tyr"
        and fields["HGVSc"] == "DEFB125.canonical:c.184C>T"
        and fields["HGVSg"] == "chr20:g.96130C>T"
        and (fields["cDNA_position"], fields["CDS_position"], fields["Protein_position"])
        == ("184", "184", "62")
        and fields["Amino_acids"] == "H/Y"
        and (fields["EXON"], fields["STRAND"], fields["CANONICAL"], fields["MANE_SELECT"])
        == ("2/2", "1", "YES", "")
    )
    assert fields["Pathogenicity"] == ""  # --no-model
    multi = [e.split("|")[0] for e in by_pos[92728].INFO["BIOBLIP"].split(",")]
    assert multi == ["T", "A"]  # one entry per ALT, record not split
    assert by_pos[92728].ALT == ["T", "A"] and len(body(out)) == n_in


def test_tsv_rows(whole):
    _, tsv, summary = whole
    with open(tsv) as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    assert tuple(rows[0].keys()) == TSV_COLUMNS
    assert len({(r["pos"], r["alt"]) for r in rows}) == summary.alleles
    intergenic = [r for r in rows if r["consequence"] == "intergenic_variant"]
    assert intergenic and all(r["gene"] == "" for r in intergenic)
    row = next(r for r in rows if r["pos"] == "96130")
    assert (row["symbol"], row["hgvsp"], row["hgvsc"], row["codons"]) == (
        "DEFB125",
        "DEFB125.canonical:p.His62Tyr",
        "DEFB125.canonical:c.184C>T",
        "Cat/Tat",
    )


@pytest.mark.skipif(not shutil.which("bcftools"), reason="bcftools not installed")
def test_split_vep_reads_bioblip(whole):
    """A VEP-style pipeline's split-vep calls (docs/output.md) read BIOBLIP by VEP's field names."""
    out, _, _ = whole
    listed = subprocess.run(
        ["bcftools", "+split-vep", "-a", "BIOBLIP", "-l", str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    names = [line.split("\t")[1] for line in listed.stdout.splitlines()]
    assert tuple(names) == BIOBLIP_COLUMNS and names[:21] == [
        "Allele", "Consequence", "IMPACT", "SYMBOL", "Gene", "Feature_type", "Feature", "BIOTYPE", "EXON",
        "INTRON", "HGVSc", "HGVSp", "cDNA_position", "CDS_position", "Protein_position", "Amino_acids",
        "Codons", "STRAND", "CANONICAL", "MANE_SELECT", "HGVSg",
    ]  # fmt: skip
    done = subprocess.run(
        [
            "bcftools",
            "+split-vep",
            "-a",
            "BIOBLIP",
            "-f",
            "%POS %SYMBOL %IMPACT %HGVSc %MANE_SELECT\n",
            "-d",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    lines = done.stdout.splitlines()
    assert "96130 DEFB125 MODERATE DEFB125.canonical:c.184C>T ." in lines
    assert len(lines) >= 467
    done = subprocess.run(  # docs/output.md: the worst consequence per allele, HIGH/MODERATE only
        [
            "bcftools", "+split-vep", "-a", "BIOBLIP", "-s", "worst", "-c", "SYMBOL,Consequence,IMPACT,HGVSp",
            "-i", 'IMPACT="HIGH" || IMPACT="MODERATE"',
            "-f", "%CHROM\t%POS\t%REF\t%ALT\t%SYMBOL\t%Consequence\t%HGVSp\n", str(out),
        ],
        capture_output=True,
        text=True,
        check=True,
    )  # fmt: skip
    rows = [line.split("\t") for line in done.stdout.splitlines()]
    assert ["chr20", "96130", "C", "T", "DEFB125", "missense_variant", "DEFB125.canonical:p.His62Tyr"] in rows
    assert len(rows) >= 150 and all(row[5].startswith(("missense", "frameshift", "inframe")) for row in rows)


def test_stdin_to_stdout(whole, demo: Path, tmp_path: Path):
    out, _, _ = whole
    plain = gzip.decompress(demo.read_bytes())
    done = subprocess.run(
        [sys.executable, "-m", "biblip_cli.cli", "-q", "annotate", "-", "-o", "-", "--no-model"],
        input=plain,
        capture_output=True,
        check=False,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode()
    lines = done.stdout.decode().splitlines(keepends=True)
    assert lines[0].startswith("##fileformat=VCF")
    assert [line for line in lines if not line.startswith("#")] == body(out)


def test_bgzip_output_with_index(bundle, demo: Path, tmp_path: Path, whole):
    out = tmp_path / "a.vcf.gz"
    run_annotate(AnnotateOptions(str(demo), str(out), no_model=True, output_type="z"), bundle=bundle)
    assert Path(str(out) + ".tbi").exists()
    assert body(out) == body(whole[0])
    in_region = list(cyvcf2.VCF(str(out))("chr20:96000-97000"))
    assert [v.POS for v in in_region] == [96130]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.vcf.gz", "a.vcf.gz.tbi"]


@pytest.mark.parametrize("name,given,kind", [("a.bcf", None, "b"), ("a.vcf.gz", None, "z"), ("a.vcf", None, "v"),
                                             ("a.bcf", "u", "u"), ("-", None, "v"), ("a.vcf.bgz", None, "z")])  # fmt: skip
def test_output_type_from_name(name: str, given, kind: str):
    assert infer_output_type(name, given) == kind


def _bcf_records(path: Path) -> list[tuple]:
    return [(v.CHROM, v.POS, v.REF, tuple(v.ALT), v.INFO.get("BIOBLIP")) for v in cyvcf2.VCF(str(path))]


@pytest.mark.skipif(not shutil.which("bcftools"), reason="bcftools not installed")
def test_bcf_output(bundle, demo: Path, tmp_path: Path, whole):
    """`out.bcf` is BCF (bcftools view reads it, region queries through its .csi with --write-index); -O u too;
    the records equal the VCF run's."""
    expected = _bcf_records(whole[0])
    out = tmp_path / "out.bcf"
    opts = AnnotateOptions(str(demo), str(out), no_model=True, output_type=infer_output_type(str(out), None))
    opts.write_index = True
    run_annotate(opts, bundle=bundle)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bcf", "out.bcf.csi"]
    assert out.read_bytes()[:2] == b"\x1f\x8b" and gzip.decompress(out.read_bytes())[:3] == b"BCF"
    assert _bcf_records(out) == expected
    view = subprocess.run(["bcftools", "view", "-H", str(out)], capture_output=True, text=True, check=True)
    assert len(view.stdout.splitlines()) == 466
    region = subprocess.run(
        ["bcftools", "view", "-H", "-r", "chr20:96000-97000", str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert [line.split("\t")[1] for line in region.stdout.splitlines()] == ["96130"]
    raw = tmp_path / "raw.bcf"
    run_annotate(AnnotateOptions(str(demo), str(raw), no_model=True, output_type="u"), bundle=bundle)
    assert _bcf_records(raw) == expected and not Path(str(raw) + ".csi").exists()
    merged = tmp_path / "merged.bcf"
    concat_vcfs([str(out)], str(merged), "b", write_index=True)
    assert _bcf_records(merged) == expected and Path(str(merged) + ".csi").exists()


def test_bcf_to_stdout(demo: Path, tmp_path: Path, whole):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "biblip_cli.cli",
            "-q",
            "annotate",
            str(demo),
            "-o",
            "-",
            "-O",
            "b",
            "--no-model",
        ],
        capture_output=True,
        check=False,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode()
    got = tmp_path / "stdout.bcf"
    got.write_bytes(done.stdout)
    assert _bcf_records(got) == _bcf_records(whole[0])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stdout.bcf"]


def test_write_index_needs_a_compressed_output(bundle, demo: Path, tmp_path: Path):
    opts = AnnotateOptions(
        str(demo), str(tmp_path / "o.vcf"), no_model=True, output_type="v", write_index=True
    )
    with pytest.raises(UsageError, match="--write-index needs a compressed output"):
        run_annotate(opts, bundle=bundle)
    with pytest.raises(UsageError, match="unknown --output-type 'x'"):
        run_annotate(
            AnnotateOptions(str(demo), str(tmp_path / "o.vcf"), no_model=True, output_type="x"), bundle=bundle
        )
    assert list(tmp_path.iterdir()) == []


def test_region_indexed_equals_streamed(bundle, demo: Path, tmp_path: Path):
    plain = tmp_path / "plain.vcf"
    plain.write_bytes(gzip.decompress(demo.read_bytes()))
    results = []
    for source in (demo, plain):
        out = tmp_path / f"r_{source.name}.vcf"
        run_annotate(
            AnnotateOptions(str(source), str(out), no_model=True, region="chr20:1,000,000-2,000,000"),
            bundle=bundle,
        )
        results.append(body(out))
    assert results[0] == results[1]
    positions = [int(line.split("\t")[1]) for line in results[0]]
    assert positions and all(1_000_000 <= p <= 2_000_000 for p in positions)
    # "20:..." finds the chr20 records too
    out = tmp_path / "alias.vcf"
    run_annotate(
        AnnotateOptions(str(demo), str(out), no_model=True, region="20:1000000-2000000"), bundle=bundle
    )
    assert body(out) == results[0]


def test_shards_concatenate_to_whole(bundle, demo: Path, tmp_path: Path, whole):
    parts = []
    for index in (1, 2, 3):
        out = tmp_path / f"shard{index}.vcf"
        run_annotate(AnnotateOptions(str(demo), str(out), no_model=True, shard=f"{index}/3"), bundle=bundle)
        parts.append(out)
    sizes = [len(body(p)) for p in parts]
    assert sum(sizes) == 466 and min(sizes) > 50  # balanced by bp over the bundle's 10 Mb
    merged = tmp_path / "merged.vcf"
    assert concat_vcfs([str(p) for p in parts], str(merged)) == 466
    assert body(merged) == body(whole[0])
    if shutil.which("bcftools"):
        done = subprocess.run(
            ["bcftools", "concat", *map(str, parts)], capture_output=True, text=True, check=True
        )
        assert [line for line in done.stdout.splitlines(keepends=True) if not line.startswith("#")] == body(
            whole[0]
        )


def test_split_input_gives_identical_records(bundle, demo: Path, tmp_path: Path, whole):
    lines = gzip.decompress(demo.read_bytes()).decode().splitlines(keepends=True)
    header = [line for line in lines if line.startswith("#")]
    records = [line for line in lines if not line.startswith("#")]
    halves = []
    for index, chunk in enumerate((records[:200], records[200:])):
        source = tmp_path / f"half{index}.vcf"
        source.write_text("".join(header + chunk))
        out = tmp_path / f"half{index}.out.vcf"
        run_annotate(AnnotateOptions(str(source), str(out), no_model=True), bundle=bundle)
        halves.extend(body(out))
    assert halves == body(whole[0])


class FakeEngine:
    """Stands in for engine.engine.Engine: fixed scores, a text with characters INFO must escape."""

    def __init__(self) -> None:
        self.seen = 0

    def pathogenicity(self, annotations) -> np.ndarray:
        self.seen += len(annotations)
        return np.array([0.25 if a.allele.alt == "T" else 0.75 for a in annotations])

    def explain(self, annotations, probabilities=None) -> list[str]:
        return [f"{a.allele.key} is here; score=high, ok|done" for a in annotations]


def test_model_scores_and_explain(bundle, tmp_path: Path, repo: Path):
    source = repo / "tests" / "data" / "bad" / "ref_mismatch.vcf"
    text = source.read_text() + "chr20\t96130\t.\tC\tT,A\t.\tPASS\t.\n"
    vcf = tmp_path / "in.vcf"
    vcf.write_text(text)
    out, tsv = tmp_path / "out.vcf", tmp_path / "out.tsv"
    engine = FakeEngine()
    run_annotate(AnnotateOptions(str(vcf), str(out), explain=True, tsv=tsv), bundle=bundle, engine=engine)
    assert engine.seen == 2  # the REF mismatch is flagged, not scored
    records = list(cyvcf2.VCF(str(out)))
    mismatch = dict(zip(BIOBLIP_COLUMNS, records[0].INFO["BIOBLIP"].split("|")))
    assert (mismatch["Pathogenicity"], mismatch["Status"]) == ("", "ref_mismatch")
    entries = [dict(zip(BIOBLIP_COLUMNS, e.split("|"))) for e in records[1].INFO["BIOBLIP"].split(",")]
    assert [(e["Allele"], e["Pathogenicity"]) for e in entries] == [("T", "0.2500"), ("A", "0.7500")]
    explain = records[1].INFO["BIOBLIP_EXPLAIN"].split(",")
    assert explain[0] == "chr20:96130:C:T_is_here%3B_score%3Dhigh%2C_ok%7Cdone"
    assert records[0].INFO.get("BIOBLIP_EXPLAIN") is None
    with open(tsv) as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    assert rows[-1]["explanation"] == "chr20:96130:C:A is here; score=high, ok|done"
    assert rows[-1]["pathogenicity"] == "0.7500" and rows[0]["pathogenicity"] == ""


def test_region_and_shard_parsing():
    assert parse_region("chr20:1,000-2,000") == ("chr20", 1000, 2000)
    assert parse_region("chr20") == ("chr20", 1, None)
    assert parse_shard("2/8") == (2, 8)
    for bad in ("9/8", "0/3", "x"):
        with pytest.raises(UsageError):
            parse_shard(bad)
    with pytest.raises(UsageError):
        parse_region("chr20:5-1")
    plan = ShardPlan(1, 2, [("chr20", 100), ("chr21", 0)], {"chr20": 50, "chr21": 50})
    assert [plan.shard_of("chr20", p) for p in (1, 50, 500)] == [1, 1, 1]
    assert plan.shard_of("chr21", 1) == 2 and plan.shard_of("chrX", 1) == 2


def test_usage_errors(bundle, demo: Path):
    with pytest.raises(UsageError, match="--resume needs an output file"):
        run_annotate(AnnotateOptions(str(demo), "-", no_model=True, resume=True), bundle=bundle)
    with pytest.raises(UsageError, match="output-type"):
        run_annotate(AnnotateOptions(str(demo), "-", no_model=True, output_type="bcf"), bundle=bundle)


def test_reannotating_output_replaces_fields(bundle, whole, tmp_path: Path):
    again = tmp_path / "again.vcf"
    run_annotate(AnnotateOptions(str(whole[0]), str(again), no_model=True), bundle=bundle)
    assert body(again) == body(whole[0])
    assert again.read_text().count("##INFO=<ID=BIOBLIP,") == 1


def test_progress_lines_when_stderr_is_a_file(demo: Path, tmp_path: Path):
    """stderr to a file: periodic `records, alleles/s, ETA` log lines (the total from the index), no bars."""
    import os
    import re

    err = tmp_path / "err.log"
    env = {**os.environ, "BIBLIP_PROGRESS_INTERVAL": "0"}
    cmd = [sys.executable, "-m", "biblip_cli.cli", "annotate", str(demo), "--no-model", "--batch-size", "100"]
    with open(err, "wb") as handle:
        done = subprocess.run(
            [*cmd, "-o", str(tmp_path / "o.vcf")],
            stderr=handle,
            env=env,
            cwd=tmp_path,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0
    text = err.read_text()
    lines = [line for line in text.splitlines() if "biblip.progress" in line]
    pattern = r"INFO biblip\.progress: annotate: [\d,]+/466 records, [\d,]+ alleles, [\d,]+ alleles/s, ETA \d+:\d\d:\d\d"
    assert len(lines) >= 3 and all(re.fullmatch(pattern, line) for line in lines), text
    assert "\r" not in text and "it/s" not in text and "\x1b[" not in text  # no tqdm/rich bars, no colour
    quiet = subprocess.run(
        [sys.executable, "-m", "biblip_cli.cli", "-q", *cmd[3:], "-o", str(tmp_path / "q.vcf")],
        capture_output=True, env=env, cwd=tmp_path, timeout=120, check=False,
    )  # fmt: skip
    assert quiet.returncode == 0 and quiet.stderr == b""
