"""`biblip target`: which genes might a noncoding variant (or a regulatory element) regulate?

For each noncoding ALT allele (or each element of `--elements`), the candidates are the genes with a
TSS within `window` bp, nearest first, at most `max_genes`. With a checkpoint that has `target_head`
(`engine/target_head.py`), each (allele, gene) pair goes through the Q-former once (the gene marked as
the asked-about gene, the element's chromatin activity as its own token when the element table gives
it) and the score is a logistic model over the regulates head's logit, the distance to the TSS, the
number of closer genes and the activity: no LLM. Older checkpoints ask the LLM "does this element
regulate gene G?" and combine the answer with `target_prior`. Only the gene model is needed: where the
bundle has no sequence the DNA modality is masked. `no_model` scores by inverse distance instead.

Output: INFO `BIOBLIP_TARGET=Allele|Gene|score,...` (best first) and a TSV
(`chrom pos ref alt gene distance score rank`, or `chrom start end name gene distance score rank`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from biblip_cli.commands.target_bed import Element, read_bed
from biblip_cli.commands.target_options import (
    BED_TSV_COLUMNS,
    Progress,
    TargetOptions,
    TargetSummary,
)
from biblip_cli.commands.target_sinks import VcfSinks, open_text_out
from biblip_cli.engine.loading import EngineSpec, load_engine, set_threads
from biblip_cli.errors import UsageError
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
from biblip_cli.io.outputs import check_outputs
from biblip_cli.io.vcf_read import alleles, open_vcf, precheck, record_text
from biblip_cli.records import Allele, AlleleAnnotation, ElementActivity

log = logging.getLogger(__name__)

Annotator = Callable[[Allele], AlleleAnnotation]
Job = tuple[AlleleAnnotation, list[TargetCandidate]]  # one allele and its candidate genes


# --- the run ---------------------------------------------------------------------------------------
def _load_engine(opts: TargetOptions, bundle: Any) -> Any:
    from biblip_cli.model.biblip import checkpoint_metadata

    # a checkpoint with a trained regulates head scores without the LLM (engine/target_head.py)
    has_head = bool(checkpoint_metadata(opts.model_dir).get("target_head"))
    spec = EngineSpec(
        opts.model_dir, opts.llm_dir, opts.text_encoder_dir, opts.device,
        batch_size=opts.batch_size, threads=opts.threads, use_llm=not has_head,
    )  # fmt: skip
    return load_engine(bundle, spec, without_model="run with --no-model (inverse distance to the TSS)")


class _Scorer:
    """Scores a list of (annotation, candidates) jobs with the engine or by inverse distance."""

    def __init__(self, engine: Any, batch_size: int) -> None:
        from biblip_cli.engine.target_head import TargetHead
        from biblip_cli.engine.target_prior import TargetPrior

        self.engine = engine
        self.batch_size = batch_size
        metadata = getattr(engine, "metadata", None) or {}
        self.head = TargetHead.from_metadata(metadata)
        self.prior = TargetPrior.from_metadata(metadata)

    def __call__(
        self,
        jobs: Sequence[tuple[AlleleAnnotation, list[TargetCandidate]]],
        activities: Sequence[ElementActivity | None] | None = None,
    ) -> list[list[TargetCandidate]]:
        """`activities[j]`: the chromatin activity of job j's element (--elements tables), or None."""
        if self.engine is None:
            return [rank_candidates(cands, inverse_distance_scores(cands)) for _, cands in jobs]
        flat_ann = [ann for ann, cands in jobs for _ in cands]
        flat_gene = [c.gene for _, cands in jobs for c in cands]
        acts = activities if activities is not None else [None] * len(jobs)
        flat_act = [a for a, (_, cands) in zip(acts, jobs, strict=True) for _ in cands]
        # candidates come nearest first: the index is the number of genes with a closer TSS
        distance = [c.distance for _, cands in jobs for c in cands]
        closer = [i for _, cands in jobs for i in range(len(cands))]
        if self.head is not None:  # Q-former head, no LLM: one pass per --batch-size pairs
            logits = self.engine.regulates_head(flat_ann, flat_gene, flat_act)
            scores = self.head.probability(distance, closer, flat_act, logits)
        elif self.prior is not None:  # " yes" vs " no" of the LLM, one engine call per flush
            log_odds = score_pairs(self.engine, flat_ann, flat_gene, max(len(flat_gene), 1))
            scores = self.prior.probability(distance, closer, log_odds)
        else:
            scores = 1.0 / (
                1.0 + np.exp(-score_pairs(self.engine, flat_ann, flat_gene, max(len(flat_gene), 1)))
            )
        out, at = [], 0
        for _, cands in jobs:
            out.append(rank_candidates(cands, scores[at : at + len(cands)]))
            at += len(cands)
        return out


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
    sink = open_text_out(tsv_target)
    assert sink is not None
    transcripts = bundle.transcripts
    try:
        sink.write("\t".join(BED_TSV_COLUMNS) + "\n")
        batch: list[tuple[Element, AlleleAnnotation, list[TargetCandidate]]] = []

        def flush() -> None:
            ranked = scorer([(ann, cands) for _, ann, cands in batch], [e.activity for e, _, _ in batch])
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


def _bundle_annotator(bundle: Any) -> Annotator:
    from biblip_cli.features.consequence import annotate_allele

    def annotator(allele: Allele) -> AlleleAnnotation:
        return annotate_allele(bundle, allele)

    return annotator


def _open_vcf_pass(opts: TargetOptions, bundle: Any, scorer: _Scorer) -> tuple[Any, VcfSinks]:
    """The input reader with the target and provenance header lines, and the sinks it writes to."""
    from biblip_cli.io.vcf_header import add_command_header, add_target_header

    reader = open_vcf(opts.input, threads=opts.threads)
    try:
        add_target_header(reader)
        add_command_header(reader, opts.command_line or "biblip target")
        from biblip_cli.engine.provenance import run_provenance

        provenance = run_provenance(bundle, scorer.engine, opts.model_dir, opts.llm_dir)
        sinks = VcfSinks(opts, reader, provenance.header_lines())
    except BaseException:
        reader.close()
        raise
    return reader, sinks


class _VcfPass:
    """One pass over the VCF: each record's alleles become scoring jobs, scored and written in batches
    of about `--batch-size` pairs, with a checkpoint after every batch."""

    def __init__(
        self,
        opts: TargetOptions,
        bundle: Any,
        scorer: _Scorer,
        summary: TargetSummary,
        annotator: Annotator,
        sinks: VcfSinks,
    ) -> None:
        self.opts = opts
        self.bundle = bundle
        self.scorer = scorer
        self.summary = summary
        self.annotator = annotator
        self.sinks = sinks
        self.transcripts = bundle.transcripts
        self.bundle_contigs = dict(bundle.genome.contigs) if opts.shard else {}
        self.pending: list[tuple[Any, str | None, list[Job]]] = []

    def run(self, reader: Any, progress: Progress | None) -> None:
        from biblip_cli.io.vcf_regions import selected_records

        opts, summary, sinks = self.opts, self.summary, self.sinks
        n_pairs = 0
        last_number = sinks.resume_after
        for number, variant, text in selected_records(reader, opts.region, opts.shard, self.bundle_contigs):
            last_number = number
            if number <= sinks.resume_after:
                continue
            jobs = self.allele_jobs(variant, number)
            n_pairs += sum(len(cands) for _, cands in jobs)
            self.pending.append((variant, text, jobs))
            if n_pairs >= opts.batch_size:
                self.flush()
                sinks.checkpoint(number, summary.counters())
                if progress is not None:
                    progress(summary.records, summary.pairs)
                n_pairs = 0
        self.flush()
        sinks.checkpoint(last_number, summary.counters(), force=True)

    def allele_jobs(self, variant: Any, number: int) -> list[Job]:
        """The record's noncoding (unless --include-coding) alleles with >= 1 candidate gene."""
        opts, summary, bundle = self.opts, self.summary, self.bundle
        jobs: list[Job] = []
        for allele in alleles(variant, number):
            summary.alleles += 1
            if precheck(allele) is not None:
                continue
            ann = self.annotator(allele)
            if not ann.annotated and ann.status != "unknown_contig":
                continue
            if not opts.include_coding and is_coding(ann):
                summary.skipped_coding += 1
                continue
            contig = transcript_contig(self.transcripts, bundle.genome, allele.chrom)
            cands = (
                candidate_genes(self.transcripts, contig, allele.start0, opts.window, opts.max_genes)
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
        return jobs

    def flush(self) -> None:
        from biblip_cli.io.vcf_header import append_info, escape_info

        summary = self.summary
        jobs = [job for _, _, jobs_ in self.pending for job in jobs_]
        ranked = iter(self.scorer(jobs))
        vcf_parts: list[str] = []
        tsv_parts: list[str] = []
        for variant, text, jobs_ in self.pending:
            entries = []
            for ann, _ in jobs_:
                cands = _report(next(ranked), self.opts.top)
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
        self.sinks.write("".join(vcf_parts), "".join(tsv_parts))
        self.pending.clear()


def _run_vcf(
    opts: TargetOptions,
    bundle: Any,
    scorer: _Scorer,
    summary: TargetSummary,
    annotator: Annotator | None,
    progress: Progress | None = None,
) -> None:
    assert opts.input is not None
    if annotator is None:
        annotator = _bundle_annotator(bundle)
    if opts.tsv is not None and str(opts.tsv) == "-" and opts.output == "-":
        raise UsageError("stdout cannot carry both the VCF and the TSV", hint="give -o or --tsv a file name")
    reader, sinks = _open_vcf_pass(opts, bundle, scorer)
    if sinks.counters:
        summary.restore(sinks.counters)
    try:
        vcf_pass = _VcfPass(opts, bundle, scorer, summary, annotator, sinks)  # reads the gene model: may fail
        vcf_pass.run(reader, progress)
    except KeyboardInterrupt:
        if sinks.interrupted():
            log.warning("interrupted: rerun the same command with --resume to continue")
        reader.close()
        raise
    except BaseException:
        sinks.abort()
        reader.close()
        raise
    reader.close()
    sinks.commit(opts.output_type)
