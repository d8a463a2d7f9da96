"""`biblip rank` end to end on the demo VCF (--no-model) and with a fake engine; bad HPO input via the CLI.

The ontology is a real subset of the demo bundle's HPO (see test_phenotype.build_hpo_subset), handed
out by a patched `Bundle.hpo_data_dir()`, so the CLI loads it in seconds instead of a minute.
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import numpy as np
import pytest
from test_phenotype import DEMO_HPO, hpo_subset_dir

from biblip_cli.commands.rank import RankOptions, run_rank
from biblip_cli.ranking.report import GENE_COLUMNS, TSV_COLUMNS
from biblip_cli.ranking.scoring import combine

REPO = Path(__file__).resolve().parent.parent
DEMO_VCF = REPO / "resources" / "demo.vcf.gz"
AVP_STOP = ("chr20", 3082633, "G", "T")  # AVP p.Tyr164Ter (stop_gained), not in the demo VCF
AVP_TERMS = "Central diabetes insipidus,Polydipsia,HP:0001510"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The demo bundle with its HPO folder swapped for the subset (fast to load), and the ontology."""
    if not DEMO_HPO.is_dir() or not DEMO_VCF.is_file():
        pytest.skip("demo bundle / demo VCF not built")
    from biblip_cli.bundle import Bundle
    from biblip_cli.features.phenotype import HpoOntology

    subset = hpo_subset_dir(tmp_path_factory)
    mp = pytest.MonkeyPatch()
    mp.setattr(Bundle, "hpo_data_dir", lambda self: subset)  # every Bundle, also the CLI's
    bundle = Bundle.open(REPO / "resources" / "demo_bundle")
    ontology = HpoOntology.from_bundle(bundle)
    yield {"bundle": bundle, "ontology": ontology}
    mp.undo()


def _spiked_vcf(path: Path) -> Path:
    """The demo VCF plus the AVP stop-gain (heterozygous), kept in position order."""
    chrom, pos, ref, alt = AVP_STOP
    new = f"{chrom}\t{pos}\tSPIKE\t{ref}\t{alt}\t.\tPASS\tSRC=spike\tGT\t0/1\n"
    with gzip.open(DEMO_VCF, "rt") as fh:
        lines = fh.read().splitlines(keepends=True)
    out, placed = [], False
    for line in lines:
        if not placed and not line.startswith("#"):
            cols = line.split("\t")
            if cols[0] == chrom and int(cols[1]) > pos:
                out.append(new)
                placed = True
        out.append(line)
    if not placed:
        out.append(new)
    path.write_text("".join(out))
    return path


def _read_tsv(path: Path) -> list[dict[str, str]]:
    header, *rows = path.read_text().splitlines()
    names = header.split("\t")
    return [dict(zip(names, r.split("\t"), strict=True)) for r in rows]


def test_spiked_avp_stop_ranks_first_without_model(env: dict, tmp_path: Path) -> None:
    vcf = _spiked_vcf(tmp_path / "case.vcf")
    opts = RankOptions(
        input=str(vcf),
        phenotypes=[AVP_TERMS],
        no_model=True,
        top=10,
        tsv=tmp_path / "ranked.tsv",
        gene_tsv=tmp_path / "genes.tsv",
        output=str(tmp_path / "ranked.vcf.gz"),
        html=tmp_path / "report.html",
    )
    result = run_rank(opts, bundle=env["bundle"], ontology=env["ontology"])
    rows = _read_tsv(tmp_path / "ranked.tsv")
    assert list(rows[0]) == list(TSV_COLUMNS) and len(rows) == 10
    top = rows[0]
    assert (top["rank"], top["gene"], top["pos"], top["alt"]) == ("1", "AVP", "3082633", "T")
    assert (
        top["hgvsp"] == "p.Tyr164Ter"
        and top["zygosity"] in ("het", "compound_het")
        and "AD" in top["inheritance"]
    )
    assert "stop gained p.Tyr164Ter in AVP" in top["evidence"] and "heterozygous" in top["evidence"]
    assert float(top["phenotype_score"]) > 0.9
    genes = _read_tsv(tmp_path / "genes.tsv")
    assert list(genes[0]) == list(GENE_COLUMNS) and genes[0]["gene"] == "AVP"
    assert len({g["gene"] for g in genes}) == len(genes)
    # VCF: every record back, rank 1 on the spike, '.' for nothing else than Number=A lists
    with gzip.open(tmp_path / "ranked.vcf.gz", "rt") as fh:
        text = fh.read()
    body = [line for line in text.splitlines() if not line.startswith("#")]
    assert len(body) == result.records == 467
    spike = next(line for line in body if "\tSPIKE\t" in line)
    assert "BIOBLIP_RANK=1;" in spike
    assert "##INFO=<ID=BIOBLIP_RANK,Number=A,Type=Integer" in text
    html = (tmp_path / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html and "p.Tyr164Ter" in html
    assert "<script" not in html and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "case.vcf",
        "genes.tsv",
        "ranked.tsv",
        "ranked.vcf.gz",
        "ranked.vcf.gz.tbi",
        "report.html",
    ]  # fmt: skip  (no temp files left)


class FakeEngine:
    """Stands in for engine.engine.Engine: pathogenicity from the consequence, a fixed phenotype match."""

    def __init__(self) -> None:
        self.llm_calls = 0

    def cheap_pathogenicity(self, annotations: list) -> np.ndarray:
        return np.array([0.9 if a.effects and a.effects[0].impact == "HIGH" else 0.3 for a in annotations])

    def pathogenicity(self, annotations: list) -> np.ndarray:
        self.llm_calls += len(annotations)
        return self.cheap_pathogenicity(annotations)

    def phenotype_match(self, annotations: list, phenotypes: list[str]) -> np.ndarray:
        assert phenotypes == ["Central diabetes insipidus", "Polydipsia", "Growth delay"]
        return np.array([2.0 if a.effects and a.effects[0].gene == "AVP" else -1.0 for a in annotations])


def test_model_path_shortlists_and_combines(env: dict, tmp_path: Path) -> None:
    vcf = _spiked_vcf(tmp_path / "case.vcf")
    engine = FakeEngine()
    opts = RankOptions(
        input=str(vcf), phenotypes=[AVP_TERMS], shortlist=25, tsv=tmp_path / "r.tsv", phenotype_match=True
    )
    result = run_rank(opts, bundle=env["bundle"], ontology=env["ontology"], engine=engine)
    assert result.shortlisted == 25 and engine.llm_calls == 25
    first = result.candidates[0]
    assert (first.gene, first.allele.pos, first.passes) == ("AVP", 3082633, 2)
    assert first.score == pytest.approx(combine(0.9, first.similarity, 1.0, 2.0))
    # the default leaves the LLM phenotype match out of the score (it hurt on held-out cases)
    default = run_rank(
        RankOptions(input=str(vcf), phenotypes=[AVP_TERMS], shortlist=25, tsv=tmp_path / "d.tsv"),
        bundle=env["bundle"], ontology=env["ontology"], engine=FakeEngine(),
    )  # fmt: skip
    top = default.candidates[0]
    assert top.score == pytest.approx(combine(0.9, top.similarity, 1.0, 0.0))
    assert all(c.passes == 2 for c in result.candidates[:25]) and result.candidates[25].passes == 1
    assert "model: 0.90 (pathogenic-like)" in _read_tsv(tmp_path / "r.tsv")[0]["evidence"]


def _cli(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    from biblip_cli.cli import main

    old = sys.argv
    sys.argv = ["biblip", *argv]
    try:
        with pytest.raises(SystemExit) as exit_:
            main()
            raise SystemExit(0)
    finally:
        sys.argv = old
    out, err = capsys.readouterr()
    return int(exit_.value.code or 0), out, err


@pytest.mark.parametrize(
    ("phenotype", "message"),
    [
        ("HP:9999999", "unknown HPO id HP:9999999"),
        ("HP:12x", "malformed HPO id"),
        ("qwxz plorb", "no HPO term matches"),
        (" , ", "no phenotype terms given"),
    ],
)
def test_bad_hpo_input_exit_1_one_line(
    env: dict, capsys: pytest.CaptureFixture, phenotype: str, message: str
) -> None:
    code, out, err = _cli(["rank", str(DEMO_VCF), "--no-model", "--phenotype", phenotype], capsys)
    assert code == 1
    assert out == ""
    assert err.startswith("error: ") and message in err
    assert (
        len([line for line in err.splitlines() if line.startswith("error")]) == 1 and "Traceback" not in err
    )


def test_cli_tsv_to_stdout_and_bad_ped(env: dict, capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    code, out, err = _cli(["-q", "rank", str(DEMO_VCF), "--no-model", "-p", "seizures", "--top", "3"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split("\t") == list(TSV_COLUMNS) and len(lines) == 4
    ped = tmp_path / "bad.ped"
    ped.write_text("F1 PROBAND 0 0 1\n")
    code, out, err = _cli(["rank", str(DEMO_VCF), "--no-model", "-p", "seizures", "--ped", str(ped)], capsys)
    assert code == 1 and "expected 6" in err and str(ped) in err


TRIO_HEADER = """##fileformat=VCFv4.2
##contig=<ID=chr20,length=10000000>
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tDAD\tMUM\tKID
"""


def test_trio_de_novo_and_non_carried(env: dict, tmp_path: Path) -> None:
    chrom, pos, ref, alt = AVP_STOP
    vcf = tmp_path / "trio.vcf"
    vcf.write_text(
        TRIO_HEADER
        + "chr20\t3082600\t.\tA\tT\t.\tPASS\t.\tGT\t0/1\t0/0\t0/0\n"  # not in the proband: no rank
        + f"{chrom}\t{pos}\t.\t{ref}\t{alt}\t.\tPASS\t.\tGT\t0/0\t0/0\t0/1\n"  # de novo
        + f"{chrom}\t{pos + 3}\t.\tG\tA\t.\tPASS\t.\tGT\t1/1\t0/1\t0/1\n"  # unaffected dad hom: no segregation
    )
    ped = tmp_path / "trio.ped"
    ped.write_text("F KID DAD MUM 2 2\nF DAD 0 0 1 1\nF MUM 0 0 2 1\n")
    opts = RankOptions(input=str(vcf), phenotypes=[AVP_TERMS], ped=ped, no_model=True, tsv=tmp_path / "r.tsv")
    opts.output = str(tmp_path / "r.vcf")
    result = run_rank(opts, bundle=env["bundle"], ontology=env["ontology"])
    assert result.proband == "KID" and result.not_carried == 1
    first, second = result.candidates
    assert (first.allele.pos, first.family, first.moi) == (pos, "de_novo", 1.0)
    assert (second.family, second.moi) == ("does_not_segregate", 0.25)
    rows = _read_tsv(tmp_path / "r.tsv")
    assert "de_novo" in rows[0]["inheritance"] and "de novo" in rows[0]["evidence"]
    body = [line for line in (tmp_path / "r.vcf").read_text().splitlines() if not line.startswith("#")]
    assert "BIOBLIP" not in body[0] and "BIOBLIP_RANK=1;" in body[1] and "BIOBLIP_RANK=2;" in body[2]


@pytest.mark.slow
def test_real_engine_with_tiny_weights(env: dict, tmp_path: Path) -> None:
    """The real Engine (tiny random Q-former + tiny LLM, fake features): rank's calls fit its API."""
    import torch
    from test_llm import HIDDEN, build_tiny_llm
    from test_model import random_inputs

    from biblip_cli.engine.engine import Engine
    from biblip_cli.features.inputs import VariantInputs
    from biblip_cli.model.biblip import BioBlip
    from biblip_cli.model.config import BioBlipConfig
    from biblip_cli.model.llm import FrozenLLM

    class Builder:
        def build(self, annotations: list, query_genes: list | None = None) -> VariantInputs:
            seeds = [a.allele.pos % 10_000 for a in annotations]
            return VariantInputs.cat([random_inputs(B=1, seed=s) for s in seeds])

    torch.manual_seed(0)
    model = BioBlip(BioBlipConfig.preset("tiny", llm_hidden_size=HIDDEN)).eval()
    llm = FrozenLLM.load(build_tiny_llm(tmp_path / "llm"))
    engine = Engine(Builder(), model, llm, {}, torch.device("cpu"), 8)
    vcf = _spiked_vcf(tmp_path / "case.vcf")
    opts = RankOptions(
        input=str(vcf), phenotypes=[AVP_TERMS], shortlist=5, batch_size=4, tsv=tmp_path / "r.tsv",
        phenotype_match=True,  # exercise Engine.phenotype_match too (off by default)
    )
    result = run_rank(opts, bundle=env["bundle"], ontology=env["ontology"], engine=engine)
    assert result.shortlisted == 5 and result.model == "biblip"
    scores = [c.score for c in result.candidates[:5]]
    assert all(c.passes == 2 and np.isfinite(c.phenotype_match) for c in result.candidates[:5])
    assert scores == sorted(scores, reverse=True) and all(0 < s < 1 for s in scores)


def test_vcf_without_gt_ranks_every_allele_with_unknown_zygosity(env: dict, tmp_path: Path) -> None:
    chrom, pos, ref, alt = AVP_STOP
    vcf = tmp_path / "sites.vcf"
    vcf.write_text(
        "##fileformat=VCFv4.2\n##contig=<ID=chr20,length=10000000>\n"
        '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\n"
        f"{chrom}\t{pos}\t.\t{ref}\t{alt}\t.\tPASS\t.\tDP\t12\n"
    )
    result = run_rank(
        RankOptions(input=str(vcf), phenotypes=[AVP_TERMS], no_model=True, tsv=tmp_path / "r.tsv"),
        bundle=env["bundle"],
        ontology=env["ontology"],
    )
    assert [(c.gene, c.zygosity, c.rank) for c in result.candidates] == [("AVP", "unknown", 1)]
