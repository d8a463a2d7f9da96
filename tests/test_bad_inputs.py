"""Every malformed or edge-case VCF in tests/data/bad gets a defined outcome (issue 8).

Outcomes: an error (exit code + message fragment naming file and record), or annotated rows whose
consequence / status (the TSV's `status` column carries the status of unannotated alleles) we assert.
The table runs through `run_annotate` with one shared bundle (fast); a few cases also run through
the real `biblip` command to check the one-line error, the exit code and that no output is left.
"""

from __future__ import annotations

import csv
import logging
import os
import subprocess
import sys
from pathlib import Path

import cyvcf2
import pytest

from biblip_cli.commands.annotate import run_annotate
from biblip_cli.commands.annotate_options import AnnotateOptions
from biblip_cli.errors import BiblipError

BAD = Path(__file__).resolve().parent / "data" / "bad"
MISSENSE = ("C", "T", "missense_variant", "")  # chr20:96130 C>T, DEFB125 p.His62Tyr

# file -> ("error", exit code, message fragment) | ("rows", [(ref, alt, consequence, status), ...])
CASES: dict[str, tuple] = {
    "missing_header.vcf": ("error", 1, "line 1: missing or garbled header"),
    "garbled_header.vcf": ("error", 1, "line 3: garbled #CHROM header line"),
    "no_chrom_line.vcf": ("error", 1, "line 3: header has no '#CHROM' line"),
    "wrong_column_count.vcf": ("error", 1, "line 4 (record 1): wrong number of columns: 4"),
    "extra_columns_no_samples.vcf": ("error", 1, "line 4 (record 1): wrong number of columns: 10"),
    "spaces_not_tabs.vcf": ("error", 1, "line 4 (record 1): wrong number of columns: 1"),
    "nonnumeric_pos.vcf": ("error", 1, "line 5 (record 2): POS is not a number: '96l31'"),
    "truncated.vcf.gz": ("error", 1, "truncated or corrupt compressed data"),
    "empty.vcf": ("error", 1, "empty file"),
    "bed_as_vcf.vcf": ("error", 1, "looks like a BED file"),
    "fasta_as_vcf.vcf": ("error", 1, "FASTA file, not a VCF"),
    "binary_garbage.vcf": ("error", 1, "missing or garbled header"),
    "does_not_exist.vcf": ("error", 1, "file not found"),
    "blank_line.vcf": ("error", 1, "line 4 (record 2): blank line among the records"),
    "trailing_blank_line.vcf": ("error", 1, "line 4 (record 2): blank line among the records"),
    "comment_among_records.vcf": ("error", 1, "line 6: comment line among the records"),
    "header_only.vcf": ("rows", []),
    "nonstandard_numbers.vcf": (
        "rows",
        [
            ("A", "G", "", "unknown_contig"),
            ("A", "T", "", "unknown_contig"),
            ("A", "G", "", "unknown_contig"),
        ],
    ),
    "pos_beyond_contig.vcf": ("rows", [MISSENSE, ("A", "G", "", "out_of_bounds")]),
    "pos_zero.vcf": ("rows", [("A", "G", "", "out_of_bounds"), MISSENSE]),
    "ref_mismatch.vcf": ("rows", [("G", "T", "coding_sequence_variant", "ref_mismatch")]),
    "lowercase_bases.vcf": ("rows", [MISSENSE]),
    "iupac_ref.vcf": ("rows", [("Y", "T", "", "skipped")]),
    "iupac_alt.vcf": ("rows", [("C", "R", "", "skipped")]),
    "n_ref.vcf": ("rows", [("N", "T", "coding_sequence_variant", "")]),
    "symbolic_del.vcf": ("rows", [("C", "<DEL>", "", "symbolic")]),
    "symbolic_ins.vcf": ("rows", [("C", "<INS>", "", "symbolic")]),
    "star_allele.vcf": ("rows", [MISSENSE, ("C", "*", "", "symbolic")]),
    "breakend.vcf": ("rows", [("C", "C]chr20:500000]", "", "symbolic")]),
    "missing_alt.vcf": ("rows", [("C", ".", "", "skipped"), MISSENSE]),
    "duplicate_records.vcf": ("rows", [MISSENSE, MISSENSE]),
    "unsorted.vcf": ("rows", [MISSENSE, ("G", "A", "upstream_gene_variant", "")]),
    "crlf.vcf": ("rows", [MISSENSE]),
    "no_samples.vcf": ("rows", [MISSENSE]),
    "missing_gt.vcf": ("rows", [MISSENSE]),
    "info_not_in_header.vcf": ("rows", [MISSENSE]),
    "input.bcf": ("rows", [MISSENSE]),
    "plain_gzip.vcf.gz": ("rows", [MISSENSE]),
    "chr_prefix_mismatch.vcf": ("rows", [MISSENSE]),
    "unknown_contig.vcf": (
        "rows",
        [
            ("A", "G", "", "unknown_contig"),
            ("A", "G", "", "unknown_contig"),
            ("A", "G", "", "unknown_contig"),
            MISSENSE,
        ],
    ),
    "chrM_MT.vcf": ("rows", [("A", "G", "", "unknown_contig"), ("A", "G", "", "unknown_contig"), MISSENSE]),
}


@pytest.fixture(scope="module")
def bundle():
    from biblip_cli.bundle import Bundle

    return Bundle.open()


def _annotate(bundle, source: Path | str, tmp_path: Path, **kw) -> tuple[list[dict], Path]:
    out = tmp_path / "out.vcf"
    tsv = tmp_path / "out.tsv"
    run_annotate(AnnotateOptions(str(source), str(out), no_model=True, tsv=tsv, **kw), bundle=bundle)
    with open(tsv) as handle:
        return list(csv.DictReader(handle, delimiter="\t")), out


def test_corpus_is_covered():
    files = {p.name for p in BAD.iterdir()}
    assert files <= set(CASES), f"add an expected outcome for {sorted(files - set(CASES))}"
    assert len(CASES) >= 30


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input(name: str, bundle, tmp_path: Path, caplog):
    expected = CASES[name]
    source = BAD / name
    if expected[0] == "error":
        _, code, fragment = expected
        with pytest.raises(BiblipError) as info:
            _annotate(bundle, source, tmp_path)
        assert info.value.exit_code == code
        line = info.value.one_line()
        assert fragment in line
        assert line.startswith(str(source)) and "\n" not in line and info.value.hint
        assert list(tmp_path.iterdir()) == [], "no output (final or partial) may be left"
        return
    with caplog.at_level(logging.WARNING):
        rows, out = _annotate(bundle, source, tmp_path)
    got = [(r["ref"], r["alt"], r["consequence"], r["status"]) for r in rows]
    assert got == expected[1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tsv", "out.tsv.provenance.json", "out.vcf"]
    records = list(cyvcf2.VCF(str(out)))
    assert len(records) == len(list(cyvcf2.VCF(str(source))))  # every input record is written
    if name == "unknown_contig.vcf":  # one warning per contig, not per record
        warned = [r.getMessage() for r in caplog.records if "not in the bundle" in r.getMessage()]
        assert len(warned) == 2 and "'chr1'" in warned[0] and "'chrUn_x'" in warned[1]


def test_unannotated_records_pass_through_unchanged(bundle, tmp_path: Path):
    _, out = _annotate(bundle, BAD / "unknown_contig.vcf", tmp_path)
    body = [line for line in out.read_text().splitlines() if not line.startswith("#")]
    source = [
        line for line in (BAD / "unknown_contig.vcf").read_text().splitlines() if not line.startswith("#")
    ]
    assert body[:3] == source[:3]
    assert "BIOBLIP=T|missense_variant|MODERATE|DEFB125|" in body[3]


def test_pass_through_is_byte_identical(bundle, tmp_path: Path):
    """QUAL `50.00`, `1e3`, AF `0.100` are kept as written (htslib alone would rewrite them)."""
    _, out = _annotate(bundle, BAD / "nonstandard_numbers.vcf", tmp_path)
    source = (BAD / "nonstandard_numbers.vcf").read_text()
    assert body_lines(out.read_text()) == body_lines(source)


def body_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.startswith("#")]


def test_pass_through_keeps_unknown_info(bundle, tmp_path: Path):
    _, out = _annotate(bundle, BAD / "info_not_in_header.vcf", tmp_path)
    record = next(line for line in out.read_text().splitlines() if not line.startswith("#"))
    assert record.split("\t")[7].startswith("FOO=1;BAR;BIOBLIP=T|missense_variant|MODERATE|DEFB125|")


def test_long_indel_over_10kb(bundle, tmp_path: Path):
    genome = bundle.genome
    start = 96_000
    ref = genome.fetch("chr20", start - 1, start - 1 + 12_001)
    vcf = tmp_path / "long.vcf"
    vcf.write_text(
        "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
        f"chr20\t{start}\t.\t{ref}\t{ref[0]}\t.\t.\t.\n"
        f"chr20\t{start}\t.\t{ref[0]}\t{ref[:11_000]}\t.\t.\t.\n"
    )
    rows, _ = _annotate(bundle, vcf, tmp_path)
    deletion = [r for r in rows if len(r["ref"]) > 10_000]
    assert deletion and all(r["status"] == "" for r in deletion)
    assert any("DEFB125" == r["symbol"] for r in deletion)  # the 12 kb deletion covers DEFB125 exon 2
    assert any(len(r["alt"]) == 11_000 and r["status"] == "" for r in rows)


def test_many_samples(bundle, tmp_path: Path):
    samples = [f"S{i}" for i in range(1000)]
    vcf = tmp_path / "many.vcf"
    header = "##fileformat=VCFv4.2\n" + '##FORMAT=<ID=GT,Number=1,Type=String,Description="g">\n'
    columns = "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(samples) + "\n"
    record = "chr20\t96130\t.\tC\tT\t.\tPASS\t.\tGT\t" + "\t".join(["0/1", "0/0"] * 500) + "\n"
    vcf.write_text(header + columns + record)
    rows, out = _annotate(bundle, vcf, tmp_path)
    assert [(r["ref"], r["alt"], r["consequence"], r["status"]) for r in rows] == [MISSENSE]
    variant = next(iter(cyvcf2.VCF(str(out))))
    assert len(variant.genotypes) == 1000 and variant.genotypes[0][:2] == [0, 1]


def test_unsorted_bgzip_output_warns_no_index(bundle, tmp_path: Path, caplog):
    out = tmp_path / "out.vcf.gz"
    with caplog.at_level(logging.WARNING):
        run_annotate(
            AnnotateOptions(str(BAD / "unsorted.vcf"), str(out), no_model=True, output_type="z"),
            bundle=bundle,
        )
    assert out.exists() and not Path(str(out) + ".tbi").exists()
    assert any("no tabix index" in r.getMessage() for r in caplog.records)
    assert len(list(cyvcf2.VCF(str(out)))) == 2


def test_missing_bundle_file(tmp_path: Path, resources: Path):
    import shutil

    bundle_dir = tmp_path / "bundle"
    shutil.copytree(resources / "demo_bundle", bundle_dir)
    from biblip_cli.bundle import Bundle

    proteins = Bundle.open(bundle_dir).path("proteins")
    assert proteins is not None
    proteins.unlink()
    out = tmp_path / "out.vcf"
    with pytest.raises(BiblipError, match="bundle file for 'proteins' is missing"):
        run_annotate(
            AnnotateOptions(str(BAD / "no_samples.vcf"), str(out), bundle_dir=bundle_dir, no_model=True)
        )
    assert not out.exists() and not Path(str(out) + ".partial").exists()


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "BIBLIP_DEBUG"}
    return subprocess.run(
        [sys.executable, "-m", "biblip_cli.cli", *args],
        cwd=cwd,
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


@pytest.mark.parametrize("name", ["nonnumeric_pos.vcf", "truncated.vcf.gz"])
def test_cli_one_line_error_no_traceback(name: str, tmp_path: Path):
    out = tmp_path / "out.vcf.gz"
    done = _cli("annotate", str(BAD / name), "--no-model", "-o", str(out), "-O", "z", cwd=tmp_path)
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith("INFO ")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {BAD / name}: line ")
    assert "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_cli_debug_shows_traceback(tmp_path: Path):
    done = _cli("--debug", "annotate", str(BAD / "empty.vcf"), "--no-model", cwd=tmp_path)
    assert done.returncode != 0 and "Traceback" in done.stderr and "BiblipError" in done.stderr


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("empty.vcf", "error: <stdin>: empty file"),
        ("nonnumeric_pos.vcf", "error: <stdin>: line 5 (record 2): POS is not a number"),
        ("truncated.vcf.gz", "error: <stdin>: line 2332 (record 2329): cannot parse this record"),
    ],
)
def test_stdin_errors(name: str, fragment: str, tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if k != "BIBLIP_DEBUG"}
    done = subprocess.run(
        [sys.executable, "-m", "biblip_cli.cli", "-q", "annotate", "-", "--no-model", "-o", "out.vcf"],
        stdin=open(BAD / name, "rb"),  # noqa: SIM115 - closed with the process
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stderr.startswith(fragment) and done.stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_cli_unknown_option_is_a_usage_error(tmp_path: Path):
    done = _cli("annotate", str(BAD / "no_samples.vcf"), "--no-such-option", cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr and "No such option" in done.stderr
