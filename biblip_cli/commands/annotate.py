"""`biblip annotate`: stream a VCF through the bundle (and the model), write VCF + optional TSV.

One loop: read records in batches of about `batch_size` alleles, annotate every ALT allele with the
consequence spine, score the batch with the model (unless `no_model`), write the records back with
a `BIOBLIP` INFO field (records with nothing annotated pass through untouched) and TSV rows.
Output to a file goes through `runio.ResumableOutput` so a killed run can `--resume`.
"""

from __future__ import annotations

import gc
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from Bio import bgzf

from biblip_cli.commands.annotate_options import AnnotateOptions, AnnotateSummary
from biblip_cli.commands.annotate_rows import TSV_COLUMNS, Batch, write_batch
from biblip_cli.commands.annotate_workers import rendered_batches, worker_count
from biblip_cli.engine.loading import EngineSpec, load_engine, set_threads
from biblip_cli.engine.provenance import run_provenance
from biblip_cli.errors import BiblipError, UsageError
from biblip_cli.io.vcf_compress import bgzf_writer, check_output_type, write_bcf
from biblip_cli.io.vcf_header import add_bioblip_header, add_command_header, check_info_conflicts, header_text
from biblip_cli.io.vcf_read import VcfReader, alleles, open_vcf, precheck
from biblip_cli.io.vcf_regions import parse_region, parse_shard, selected_records
from biblip_cli.io.vcf_write import text_spool
from biblip_cli.records import Allele, AlleleAnnotation

if TYPE_CHECKING:
    from biblip_cli.io.outputs import OutputFile
    from biblip_cli.io.resumable import ResumableOutput

log = logging.getLogger(__name__)

Annotator = Callable[[Allele], AlleleAnnotation]
BatchAnnotator = Callable[[list[Allele]], list[AlleleAnnotation]]


def _default_annotator(bundle: Any) -> BatchAnnotator:
    from biblip_cli.features.consequence_batch import annotate_batch

    def annotate(batch: list[Allele]) -> list[AlleleAnnotation]:
        return annotate_batch(bundle, batch)

    return annotate


def _one_at_a_time(annotator: Annotator) -> BatchAnnotator:
    def annotate(batch: list[Allele]) -> list[AlleleAnnotation]:
        return [annotator(allele) for allele in batch]

    return annotate


def record_annotations(
    per_record: list[list[Allele]], annotate: BatchAnnotator
) -> list[list[AlleleAnnotation]]:
    """Annotations of each record's alleles; alleles the spine cannot place get their `precheck`
    status, the others go to `annotate` in one batch."""
    result: list[list[AlleleAnnotation]] = []
    todo: list[Allele] = []
    slots: list[tuple[list[Any], int]] = []
    for record in per_record:
        anns: list[Any] = []
        for allele in record:
            status = precheck(allele)
            if status is None:
                todo.append(allele)
                slots.append((anns, len(anns)))
                anns.append(None)  # filled below
            else:
                anns.append(AlleleAnnotation(allele, status=status))
        result.append(anns)
    for (anns, j), ann in zip(slots, annotate(todo), strict=True):
        anns[j] = ann
    return result


def _load_engine(opts: AnnotateOptions, bundle: Any) -> Any:
    if opts.explain and opts.no_llm:
        raise BiblipError("--explain needs the LLM", hint="drop --no-llm to generate explanations")
    # the LLM is loaded for --explain, or when the LLM's answer is reported (--score llm, or the checkpoint's choice)
    if opts.score not in (None, "head", "llm"):
        raise UsageError(f"--score must be head or llm, not {opts.score!r}")
    if opts.score == "llm" and opts.no_llm:
        raise UsageError("--score llm needs the LLM", hint="drop --no-llm")
    from biblip_cli.engine.engine import reported_score
    from biblip_cli.model.biblip import checkpoint_metadata

    score = opts.score or reported_score(checkpoint_metadata(opts.model_dir))
    use_llm = not opts.no_llm and (opts.explain or score == "llm")
    spec = EngineSpec(
        opts.model_dir, opts.llm_dir, opts.text_encoder_dir, opts.device,
        batch_size=min(opts.batch_size, 256), use_llm=use_llm, threads=opts.threads, force=opts.force,
    )  # fmt: skip
    return load_engine(bundle, spec, without_model="run with --no-model for consequence annotation only")


def _records(
    reader: VcfReader, opts: AnnotateOptions, bundle_contigs: dict[str, int]
) -> Iterator[tuple[int, Any, str | None]]:
    """Input records, narrowed to --region (index if there is one, else a filter) and --shard."""
    return selected_records(reader, opts.region, opts.shard, bundle_contigs)


def run_annotate(
    opts: AnnotateOptions,
    *,
    annotator: Annotator | None = None,
    engine: Any = None,
    bundle: Any = None,
    progress: Callable[[int, int], None] | None = None,
) -> AnnotateSummary:
    """Annotate `opts.input`; `annotator`/`engine`/`bundle` may be injected (tests).

    `progress(records_written, alleles)` is called after every batch (the CLI draws a bar)."""
    started = time.perf_counter()
    streamed = _check_options(opts)

    reader = open_vcf(opts.input, threads=opts.threads)
    bundle, annotate, engine = _open_inputs(opts, reader, bundle, annotator, engine)
    bundle_contigs: dict[str, int] = {}
    if bundle is not None and opts.shard:
        bundle_contigs = dict(bundle.genome.contigs)

    add_bioblip_header(reader, explain=opts.explain and engine is not None)
    add_command_header(reader, opts.command_line or "biblip annotate")
    provenance = run_provenance(bundle, engine, opts.model_dir, opts.llm_dir)
    for line in provenance.header_lines():
        reader.vcf.add_to_header(line)
    summary = AnnotateSummary(output=opts.output, tsv=str(opts.tsv) if opts.tsv else None)

    sinks, resume_after = _start_outputs(opts, reader, streamed, engine, summary)
    out = sinks.out

    try:
        _annotate_records(
            reader, opts, bundle_contigs, annotate, engine, summary, sinks, resume_after, progress
        )
    except KeyboardInterrupt:
        if out is not None:
            out.close_for_resume()
            log.warning("interrupted: rerun the same command with --resume to continue")
        sinks.abort_streams()
        reader.close()
        raise
    except BaseException:
        sinks.drop(reader)
        raise
    reader.close()
    _finish(opts, sinks, reader)
    if opts.tsv is not None:
        write_sidecar(opts.tsv, provenance.sidecar_text())
    summary.seconds = time.perf_counter() - started
    return summary


def _open_inputs(
    opts: AnnotateOptions, reader: Any, bundle: Any, annotator: Annotator | None, engine: Any
) -> tuple[Any, BatchAnnotator, Any]:
    """The bundle, annotator and engine that were not injected; the reader is closed where one fails."""
    try:
        check_info_conflicts(reader, overwrite=opts.overwrite_info)
        if bundle is None and annotator is None:
            from biblip_cli.bundle import Bundle

            bundle = Bundle.open(opts.bundle_dir)
        if annotator is None:
            annotate = _default_annotator(bundle)
        else:
            annotate = _one_at_a_time(annotator)
        if engine is None and not opts.no_model:
            engine = _load_engine(opts, bundle)
    except BaseException:
        reader.close()
        raise
    return bundle, annotate, engine


def _start_outputs(
    opts: AnnotateOptions, reader: Any, streamed: bool, engine: Any, summary: AnnotateSummary
) -> tuple[Any, int]:
    """Open the outputs: a fresh run writes the headers (and a first checkpoint), a resumed one restores
    the summary's counters. Returns the sinks and the last record number already written."""
    sinks = _open_outputs(opts, reader, streamed)
    out = sinks.out
    resume_after = 0
    if out is not None and out.resumed:
        resume_after = out.state.records_done
        summary.restore(out.state.counters)
    vcf_sink = out.vcf if out is not None else sinks.vcf_stream
    tsv_sink = out.tsv_file if out is not None else sinks.tsv_stream
    assert vcf_sink is not None

    try:
        if out is None or not out.resumed:
            vcf_sink.write(header_text(reader).encode("utf-8", "surrogateescape"))
            if tsv_sink is not None:
                columns = TSV_COLUMNS + (("explanation",) if opts.explain and engine is not None else ())
                tsv_sink.write(("\t".join(columns) + "\n").encode())
            if out is not None:
                out.checkpoint(0, summary.counters(), force=True)
    except BaseException:
        sinks.drop(reader)
        raise
    return sinks, resume_after


def _check_options(opts: AnnotateOptions) -> bool:
    """The usage checks before any work; True when the outputs are written through (no resume)."""
    from biblip_cli.io.output_paths import is_special, is_stdout
    from biblip_cli.io.outputs import check_outputs

    check_output_type(opts.output_type, opts.write_index)
    if opts.batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    if opts.threads is not None and opts.threads < 1:
        raise UsageError(f"--threads must be at least 1 (got {opts.threads})", hint="omit it for the default")
    if opts.explain and opts.no_llm:
        raise UsageError("--explain needs the LLM", hint="drop --no-llm to generate explanations")
    if opts.explain and opts.no_model:  # it would be ignored without a word
        raise UsageError("--explain needs the model", hint="drop --no-model to generate explanations")
    # written through (stdout, devices, FIFOs) or atomically at the end: no resumable partial files
    streamed = any(
        path is not None and (is_stdout(path) or is_special(Path(path))) for path in (opts.output, opts.tsv)
    )
    if streamed and opts.resume:
        raise UsageError(
            "--resume needs an output file", hint="pass -o OUT.vcf.gz (and --tsv, if given, as a file too)"
        )
    if opts.tsv is not None and is_stdout(opts.tsv) and is_stdout(opts.output):
        raise UsageError("stdout cannot carry both the VCF and the TSV", hint="give -o or --tsv a file name")
    check_outputs([opts.input], [("-o", opts.output), ("--tsv", opts.tsv)])
    if opts.region:
        parse_region(opts.region)
    if opts.shard:
        parse_shard(opts.shard)
    if not opts.no_model:  # torch's threads; without the model, importing torch alone costs ~1.5 s
        set_threads(opts.threads)
    return streamed


@dataclass
class _Sinks:
    """Where a run writes: a resumable output (files), or streams written through (stdout, FIFOs)."""

    out: ResumableOutput | None = None
    stream: OutputFile | None = None
    vcf_stream: Any = None
    tsv_stream: OutputFile | None = None
    spool: OutputFile | None = None  # -O b/u written through: the text VCF, converted at the end

    def abort_streams(self) -> None:
        for handle in (self.spool, self.stream, self.tsv_stream):
            if handle is not None:
                handle.abort()

    def drop(self, reader: VcfReader) -> None:
        if self.out is not None:
            self.out.abort()
        self.abort_streams()
        reader.close()


def _open_outputs(opts: AnnotateOptions, reader: VcfReader, streamed: bool) -> _Sinks:
    from biblip_cli.io.outputs import OutputFile, keep_files_if_stdout_closes
    from biblip_cli.io.resumable import ResumableOutput, input_fingerprint

    sinks = _Sinks()
    try:
        if streamed:
            sinks.stream = OutputFile(opts.output)
            if opts.output_type in ("b", "u"):
                sinks.spool = text_spool(sinks.stream)
            sinks.vcf_stream = (
                bgzf_writer(sinks.stream) if opts.output_type == "z" else (sinks.spool or sinks.stream)
            )  # type: ignore[arg-type]
            if opts.tsv is not None:
                sinks.tsv_stream = OutputFile(opts.tsv)
            keep_files_if_stdout_closes(sinks.stream, sinks.tsv_stream)  # `-o o.vcf --tsv - | head`
        else:
            if reader.is_stdin and opts.resume:
                raise UsageError("--resume cannot re-read stdin", hint="pass the input as a file")
            fingerprint = (
                input_fingerprint(opts.input, opts.output_options()) if not reader.is_stdin else "stdin"
            )
            sinks.out = ResumableOutput(Path(opts.output), opts.tsv, fingerprint, resume=opts.resume)
    except BaseException:
        sinks.abort_streams()
        reader.close()
        raise
    return sinks


def _annotate_records(
    reader: VcfReader,
    opts: AnnotateOptions,
    bundle_contigs: dict[str, int],
    annotate: BatchAnnotator,
    engine: Any,
    summary: AnnotateSummary,
    sinks: _Sinks,
    resume_after: int,
    progress: Callable[[int, int], None] | None,
) -> None:
    """The loop: annotate each record's alleles, write a batch every `batch_size` alleles (in forked
    workers with `--no-model --threads N`: `annotate_workers`, the same batches and output)."""
    out = sinks.out
    vcf_sink = out.vcf if out is not None else sinks.vcf_stream
    tsv_sink = out.tsv_file if out is not None else sinks.tsv_stream
    slow = float(os.environ.get("BIBLIP_TEST_SLOW_BATCH", "0") or 0)
    warned_contigs = set(summary.unknown_contigs)

    def annotate_lists(per_record: list[list[Allele]]) -> list[list[AlleleAnnotation]]:
        return record_annotations(per_record, annotate)

    def warn_unknown(contig: str, number: int) -> None:
        if contig not in warned_contigs:
            warned_contigs.add(contig)
            summary.unknown_contigs.append(contig)
            log.warning(
                "%s: contig %r is not in the bundle; its records pass through unannotated "
                "(warned once per contig)",
                reader.where(number),
                contig,
            )

    def after_batch(number: int) -> None:
        gc.collect(1)  # the young generations only: what this batch left (paused_cyclic_gc)
        if out is not None:
            out.checkpoint(number, summary.counters())
        if progress is not None:
            progress(summary.records, summary.alleles)
        if slow:
            time.sleep(slow)

    with paused_cyclic_gc():
        last_number = _record_loop(
            reader, opts, bundle_contigs, annotate_lists, warn_unknown, after_batch, engine, summary,
            vcf_sink, tsv_sink, resume_after,
        )  # fmt: skip
    if out is not None:
        out.checkpoint(last_number, summary.counters(), force=True)


def _record_loop(
    reader: VcfReader,
    opts: AnnotateOptions,
    bundle_contigs: dict[str, int],
    annotate_lists: Callable[[list[list[Allele]]], list[list[AlleleAnnotation]]],
    warn_unknown: Callable[[str, int], None],
    after_batch: Callable[[int], None],
    engine: Any,
    summary: AnnotateSummary,
    vcf_sink: Any,
    tsv_sink: Any,
    resume_after: int,
) -> int:
    """Batches through the serial loop or the spine workers; returns the last record number read."""
    last_number = resume_after
    records = _records(reader, opts, bundle_contigs)
    processes = worker_count(opts)
    if processes > 1:
        vcf_sink.flush()
        if tsv_sink is not None:
            tsv_sink.flush()
        todo = ((n, v, t) for n, v, t in records if n > resume_after)
        for rendered in rendered_batches(opts, todo, annotate_lists, processes):
            for contig, number in rendered.unknown_contigs:
                warn_unknown(contig, number)
            vcf_sink.write(rendered.vcf)
            if tsv_sink is not None:
                tsv_sink.write(rendered.tsv)
            if getattr(vcf_sink, "owned", True) is False:
                vcf_sink.flush()
            summary.add(rendered.summary)
            last_number = rendered.last_number
            after_batch(last_number)
    else:
        batch, per_record = Batch(), []

        def flush() -> None:
            batch.annotations = annotate_lists(per_record)
            for anns in batch.annotations:
                for ann in anns:
                    if ann.status == "unknown_contig":
                        warn_unknown(ann.allele.chrom, ann.allele.record_number)
            write_batch(batch, engine, opts, summary, vcf_sink, tsv_sink)

        for number, variant, text in records:
            last_number = number
            if number <= resume_after:
                continue
            batch.records.append((variant, text))
            found = alleles(variant, number)
            per_record.append(found)
            batch.n_alleles += len(found)
            if batch.n_alleles >= opts.batch_size:
                flush()
                batch, per_record = Batch(), []  # freed before after_batch's collection scans what is left
                after_batch(number)
        flush()
    return last_number


@contextmanager
def paused_cyclic_gc() -> Iterator[None]:
    """The record loop makes millions of short-lived objects that reference counting frees. Left on,
    the cyclic collector keeps rescanning everything that survives (gene model, zone tables, caches):
    a third of the spine's time. It is paused for the loop; a young-generation collection after each batch
    still frees any cycle a batch made."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _finish(opts: AnnotateOptions, sinks: _Sinks, reader: VcfReader) -> None:
    """Rename the finished outputs into place (the resumable pair, or the streamed files)."""
    from biblip_cli.io.outputs import commit_all

    if sinks.out is not None:
        sinks.out.finish(opts.output_type, opts.write_index)
    else:
        try:
            if isinstance(sinks.vcf_stream, bgzf.BgzfWriter):
                sinks.vcf_stream.close()
            assert sinks.stream is not None
            if sinks.spool is not None:
                sinks.spool.flush()
                write_bcf(sinks.spool.temp, sinks.stream, opts.output_type)  # type: ignore[arg-type]
                sinks.spool.abort()
            commit_all(sinks.stream, sinks.tsv_stream)  # all or none; written-through ones flushed first
        except BaseException:
            sinks.drop(reader)
            raise


def write_sidecar(tsv: Path, text: str) -> None:
    """`TSV.provenance.json` beside a TSV file (none for stdout, devices and FIFOs), through the output layer."""
    from biblip_cli.io.output_paths import is_special, is_stdout
    from biblip_cli.io.outputs import OutputFile

    if is_stdout(str(tsv)) or is_special(Path(tsv)):
        return
    out = OutputFile(str(tsv) + ".provenance.json")
    try:
        out.write(text.encode())
    except BaseException:
        out.abort()
        raise
    out.commit()


def print_summary(summary: AnnotateSummary) -> None:
    """The end-of-run table on stderr (rich)."""
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=True)
    table = Table(title="biblip annotate", show_header=True, header_style="bold")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("records", f"{summary.records:,}")
    table.add_row("alleles", f"{summary.alleles:,}")
    for status, count in sorted(summary.by_status.items(), key=lambda kv: -kv[1]):
        table.add_row(f"status: {status}", f"{count:,}")
    for term, count in sorted(summary.by_consequence.items(), key=lambda kv: -kv[1]):
        table.add_row(f"  {term}", f"{count:,}")
    if summary.unknown_contigs:
        table.add_row("unknown contigs", ", ".join(summary.unknown_contigs[:10]))
    if summary.model_scored:
        table.add_row("model pathogenicity", f"{summary.model_scored:,}")
    table.add_row("seconds", f"{summary.seconds:.2f}")
    rate = summary.alleles_per_s
    table.add_row("alleles/s", f"{rate:,.0f}" if rate >= 100 else f"{rate:.2f}")
    console.print(table)
