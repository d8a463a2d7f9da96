"""--region and --shard of `biblip annotate`: parse them, and which shard a record belongs to."""

from __future__ import annotations

import re

from biblip_cli.errors import UsageError
from biblip_cli.io.vcf_header import header_text
from biblip_cli.io.vcf_read import VcfReader

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


def header_contigs(reader: VcfReader) -> list[tuple[str, int]]:
    found = []
    for line in header_text(reader).splitlines():
        if line.startswith("##contig=<"):
            m_id = re.search(r"[<,]ID=([^,>]+)", line)
            m_len = re.search(r"[<,]length=(\d+)", line)
            if m_id:
                found.append((m_id.group(1), int(m_len.group(1)) if m_len else 0))
    return found
