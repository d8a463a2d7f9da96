"""`biblip target --elements`: a BED (one element per interval) or an element table with activity.

An element table has a header in the ABC / ENCODE-rE2G style: `chr start end name` (also spelled
`chrom chromStart chromEnd`, optionally `#`-prefixed) plus any of `DHS.RPM`, `H3K27ac.RPM`,
`ATAC.RPM` (io/datasets.ACTIVITY_COLUMNS); other columns are ignored with one warning. A headerless
file is BED3+ as before, with no activity.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from biblip_cli.errors import BiblipError
from biblip_cli.io.datasets import ACTIVITY_COLUMNS, parse_activity
from biblip_cli.records import ElementActivity

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Element:
    chrom: str
    start0: int
    end0: int
    name: str
    activity: ElementActivity | None = None


BED_HINT = "BED columns: chrom, 0-based start, end (integers, start <= end), tab-separated"
HEADER_NAMES = {"chr": 0, "chrom": 0, "start": 1, "chromstart": 1, "end": 2, "chromend": 2, "name": 3}


def _header(cols: list[str]) -> dict[str, int] | None:
    """Column index per role ('chrom', 'start', 'end', 'name') when `cols` is a header line, else None."""
    names = [c.strip().lstrip("#").lower() for c in cols]
    if len(names) < 3 or names[0] not in ("chr", "chrom") or names[1] not in ("start", "chromstart"):
        return None
    roles = {"chrom": 0, "start": 1}
    for i, n in enumerate(names):
        if n in ("end", "chromend"):
            roles["end"] = i
        elif n == "name":
            roles["name"] = i
    return roles if "end" in roles else None


def read_bed(path: Path) -> Iterator[Element]:
    """BED3+ (0-based half-open) or an element table; `track`/`browser`/`#` lines are skipped (a `#chr`
    header is read as the header)."""
    from biblip_cli.io.textfiles import open_existing_text as open_text

    header: list[str] | None = None
    roles = {"chrom": 0, "start": 1, "end": 2, "name": 3}
    with open_text(Path(path)) as fh:
        for line_number, line in enumerate(fh, start=1):
            cols = line.rstrip("\r\n").split("\t")
            if header is None and line.strip() and not line.startswith(("track", "browser")):
                found = _header(cols)
                if found is not None:
                    header, roles = [c.strip().lstrip("#") for c in cols], found
                    _warn_unknown(header, roles, path)
                    continue
            if not line.strip() or line.startswith(("#", "track", "browser")):
                continue
            yield _element(cols, header, roles, f"{path}:{line_number}", line_number)


def _warn_unknown(header: list[str], roles: dict[str, int], path: Path) -> None:
    used = set(roles.values())
    unknown = [c for i, c in enumerate(header) if i not in used and c not in ACTIVITY_COLUMNS]
    if unknown:
        log.warning(
            "%s: ignoring %d column(s) biblip does not read: %s (activity columns: %s)",
            path, len(unknown), ", ".join(unknown[:8]) + (" ..." if len(unknown) > 8 else ""),
            ", ".join(ACTIVITY_COLUMNS),
        )  # fmt: skip
    if not any(c in ACTIVITY_COLUMNS for c in header):
        log.warning("%s: the element table has no activity column: scored without activity", path)


def _element(cols: list[str], header: list[str] | None, roles: dict[str, int], where: str, n: int) -> Element:
    width = max(roles.values()) + 1 if header is not None else 3
    if len(cols) < width:
        raise BiblipError(
            f"expected at least {width} tab-separated columns, found {len(cols)}",
            where=where,
            hint=f"{BED_HINT}; check line {n} (spaces instead of tabs?)",
        )
    chrom, start, end = cols[roles["chrom"]], cols[roles["start"]], cols[roles["end"]]
    try:
        start0, end0 = int(start), int(end)
    except ValueError as err:
        raise BiblipError(
            f"start/end are not integers ({err})", where=where, hint=f"{BED_HINT}; check line {n}"
        ) from err
    if end0 < start0 or start0 < 0:
        raise BiblipError(
            "end is before start" if end0 < start0 else "start is negative",
            where=where,
            hint=f"{BED_HINT}; check line {n}",
        )
    at = roles.get("name")
    name = cols[at] if at is not None and at < len(cols) and cols[at] else f"{chrom}:{start0}-{end0}"
    activity = None
    if header is not None:
        row = dict(zip(header, cols, strict=False))
        activity = parse_activity(row, where)
    return Element(chrom, start0, end0, name, activity)
