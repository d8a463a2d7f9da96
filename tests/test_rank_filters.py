"""`biblip rank`'s Exomiser-style filters (FILTER, GQ, DP, population AF) and AF as score evidence
(ranking/filters.py; docs/rank.md, "Filters"), on small VCFs around AVP with --no-model or a fake engine."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import pytest
import test_rank
from test_rank import AVP_STOP, AVP_TERMS, FakeEngine, _cli, _read_tsv

from biblip_cli.commands.rank import RankOptions, run_rank
from biblip_cli.errors import UsageError
from biblip_cli.io.vcf_read import open_vcf
from biblip_cli.ranking import filters as flt
from biblip_cli.ranking.scoring import combine

env = test_rank.env  # the fixture: demo bundle + its HPO subset ontology

CAUSAL = AVP_STOP  # AVP p.Tyr164Ter, het (AVP is AD only)
BENIGN = ("chr20", 3082769, "C", "A")  # AVP p.Gly119Val, UniProt benign (in the demo VCF)
OTHER = ("chr20", 3008749, "A", "C")  # rs75098260, dbSNP common, another gene

HEADER = """##fileformat=VCFv4.2
##contig=<ID=chr20,length=64444167>
##FILTER=<ID=LowQual,Description="Low quality">
{info}##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##FORMAT=<ID=GQ,Number=1,Type=Integer,Description="Genotype quality">
##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tPROBAND
"""
GNOMAD_INFO = '##INFO=<ID=gnomAD_AF,Number=A,Type=Float,Description="gnomAD allele frequency">\n'


def _record(
    site: tuple, vid: str, info: str = ".", filt: str = "PASS", fmt: str = "GT:GQ:DP", call: str = "0/1:99:30"
) -> str:
    chrom, pos, ref, alt = site
    return f"{chrom}\t{pos}\t{vid}\t{ref}\t{alt}\t.\t{filt}\t{info}\t{fmt}\t{call}\n"


def _vcf(path: Path, records: list[str], info: str = GNOMAD_INFO) -> Path:
    path.write_text(HEADER.format(info=info) + "".join(sorted(records, key=lambda r: int(r.split("\t")[1]))))
    return path


def _rank(env: dict, vcf: Path, tmp_path: Path, engine: object = None, **options: object) -> object:
    """run_rank on `vcf` for the AVP terms: --no-model unless an engine is given."""
    opts = RankOptions(
        input=str(vcf), phenotypes=[AVP_TERMS], tsv=tmp_path / "r.tsv", no_model=engine is None, **options
    )
    return run_rank(opts, bundle=env["bundle"], ontology=env["ontology"], engine=engine)


def _ids(result: object) -> list[str]:
    return [c.allele.key for c in result.candidates]


def _key(site: tuple) -> str:
    chrom, pos, ref, alt = site
    from biblip_cli.records import Allele

    return Allele(chrom, pos, ref, alt).key


def test_gnomad_af_drops_the_common_benign_variant_and_keeps_the_causal(env: dict, tmp_path: Path) -> None:
    records = [
        _record(CAUSAL, "CAUSAL", "gnomAD_AF=0.00001"),
        _record(BENIGN, "COMMON", "gnomAD_AF=0.2"),
        _record(OTHER, "OTHER", "gnomAD_AF=0.3"),
    ]
    vcf = _vcf(tmp_path / "case.vcf", records)
    result = _rank(env, vcf, tmp_path, json=str(tmp_path / "r.json"))
    assert _ids(result) == [_key(CAUSAL)]
    assert result.candidates[0].rank == 1 and result.candidates[0].gene == "AVP"
    assert (result.filters.af_above_max, result.filters.af_fields) == (2, ["gnomAD_AF"])
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["counts"]["filters"]["af_above_max"] == 2 and doc["counts"]["candidates"] == 1
    assert doc["parameters"]["af_fields"] == "gnomAD_AF"
    assert doc["parameters"]["max_af"].startswith("0.01 dominant-only genes / 0.02 others")
    assert (
        doc["alleles"][0]["allele_frequency"] == pytest.approx(1e-5)
        and doc["alleles"][0]["af_field"] == "gnomAD_AF"
    )
    # the same VCF without the AF field: the common benign AVP missense is a candidate again, ranked 2nd
    plain = _vcf(tmp_path / "plain.vcf", [r.replace("gnomAD_AF=", "X=") for r in records], info="")
    unfiltered = _rank(env, plain, tmp_path)
    assert _ids(unfiltered)[:2] == [_key(CAUSAL), _key(BENIGN)] and len(unfiltered.candidates) == 3
    assert unfiltered.filters.af_fields == [] and unfiltered.filters.af_above_max == 0


def test_non_pass_dropped_and_kept_with_include_filtered(env: dict, tmp_path: Path) -> None:
    vcf = _vcf(tmp_path / "case.vcf", [_record(CAUSAL, "CAUSAL"), _record(BENIGN, "LOWQ", filt="LowQual")])
    default = _rank(env, vcf, tmp_path)
    assert _ids(default) == [_key(CAUSAL)] and default.filters.non_pass == 1
    kept = _rank(env, vcf, tmp_path, include_filtered=True)
    assert _ids(kept) == [_key(CAUSAL), _key(BENIGN)]
    assert (kept.filters.non_pass, kept.filters.non_pass_kept) == (0, 1)
    assert "FILTER LowQual (kept: --include-filtered)" in _read_tsv(tmp_path / "r.tsv")[1]["evidence"]
    # '.' (filters not applied) counts as PASS
    dot = _vcf(tmp_path / "dot.vcf", [_record(CAUSAL, "CAUSAL", filt=".")])
    assert _ids(_rank(env, dot, tmp_path)) == [_key(CAUSAL)]


def test_gq_and_dp_thresholds_on_the_proband(env: dict, tmp_path: Path) -> None:
    records = [
        _record(CAUSAL, "CAUSAL", call="0/1:99:30"),
        _record(BENIGN, "LOWGQ", call="0/1:19:30"),  # GQ 19 < 20
        _record(OTHER, "LOWDP", call="0/1:99:9"),  # DP 9 < 10
        _record(("chr20", 3048128, "C", "T"), "NOGQ", fmt="GT:DP", call="0/1:30"),  # no GQ: not checked
    ]
    vcf = _vcf(tmp_path / "case.vcf", records)
    result = _rank(env, vcf, tmp_path)
    f = result.filters
    assert (f.low_gq, f.low_dp, f.gq_not_checked, f.dp_not_checked) == (1, 1, 1, 0)
    assert sorted(_ids(result)) == sorted([_key(CAUSAL), _key(("chr20", 3048128, "C", "T"))])
    looser = _rank(env, vcf, tmp_path, min_gq=19, min_dp=9)
    assert len(looser.candidates) == 4 and (looser.filters.low_gq, looser.filters.low_dp) == (0, 0)
    off = _rank(env, vcf, tmp_path, min_gq=0, min_dp=0)
    assert len(off.candidates) == 4 and off.filters.gq_not_checked == 0
    assert off.params["min_gq"] == "off" and result.params["min_gq"] == "20"
    with pytest.raises(UsageError):
        _rank(env, vcf, tmp_path, min_dp=-1)


def test_af_is_the_max_over_fields_and_this_alleles_number_a_values(tmp_path: Path) -> None:
    info = (
        GNOMAD_INFO
        + '##INFO=<ID=AF_popmax,Number=1,Type=Float,Description="popmax">\n'
        + '##INFO=<ID=MAX_AF,Number=.,Type=String,Description="VEP-style, & joined">\n'
        + '##INFO=<ID=AF,Number=A,Type=Float,Description="cohort AF">\n'
    )
    vcf = _vcf(
        tmp_path / "multi.vcf",
        [
            "chr20\t100\t.\tA\tT,C\t.\tPASS\tgnomAD_AF=0.001,0.3;AF_popmax=0.05;AF=0.5,0.5\tGT\t1/2\n",
            "chr20\t200\t.\tA\tT,C\t.\tPASS\tgnomAD_AF=.,0.002;MAX_AF=0.01&0.004,0.0001\tGT\t1/2\n",
            "chr20\t300\t.\tA\tT\t.\tPASS\tAF=0.9\tGT\t0/1\n",
        ],
        info=info,
    )
    reader = open_vcf(str(vcf))
    header = flt.info_fields(reader)
    fields, warnings = flt.resolve_af_fields(header, flt.FilterSettings())
    assert [f.name for f in fields] == [
        "gnomAD_AF",
        "AF_popmax",
        "MAX_AF",
    ] and warnings == []  # never plain AF
    (_, first), (_, second), (_, third) = list(reader.records())
    assert flt.allele_frequency(first, 0, 2, fields) == (pytest.approx(0.05), "AF_popmax")
    assert flt.allele_frequency(first, 1, 2, fields) == (pytest.approx(0.3), "gnomAD_AF")
    assert flt.allele_frequency(second, 0, 2, fields) == (pytest.approx(0.01), "MAX_AF")
    assert flt.allele_frequency(second, 1, 2, fields) == (pytest.approx(0.002), "gnomAD_AF")
    assert flt.allele_frequency(third, 0, 1, fields) == (None, "")
    named, _ = flt.resolve_af_fields(header, flt.FilterSettings(af_fields=("AF",)))  # only when named
    assert flt.allele_frequency(third, 0, 1, named) == (pytest.approx(0.9), "AF")
    reader.close()


def test_default_thresholds_per_mode_and_the_frequency_factor() -> None:
    default = flt.FilterSettings()
    assert flt.max_af_for({"AD"}, default) == 0.01 and flt.max_af_for({"AD", "XLD"}, default) == 0.01
    assert flt.max_af_for({"AR"}, default) == 0.02 and flt.max_af_for({"AD", "AR"}, default) == 0.02
    assert flt.max_af_for(set(), default) == 0.02 and flt.max_af_for({"XLR"}, default) == 0.02
    assert flt.max_af_for({"AD"}, flt.FilterSettings(max_af=0.05)) == 0.05
    # Exomiser's frequency score: 1 when novel, 1.13533 - 0.13533 * e^(AF%)
    assert flt.frequency_factor(None) == flt.frequency_factor(0.0) == 1.0
    assert flt.frequency_factor(0.01) == pytest.approx(1.13533 - 0.13533 * math.e)
    assert flt.frequency_factor(0.02) == pytest.approx(1.13533 - 0.13533 * math.e**2)
    assert flt.frequency_factor(0.5) == flt.FREQUENCY_FLOOR


def test_dominant_threshold_end_to_end_and_max_af_override(env: dict, tmp_path: Path) -> None:
    vcf = _vcf(tmp_path / "case.vcf", [_record(CAUSAL, "CAUSAL"), _record(BENIGN, "RARE", "gnomAD_AF=0.015")])
    assert _ids(_rank(env, vcf, tmp_path)) == [_key(CAUSAL)]  # AVP is AD only: 0.015 > 0.01
    result = _rank(env, vcf, tmp_path, max_af=0.02)
    assert _ids(result) == [_key(CAUSAL), _key(BENIGN)] and result.params["max_af"] == "0.02"
    benign = result.candidates[1]
    assert benign.frequency_factor == pytest.approx(flt.frequency_factor(0.015))
    assert benign.score == pytest.approx(benign.deleteriousness * benign.similarity * benign.frequency_factor)
    evidence = _read_tsv(tmp_path / "r.tsv")[1]["evidence"]
    assert f"population AF 0.015 (gnomAD_AF; {math.log(benign.frequency_factor):+.2f} log-odds, x" in evidence


def test_frequency_is_a_log_odds_term_with_the_model(env: dict, tmp_path: Path) -> None:
    vcf = _vcf(tmp_path / "case.vcf", [_record(CAUSAL, "CAUSAL", "gnomAD_AF=0.005"), _record(OTHER, "O")])
    result = _rank(env, vcf, tmp_path, engine=FakeEngine(), shortlist=5)
    top = result.candidates[0]
    factor = flt.frequency_factor(0.005)
    assert top.allele.pos == CAUSAL[1] and top.frequency_factor == pytest.approx(factor)
    assert top.score == pytest.approx(combine(0.9, top.similarity, 1.0, 0.0, 0, factor))
    assert top.score < combine(0.9, top.similarity, 1.0)
    assert (
        f"population AF 0.005 (gnomAD_AF; {math.log(factor):+.2f} log-odds)"
        in _read_tsv(tmp_path / "r.tsv")[0]["evidence"]
    )


def test_max_af_without_an_af_field_warns_once(
    env: dict,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    records = [_record(CAUSAL, "CAUSAL"), _record(BENIGN, "B"), _record(OTHER, "O")]
    vcf = _vcf(tmp_path / "case.vcf", records, info="")
    with caplog.at_level(logging.INFO):
        result = _rank(env, vcf, tmp_path, max_af=0.001, json=str(tmp_path / "r.json"))
    warned = [r for r in caplog.records if r.levelno == logging.WARNING and "--max-af" in r.getMessage()]
    assert len(warned) == 1 and "no population AF field in the VCF header" in warned[0].getMessage()
    assert len(result.candidates) == 3
    doc = json.loads((tmp_path / "r.json").read_text())
    assert any("--max-af 0.001" in w for w in doc["warnings"])
    assert doc["parameters"]["max_af"] == "not applied (no AF field)"
    # a named field that is not in the header: warned once too, the auto-detected list is not used then
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        _rank(env, _vcf(tmp_path / "g.vcf", records), tmp_path, af_fields=["gnomad_exome_AF"])
    assert [r.getMessage() for r in caplog.records if "gnomad_exome_AF" in r.getMessage()] == [
        "--af-field gnomad_exome_AF: not an INFO field in the VCF header; not used"
    ]


def test_cli_options_and_stderr_summary(env: dict, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    records = [
        _record(CAUSAL, "CAUSAL", "gnomAD_AF=0.00001"),
        _record(BENIGN, "COMMON", "gnomAD_AF=0.2"),
        _record(OTHER, "LOWQ", filt="LowQual"),
    ]
    vcf = _vcf(tmp_path / "case.vcf", records)
    code, out, err = _cli(
        [
            "rank",
            str(vcf),
            "--no-model",
            "-p",
            AVP_TERMS,
            "--json",
            "-",
            "--af-field",
            "gnomAD_AF",
            "--min-dp",
            "5",
        ],
        capsys,
    )
    assert code == 0, err
    doc = json.loads(out)
    assert doc["counts"]["filters"]["non_pass"] == 1 and doc["counts"]["filters"]["af_above_max"] == 1
    assert doc["parameters"]["min_dp"] == "5" and doc["parameters"]["include_filtered"] == "no (PASS only)"
    assert [a["hgvsp"] for a in doc["alleles"]] == ["p.Tyr164Ter"]
    assert "FILTER not PASS" in err and "1 removed" in err and "AF > max" in err


def test_no_output_names_an_acmg_class_for_a_model_probability(env: dict, tmp_path: Path) -> None:
    from biblip_cli.ranking.report import model_probability_words

    assert model_probability_words(0.83) == "model: 0.83 (pathogenic-like)"
    assert model_probability_words(0.2) == "model: 0.20 (benign-like)"
    vcf = _vcf(tmp_path / "case.vcf", [_record(CAUSAL, "C"), _record(BENIGN, "B"), _record(OTHER, "O")])
    _rank(
        env, vcf, tmp_path, engine=FakeEngine(), shortlist=5, gene_tsv=tmp_path / "g.tsv",
        json=str(tmp_path / "r.json"), html=tmp_path / "r.html",
    )  # fmt: skip
    texts = [(tmp_path / name).read_text().lower() for name in ("r.tsv", "g.tsv", "r.json", "r.html")]
    assert "model: 0.90 (pathogenic-like)" in texts[0] and "model: 0.30 (benign-like)" in texts[0]
    for text in texts:
        assert "likely pathogenic" not in text and "likely benign" not in text
