"""`biblip annotate --no-model --threads N`: the consequence spine in N forked worker processes.

Why processes: the spine is pure Python and holds the GIL, so threads cannot share it out. Every
worker reads the whole input with its own cyvcf2 reader (parsing costs ~3 us a record, little next
to annotating it) and cuts it into exactly the batches the serial loop makes; worker w annotates and
renders batches w, w+N, w+2N, ... and puts each rendered batch (VCF and TSV text, counters) on its own
bounded queue. The parent takes batch k from queue k mod N, so the output, its order and the resume
checkpoints are those of the serial loop, and memory stays flat (at most `_QUEUE_DEPTH` batches wait
per worker). Workers are forked after the bundle is loaded, so they start in milliseconds.
"""

from __future__ import annotations

import gc
import io
import logging
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from queue import Full
from typing import Any

from biblip_cli.commands.annotate_options import AnnotateOptions, AnnotateSummary
from biblip_cli.commands.annotate_rows import Batch, write_batch
from biblip_cli.errors import BiblipError
from biblip_cli.io.vcf_read import open_vcf
from biblip_cli.io.vcf_regions import selected_records
from biblip_cli.records import AlleleAnnotation

log = logging.getLogger(__name__)

_QUEUE_DEPTH = 4


@dataclass
class RenderedBatch:
    """One batch as the parent writes it."""

    vcf: bytes
    tsv: bytes
    last_number: int  # the batch's last input record number (the checkpoint)
    summary: AnnotateSummary
    unknown_contigs: list[tuple[str, int]] = field(default_factory=list)  # (contig, record), first seen here


def worker_count(opts: AnnotateOptions, reader: Any) -> int:
    """How many spine workers this run uses: `--threads` with `--no-model`, on a file input (workers
    re-read it; stdin can be read once) and where fork exists; 1 = the serial loop."""
    if not opts.no_model or not opts.threads or opts.threads < 2 or reader.is_stdin:
        return 1
    if "fork" not in multiprocessing.get_all_start_methods():
        return 1
    return opts.threads


def rendered_batches(
    opts: AnnotateOptions,
    annotate_records: Callable[[list[tuple[Any, int]]], list[list[AlleleAnnotation]]],
    workers: int,
    resume_after: int,
    bundle_contigs: dict[str, int],
) -> Iterator[RenderedBatch]:
    """The run's batches in input order, annotated by `workers` forked processes."""
    context = multiprocessing.get_context("fork")
    queues = [context.Queue(maxsize=_QUEUE_DEPTH) for _ in range(workers)]
    sys.stdout.flush()  # a child must not inherit (and later flush) buffered output of the parent
    sys.stderr.flush()
    processes = [
        context.Process(
            target=_work,
            args=(opts, annotate_records, w, workers, resume_after, bundle_contigs, queues[w]),
            daemon=True,
        )
        for w in range(workers)
    ]
    for process in processes:
        process.start()
    finished = False
    try:
        k = 0
        while True:
            kind, payload = queues[k % workers].get()
            if kind == "done":
                break
            if kind == "error":
                message, where, hint = payload
                raise BiblipError(message, where=where, hint=hint)
            yield payload
            k += 1
        for w in range(1, workers):  # the others have no batch left: take their "done"
            queues[(k + w) % workers].get()
        finished = True
    finally:
        for process in processes:
            if not finished and process.is_alive():
                process.terminate()
            process.join()


def _work(
    opts: AnnotateOptions,
    annotate_records: Callable[[list[tuple[Any, int]]], list[list[AlleleAnnotation]]],
    index: int,
    workers: int,
    resume_after: int,
    bundle_contigs: dict[str, int],
    queue: Any,
) -> None:
    """One worker: the serial loop's batches, annotating and rendering only its own; exits with os._exit
    so that nothing inherited from the parent (buffers, temp files) is flushed or removed."""
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - the child's whole life
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it stops us
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    parent = os.getppid()

    def put(item: tuple[str, Any]) -> None:
        while True:  # a parent killed with SIGKILL reads no more: then leave instead of waiting forever
            try:
                queue.put(item, timeout=1.0)
                return
            except Full:
                if os.getppid() != parent:
                    os._exit(1)

    code = 0
    try:
        gc.disable()  # as in the parent's loop (annotate.paused_cyclic_gc): young collections per batch
        for rendered in _own_batches(opts, annotate_records, index, workers, resume_after, bundle_contigs):
            put(("batch", rendered))
            gc.collect(1)
        put(("done", None))
    except BiblipError as err:
        put(("error", (err.message, err.where, err.hint)))
    except KeyboardInterrupt:
        code = 130
    except BaseException as err:  # noqa: BLE001 - a bug: the parent reports it
        put(("error", (f"spine worker failed: {err!r}", "", "rerun without --threads, with --debug")))
    queue.close()
    queue.join_thread()
    os._exit(code)


def _own_batches(
    opts: AnnotateOptions,
    annotate_records: Callable[[list[tuple[Any, int]]], list[list[AlleleAnnotation]]],
    index: int,
    workers: int,
    resume_after: int,
    bundle_contigs: dict[str, int],
) -> Iterator[RenderedBatch]:
    reader = open_vcf(opts.input)
    try:
        k, batch, numbers, last = 0, Batch(), [], resume_after
        for number, variant, text in selected_records(reader, opts.region, opts.shard, bundle_contigs):
            if number <= resume_after:
                continue
            last = number
            if k % workers == index:
                batch.records.append((variant, text))
                numbers.append(number)
            batch.n_alleles += len(variant.ALT) or 1  # as vcf_read.alleles counts them
            if batch.n_alleles >= opts.batch_size:
                if k % workers == index:
                    yield _render(batch, numbers, opts, last, annotate_records)
                k, batch, numbers = k + 1, Batch(), []
        if batch.records and k % workers == index:
            yield _render(batch, numbers, opts, last, annotate_records)
    finally:
        reader.close()


def _render(
    batch: Batch,
    numbers: list[int],
    opts: AnnotateOptions,
    last_number: int,
    annotate_records: Callable[[list[tuple[Any, int]]], list[list[AlleleAnnotation]]],
) -> RenderedBatch:
    batch.annotations = annotate_records([(v, n) for (v, _), n in zip(batch.records, numbers)])
    summary = AnnotateSummary(output=opts.output)
    vcf, tsv = io.BytesIO(), io.BytesIO()
    write_batch(batch, None, opts, summary, vcf, tsv if opts.tsv is not None else None)
    unknown: dict[str, int] = {}
    for anns in batch.annotations:
        for ann in anns:
            if ann.status == "unknown_contig":
                unknown.setdefault(ann.allele.chrom, ann.allele.record_number)
    return RenderedBatch(vcf.getvalue(), tsv.getvalue(), last_number, summary, list(unknown.items()))
