"""`biblip target --elements`: the BED reader (one element per interval)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from biblip_cli.errors import BiblipError


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
