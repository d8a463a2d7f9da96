"""`biblip annotate`: stream a VCF through the bundle (and the model), write VCF + optional TSV.

One loop: read records in batches of about `batch_size` alleles, annotate every ALT allele with the
consequence spine, score the batch with the model (unless `no_model`), write the records back with
a `BIOBLIP` INFO field (records with nothing annotated pass through untouched) and TSV rows.
Output to a file goes through `runio.ResumableOutput` so a killed run can `--resume`.
"""

from __future__ import annotations

import logging
import math
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from Bio import bgzf

from biblip_cli.engine.loading import EngineSpec, load_engine, set_threads
from biblip_cli.errors import BiblipError, UsageError
from biblip_cli.io.vcf_read import VcfReader, alleles, open_vcf, precheck, record_text
from biblip_cli.io.vcf_write import (
    BIOBLIP_COLUMNS,
    INFO_ESCAPES,
    add_bioblip_header,
    add_command_header,
    append_info,
    bgzf_writer,
    check_info_conflicts,
    escape_info,
    header_text,
)
from biblip_cli.records import Allele, AlleleAnnotation, GeneEffect

log = logging.getLogger(__name__)

Annotator = Callable[[Allele], AlleleAnnotation]
TSV_COLUMNS: tuple[str, ...] = ("chrom", "pos", "ref", "alt") + tuple(c.lower() for c in BIOBLIP_COLUMNS)
SCORED_STATUSES = ("ok",)  # ref mismatches are flagged, not scored


@dataclass
class AnnotateOptions:
    input: str
    output: str = "-"
    bundle_dir: Path | None = None
    model_dir: Path | None = None
    llm_dir: Path | None = None
    text_encoder_dir: Path | None = None
    explain: bool = False
    no_model: bool = False
    no_llm: bool = False  # cheap path: Q-former pathogenicity head, the LLM is not loaded
    tsv: Path | None = None
    output_type: str = "v"
    region: str | None = None
    shard: str | None = None
    batch_size: int = 256
    device: str = "auto"
    threads: int | None = None
    resume: bool = False
    command_line: str = ""
    quiet: bool = False
    overwrite_info: bool = False  # replace an input's own BIOBLIP* INFO declarations of another type

    def output_options(self) -> dict[str, Any]:
        """The options that change what is written (the resume fingerprint)."""
        return {
            "bundle": str(self.bundle_dir),
            "model": None if self.no_model else str(self.model_dir),
            "llm": None if self.no_model else str(self.llm_dir),
            "text_encoder": None if self.no_model else str(self.text_encoder_dir),
            "explain": self.explain,
            "no_llm": self.no_llm,
            "tsv": self.tsv is not None,
            "region": self.region,
            "shard": self.shard,
        }


@dataclass
class AnnotateSummary:
    records: int = 0  # records written
    alleles: int = 0
    model_scored: int = 0  # alleles with a model pathogenicity (inside the checkpoint's domain)
    seconds: float = 0.0
    by_consequence: Counter = field(default_factory=Counter)
    by_status: Counter = field(default_factory=Counter)
    unknown_contigs: list[str] = field(default_factory=list)
    output: str = "-"
    tsv: str | None = None

    @property
    def alleles_per_s(self) -> float:
        return self.alleles / self.seconds if self.seconds > 0 else 0.0

    def counters(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "alleles": self.alleles,
            "model_scored": self.model_scored,
            "by_consequence": dict(self.by_consequence),
            "by_status": dict(self.by_status),
            "unknown_contigs": self.unknown_contigs,
        }

    def restore(self, data: dict[str, Any]) -> None:
        self.records = data.get("records", 0)
        self.alleles = data.get("alleles", 0)
        self.model_scored = data.get("model_scored", 0)
        self.by_consequence = Counter(data.get("by_consequence", {}))
        self.by_status = Counter(data.get("by_status", {}))
        self.unknown_contigs = list(data.get("unknown_contigs", []))


def infer_output_type(output: str, output_type: str | None) -> str:
    """`-O` if given, else `z` for a `.gz`/`.bgz` output name, else `v`."""
    if output_type:
        return output_type
    return "z" if output.endswith((".gz", ".bgz")) else "v"


# --- region and shard ------------------------------------------------------------------------------

_REGION = re.compile(r"^([^:\s]+)(?::([\d,]+)(?:-([\d,]+))?)?$")


def parse_region(text: str) -> tuple[str, int, int | None]:
    """`chr20:1,000-2,000` -> ("chr20", 1000, 2000) (1-based, inclusive); `chr20` = whole contig."""
    match = _REGION.match(text.strip())
    if not match:
        raise UsageError(
            f"cannot read region {text!r}", hint="write it as chr:start-end, e.g. chr20:1000000-2000000"
        )
    chrom, start, end = match.group(1), match.group(2), match.group(3)
    start_i = int(start.replace(",", "")) if start else 1
    end_i = int(end.replace(",", "")) if end else None
    if start_i < 1 or (end_i is not None and end_i < start_i):
        raise UsageError(f"empty region {text!r}", hint="start must be >= 1 and <= end")
    return chrom, start_i, end_i


def parse_shard(text: str) -> tuple[int, int]:
    """`2/8` -> (2, 8), 1-based shard index."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise UsageError(f"cannot read shard {text!r}", hint="write it as i/n with 1 <= i <= n, e.g. 2/8")
    return int(match.group(1)), int(match.group(2))


class ShardPlan:
    """Cut the genome into n equal slices of bp; a record belongs to the slice holding its POS.

    Contig order is the input header's `##contig` order, then the bundle's; lengths come from the
    bundle (else the header). So for sorted input, shards 1..n concatenated in order are the whole
    output. Records on contigs known to neither go to the last shard."""

    def __init__(
        self, index: int, count: int, header_contigs: list[tuple[str, int]], bundle_contigs: dict[str, int]
    ):
        self.index = index
        self.count = count
        order: list[str] = [name for name, _ in header_contigs]
        lengths = dict(header_contigs)
        for name, length in bundle_contigs.items():
            if name not in lengths:
                order.append(name)
            lengths[name] = length or lengths.get(name, 0)
        self.offset: dict[str, int] = {}
        self.length: dict[str, int] = {}
        total = 0
        for name in order:
            self.offset[name] = total
            self.length[name] = max(lengths.get(name, 0), 0)
            total += self.length[name]
        self.total = max(total, 1)

    def shard_of(self, chrom: str, pos: int) -> int:
        offset = self.offset.get(chrom)
        if offset is None:
            return self.count
        at = offset + min(max(pos - 1, 0), max(self.length[chrom] - 1, 0))
        return min(self.count, at * self.count // self.total + 1)

    def keeps(self, chrom: str, pos: int) -> bool:
        return self.shard_of(chrom, pos) == self.index


def _header_contigs(reader: VcfReader) -> list[tuple[str, int]]:
    found = []
    for line in header_text(reader).splitlines():
        if line.startswith("##contig=<"):
            m_id = re.search(r"[<,]ID=([^,>]+)", line)
            m_len = re.search(r"[<,]length=(\d+)", line)
            if m_id:
                found.append((m_id.group(1), int(m_len.group(1)) if m_len else 0))
    return found


# --- formatting ------------------------------------------------------------------------------------


def _effect_values(allele: Allele, effect: GeneEffect | None, ann: AlleleAnnotation, score: str) -> list[str]:
    flags = "" if ann.status == "ok" else ann.status
    if effect is None:
        return [
            allele.alt,
            "",
            "",
            "intergenic_variant",
            "",
            "",
            "",
            score,
            "MODIFIER",
            "",
            "",
            "",
            "",
            "",
            flags,
        ]
    return [
        allele.alt,
        effect.gene,
        effect.transcript,
        effect.consequence,
        effect.hgvsp,
        "" if effect.protein_position is None else str(effect.protein_position),
        effect.amino_acids,
        score,
        effect.impact,
        effect.hgvsc,
        effect.codons,
        effect.exon,
        effect.intron,
        "" if effect.distance is None else str(effect.distance),
        flags,
    ]


def annotation_rows(ann: AlleleAnnotation, score: float | None) -> list[list[str]]:
    """Values in BIOBLIP_COLUMNS order, one list per reported gene (one for intergenic)."""
    text = "" if score is None else f"{score:.4f}"
    if not ann.annotated:
        row = [ann.allele.alt] + [""] * (len(BIOBLIP_COLUMNS) - 2) + [ann.status]
        return [row]
    if not ann.effects:
        return [_effect_values(ann.allele, None, ann, text)]
    return [_effect_values(ann.allele, effect, ann, text) for effect in ann.effects]


def most_severe(ann: AlleleAnnotation) -> str:
    if ann.effects and ann.effects[0].consequences:
        return ann.effects[0].consequences[0]
    return "intergenic_variant"


def _tsv_cell(value: str) -> str:
    return value.translate(_TSV_ESCAPES)


# Rows are joined once with a separator no value contains, then escaped for INFO or TSV in one
# `translate` each (escaping cell by cell dominated the spine's profile).
_SEP = "\x1f"
_INFO_ROW = str.maketrans({**{ord(k): v for k, v in INFO_ESCAPES.items()}, ord(_SEP): "|"})
_TSV_ESCAPES = str.maketrans({"\t": " ", "\n": " ", "\r": " "})
_TSV_ROW = str.maketrans({"\t": " ", "\n": " ", "\r": " ", _SEP: "\t"})


# --- the run ---------------------------------------------------------------------------------------


@dataclass
class _Batch:
    records: list[tuple[Any, str | None]] = field(default_factory=list)  # (variant, original line)
    annotations: list[list[AlleleAnnotation]] = field(default_factory=list)  # per record
    n_alleles: int = 0


def _default_annotator(bundle: Any) -> Annotator:
    try:
        from biblip_cli.features.consequence import annotate_allele
    except ImportError as err:  # pragma: no cover - only while the module is missing
        raise BiblipError("the consequence module is not installed", hint="reinstall biblip") from err

    def annotate(allele: Allele) -> AlleleAnnotation:
        return annotate_allele(bundle, allele)

    return annotate


def _load_engine(opts: AnnotateOptions, bundle: Any) -> Any:
    if opts.explain and opts.no_llm:
        raise BiblipError("--explain needs the LLM", hint="drop --no-llm to generate explanations")
    spec = EngineSpec(
        opts.model_dir, opts.llm_dir, opts.text_encoder_dir, opts.device,
        batch_size=min(opts.batch_size, 256), use_llm=not opts.no_llm, threads=opts.threads,
    )  # fmt: skip
    return load_engine(bundle, spec, without_model="run with --no-model for consequence annotation only")


def _records(
    reader: VcfReader, opts: AnnotateOptions, bundle_contigs: dict[str, int]
) -> Iterator[tuple[int, Any, str | None]]:
    """Input records, narrowed to --region (index if there is one, else a filter) and --shard."""
    region = parse_region(opts.region) if opts.region else None
    source: Iterator[tuple[int, Any, str | None]]
    if region and reader.has_index():
        chrom, start, end = region
        names = set(reader.seqnames)
        if chrom not in names:
            alt = chrom[3:] if chrom.startswith("chr") else "chr" + chrom
            chrom = alt if alt in names else chrom
        spec = f"{chrom}:{start}-{end}" if end else f"{chrom}:{start}"
        source = reader.records_text(spec) if chrom in names else iter(())
        region = None
    else:
        source = reader.records_text()
        if region:
            log.info("%s has no index: --region filters while reading the whole file", reader.name)
    shard = (
        ShardPlan(*parse_shard(opts.shard), _header_contigs(reader), bundle_contigs) if opts.shard else None
    )
    if region:
        chrom, start, end = region
        names = {chrom, chrom[3:] if chrom.startswith("chr") else "chr" + chrom}
        end0 = end if end is not None else 1 << 62
    for number, variant, text in source:
        if region and (variant.CHROM not in names or variant.end < start or variant.start >= end0):
            continue
        if shard and not shard.keeps(variant.CHROM, variant.POS):
            continue
        yield number, variant, text


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
    from biblip_cli.io.outputs import OutputFile, check_outputs, is_special, is_stdout
    from biblip_cli.io.resumable import ResumableOutput, input_fingerprint

    started = time.perf_counter()
    if opts.output_type not in ("v", "z"):
        raise UsageError(f"unknown --output-type {opts.output_type!r}", hint="use v (plain VCF) or z (bgzip)")
    if opts.batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    if opts.threads is not None and opts.threads < 1:
        raise UsageError(f"--threads must be at least 1 (got {opts.threads})", hint="omit it for the default")
    if opts.explain and opts.no_llm and not opts.no_model:
        raise UsageError("--explain needs the LLM", hint="drop --no-llm to generate explanations")
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
    set_threads(opts.threads)

    reader = open_vcf(opts.input, threads=opts.threads)
    try:
        check_info_conflicts(reader, overwrite=opts.overwrite_info)
        if bundle is None and annotator is None:
            from biblip_cli.bundle import Bundle

            bundle = Bundle.open(opts.bundle_dir)
        if annotator is None:
            annotator = _default_annotator(bundle)
        if engine is None and not opts.no_model:
            engine = _load_engine(opts, bundle)
    except BaseException:
        reader.close()
        raise
    bundle_contigs: dict[str, int] = {}
    if bundle is not None and opts.shard:
        bundle_contigs = dict(bundle.genome.contigs)

    add_bioblip_header(reader, explain=opts.explain and engine is not None)
    add_command_header(reader, opts.command_line or "biblip annotate")
    summary = AnnotateSummary(output=opts.output, tsv=str(opts.tsv) if opts.tsv else None)

    out: ResumableOutput | None = None
    stream: OutputFile | None = None
    vcf_stream: Any = None
    tsv_stream: OutputFile | None = None
    try:
        if streamed:
            stream = OutputFile(opts.output)
            vcf_stream = bgzf_writer(stream) if opts.output_type == "z" else stream  # type: ignore[arg-type]
            if opts.tsv is not None:
                tsv_stream = OutputFile(opts.tsv)
        else:
            if reader.is_stdin and opts.resume:
                raise UsageError("--resume cannot re-read stdin", hint="pass the input as a file")
            fingerprint = (
                input_fingerprint(opts.input, opts.output_options()) if not reader.is_stdin else "stdin"
            )
            out = ResumableOutput(Path(opts.output), opts.tsv, fingerprint, resume=opts.resume)
    except BaseException:
        for handle in (stream, tsv_stream):
            if handle is not None:
                handle.abort()
        reader.close()
        raise
    resume_after = 0
    if out is not None and out.resumed:
        resume_after = out.state.records_done
        summary.restore(out.state.counters)
    vcf_sink = out.vcf if out is not None else vcf_stream
    tsv_sink = out.tsv_file if out is not None else tsv_stream
    assert vcf_sink is not None

    def drop() -> None:
        if out is not None:
            out.abort()
        for handle in (stream, tsv_stream):
            if handle is not None:
                handle.abort()
        reader.close()

    try:
        if out is None or not out.resumed:
            vcf_sink.write(header_text(reader).encode("utf-8", "surrogateescape"))
            if tsv_sink is not None:
                columns = TSV_COLUMNS + (("explanation",) if opts.explain and engine is not None else ())
                tsv_sink.write(("\t".join(columns) + "\n").encode())
            if out is not None:
                out.checkpoint(0, summary.counters(), force=True)
    except BaseException:
        drop()
        raise

    slow = float(os.environ.get("BIBLIP_TEST_SLOW_BATCH", "0") or 0)
    warned_contigs = set(summary.unknown_contigs)
    try:
        batch = _Batch()
        last_number = resume_after
        for number, variant, text in _records(reader, opts, bundle_contigs):
            last_number = number
            if number <= resume_after:
                continue
            record_alleles = alleles(variant, number)
            anns = []
            for allele in record_alleles:
                status = precheck(allele)
                if status is not None:
                    anns.append(AlleleAnnotation(allele, status=status))
                    continue
                ann = annotator(allele)
                if ann.status == "unknown_contig" and allele.chrom not in warned_contigs:
                    warned_contigs.add(allele.chrom)
                    summary.unknown_contigs.append(allele.chrom)
                    log.warning(
                        "%s: contig %r is not in the bundle; its records pass through unannotated "
                        "(warned once per contig)",
                        reader.where(number),
                        allele.chrom,
                    )
                anns.append(ann)
            batch.records.append((variant, text))
            batch.annotations.append(anns)
            batch.n_alleles += len(anns)
            if batch.n_alleles >= opts.batch_size:
                _flush(batch, engine, opts, summary, vcf_sink, tsv_sink)
                if out is not None:
                    out.checkpoint(number, summary.counters())
                if progress is not None:
                    progress(summary.records, summary.alleles)
                if slow:
                    time.sleep(slow)
                batch = _Batch()
        _flush(batch, engine, opts, summary, vcf_sink, tsv_sink)
        if out is not None:
            out.checkpoint(last_number, summary.counters(), force=True)
    except KeyboardInterrupt:
        if out is not None:
            out.close_for_resume()
            log.warning("interrupted: rerun the same command with --resume to continue")
        for handle in (stream, tsv_stream):
            if handle is not None:
                handle.abort()
        reader.close()
        raise
    except BaseException:
        drop()
        raise
    reader.close()
    if out is not None:
        out.finish(opts.output_type)
    else:
        try:
            if isinstance(vcf_stream, bgzf.BgzfWriter):
                vcf_stream.close()
            assert stream is not None
            stream.commit()
            if tsv_stream is not None:
                tsv_stream.commit()
        except BaseException:
            drop()
            raise
    summary.seconds = time.perf_counter() - started
    return summary


def _flush(
    batch: _Batch,
    engine: Any,
    opts: AnnotateOptions,
    summary: AnnotateSummary,
    vcf_sink: BinaryIO | bgzf.BgzfWriter,
    tsv_sink: BinaryIO | None,
) -> None:
    """Score one batch with the model and write its records and TSV rows."""
    if not batch.records:
        return
    scores: dict[int, float] = {}
    explanations: dict[int, str] = {}
    if engine is not None:
        scored = [ann for anns in batch.annotations for ann in anns if ann.status in SCORED_STATUSES]
        if scored:
            probabilities = engine.pathogenicity(scored)
            for ann, p in zip(scored, probabilities):
                if not math.isnan(p):  # NaN: outside the checkpoint's pathogenicity domain, left empty
                    scores[id(ann)] = float(p)
                    summary.model_scored += 1
            if opts.explain:
                for ann, text in zip(scored, engine.explain(scored, probabilities=probabilities)):
                    explanations[id(ann)] = text
    vcf_parts: list[str] = []
    tsv_parts: list[str] = []
    for (variant, text), anns in zip(batch.records, batch.annotations):
        entries: list[str] = []
        explain_values: list[str] = []
        for ann in anns:
            summary.alleles += 1
            summary.by_status[ann.status] += 1
            if ann.annotated:
                summary.by_consequence[most_severe(ann)] += 1
            rows = [_SEP.join(row) for row in annotation_rows(ann, scores.get(id(ann)))]
            if ann.annotated:
                entries.extend(row.translate(_INFO_ROW) for row in rows)
            explain_text = explanations.get(id(ann), "")
            explain_values.append(escape_info(explain_text) if explain_text else ".")
            if tsv_sink is not None:
                allele = ann.allele
                prefix = f"{allele.chrom}\t{allele.pos}\t{allele.ref}\t{allele.alt}\t"
                tail = ("\t" + _tsv_cell(explain_text)) if opts.explain and engine is not None else ""
                tsv_parts.extend(prefix + row.translate(_TSV_ROW) + tail + "\n" for row in rows)
        if entries:
            added = "BIOBLIP=" + ",".join(entries)
            if explanations and any(v != "." for v in explain_values):
                added += ";BIOBLIP_EXPLAIN=" + ",".join(explain_values)
            vcf_parts.append(with_info(variant, added, text))
        else:
            vcf_parts.append(text or record_text(variant))
        summary.records += 1
    vcf_sink.write("".join(vcf_parts).encode("utf-8", "surrogateescape"))
    if tsv_sink is not None:
        tsv_sink.write("".join(tsv_parts).encode("utf-8", "surrogateescape"))
    if getattr(vcf_sink, "owned", True) is False:  # stdout: pass records on as they are done
        vcf_sink.flush()


def with_info(variant: Any, added: str, text: str | None = None) -> str:
    """The record's text (its own line, else htslib's) with `added` appended to INFO (`vcf_write.append_info`)."""
    return append_info(text or record_text(variant), added)


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
