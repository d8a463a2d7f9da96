"""Progress of the long commands with stderr to a file (biblip_cli/progress.py): periodic log lines
(`BIBLIP_PROGRESS_INTERVAL=0`: one per report), no tqdm/rich bars; `-q` silences them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from test_train import _examples, _trainer, tiny_llm, tiny_setup  # noqa: F401 - fixtures of test_train.py

from biblip_cli.progress import RunProgress

ETA = r"ETA (\d+:\d\d:\d\d|\?)"
RATE = r"[\d,.]+ \w+/s"


def run_cli(args: list[str], tmp_path: Path, quiet: bool = False, env: dict[str, str] | None = None) -> str:
    """`python -m biblip_cli.cli ARGS` with stderr to a file (not a terminal); returns that file's text."""
    err = tmp_path / ("quiet.err" if quiet else "stderr.log")
    full_env = {**os.environ, "BIBLIP_PROGRESS_INTERVAL": "0", **(env or {})}
    cmd = [sys.executable, "-m", "biblip_cli.cli", *(["-q"] if quiet else []), *args]
    with open(err, "wb") as handle:
        done = subprocess.run(
            cmd,
            stderr=handle,
            stdout=subprocess.DEVNULL,
            env=full_env,
            cwd=tmp_path,
            timeout=120,
            check=False,
        )
    text = err.read_text()
    assert done.returncode == 0, text
    return text


def progress_lines(text: str, what: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(f"INFO biblip.progress: {what}")]


def assert_no_bars(text: str) -> None:
    assert "\r" not in text and "\x1b[" not in text  # no bar redraws, no colour codes
    assert "it/s" not in text and "Loading weights" not in text and "%|" not in text  # no tqdm


def test_line_text_per_unit(monkeypatch):
    """annotate's line keeps its text; other units report their own rate; a resumed run's ETA counts
    only its own steps."""
    monkeypatch.setenv("BIBLIP_PROGRESS_INTERVAL", "0")
    annotate = RunProgress("annotate", 466, count_unit="alleles")
    assert re.fullmatch(
        r"annotate: 100/466 records, 120 alleles, [\d,]+ alleles/s, " + ETA, annotate.line(100, 120)
    )
    train = RunProgress("train stage 1", 200, unit="steps", initial=100)
    line = train.line(150, note="loss 0.693")
    assert re.fullmatch(r"train stage 1: 150/200 steps, loss 0\.693, [\d,.]+ steps/s, " + ETA, line)
    assert RunProgress("evaluate rank", unit="cases").line(3).endswith("cases/s, ETA ?")


def test_quiet_progress_logs_nothing(caplog, monkeypatch):
    monkeypatch.setenv("BIBLIP_PROGRESS_INTERVAL", "0")
    with caplog.at_level("INFO", logger="biblip.progress"), RunProgress("x", 3, quiet=True) as progress:
        progress.advance()
        progress.update(2)
    assert caplog.records == []


def test_annotate_progress_lines(resources, tmp_path):
    text = run_cli(["annotate", str(resources / "demo.vcf.gz"), "--no-model", "-o", "a.vcf"], tmp_path)
    lines = progress_lines(text, "annotate:")
    assert lines and all(
        re.search(r"/466 records, [\d,]+ alleles, [\d,]+ alleles/s, " + ETA, x) for x in lines
    )
    assert_no_bars(text)


def test_rank_progress_lines(resources, tmp_path):
    args = ["rank", str(resources / "demo.vcf.gz"), "-p", "HP:0001332", "--no-model", "--tsv", "r.tsv"]
    text = run_cli(args, tmp_path)
    lines = progress_lines(text, "rank read:")
    assert len(lines) >= 3, text
    assert all(
        re.fullmatch(rf"INFO biblip\.progress: rank read: [\d,]+/466 records, {RATE}, {ETA}", x)
        for x in lines
    )
    assert lines[-1].startswith("INFO biblip.progress: rank read: 466/466 records")
    assert_no_bars(text)
    assert "biblip.progress" not in run_cli(args, tmp_path, quiet=True)


def test_target_progress_lines(resources, tmp_path):
    text = run_cli(["target", str(resources / "demo.vcf.gz"), "--no-model", "-o", "t.vcf"], tmp_path)
    lines = progress_lines(text, "target:")
    assert lines, text
    pattern = rf"INFO biblip\.progress: target: [\d,]+/466 records, [\d,]+ pairs, {RATE}, {ETA}"
    assert all(re.fullmatch(pattern, x) for x in lines)
    assert_no_bars(text)


def _simulated_cases(bundle_dir: Path, out: Path) -> Path:
    """Four simulated cases on the demo bundle's genes, with their real HPO terms (as test_evaluate)."""
    from biblip_cli.bundle import Bundle
    from biblip_cli.evaluation.cases import build_cases, read_gene_phenotypes
    from biblip_cli.features.consequence import protein_variant_to_alleles
    from biblip_cli.io.datasets import LabeledVariant
    from biblip_cli.records import ProteinVariant

    bundle = Bundle.open(bundle_dir)
    genes = ("PANK2", "AVP", "PRNP")
    labels = []
    for gene in genes:
        seq = bundle.proteins[gene]
        for position in range(20, 40):
            pv = ProteinVariant(gene, f"p.{seq[position - 1]}{position}W", seq[position - 1], position, "W")
            if seq[position - 1] != "W" and protein_variant_to_alleles(bundle, pv):
                labels.append(LabeledVariant(pv, "pathogenic"))
    terms = {g: t for g, t in read_gene_phenotypes(bundle.path("hpo_genes")).items() if g in genes}
    background = out.parent / "bg.vcf"
    background.write_text(
        "##fileformat=VCFv4.2\n##contig=<ID=chr20,length=64444167>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
        + "".join(f"chr20\t{100000 + 5000 * i}\trs{i}\tA\tG\t.\tPASS\t.\n" for i in range(40))
    )
    alleles_of = lambda pv: protein_variant_to_alleles(bundle, pv)
    build_cases(labels, alleles_of, terms, background, out, 4, 3, None, proteins=bundle.proteins, n_decoys=3)
    return out


def test_evaluate_progress_lines(resources, tmp_path):
    cases = _simulated_cases(resources / "demo_bundle", tmp_path / "cases")
    args = ["evaluate", "--tasks", "rank", "--cases", str(cases), "--no-model", "--out", "ev"]
    args += ["--bundle", str(resources / "demo_bundle")]
    empty = tmp_path / "no_data"
    empty.mkdir()
    text = run_cli(args, tmp_path, env={"BIBLIP_DATA": str(empty)})
    lines = progress_lines(text, "evaluate rank:")
    assert [x.split(": ")[2].split(",")[0] for x in lines] == ["1 cases", "2 cases", "3 cases", "4 cases"], (
        text
    )
    assert all(re.search(rf"cases, {RATE}, ETA \?$", x) for x in lines)
    assert_no_bars(text)


def test_bundle_build_progress_lines(shared_data, tmp_path):
    d = shared_data
    args = ["bundle", "build", "-o", "small", "--fasta", f"{d}/reference/GRCh38.chr20_chr21_10M.fa.gz"]
    args += ["--gtf", f"{d}/genes/canonical.GRCh38.gtf.gz", "--proteins", f"{d}/genes/proteins.demo.fa"]
    args += ["--knowledge", f"{d}/knowledge/genes.tsv.gz", "--hpo-dir", f"{d}/hpo"]
    args += ["--region", "chr20:4,680,000-4,720,000", "--no-embed"]
    text = run_cli(args, tmp_path)
    stages = {x.split(": ")[1].split()[2] for x in progress_lines(text, "bundle build")}
    assert {"genome", "genes", "proteins", "paralogs", "tables"} <= stages, text
    assert re.search(rf"bundle build paralogs: [\d,]+/[\d,]+ proteins, {RATE}, {ETA}", text)
    assert_no_bars(text)


@pytest.mark.slow
def test_bundle_build_embedding_progress(shared_data, tmp_path):
    """The embedding stage (loads the sentence encoder): texts embedded, no 'Loading weights' bar."""
    d = shared_data
    args = ["bundle", "build", "-o", "small", "--fasta", f"{d}/reference/GRCh38.chr20_chr21_10M.fa.gz"]
    args += ["--gtf", f"{d}/genes/canonical.GRCh38.gtf.gz", "--proteins", f"{d}/genes/proteins.demo.fa"]
    args += ["--knowledge", f"{d}/knowledge/genes.tsv.gz", "--hpo-dir", f"{d}/hpo", "--no-paralogs"]
    args += ["--region", "chr20:4,680,000-4,720,000"]
    text = run_cli(args, tmp_path)
    assert re.search(rf"bundle build embedding: [\d,]+/[\d,]+ texts, {RATE}, {ETA}", text), text
    assert_no_bars(text)


def test_train_progress_lines(tmp_path, tiny_setup, tiny_llm, caplog, monkeypatch):  # noqa: F811 - fixtures
    """Training on a non-terminal: `step/total steps, loss, rate, ETA` lines (a rich bar on a terminal)."""
    monkeypatch.setenv("BIBLIP_PROGRESS_INTERVAL", "0")
    trainer = _trainer(tmp_path / "run", tiny_setup, tiny_llm, _examples(*tiny_setup), stop_after_steps=3)
    trainer.opts.progress = True
    with caplog.at_level("INFO", logger="biblip.progress"):
        assert trainer.train() is None  # stopped after 3 steps (state saved)
    lines = [r.getMessage() for r in caplog.records if r.name == "biblip.progress"]
    pattern = rf"train stage 1: [123]/6 steps, loss [\d.]+, [\d.]+ ex/s, {RATE}, {ETA}"
    assert len(lines) == 3 and all(re.fullmatch(pattern, x) for x in lines), lines
