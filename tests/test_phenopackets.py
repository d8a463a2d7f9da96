"""`biblip rank --phenopacket` (issue 14 items 1-4): the packet reader, a real packet from
phenopacket-store end to end, excluded terms as evidence against, unknown ids in packets, `--json`."""

from __future__ import annotations

import hashlib
import json
import math
import sys
import zipfile
from pathlib import Path

import pytest
import test_rank
from test_rank import AVP_STOP, AVP_TERMS, FakeEngine, _cli, _read_tsv, _spiked_vcf

from biblip_cli.commands.rank import RankOptions, run_rank
from biblip_cli.errors import BiblipError, UsageError
from biblip_cli.io.phenopackets import read_phenopacket
from biblip_cli.ranking.json_report import JSON_SCHEMA_VERSION
from biblip_cli.ranking.report import GENE_COLUMNS, TSV_COLUMNS
from biblip_cli.ranking.scoring import EXCLUDED_LR, PATHO_WEIGHT, PHENO_WEIGHT, combine

LIRICAL_LR = 0.25  # --excluded-lr 0.25: the opt-in penalty

REPO = Path(__file__).resolve().parent.parent
VOMITING = "HP:0002013"  # annotated to AVP in the demo bundle's HPO
env = test_rank.env  # the fixture: demo bundle + its ontology
ZIP_PACKET = "notebooks/ACTA1/phenopackets/PMID_11333380_P3.json"  # MALE, 3 excluded terms


def _packet(path: Path, observed: list[str], excluded: list[str] = (), **extra: object) -> Path:
    features = [{"type": {"id": t}} for t in observed] + [
        {"type": {"id": t}, "excluded": True} for t in excluded
    ]
    data = {"id": "case-1", "subject": {"id": "PROBAND", "sex": "FEMALE"}, "phenotypicFeatures": features}
    data.update(extra)
    path.write_text(json.dumps(data))
    return path


def _with_samples(src: Path, dst: Path, names: list[str]) -> Path:
    """The VCF with its one sample renamed to names[0]; extra samples get 0/0 everywhere."""
    out = []
    for line in src.read_text().splitlines():
        if line.startswith("##"):
            out.append(line)
        elif line.startswith("#"):
            out.append("\t".join(line.split("\t")[:9] + names))
        else:
            out.append("\t".join([line] + ["0/0"] * (len(names) - 1)))
    dst.write_text("\n".join(out) + "\n")
    return dst


# --- the reader -------------------------------------------------------------------------------------
def test_reader_fields_files_and_errors(tmp_path: Path) -> None:
    vcf = tmp_path / "data" / "case.vcf"
    vcf.parent.mkdir()
    vcf.write_text("##fileformat=VCFv4.2\n")
    files = [
        {"uri": "https://example.org/x.bam", "fileAttributes": {"fileFormat": "bam"}},
        {"uri": "data/case.vcf", "fileAttributes": {"fileFormat": "VCF"}},
    ]
    p = read_phenopacket(
        _packet(tmp_path / "p.json", ["HP:0001250", "HP:0001250"], ["HP:0000518"], files=files)
    )
    assert (p.id, p.subject_id, p.sex, p.sex_label) == ("case-1", "PROBAND", 2, "FEMALE")
    assert (p.observed, p.excluded) == (["HP:0001250"], ["HP:0000518"])
    assert p.vcf == vcf
    absolute = [{"uri": f"file://{vcf}", "fileAttributes": {"fileFormat": "vcf"}}]
    assert read_phenopacket(_packet(tmp_path / "a.json", [], files=absolute)).vcf == vcf
    remote = [{"uri": "s3://bucket/case.vcf.gz", "fileAttributes": {"fileFormat": "vcf"}}]
    p = read_phenopacket(_packet(tmp_path / "r.json", ["HP:0001250"], files=remote))
    assert p.vcf is None and "not a local file" in p.vcf_problem
    with pytest.raises(BiblipError, match="not a local file"):
        p.require_vcf()
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(BiblipError, match="not valid JSON"):
        read_phenopacket(tmp_path / "bad.json")
    with pytest.raises(BiblipError, match="phenopacket not found"):
        read_phenopacket(tmp_path / "missing.json")


def test_yaml_packet_and_missing_pyyaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "case.yaml"
    path.write_text(
        "id: y1\nsubject:\n  id: S1\n  sex: MALE\nphenotypicFeatures:\n"
        "  - type: {id: 'HP:0001250'}\n  - type: {id: 'HP:0000518'}\n    excluded: true\n"
    )
    pytest.importorskip("yaml")
    p = read_phenopacket(path)
    assert (p.subject_id, p.sex, p.observed, p.excluded) == ("S1", 1, ["HP:0001250"], ["HP:0000518"])
    monkeypatch.setitem(sys.modules, "yaml", None)  # import yaml -> ImportError
    with pytest.raises(BiblipError, match="need PyYAML"):
        read_phenopacket(path)


# --- end to end with a real packet ------------------------------------------------------------------
def test_real_packet_end_to_end(
    env: dict, shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A phenopacket-store packet (ACTA1, chr1: outside the demo region, so the AVP stop-gain stands in
    for its variant) with a `files` entry added; the VCF has two samples, so only the packet's subject
    id can pick the proband."""
    with zipfile.ZipFile(shared_data / "cases" / "phenopackets.zip") as z:
        data = json.loads(z.read(ZIP_PACKET))
    subject = data["subject"]["id"]
    assert data["subject"]["sex"] == "MALE"
    _with_samples(_spiked_vcf(tmp_path / "one.vcf"), tmp_path / "case.vcf", ["OTHER", subject][::-1])
    data["files"] = [{"uri": "case.vcf", "fileAttributes": {"fileFormat": "vcf"}}]
    packet = tmp_path / "case.json"
    packet.write_text(json.dumps(data))
    observed = [f["type"]["id"] for f in data["phenotypicFeatures"] if not f.get("excluded")]
    excluded = [f["type"]["id"] for f in data["phenotypicFeatures"] if f.get("excluded")]
    code, _out, err = _cli(
        ["rank", "--phenopacket", str(packet), "--no-model", "--top", "5", "--json", str(tmp_path / "r.json"),
         "--tsv", str(tmp_path / "r.tsv")],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    doc = json.loads((tmp_path / "r.json").read_text())
    ontology = env["ontology"]
    known = ontology.resolve_terms_lenient(observed).ids
    assert [t["id"] for t in doc["phenotypes"]] == known and len(known) >= 5
    assert all(t["sources"] == ["phenopacket"] for t in doc["phenotypes"])
    assert [t["id"] for t in doc["excluded_phenotypes"]] == ontology.resolve_terms_lenient(excluded).ids
    assert len(doc["excluded_phenotypes"]) == 3
    assert doc["proband"]["sample"] == subject and doc["proband"]["sex"] == "male (phenopacket)"
    assert doc["proband"]["phenopacket_id"] == data["id"]
    assert doc["parameters"]["input"] == str(tmp_path / "case.vcf")
    assert doc["counts"]["records"] == 467 and len(doc["alleles"]) == 5
    block = doc["interpretations"][0]["diagnosis"]["genomicInterpretations"]
    first = block[0]["variantInterpretation"]["variationDescriptor"]
    assert block[0]["subjectOrBiosampleId"] == subject and block[0]["interpretationStatus"] == "CANDIDATE"
    assert first["vcfRecord"] == {
        "genomeAssembly": "GRCh38", "chrom": doc["alleles"][0]["chrom"], "pos": doc["alleles"][0]["pos"],
        "ref": doc["alleles"][0]["ref"], "alt": doc["alleles"][0]["alt"],
    }  # fmt: skip
    assert "[phenopacket]" in err and "excluded" in err  # the stderr summary names the source
    assert _read_tsv(tmp_path / "r.tsv")[0]["rank"] == "1"


# --- excluded terms ---------------------------------------------------------------------------------
def test_excluded_terms_are_named_not_scored_by_default(env: dict, tmp_path: Path) -> None:
    """Default excluded_lr 1: on real cases any penalty hurt (ranking/scoring docstring)."""
    assert EXCLUDED_LR == 1.0
    vcf = _spiked_vcf(tmp_path / "case.vcf")
    packet = _packet(tmp_path / "p.json", [], [VOMITING])
    kw = {"bundle": env["bundle"], "ontology": env["ontology"]}
    base = run_rank(
        RankOptions(input=str(vcf), phenotypes=[AVP_TERMS], no_model=True, tsv=tmp_path / "a.tsv"), **kw
    )
    opts = RankOptions(
        input=str(vcf), phenotypes=[AVP_TERMS], phenopacket=packet, no_model=True, tsv=tmp_path / "b.tsv"
    )
    neg = run_rank(opts, **kw)
    avp_base = next(c for c in base.candidates if c.gene == "AVP")
    avp = next(c for c in neg.candidates if c.gene == "AVP")
    assert avp.excluded == ["Vomiting"] and avp.score == pytest.approx(avp_base.score)
    row = next(r for r in _read_tsv(tmp_path / "b.tsv") if r["gene"] == "AVP")
    assert "gene annotated with excluded phenotype Vomiting (not scored" in row["evidence"]
    with pytest.raises(UsageError, match="excluded-lr"):
        run_rank(RankOptions(input=str(vcf), phenotypes=[AVP_TERMS], no_model=True, excluded_lr=0.0), **kw)


def test_excluded_term_penalises_annotated_gene(env: dict, tmp_path: Path) -> None:
    vcf = _spiked_vcf(tmp_path / "case.vcf")
    packet = _packet(tmp_path / "p.json", [], [VOMITING, "HP:0000518"])  # Vomiting (AVP), Cataract (not AVP)
    kw = {"bundle": env["bundle"], "ontology": env["ontology"]}
    base = run_rank(
        RankOptions(input=str(vcf), phenotypes=[AVP_TERMS], no_model=True, tsv=tmp_path / "a.tsv"), **kw
    )
    opts = RankOptions(
        input=str(vcf), phenotypes=[AVP_TERMS], phenopacket=packet, no_model=True, tsv=tmp_path / "b.tsv",
        excluded_lr=LIRICAL_LR,
    )  # fmt: skip
    neg = run_rank(opts, **kw)
    assert [t.id for t in neg.terms.excluded] == [VOMITING, "HP:0000518"]
    assert all(neg.terms.sources[t.id] == ["--phenotype"] for t in neg.terms.terms)
    avp_base = next(c for c in base.candidates if c.gene == "AVP")
    avp = next(c for c in neg.candidates if c.gene == "AVP")
    assert avp.excluded == ["Vomiting"]
    assert avp.score == pytest.approx(avp_base.score * LIRICAL_LR)  # --no-model: x0.25 per term
    others = {c.key: c.score for c in base.candidates if c.gene != "AVP" and not c.excluded}
    assert all(
        c.score == pytest.approx(others[c.key]) for c in neg.candidates if c.key in others and not c.excluded
    )
    row = next(r for r in _read_tsv(tmp_path / "b.tsv") if r["gene"] == "AVP")
    assert "gene annotated with excluded phenotype Vomiting (-1.4 log-odds, x0.25)" in row["evidence"]
    # with the model: log(EXCLUDED_LR) is added to the log-odds
    result = run_rank(
        RankOptions(
            input=str(vcf),
            phenotypes=[AVP_TERMS],
            phenopacket=packet,
            shortlist=25,
            tsv=tmp_path / "c.tsv",
            phenotype_match=True,
            excluded_lr=LIRICAL_LR,
        ),
        engine=FakeEngine(),
        **kw,
    )
    avp = next(c for c in result.candidates if c.gene == "AVP")
    assert avp.score == pytest.approx(
        combine(0.9, avp.similarity, 1.0, 2.0, excluded=1, excluded_lr=LIRICAL_LR)
    )
    logit = PATHO_WEIGHT * math.log(9) + 2.0 + PHENO_WEIGHT * (avp.similarity - 0.4) + math.log(0.25)
    expected = 1 / (1 + math.exp(-logit))  # the documented sum (ranking/scoring.py), written out
    assert avp.score == pytest.approx(expected)


# --- unknown ids ------------------------------------------------------------------------------------
def test_unknown_packet_ids_warn_and_are_skipped(
    env: dict, tmp_path: Path, capsys: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture
) -> None:
    vcf = _spiked_vcf(tmp_path / "case.vcf")
    packet = _packet(tmp_path / "p.json", ["HP:0000873", "HP:9999998", "HP:0000057"], ["HP:9999997"])
    code, out, err = _cli(
        ["rank", str(vcf), "--phenopacket", str(packet), "--no-model", "-p", "Polydipsia", "--json", "-"],
        capsys,
    )
    assert code == 0, err
    doc = json.loads(out)  # --json - : the JSON alone on stdout (no TSV there)
    assert doc["unknown_terms"] == ["HP:9999998", "HP:9999997"]
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert "phenopacket terms not in the bundle's HPO release, skipped: HP:9999998, HP:9999997" in warned
    assert "HP:9999998, HP:9999997" in err  # the summary's 'skipped (unknown)' row
    assert [(t["id"], t["sources"]) for t in doc["phenotypes"]] == [
        ("HP:0001959", ["--phenotype"]),
        ("HP:0000873", ["phenopacket"]),
        ("HP:0008665", ["phenopacket"]),  # obsolete HP:0000057 replaced, as on the command line
    ]
    assert any("HP:0000057 is obsolete" in w for w in doc["warnings"])
    assert doc["excluded_phenotypes"] == []
    # the same unknown id typed on the command line stays an error
    code, out, err = _cli(
        ["rank", str(vcf), "--phenopacket", str(packet), "--no-model", "-p", "HP:9999998"], capsys
    )
    assert code == 1 and "unknown HPO id HP:9999998" in err
    # a packet whose terms are all unknown, and nothing else: an error
    only = _packet(tmp_path / "u.json", ["HP:9999998"])
    code, out, err = _cli(["rank", str(vcf), "--phenopacket", str(only), "--no-model"], capsys)
    assert code == 1 and "none of the phenopacket's observed terms" in err


def test_usage_errors(env: dict, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, _out, err = _cli(["rank", "--no-model", "-p", "seizures"], capsys)
    assert code == 2 and "give a VCF or --phenopacket" in err
    packet = _packet(tmp_path / "p.json", ["HP:0001250"])  # no files
    code, _out, err = _cli(["rank", "--phenopacket", str(packet), "--no-model"], capsys)
    assert code == 1 and "names no VCF" in err


# --- JSON -------------------------------------------------------------------------------------------
def test_json_matches_tsvs_and_names_the_bundle(env: dict, tmp_path: Path) -> None:
    vcf = _spiked_vcf(tmp_path / "case.vcf")
    opts = RankOptions(
        input=str(vcf), phenotypes=[AVP_TERMS], no_model=True, top=7, tsv=tmp_path / "r.tsv",
        gene_tsv=tmp_path / "g.tsv", json=str(tmp_path / "r.json"),
    )  # fmt: skip
    result = run_rank(opts, bundle=env["bundle"], ontology=env["ontology"])
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["schema_version"] == JSON_SCHEMA_VERSION == "1.0"
    manifest = REPO / "resources" / "demo_bundle" / "manifest.json"
    assert doc["bundle"]["manifest_sha256"] == hashlib.sha256(manifest.read_bytes()).hexdigest()
    assert doc["bundle"]["name"] == env["bundle"].manifest.name
    assert doc["proband"]["sample"] == "PROBAND" and doc["proband"]["sex"] == "unknown (unknown)"
    assert [t["name"] for t in doc["phenotypes"]] == [
        "Central diabetes insipidus",
        "Polydipsia",
        "Growth delay",
    ]
    assert doc["parameters"]["top"] == "7" and doc["counts"]["candidates"] == len(result.candidates)
    rows = _read_tsv(tmp_path / "r.tsv")
    assert len(doc["alleles"]) == len(rows) == 7
    for record, row in zip(doc["alleles"], rows, strict=True):
        for col in TSV_COLUMNS:
            value = record[col]
            text = "." if value is None else str(value)
            if col in ("score", "pathogenicity", "phenotype_score") and value is not None:
                assert value == pytest.approx(float(row[col]), rel=1e-3)
            elif col in ("rank", "pos"):
                assert text == row[col]
            else:
                assert text == row[col], col
    top = doc["alleles"][0]
    assert (top["gene"], top["pos"], top["hgvsp"], top["rank"]) == ("AVP", AVP_STOP[1], "p.Tyr164Ter", 1)
    assert top["matched_phenotypes"] == ["Central diabetes insipidus", "Polydipsia", "Growth delay"]
    genes = _read_tsv(tmp_path / "g.tsv")
    assert len(doc["genes"]) == 7 and set(doc["genes"][0]) == set(GENE_COLUMNS)
    assert [g["gene"] for g in doc["genes"]] == [g["gene"] for g in genes[:7]]
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]  # atomic: no temp file left


def test_packet_sex_only_fills_in_a_missing_ped_sex(env: dict, tmp_path: Path) -> None:
    vcf = _spiked_vcf(tmp_path / "case.vcf")
    kw = {"bundle": env["bundle"], "ontology": env["ontology"]}
    packet = _packet(tmp_path / "p.json", ["HP:0000873"])  # FEMALE, subject PROBAND
    r = run_rank(RankOptions(input=str(vcf), phenopacket=packet, no_model=True, tsv=tmp_path / "a.tsv"), **kw)
    assert r.params["sex"] == "female (phenopacket)" and r.proband == "PROBAND"
    ped = tmp_path / "f.ped"
    ped.write_text("F PROBAND 0 0 1 2\n")
    r2 = run_rank(
        RankOptions(input=str(vcf), phenopacket=packet, ped=ped, no_model=True, tsv=tmp_path / "b.tsv"), **kw
    )
    assert r2.params["sex"] == "male (ped)"
    # the one-person pedigree that carries the packet's sex changes nothing else on an autosome
    r3 = run_rank(
        RankOptions(input=str(vcf), phenotypes=["HP:0000873"], no_model=True, tsv=tmp_path / "c.tsv"), **kw
    )
    assert (tmp_path / "a.tsv").read_text() == (tmp_path / "c.tsv").read_text()
    assert r3.params["sex"] == "unknown (unknown)"
