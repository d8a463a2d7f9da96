"""Bundle format: manifest, path safety, opening, validate/info through the CLI, building from shared data."""

from __future__ import annotations

import gzip
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from functools import partial
from pathlib import Path

import pytest
from typer.testing import CliRunner

from biblip_cli.bundle import Bundle, default_bundle_dir
from biblip_cli.bundle.build import BuildInputs, build_bundle, fetch_input
from biblip_cli.bundle.knowledge import load_knowledge, load_proteins
from biblip_cli.bundle.manifest import (
    FileEntry,
    Manifest,
    read_manifest,
    safe_path,
    write_manifest,
)
from biblip_cli.bundle.subsets import Region
from biblip_cli.bundle.validate import FAIL, OK, validate_bundle
from biblip_cli.cli import app
from biblip_cli.errors import BiblipError
from biblip_cli.io.textfiles import sha256_file

runner = CliRunner()


@pytest.fixture(scope="module")
def demo(resources) -> Path:
    return resources / "demo_bundle"


@pytest.fixture()
def demo_copy(demo, tmp_path) -> Path:
    dest = tmp_path / "bundle"
    shutil.copytree(demo, dest)
    return dest


def test_manifest_round_trip(tmp_path):
    manifest = Manifest(
        name="t",
        build="GRCh38",
        files={"fasta": FileEntry("genome/g.fa.gz", "ab" * 32, "src.fa", "v1", 10)},
        contig_aliases={"20": "chr20", "MT": "chrM"},
        contigs={"chr20": 100},
        regions=["chr20:1-100"],
    )
    write_manifest(tmp_path, manifest)
    assert read_manifest(tmp_path) == manifest
    assert json.loads((tmp_path / "manifest.json").read_text())["files"]["fasta"]["sha256"] == "ab" * 32


@pytest.mark.parametrize("rel", ["../x", "/etc/passwd", "a/../../x", "", "C:/x"])
def test_safe_path_rejects_escapes(tmp_path, rel):
    with pytest.raises(BiblipError):
        safe_path(tmp_path, rel)


def test_safe_path_rejects_symlink_out(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "link").symlink_to("/etc/passwd")
    with pytest.raises(BiblipError, match="outside the bundle"):
        safe_path(tmp_path / "b", "link")
    (tmp_path / "b" / "ok.txt").write_text("x")
    assert safe_path(tmp_path / "b", "ok.txt") == (tmp_path / "b").resolve() / "ok.txt"


def test_manifest_with_dotdot_is_rejected(demo_copy):
    data = json.loads((demo_copy / "manifest.json").read_text())
    data["files"]["gtf"]["path"] = "../../etc/passwd"
    (demo_copy / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(BiblipError, match="escapes the bundle"):
        Bundle.open(demo_copy)
    checks = validate_bundle(demo_copy)
    assert checks[0].status == FAIL


def test_open_errors_are_clear(tmp_path, demo_copy):
    with pytest.raises(BiblipError, match="bundle directory not found"):
        Bundle.open(tmp_path / "nope")
    with pytest.raises(BiblipError, match="no manifest.json"):
        Bundle.open(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(BiblipError, match="not valid JSON"):
        Bundle.open(tmp_path)
    (demo_copy / "genes" / "proteins.fa.gz").unlink()
    with pytest.raises(BiblipError, match="'proteins' is missing") as err:
        Bundle.open(demo_copy)
    assert "proteins.fa.gz" in err.value.where


def test_open_demo_parts(demo):
    bundle = Bundle.open(demo, verify=True)
    assert bundle.build == "GRCh38"
    assert bundle.manifest.contig_aliases["20"] == "chr20"
    assert bundle.path("fasta") == demo.resolve() / "genome" / "genome.fa.gz"
    assert bundle.path("text_embeddings") == demo.resolve() / "knowledge" / "text_embeddings.safetensors"
    assert bundle.proteins["PRNP"].startswith("MANLGCWMLVLFVATWSDLGLC")
    assert len(bundle.proteins) == 102
    prnp = bundle.knowledge["PRNP"]
    assert prnp.name.startswith("prion protein")
    assert prnp.gene_type == "protein_coding"
    assert any("prion" in d.lower() or "Creutzfeldt" in d for d in prnp.diseases)
    assert prnp.hpo_terms and prnp.go_terms and prnp.summary.startswith("PRNP")


def test_default_bundle_dir(monkeypatch, tmp_path, demo):
    monkeypatch.delenv("BIBLIP_BUNDLE", raising=False)
    assert default_bundle_dir().resolve() == demo.resolve()
    monkeypatch.setenv("BIBLIP_BUNDLE", str(tmp_path))
    assert default_bundle_dir() == tmp_path


def test_verify_catches_altered_file(demo_copy):
    path = demo_copy / "knowledge" / "genes.tsv.gz"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    Bundle.open(demo_copy)  # cheap open does not hash
    with pytest.raises(BiblipError, match="sha256 of the 'knowledge' file"):
        Bundle.open(demo_copy, verify=True)


def test_validate_demo_ok_through_cli(demo):
    result = runner.invoke(app, ["bundle", "validate", str(demo)])
    assert result.exit_code == 0, result.output
    assert "bundle is valid" in result.output
    checks = {c.name: c for c in validate_bundle(demo)}
    assert all(c.status != FAIL for c in checks.values())
    assert checks["sha256"].status == OK
    assert "103 genes (102 coding)" in checks["GTF"].detail


def test_validate_flipped_byte_fails_with_exit_1(demo_copy):
    path = demo_copy / "genome" / "genome.fa.gz"
    data = bytearray(path.read_bytes())
    data[1_000_000] ^= 0x01
    path.write_bytes(bytes(data))
    result = runner.invoke(app, ["bundle", "validate", str(demo_copy)])
    assert result.exit_code == 1
    assert "FAIL" in result.output and "fasta" in result.output
    checks = {c.name: c for c in validate_bundle(demo_copy)}
    assert checks["sha256"].status == FAIL
    assert "genome/genome.fa.gz" in checks["sha256"].detail


def test_validate_missing_fai_and_cross_refs(demo_copy):
    (demo_copy / "genome" / "genome.fa.gz.fai").unlink()
    checks = {c.name: c for c in validate_bundle(demo_copy)}
    assert checks["files present"].status == FAIL
    assert checks["FASTA index"].status == FAIL and "samtools faidx" in checks["FASTA index"].detail


def test_validate_exit_code_via_subprocess(demo_copy):
    (demo_copy / "hpo" / "hp.obo.gz").write_bytes(b"garbage")
    proc = subprocess.run(
        [sys.executable, "-m", "biblip_cli.cli", "bundle", "validate", str(demo_copy)],
        check=False,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert "FAIL" in proc.stdout
    proc = subprocess.run(
        [sys.executable, "-m", "biblip_cli.cli", "bundle", "info", str(demo_copy / "nope")],
        check=False,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: ") and "bundle directory not found" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_info_output(demo):
    result = runner.invoke(app, ["bundle", "info", str(demo)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    out = result.output
    assert "GRCh38" in out and "chr20 10,000,000 bp" in out
    assert "103 (102 coding)" in out
    assert "2025-01-16" in out
    assert "genome/genome.fa.gz" in out


def test_demo_bundle_size(demo):
    total = sum(p.stat().st_size for p in demo.rglob("*") if p.is_file())
    assert total < 15 * 1024 * 1024


def test_hpo_data_dir_for_pyhpo(demo, tmp_path, monkeypatch):
    monkeypatch.setenv("BIBLIP_HOME", str(tmp_path))
    folder = Bundle.open(demo).hpo_data_dir()
    assert folder.parent == tmp_path / "hpo"
    assert (folder / "hp.obo").read_text().startswith("format-version")
    assert "gene_symbol" in (folder / "genes_to_phenotype.txt").read_text().splitlines()[0]
    assert (folder / "phenotype.hpoa").is_file()
    assert Bundle.open(demo).hpo_data_dir() == folder  # cached


@pytest.mark.slow
def test_pyhpo_loads_bundle_hpo(demo, tmp_path, monkeypatch):
    monkeypatch.setenv("BIBLIP_HOME", str(tmp_path))
    from pyhpo import Ontology

    ontology = Ontology(data_folder=str(Bundle.open(demo).hpo_data_dir()))
    assert ontology.get_hpo_object("HP:0001250").name == "Seizure"
    assert any(g.name == "PRNP" for g in ontology.genes)


def test_fetch_input_over_http_with_sha256(tmp_path):
    (tmp_path / "p.fa").write_text(">PRNP\nMANL\n")
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/p.fa"
        work = tmp_path / "dl"
        work.mkdir()
        got = fetch_input(url, work, "proteins", sha256_file(tmp_path / "p.fa"))
        assert load_proteins(got) == {"PRNP": "MANL"}
        with pytest.raises(BiblipError, match="sha256 mismatch"):
            fetch_input(url, work, "proteins", "0" * 64)
        with pytest.raises(BiblipError, match="download failed"):
            fetch_input(url + ".missing", work, "proteins")
    finally:
        server.shutdown()
        server.server_close()


def test_region_parse():
    assert Region.parse("chr20:1-10,000,000") == Region("chr20", 1, 10_000_000)
    with pytest.raises(BiblipError):
        Region.parse("chr20:10-1")
    with pytest.raises(BiblipError):
        Region.parse("chr20:x-y")


def test_load_knowledge_rejects_bad_table(tmp_path):
    path = tmp_path / "k.tsv.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("gene\tname\nA\tb\n")
    with pytest.raises(BiblipError, match="no 'symbol' column"):
        load_knowledge(path)


def test_build_small_region_from_shared_data(shared_data, tmp_path):
    inputs = BuildInputs.with_hpo_dir(
        str(shared_data / "hpo"),
        fasta=str(shared_data / "reference" / "GRCh38.chr20_chr21_10M.fa.gz"),
        gtf=str(shared_data / "genes" / "canonical.GRCh38.gtf.gz"),
        proteins=str(shared_data / "genes" / "proteins.demo.fa"),
        knowledge=str(shared_data / "knowledge" / "genes.tsv.gz"),
        enhancers=str(shared_data / "enhancers" / "crispr_K562_training.GRCh38.tsv.gz"),
    )
    out = tmp_path / "small"
    manifest = build_bundle(inputs, out, region=Region.parse("chr20:4,680,000-4,720,000"), name="small")
    assert manifest.regions == ["chr20:4680000-4720000"]
    assert manifest.contigs == {"chr20": 4_720_000}
    bundle = Bundle.open(out, verify=True)
    # positions stay genomic: PRNP ATG; bases before the region start are N
    assert bundle.genome.fetch("20", 4_699_220, 4_699_223) == "ATG"
    assert bundle.genome.fetch("chr20", 4_679_989, 4_680_000)[:10] == "N" * 10  # 1-based 4,679,990-4,679,999
    assert bundle.genome.fetch("chr20", 4_679_999, 4_680_000) != "N"  # 4,680,000 is the first kept base
    assert "PRNP" in bundle.proteins and "PRNP" in bundle.knowledge
    assert set(bundle.proteins) <= set(bundle.knowledge) | {"PRNP"}
    assert all(c.status != FAIL for c in validate_bundle(out))
    with pytest.raises(BiblipError, match="not empty"):
        build_bundle(inputs, out, region=Region.parse("chr20:4680000-4720000"))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".small.tmp")]  # no partial bundle left


def test_build_cli_bad_region_leaves_nothing(shared_data, tmp_path):
    d = str(shared_data)
    out = tmp_path / "b"
    args = ["bundle", "build", "-o", str(out), "--fasta", f"{d}/reference/GRCh38.chr20_chr21_10M.fa.gz"]
    args += ["--gtf", f"{d}/genes/canonical.GRCh38.gtf.gz", "--proteins", f"{d}/genes/proteins.demo.fa"]
    args += ["--knowledge", f"{d}/knowledge/genes.tsv.gz", "--hpo-dir", f"{d}/hpo", "--region", "chr7:1-100"]
    result = runner.invoke(app, args)
    assert result.exit_code != 0
    assert isinstance(result.exception, BiblipError) and "chr7" in result.exception.message
    assert not out.exists() and os.listdir(tmp_path) == []


def _tiny_inputs(tmp_path: Path) -> BuildInputs:
    """A 2-gene toy genome: FASTA says chr1, the GTF says 1 (Ensembl style), UniProt-style protein headers."""
    fasta = tmp_path / "in.fa"
    fasta.write_text(">chr1 test\n" + "\n".join(["ACGT" * 15] * 50) + "\n>chr2\nACGTACGT\n")
    attrs = 'gene_id "ENSG1"; gene_name "{g}"; gene_type "protein_coding"; transcript_id "T{g}"; tag "Ensembl_canonical";'
    lines = [
        f"1\tt\tgene\t{s}\t{e}\t.\t+\t.\t" + attrs.format(g=g).replace("ENSG1", f"ENSG{g}")
        for g, s, e in (("AAA", 100, 400), ("BBB", 2000, 2900))
    ]
    lines.append(
        '1\tt\ttranscript\t100\t400\t.\t+\t.\tgene_id "ENSGAAA"; gene_name "AAA"; transcript_id "TX2";'
    )
    gtf = tmp_path / "in.gtf"
    gtf.write_text("#!genome-build GRCh38\n" + "\n".join(lines) + "\n")
    proteins = tmp_path / "p.fa"
    proteins.write_text(
        ">sp|P1|AAA_HUMAN Aaa OS=Homo sapiens GN=AAA PE=1\nMKV\n>sp|P2|BBB_HUMAN Bbb GN=BBB\nMLL\n"
    )
    knowledge = tmp_path / "k.tsv"
    knowledge.write_text("symbol\tname\tgo_terms\nAAA\tgene a\tx;y\nBBB\tgene b\t\nCCC\tgene c\t\n")
    hpo = tmp_path / "hpo"
    hpo.mkdir()
    (hpo / "hp.obo").write_text(
        "format-version: 1.2\ndata-version: hp/releases/test\n\n[Term]\nid: HP:0000001\nname: All\n"
    )
    (hpo / "genes_to_phenotype.txt").write_text(
        "ncbi_gene_id\tgene_symbol\thpo_id\n1\tAAA\tHP:0000001\n2\tBBB\tHP:0000001\n"
    )
    (hpo / "phenotype.hpoa").write_text("#version: test\ndatabase_id\tdisease_name\tqualifier\thpo_id\n")
    return BuildInputs.with_hpo_dir(
        str(hpo), fasta=str(fasta), gtf=str(gtf), proteins=str(proteins), knowledge=str(knowledge)
    )


def test_build_tiny_renames_contigs_and_filters(tmp_path):
    out = tmp_path / "b"
    result = runner.invoke(
        app,
        ["bundle", "build", "-o", str(out), "--region", "1:1-1500", "--name", "tiny"]
        + [
            f"--{k.replace('_', '-')}={v}"
            for k, v in vars(_tiny_inputs(tmp_path)).items()
            if k in ("fasta", "gtf", "proteins", "knowledge")
        ]
        + ["--hpo-dir", str(tmp_path / "hpo")],
    )
    assert result.exit_code == 0, result.output
    bundle = Bundle.open(out, verify=True)
    assert bundle.manifest.contigs == {"chr1": 1500}  # region given as "1", FASTA says chr1
    assert bundle.manifest.regions == ["chr1:1-1500"]
    assert bundle.genome.resolve("1") == "chr1"
    with gzip.open(bundle.path("gtf"), "rt") as fh:
        rows = [line.split("\t") for line in fh if not line.startswith("#")]
    assert {r[0] for r in rows} == {"chr1"}  # GTF contig renamed to the FASTA's spelling
    assert len(rows) == 2  # BBB is outside the region; every transcript of AAA is kept (TX2 too)
    assert bundle.proteins == {"AAA": "MKV"}
    assert set(bundle.knowledge) == {"AAA"} and bundle.knowledge["AAA"].go_terms == ["x", "y"]
    assert bundle.manifest.files["hpo_obo"].version == "hp/releases/test"
    checks = {c.name: c.status for c in validate_bundle(out)}
    assert FAIL not in checks.values(), checks


def test_demo_vcf_matches_bundle(resources, demo):
    from cyvcf2 import VCF

    genome = Bundle.open(demo).genome
    vcf = VCF(str(resources / "demo.vcf.gz"))
    assert vcf.samples == ["PROBAND"]
    assert "##contig=<ID=chr20,length=64444167" in vcf.raw_header
    records = list(vcf)
    assert 300 <= len(records) <= 500
    for rec in records:
        assert rec.CHROM == "chr20" and rec.POS <= 10_000_000
        assert genome.fetch(rec.CHROM, rec.POS - 1, rec.POS - 1 + len(rec.REF)) == rec.REF, rec
    sources = {rec.INFO.get("SRC") for rec in records}
    assert sources == {"dbsnp_common", "uniprot", "handmade_indel", "multiallelic_demo"}
    assert any(len(rec.ALT) > 1 for rec in records)
    assert sum(len(rec.REF) != len(rec.ALT[0]) for rec in records) >= 4
    genotypes = {tuple(rec.genotypes[0][:2]) for rec in records}
    assert {(0, 1), (1, 1), (1, 2)} <= genotypes


def test_open_rejects_manifest_without_required_role(demo_copy):
    data = json.loads((demo_copy / "manifest.json").read_text())
    del data["files"]["knowledge"]
    (demo_copy / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(BiblipError, match="no 'knowledge' file"):
        Bundle.open(demo_copy)
    checks = {c.name: c.status for c in validate_bundle(demo_copy)}
    assert checks["roles"] == FAIL
