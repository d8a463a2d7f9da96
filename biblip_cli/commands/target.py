"""`biblip target`: which genes might a noncoding variant (or a regulatory element) regulate?

For each noncoding ALT allele (or each BED interval with `--elements`), the candidates are the genes
with a TSS within `window` bp, nearest first, at most `max_genes`. Each (allele, gene) pair is
scored by the model's "does this variant/element regulate gene G?" answer (`Engine.regulates`),
with the candidate marked as the asked-about gene; when the checkpoint carries a `target_prior`
(`engine/target_prior.py`) that answer is combined with the distance to the TSS and the number of
closer genes, and the score is the combined probability. Only the gene model is needed: where the
bundle has no sequence the DNA modality is masked. `no_model` scores by inverse distance instead.

Output: INFO `BIOBLIP_TARGET=Allele|Gene|score,...` (best first) and a TSV
(`chrom pos ref alt gene distance score rank`, or `chrom start end name gene distance score rank`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from biblip_cli.engine.loading import EngineSpec, load_engine, set_threads
from biblip_cli.errors import BiblipError, UsageError
from biblip_cli.features.elements import (
    TargetCandidate,
    candidate_genes,
    element_annotation,
    inverse_distance_scores,
    is_coding,
    rank_candidates,
    score_pairs,
    transcript_contig,
)
from biblip_cli.io.output_paths import is_stdout
from biblip_cli.io.outputs import TextOutput, check_outputs, commit_all, keep_files_if_stdout_closes
from biblip_cli.io.vcf_read import record_text
from biblip_cli.records import Allele, AlleleAnnotation

log = logging.getLogger(__name__)

VCF_TSV_COLUMNS = ("chrom", "pos", "ref", "alt", "gene", "distance", "score", "rank")
BED_TSV_COLUMNS = ("chrom", "start", "end", "name", "gene", "distance", "score", "rank")

Annotator = Callable[[Allele], AlleleAnnotation]


@dataclass
class TargetOptions:
    input: str | None = None  # VCF; None with `elements`
    elements: Path | None = None  # BED: chrom, start, end[, name]
    output: str = "-"
    tsv: Path | None = None
    output_type: str = "v"
    bundle_dir: Path | None = None
    model_dir: Path | None = None
    llm_dir: Path | None = None
    text_encoder_dir: Path | None = None
    window: int = 1_000_000
    max_genes: int = 20
    top: int | None = None
    include_coding: bool = False
    no_model: bool = False
    batch_size: int = 256
    device: str = "auto"
    threads: int | None = None
    region: str | None = None
    shard: str | None = None
    resume: bool = False
    command_line: str = ""

    def fingerprint_options(self) -> dict[str, Any]:
        """The options that change the output (a `--resume` must use the same)."""
        return {
            name: str(getattr(self, name))
            for name in (
                "tsv", "output_type", "bundle_dir", "model_dir", "llm_dir", "text_encoder_dir", "window",
                "max_genes", "top", "include_coding", "no_model", "region", "shard",
            )
        }  # fmt: skip


Progress = Callable[[int, int], None]  # (records written, allele x gene pairs scored)


@dataclass
class TargetSummary:
    records: int = 0
    alleles: int = 0
    scored: int = 0  # alleles or elements with >= 1 candidate gene
    skipped_coding: int = 0
    no_candidates: int = 0
    pairs: int = 0
    seconds: float = 0.0
    scorer: str = "model"
    by_gene: dict[str, int] = field(default_factory=dict)
    load_seconds: float = 0.0  # bundle + model start-up, inside `seconds`

    _COUNTED = ("records", "alleles", "scored", "skipped_coding", "no_candidates", "pairs", "by_gene")

    def counters(self) -> dict[str, Any]:
        """What a `--resume` checkpoint keeps (`restore` puts it back)."""
        return {name: getattr(self, name) for name in self._COUNTED}

    def restore(self, counters: dict[str, Any]) -> None:
        for name in self._COUNTED:
            if name in counters:
                setattr(self, name, dict(counters[name]) if name == "by_gene" else int(counters[name]))


# --- readers ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Element:
    chrom: str
    start0: int
    end0: int
    name: str


BED_HINT = "BED columns: chrom, 0-based start, end (integers, start <= end), tab-separated"


def read_bed(path: Path) -> Iterator[Element]:
    """BED3+ (0-based half-open); `track`/`browser`/`#` lines are skipped."""
    from biblip_cli.io.textfiles import open_existing_text as open_text

    with open_text(Path(path)) as fh:
        for line_number, line in enumerate(fh, start=1):
            if not line.strip() or line.startswith(("#", "track", "browser")):
                continue
            cols = line.rstrip("\r\n").split("\t")
            if len(cols) < 3:
                raise BiblipError(
                    "expected at least 3 tab-separated columns (chrom, start, end)",
                    where=f"{path}:{line_number}",
                    hint=f"{BED_HINT}; check line {line_number} (spaces instead of tabs?)",
                )
            try:
                start0, end0 = int(cols[1]), int(cols[2])
            except ValueError as err:
                raise BiblipError(
                    f"start/end are not integers ({err})",
                    where=f"{path}:{line_number}",
                    hint=f"{BED_HINT}; check line {line_number}",
                ) from err
            if end0 < start0 or start0 < 0:
                raise BiblipError(
                    "end is before start" if end0 < start0 else "start is negative",
                    where=f"{path}:{line_number}",
                    hint=f"{BED_HINT}; check line {line_number}",
                )
            name = cols[3] if len(cols) > 3 and cols[3] else f"{cols[0]}:{start0}-{end0}"
            yield Element(cols[0], start0, end0, name)


# --- the run ---------------------------------------------------------------------------------------
def _load_engine(opts: TargetOptions, bundle: Any) -> Any:
    spec = EngineSpec(
        opts.model_dir, opts.llm_dir, opts.text_encoder_dir, opts.device,
        batch_size=opts.batch_size, threads=opts.threads,
    )  # fmt: skip
    return load_engine(bundle, spec, without_model="run with --no-model (inverse distance to the TSS)")


class _Scorer:
    """Scores a list of (annotation, candidates) jobs with the engine or by inverse distance."""

    def __init__(self, engine: Any, batch_size: int) -> None:
        from biblip_cli.engine.target_prior import TargetPrior

        self.engine = engine
        self.batch_size = batch_size
        self.prior = TargetPrior.from_metadata(getattr(engine, "metadata", None) or {})

    def __call__(
        self, jobs: Sequence[tuple[AlleleAnnotation, list[TargetCandidate]]]
    ) -> list[list[TargetCandidate]]:
        if self.engine is None:
            return [rank_candidates(cands, inverse_distance_scores(cands)) for _, cands in jobs]
        flat_ann = [ann for ann, cands in jobs for _ in cands]
        flat_gene = [c.gene for _, cands in jobs for c in cands]
        # " yes" vs " no", one engine call per flush (the engine batches by --batch-size)
        log_odds = score_pairs(self.engine, flat_ann, flat_gene, max(len(flat_gene), 1))
        if self.prior is not None:  # candidates come nearest first: index = genes with a closer TSS
            distance = [c.distance for _, cands in jobs for c in cands]
            closer = [i for _, cands in jobs for i in range(len(cands))]
            scores = self.prior.probability(distance, closer, log_odds)
        else:
            scores = 1.0 / (1.0 + np.exp(-log_odds))
        out, at = [], 0
        for _, cands in jobs:
            out.append(rank_candidates(cands, scores[at : at + len(cands)]))
            at += len(cands)
        return out


def _open_text_out(target: str | Path | None) -> TextOutput | None:
    """A TSV through the output layer: temp file + rename (or written through for `-` and devices)."""
    if target is None:
        return None
    return TextOutput(target)


def run_target(
    opts: TargetOptions,
    *,
    engine: Any = None,
    bundle: Any = None,
    annotator: Annotator | None = None,
    progress: Progress | None = None,
) -> TargetSummary:
    """Run `biblip target`; `engine`/`bundle`/`annotator` may be injected (tests). `progress(records,
    pairs)` is called after every batch of the VCF pass (the CLI draws a bar)."""
    started = time.perf_counter()
    if (opts.input is None) == (opts.elements is None):
        raise UsageError(
            "give either an input VCF or --elements BED",
            hint="biblip target IN.vcf  or  biblip target --elements regions.bed",
        )
    if opts.window < 1 or opts.max_genes < 1 or (opts.top is not None and opts.top < 1):
        raise UsageError("--window, --max-genes and --top must be at least 1")
    from biblip_cli.io.vcf_compress import check_output_type

    check_output_type(opts.output_type)
    if opts.batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    if opts.threads is not None and opts.threads < 1:
        raise UsageError(f"--threads must be at least 1 (got {opts.threads})", hint="omit it for the default")
    if opts.elements is not None and (opts.region or opts.shard or opts.resume):
        raise UsageError("--region, --shard and --resume apply to a VCF input, not to --elements")
    from biblip_cli.io.vcf_regions import parse_region, parse_shard

    if opts.resume and any(
        path is not None and is_stdout(path) for path in (opts.input, opts.output, opts.tsv)
    ):  # before the model loads (devices and FIFOs are found when the outputs open)
        raise UsageError(
            "--resume needs an input file and output files",
            hint="pass -o OUT.vcf (and --tsv, if given, as a file too)",
        )
    if opts.region:
        parse_region(opts.region)
    if opts.shard:
        parse_shard(opts.shard)
    if opts.elements is not None:
        outputs = [
            ("--tsv" if opts.tsv is not None else "-o", opts.tsv if opts.tsv is not None else opts.output)
        ]
    else:
        if opts.tsv is not None and is_stdout(opts.tsv) and is_stdout(opts.output):
            raise UsageError(
                "stdout cannot carry both the VCF and the TSV", hint="give -o or --tsv a file name"
            )
        outputs = [("-o", opts.output), ("--tsv", opts.tsv)]
    check_outputs([opts.input, opts.elements], outputs)
    if bundle is None:
        from biblip_cli.bundle import Bundle

        bundle = Bundle.open(opts.bundle_dir)
    if engine is None and not opts.no_model:
        engine = _load_engine(opts, bundle)
    elif opts.threads:
        set_threads(opts.threads)
    summary = TargetSummary(scorer="model" if engine is not None else "inverse distance (--no-model)")
    if engine is None:
        log.warning("no model: candidate genes are scored by inverse distance to the TSS, not by Bio-BLIP")
    scorer = _Scorer(engine, opts.batch_size)
    summary.load_seconds = time.perf_counter() - started
    if opts.elements is not None:
        _run_elements(opts, bundle, scorer, summary)
    else:
        _run_vcf(opts, bundle, scorer, summary, annotator, progress)
    summary.seconds = time.perf_counter() - started
    return summary


def _report(cands: list[TargetCandidate], top: int | None) -> list[TargetCandidate]:
    return cands[:top] if top else cands


def _fmt(score: float) -> str:
    return f"{score:.4g}"


def _run_elements(opts: TargetOptions, bundle: Any, scorer: _Scorer, summary: TargetSummary) -> None:
    assert opts.elements is not None
    tsv_target = opts.tsv if opts.tsv is not None else opts.output
    sink = _open_text_out(tsv_target)
    assert sink is not None
    transcripts = bundle.transcripts
    try:
        sink.write("\t".join(BED_TSV_COLUMNS) + "\n")
        batch: list[tuple[Element, AlleleAnnotation, list[TargetCandidate]]] = []

        def flush() -> None:
            ranked = scorer([(ann, cands) for _, ann, cands in batch])
            for (element, _, _), cands in zip(batch, ranked):
                for c in _report(cands, opts.top):
                    sink.write(
                        f"{element.chrom}\t{element.start0}\t{element.end0}\t{element.name}\t{c.gene}\t{c.distance}\t{_fmt(c.score)}\t{c.rank}\n"
                    )
                    summary.pairs += 1
            batch.clear()

        for element in read_bed(opts.elements):
            summary.alleles += 1
            contig = transcript_contig(transcripts, bundle.genome, element.chrom)
            centre0 = (element.start0 + element.end0) // 2
            cands = (
                candidate_genes(transcripts, contig, centre0, opts.window, opts.max_genes) if contig else []
            )
            if not cands:
                summary.no_candidates += 1
                continue
            summary.scored += 1
            batch.append(
                (
                    element,
                    element_annotation(bundle, element.chrom, element.start0, element.end0, element.name),
                    cands,
                )
            )
            if sum(len(c) for _, _, c in batch) >= opts.batch_size:
                flush()
        flush()
    except BaseException:
        sink.abort()
        raise
    sink.commit()


class _VcfSinks:
    """Where the VCF pass writes: a resumable pair of partial files (`io/resumable.py`: checkpoint after
    every batch, `--resume`, renamed into place at the end) when both outputs are files, else the output
    layer's temp-file-and-rename writers (stdout and devices written through)."""

    def __init__(self, opts: TargetOptions, reader: Any, header_lines: Sequence[str] = ()) -> None:
        from biblip_cli.io.output_paths import is_special
        from biblip_cli.io.resumable import ResumableOutput, input_fingerprint
        from biblip_cli.io.vcf_header import header_text
        from biblip_cli.io.vcf_write import VcfOutput

        self.resumable: Any = None
        self.vcf: Any = None
        self.tsv: TextOutput | None = None
        self.resume_after = 0
        self.counters: dict[str, Any] = {}
        streamed = reader.is_stdin or any(
            path is not None and (is_stdout(path) or is_special(Path(path)))
            for path in (opts.output, opts.tsv)
        )
        if streamed and opts.resume:
            raise UsageError(
                "--resume needs an input file and output files",
                hint="pass -o OUT.vcf (and --tsv, if given, as a file too)",
            )
        if streamed:
            self.vcf = VcfOutput(opts.output, reader, opts.output_type, header_lines)
            try:
                self.tsv = _open_text_out(opts.tsv)
                if self.tsv is not None:
                    self.tsv.write("\t".join(VCF_TSV_COLUMNS) + "\n")
            except BaseException:
                self.vcf.abort()
                raise
            keep_files_if_stdout_closes(self.vcf.file, self.tsv.file if self.tsv is not None else None)
            return
        for line in header_lines:  # provenance, as VcfOutput adds it on the streamed path
            reader.vcf.add_to_header(line)
        fingerprint = input_fingerprint(opts.input, opts.fingerprint_options())
        self.resumable = ResumableOutput(Path(opts.output), opts.tsv, fingerprint, resume=opts.resume)
        if self.resumable.resumed:
            self.resume_after = self.resumable.state.records_done
            self.counters = dict(self.resumable.state.counters)
            return
        try:
            self.resumable.vcf.write(header_text(reader).encode("utf-8", "surrogateescape"))
            if self.resumable.tsv_file is not None:
                self.resumable.tsv_file.write(("\t".join(VCF_TSV_COLUMNS) + "\n").encode())
            self.resumable.checkpoint(0, {}, force=True)
        except BaseException:
            self.resumable.abort()
            raise

    def write(self, vcf_text: str, tsv_text: str) -> None:
        if self.resumable is not None:
            self.resumable.vcf.write(vcf_text.encode("utf-8", "surrogateescape"))
            if self.resumable.tsv_file is not None and tsv_text:
                self.resumable.tsv_file.write(tsv_text.encode("utf-8", "surrogateescape"))
            return
        self.vcf.write_text(vcf_text)
        if self.tsv is not None and tsv_text:
            self.tsv.write(tsv_text)

    def checkpoint(self, record_number: int, counters: dict[str, Any], force: bool = False) -> None:
        if self.resumable is not None:
            self.resumable.checkpoint(record_number, counters, force=force)

    def commit(self, output_type: str) -> None:
        if self.resumable is not None:
            self.resumable.finish(output_type)
            return
        try:
            self.vcf.finish()
            commit_all(self.vcf.file, self.tsv.file if self.tsv is not None else None)  # all or none
            self.vcf.commit()  # the index, for -O z
        except BaseException:
            self.abort()
            raise

    def interrupted(self) -> None:
        if self.resumable is not None:
            self.resumable.close_for_resume()
            log.warning("interrupted: rerun the same command with --resume to continue")
        else:
            self.abort()

    def abort(self) -> None:
        if self.resumable is not None:
            self.resumable.abort()
            return
        self.vcf.abort()
        if self.tsv is not None:
            self.tsv.abort()


def _run_vcf(
    opts: TargetOptions,
    bundle: Any,
    scorer: _Scorer,
    summary: TargetSummary,
    annotator: Annotator | None,
    progress: Progress | None = None,
) -> None:
    from biblip_cli.io.vcf_header import add_command_header, add_target_header, append_info, escape_info
    from biblip_cli.io.vcf_read import alleles, open_vcf, precheck
    from biblip_cli.io.vcf_regions import selected_records

    assert opts.input is not None
    if annotator is None:
        from biblip_cli.features.consequence import annotate_allele

        def annotator(allele: Allele) -> AlleleAnnotation:
            return annotate_allele(bundle, allele)

    if opts.tsv is not None and str(opts.tsv) == "-" and opts.output == "-":
        raise UsageError("stdout cannot carry both the VCF and the TSV", hint="give -o or --tsv a file name")
    reader = open_vcf(opts.input, threads=opts.threads)
    try:
        add_target_header(reader)
        add_command_header(reader, opts.command_line or "biblip target")
        from biblip_cli.engine.provenance import run_provenance

        provenance = run_provenance(bundle, scorer.engine, opts.model_dir, opts.llm_dir)
        sinks = _VcfSinks(opts, reader, provenance.header_lines())
    except BaseException:
        reader.close()
        raise
    if sinks.counters:
        summary.restore(sinks.counters)
    transcripts = bundle.transcripts
    bundle_contigs = dict(bundle.genome.contigs) if opts.shard else {}
    pending: list[tuple[Any, str | None, list[tuple[AlleleAnnotation, list[TargetCandidate]]]]] = []

    def flush() -> None:
        jobs = [job for _, _, jobs_ in pending for job in jobs_]
        ranked = iter(scorer(jobs))
        vcf_parts: list[str] = []
        tsv_parts: list[str] = []
        for variant, text, jobs_ in pending:
            entries = []
            for ann, _ in jobs_:
                cands = _report(next(ranked), opts.top)
                a = ann.allele
                for c in cands:
                    entries.append(f"{escape_info(a.alt)}|{escape_info(c.gene)}|{_fmt(c.score)}")
                    summary.by_gene[c.gene] = summary.by_gene.get(c.gene, 0) + 1
                    summary.pairs += 1
                    tsv_parts.append(
                        f"{a.chrom}\t{a.pos}\t{a.ref}\t{a.alt}\t{c.gene}\t{c.distance}\t{_fmt(c.score)}\t{c.rank}\n"
                    )
            line = text or record_text(variant)  # the input's own line where there is one
            vcf_parts.append(append_info(line, "BIOBLIP_TARGET=" + ",".join(entries)) if entries else line)
            summary.records += 1
        sinks.write("".join(vcf_parts), "".join(tsv_parts))
        pending.clear()

    try:
        n_pairs = 0
        last_number = sinks.resume_after
        for number, variant, text in selected_records(reader, opts.region, opts.shard, bundle_contigs):
            last_number = number
            if number <= sinks.resume_after:
                continue
            jobs: list[tuple[AlleleAnnotation, list[TargetCandidate]]] = []
            for allele in alleles(variant, number):
                summary.alleles += 1
                if precheck(allele) is not None:
                    continue
                ann = annotator(allele)
                if not ann.annotated and ann.status != "unknown_contig":
                    continue
                if not opts.include_coding and is_coding(ann):
                    summary.skipped_coding += 1
                    continue
                contig = transcript_contig(transcripts, bundle.genome, allele.chrom)
                cands = (
                    candidate_genes(transcripts, contig, allele.start0, opts.window, opts.max_genes)
                    if contig
                    else []
                )
                if not cands:
                    summary.no_candidates += 1
                    continue
                summary.scored += 1
                jobs.append(
                    (
                        ann if ann.annotated else AlleleAnnotation(allele, status="ok", note="no sequence"),
                        cands,
                    )
                )
                n_pairs += len(cands)
            pending.append((variant, text, jobs))
            if n_pairs >= opts.batch_size:
                flush()
                sinks.checkpoint(number, summary.counters())
                if progress is not None:
                    progress(summary.records, summary.pairs)
                n_pairs = 0
        flush()
        sinks.checkpoint(last_number, summary.counters(), force=True)
    except KeyboardInterrupt:
        sinks.interrupted()
        reader.close()
        raise
    except BaseException:
        sinks.abort()
        reader.close()
        raise
    reader.close()
    sinks.commit(opts.output_type)


def print_target_summary(summary: TargetSummary) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="biblip target", header_style="bold")
    table.add_column("what")
    table.add_column("value", justify="right")
    rows = [
        ("scorer", summary.scorer),
        ("records written", str(summary.records)),
        ("alleles / elements read", str(summary.alleles)),
        ("scored (>= 1 candidate gene)", str(summary.scored)),
        ("skipped as coding", str(summary.skipped_coding)),
        ("no gene within the window", str(summary.no_candidates)),
        ("allele x gene pairs reported", str(summary.pairs)),
        ("time", f"{summary.seconds:.1f} s ({summary.load_seconds:.1f} s start-up)"),
    ]
    work = summary.seconds - summary.load_seconds
    if summary.pairs and work > 0:
        rows.append(("pairs per second (after start-up)", f"{summary.pairs / work:,.0f}"))
    for what, value in rows:
        table.add_row(what, value)
    Console(stderr=True).print(table)
