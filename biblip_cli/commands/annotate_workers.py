"""`biblip annotate --no-model --threads N`: the consequence spine in N forked worker processes.

Why processes: the spine is pure Python and holds the GIL, so threads cannot share it out. N processes
in all: the parent reads the input once (cyvcf2 parses every record, as in the serial loop) and cuts it
into exactly the serial loop's batches; each batch goes, as plain fields (record number, CHROM, POS,
REF, ALT, the record's text), to one of N - 1 forked workers that has room, or is rendered by the parent
itself when none has; the parent writes the rendered batches (VCF and TSV text, counters) in batch
order. So the output, its order and the resume checkpoints are those of the serial loop; at most
`_IN_FLIGHT` batches per worker are out at once, so memory stays flat.
Workers are forked after the bundle is loaded, so they start in milliseconds, and they never read the
input themselves: stdin, BCF and --region via an index work as in the serial loop.
"""

from __future__ import annotations

import gc
import io
import logging
import multiprocessing
import os
import signal
import sys
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from queue import Empty
from typing import Any

from biblip_cli.commands.annotate_options import AnnotateOptions, AnnotateSummary
from biblip_cli.commands.annotate_rows import Batch, write_batch
from biblip_cli.errors import BiblipError
from biblip_cli.io.vcf_read import record_alleles, record_text
from biblip_cli.records import Allele, AlleleAnnotation

log = logging.getLogger(__name__)

# batches per worker sent and not yet taken back (2 left a worker idle ~0.2-0.4 s per 100k SNVs)
_IN_FLIGHT = 4
_PENDING = 4  # batches per process held before the parent waits for the oldest

AnnotateLists = Callable[[list[list[Allele]]], list[list[AlleleAnnotation]]]
Fields = tuple[int, str, int, str, list[str], str]  # record number, CHROM, POS, REF, ALT, text


@dataclass
class RenderedBatch:
    """One batch as the parent writes it."""

    vcf: bytes
    tsv: bytes
    last_number: int  # the batch's last input record number (the checkpoint)
    summary: AnnotateSummary
    unknown_contigs: list[tuple[str, int]] = field(default_factory=list)  # (contig, record), first seen here


def worker_count(opts: AnnotateOptions) -> int:
    """How many processes the spine uses (the parent included): `--threads` with `--no-model`, where
    fork exists; 1 = the serial loop (the model's batches run in the parent, on torch's threads)."""
    if not opts.no_model or not opts.threads or opts.threads < 2:
        return 1
    if "fork" not in multiprocessing.get_all_start_methods():
        return 1
    return opts.threads


def rendered_batches(
    opts: AnnotateOptions,
    records: Iterator[tuple[int, Any, str | None]],
    annotate_lists: AnnotateLists,
    processes: int,
) -> Iterator[RenderedBatch]:
    """The batches of `records` (number, variant, text; already narrowed and past --resume), in input
    order, annotated and rendered by `processes` processes: this one (which also reads the input) and
    `processes - 1` forked workers. This process renders a batch itself only when every worker already
    has `_IN_FLIGHT` batches, so the reading is balanced against the rendering without a fixed split."""
    context = multiprocessing.get_context("fork")
    workers = processes - 1
    inboxes = [context.Queue() for _ in range(workers)]
    outboxes = [context.Queue() for _ in range(workers)]
    sys.stdout.flush()  # a child must not inherit (and later flush) buffered output of the parent
    sys.stderr.flush()
    children = [
        context.Process(target=_work, args=(opts, annotate_lists, inboxes[w], outboxes[w]), daemon=True)
        for w in range(workers)
    ]
    for child in children:
        child.start()
    pending: deque[int | RenderedBatch] = deque()  # a worker's index (its next result), or a done batch
    in_flight = [0] * workers
    finished = False
    try:
        for k, batch in enumerate(_cut(records, opts.batch_size)):
            free = [w for w in range(workers) if in_flight[w] < _IN_FLIGHT]
            if free:
                w = min(free, key=lambda i: (in_flight[i], (i - k) % workers))
                inboxes[w].put(batch)
                in_flight[w] += 1
                pending.append(w)
            else:
                pending.append(_render(batch, opts, annotate_lists))
            while pending and (len(pending) > _PENDING * processes or _ready(pending[0], outboxes)):
                yield _take(pending, outboxes, in_flight, children)  # in order; waits where too much is held
        for inbox in inboxes:
            inbox.put(None)
        while pending:
            yield _take(pending, outboxes, in_flight, children)
        finished = True
    finally:
        for child in children:
            if not finished and child.is_alive():
                child.terminate()
            child.join()


def _ready(head: int | RenderedBatch, outboxes: list[Any]) -> bool:
    return not isinstance(head, int) or not outboxes[head].empty()


def _take(
    pending: deque[int | RenderedBatch], outboxes: list[Any], in_flight: list[int], children: list[Any]
) -> RenderedBatch:
    head = pending.popleft()
    if not isinstance(head, int):
        return head
    in_flight[head] -= 1
    return _receive(outboxes[head], children[head])


def _cut(records: Iterator[tuple[int, Any, str | None]], batch_size: int) -> Iterator[list[Fields]]:
    """The serial loop's batches (closed once they hold `batch_size` alleles), as plain fields."""
    batch: list[Fields] = []
    n_alleles = 0
    for number, variant, text in records:
        alts = variant.ALT
        batch.append((number, variant.CHROM, variant.POS, variant.REF, alts, text or record_text(variant)))
        n_alleles += len(alts) or 1  # as vcf_read.alleles counts them
        if n_alleles >= batch_size:
            yield batch
            batch, n_alleles = [], 0
    if batch:
        yield batch


def _receive(outbox: Any, child: Any) -> RenderedBatch:
    """The worker's next result; a worker that died without one (killed, out of memory) is an error,
    not a wait that never ends."""
    while True:
        try:
            kind, payload = outbox.get(timeout=1.0)
            break
        except Empty:
            if not child.is_alive() and outbox.empty():
                raise BiblipError(
                    f"a spine worker stopped without its result (exit code {child.exitcode})",
                    hint="rerun without --threads (or with fewer); was the machine out of memory?",
                ) from None
    if kind == "error":
        message, where, hint = payload
        raise BiblipError(message, where=where, hint=hint)
    return payload


def _work(opts: AnnotateOptions, annotate_lists: AnnotateLists, inbox: Any, outbox: Any) -> None:
    """One worker: render each batch it is sent until it gets None; exits with os._exit so that nothing
    inherited from the parent (buffers, temp files) is flushed or removed."""
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - the child's whole life
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it stops us
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    gc.disable()  # as in the parent's loop (annotate.paused_cyclic_gc): young collections per batch
    parent = os.getppid()
    code = 0
    try:
        while True:
            try:
                batch = inbox.get(timeout=1.0)
            except Empty:
                if os.getppid() != parent:  # the parent was killed (SIGKILL): nobody will send more
                    code = 1
                    break
                continue
            if batch is None:
                break
            outbox.put(("batch", _render(batch, opts, annotate_lists)))
            gc.collect(1)
    except BiblipError as err:
        outbox.put(("error", (err.message, err.where, err.hint)))
    except KeyboardInterrupt:
        code = 130
    except BaseException as err:  # noqa: BLE001 - a bug: the parent reports it
        outbox.put(("error", (f"spine worker failed: {err!r}", "", "rerun without --threads, with --debug")))
    if code == 1:  # nobody reads the results: flushing them into the pipe could block forever
        outbox.cancel_join_thread()
    outbox.close()
    outbox.join_thread()
    os._exit(code)


def _render(fields: list[Fields], opts: AnnotateOptions, annotate_lists: AnnotateLists) -> RenderedBatch:
    batch = Batch()
    batch.records = [(None, text) for *_, text in fields]
    batch.annotations = annotate_lists(
        [record_alleles(chrom, pos, ref, alts, number) for number, chrom, pos, ref, alts, _ in fields]
    )
    summary = AnnotateSummary(output=opts.output)
    vcf, tsv = io.BytesIO(), io.BytesIO()
    write_batch(batch, None, opts, summary, vcf, tsv if opts.tsv is not None else None)
    unknown: dict[str, int] = {}
    for anns in batch.annotations:
        for ann in anns:
            if ann.status == "unknown_contig":
                unknown.setdefault(ann.allele.chrom, ann.allele.record_number)
    return RenderedBatch(vcf.getvalue(), tsv.getvalue(), fields[-1][0], summary, list(unknown.items()))
