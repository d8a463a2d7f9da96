"""Which input records a run reads: `--region chr:start-end` and `--shard i/n`.

The same rules as `biblip annotate` (commands/annotate.py keeps its own copy for now; both should call
this module): a region uses the input's index when it has one, else filters while reading; shards cut
the genome into n equal bp slices in the input header's `##contig` order, then the bundle's, so shards
1..n concatenated are the whole output. Records on contigs known to neither go to the last shard.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

from biblip_cli.errors import UsageError
from biblip_cli.io.vcf_header import header_text

log = logging.getLogger(__name__)

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
    """Cut the genome into n equal slices of bp; a record belongs to the slice holding its POS."""

    def __init__(
        self, index: int, count: int, header_contigs: list[tuple[str, int]], bundle_contigs: dict[str, int]
    ):
        self.index, self.count = index, count
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


def header_contigs(reader: Any) -> list[tuple[str, int]]:
    found = []
    for line in header_text(reader).splitlines():
        if line.startswith("##contig=<"):
            m_id = re.search(r"[<,]ID=([^,>]+)", line)
            m_len = re.search(r"[<,]length=(\d+)", line)
            if m_id:
                found.append((m_id.group(1), int(m_len.group(1)) if m_len else 0))
    return found


def selected_records(
    reader: Any, region: str | None, shard: str | None, bundle_contigs: dict[str, int]
) -> Iterator[tuple[int, Any, str | None]]:
    """`reader.records_text()` narrowed to `region` (index if there is one, else a filter) and `shard`."""
    where = parse_region(region) if region else None
    source: Iterator[tuple[int, Any, str | None]]
    if where and reader.has_index():
        chrom, start, end = where
        names = set(reader.seqnames)
        if chrom not in names:
            alt = chrom[3:] if chrom.startswith("chr") else "chr" + chrom
            chrom = alt if alt in names else chrom
        spec = f"{chrom}:{start}-{end}" if end else f"{chrom}:{start}"
        source = reader.records_text(spec) if chrom in names else iter(())
        where = None
    else:
        source = reader.records_text()
        if where:
            log.info("%s has no index: --region filters while reading the whole file", reader.name)
    plan = ShardPlan(*parse_shard(shard), header_contigs(reader), bundle_contigs) if shard else None
    if not where and not plan:
        return source  # nothing to narrow: no generator layer per record
    return _narrowed(source, where, plan)


def _narrowed(
    source: Iterator[tuple[int, Any, str | None]], where: tuple[str, int, int | None] | None, plan: Any
) -> Iterator[tuple[int, Any, str | None]]:
    if where:
        chrom, start, end = where
        names = {chrom, chrom[3:] if chrom.startswith("chr") else "chr" + chrom}
        end0 = end if end is not None else 1 << 62
    for number, variant, text in source:
        if where and (variant.CHROM not in names or variant.end < start or variant.start >= end0):
            continue
        if plan and not plan.keeps(variant.CHROM, variant.POS):
            continue
        yield number, variant, text
