"""Checking a VCF's text before htslib reads it, so problems are reported with the file, line and a hint.

`sniff_text_header` reads the start of plain or gzip text input (stdin through `stdin_source`, which puts
the sniffed bytes back in front of the stream); `diagnose_line` re-reads a text VCF up to a record htslib
failed on and says what is wrong with it.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import zlib
from pathlib import Path

from biblip_cli.errors import BiblipError

FIXED_COLUMNS = ("#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO")
SNIFF_BYTES = 1 << 16
SNIFF_DATA_LINES = 200

BLANK_HINT = "remove blank lines, e.g. grep -v '^$' in.vcf > fixed.vcf"


# --- input -----------------------------------------------------------------------------------------


def read_head(path: Path) -> tuple[str, bytes]:
    """(kind, first bytes of the decompressed stream); kind is text | gzip | bcf."""
    with open(path, "rb") as raw:
        magic = raw.read(4)
    if magic[:2] == b"\x1f\x8b":
        try:
            with gzip.open(path, "rb") as gz:
                head = gz.read(SNIFF_BYTES)
        except (OSError, EOFError, zlib.error) as err:
            if isinstance(err, EOFError) or "end-of-stream" in str(err).lower():
                raise BiblipError(
                    "truncated compressed file: it ends in the middle of the gzip/bgzip data",
                    where=str(path),
                    hint="the file was cut short (an interrupted copy or job?); recreate or re-download it",
                ) from err
            raise BiblipError(
                f"corrupt gzip data ({err})",
                where=str(path),
                hint="the file is damaged; re-download or recompress it with bgzip",
            ) from err
        if head.startswith(b"BCF"):
            return "bcf", head
        return "gzip", head
    if magic[:3] == b"BCF":
        return "bcf", magic
    with open(path, "rb") as raw:
        return "text", raw.read(SNIFF_BYTES)


def _gunzip_prefix(data: bytes) -> bytes:
    """Decompress what we can of the start of a (b)gzip stream (a prefix: the rest is unread)."""
    out = bytearray()
    while data and len(out) < SNIFF_BYTES:
        member = zlib.decompressobj(31)
        try:
            out += member.decompress(data)
        except zlib.error:
            break
        if not member.eof:
            break
        data = member.unused_data
    return bytes(out[:SNIFF_BYTES])


STDIN_SNIFF_BYTES = 1 << 15  # fits a pipe buffer, so writing it back never blocks


def stdin_source(fd: int = 0) -> tuple[str, bytes, bool, int | str, subprocess.Popen | None]:
    """Sniff stdin without losing it: (kind, decompressed head, whole input seen, source, feeder).

    The sniffed bytes are written into a fresh pipe, then `cat` (a separate process: htslib holds
    the GIL while it reads, so a Python thread could not feed it) copies the rest of stdin behind
    them. htslib reads the pipe; the stream is still read once and never held in memory."""
    if not shutil.which("cat"):
        return "stream", b"", False, "-" if fd == 0 else fd, None
    raw_head = b""
    while len(raw_head) < STDIN_SNIFF_BYTES:
        chunk = os.read(fd, STDIN_SNIFF_BYTES - len(raw_head))  # unbuffered: the rest stays in fd
        if not chunk:
            break
        raw_head += chunk
    ended = len(raw_head) < STDIN_SNIFF_BYTES
    if raw_head[:2] == b"\x1f\x8b":
        head = _gunzip_prefix(raw_head)
        kind = "bcf" if head.startswith(b"BCF") else "gzip"
    else:
        head = raw_head
        kind = "bcf" if head.startswith(b"BCF") else "text"
    read_fd, write_fd = os.pipe()
    os.write(write_fd, raw_head)
    feeder = None
    if not ended:
        feeder = subprocess.Popen(["cat"], stdin=fd, stdout=write_fd, close_fds=True)
    os.close(write_fd)
    return kind, head, ended and kind == "text", read_fd, feeder


def _looks_like_bed(fields: list[str]) -> bool:
    return len(fields) >= 3 and fields[1].isdigit() and fields[2].isdigit()


def _check_first_line(first: str, where: str) -> None:
    """The first line must be `##fileformat=VCF...`: a FASTA or BED file gets its own message."""
    if first.startswith(">"):
        raise BiblipError(
            "this is a FASTA file, not a VCF",
            where=where,
            hint="pass the VCF of variants; FASTA belongs in a bundle",
        )
    if not first.startswith("##fileformat=VCF"):
        if _looks_like_bed(first.split("\t")) or first.startswith(("track", "browser")):
            raise BiblipError(
                "this looks like a BED file, not a VCF",
                where=f"{where}: line 1",
                hint="convert intervals to variants first; a VCF needs REF and ALT columns",
            )
        raise BiblipError(
            "missing or garbled header: the first line must be '##fileformat=VCFv4.x'",
            where=f"{where}: line 1",
            hint="restore the VCF header (e.g. bcftools view -h from the source file)",
        )


def _check_chrom_line(line: str, where: str, line_number: int) -> int:
    """The #CHROM line: the eight fixed columns, tab-separated, and distinct sample names; returns the
    number of columns."""
    columns = line.split("\t")
    if tuple(c.upper() for c in columns[:8]) != FIXED_COLUMNS:
        tabbed = "\t" in line
        raise BiblipError(
            "garbled #CHROM header line (expected #CHROM POS ID REF ALT QUAL FILTER INFO"
            + (")" if tabbed else ", tab-separated)"),
            where=f"{where}: line {line_number}",
            hint="the columns must be separated by tabs, not spaces" if not tabbed else "fix the header line",
        )
    n_columns = len(columns)
    samples = columns[9:]
    if len(set(samples)) != len(samples):
        twice = sorted({name for name in samples if samples.count(name) > 1})
        raise BiblipError(
            f"duplicate sample name{'s' if len(twice) > 1 else ''} in the #CHROM line: "
            + ", ".join(repr(name) for name in twice[:5]),
            where=f"{where}: line {line_number}",
            hint="every sample column needs its own name; rename them, e.g. bcftools reheader -s names.txt",
        )
    return n_columns


def sniff_text_header(head: bytes, where: str, complete: bool) -> int:
    """Check the start of a text VCF; returns the number of header lines seen (for line numbers).

    `complete` says `head` is the whole file (so a missing #CHROM line is certain)."""
    if not head.strip():
        raise BiblipError(
            "empty file (no VCF header)",
            where=where,
            hint="a VCF starts with '##fileformat=VCFv4.x' and a '#CHROM' line; check the upstream step",
        )
    text = head.decode("utf-8", errors="replace")
    lines = text.split("\n")
    if not complete:
        lines = lines[:-1]  # the last one may be cut
    first = lines[0].rstrip("\r")
    _check_first_line(first, where)
    n_header = 0
    n_columns = 0
    data_seen = 0
    for line_number, line in enumerate(lines, start=1):
        line = line.rstrip("\r")
        if line.startswith("##"):
            n_header += 1
            continue
        if line.startswith("#"):
            if data_seen:
                raise BiblipError(
                    "comment line among the records",
                    where=f"{where}: line {line_number}",
                    hint="header lines must all come before the first record; remove this one",
                )
            n_header += 1
            n_columns = _check_chrom_line(line, where, line_number)
            continue
        if not line:
            continue
        if not n_columns:
            raise BiblipError(
                "header has no '#CHROM' line before the first record",
                where=f"{where}: line {line_number}",
                hint="restore the header's #CHROM line (tab-separated column names)",
            )
        data_seen += 1
        problem = check_record_line(line, n_columns)
        if problem:
            raise BiblipError(
                problem[0], where=f"{where}: line {line_number} (record {data_seen})", hint=problem[1]
            )
        if data_seen >= SNIFF_DATA_LINES:
            break
    if not n_columns and complete:
        raise BiblipError(
            "header has no '#CHROM' line",
            where=where,
            hint="restore the header's #CHROM line (tab-separated column names)",
        )
    return n_header


def check_record_line(line: str, n_columns: int) -> tuple[str, str] | None:
    """What is wrong with one data line, as (message, hint); None when it looks fine."""
    fields = line.rstrip("\r\n").split("\t")
    if len(fields) < 8 or (n_columns and len(fields) != n_columns and n_columns > 8):
        return (
            f"wrong number of columns: {len(fields)} (the header has {n_columns or 8})",
            "columns must be tab-separated; check for spaces or a cut line",
        )
    if len(fields) > n_columns and n_columns == 8:
        return (
            f"wrong number of columns: {len(fields)} (the header has 8 and no samples)",
            "add the FORMAT/sample columns to the #CHROM line or remove the extra columns",
        )
    if not fields[1].isdigit():
        return (f"POS is not a number: {fields[1]!r}", "POS must be a 1-based integer position")
    if not fields[3] or not fields[4]:
        return ("empty REF or ALT column", "use '.' for a missing ALT")
    return None


def diagnose_line(path: Path, record_number: int) -> tuple[str, str] | None:
    """Re-read a text VCF up to data record `record_number` and say what is wrong with it."""
    with open(path, "rb") as raw:
        opener = gzip.open if raw.read(2) == b"\x1f\x8b" else open
    n_columns = 8
    seen = 0
    try:
        with opener(path, "rt", errors="replace") as handle:  # type: ignore[operator]
            for line in handle:
                if line.startswith("##"):
                    continue
                if line.startswith("#"):
                    n_columns = len(line.rstrip("\r\n").split("\t"))
                    continue
                if not line.strip():
                    if seen == record_number - 1:
                        return ("blank line among the records", BLANK_HINT)
                    continue
                seen += 1
                if seen == record_number:
                    problem = check_record_line(line, n_columns)
                    for _rest in handle:  # htslib stops at the last whole BGZF block of a cut file
                        pass
                    return problem or (
                        "cannot parse this record",
                        "compare it with the VCF specification (REF/ALT bases, INFO key=value pairs)",
                    )
    except (OSError, EOFError, zlib.error):
        return (
            "truncated or corrupt compressed data",
            "the file was cut short (an interrupted copy or job?); recreate it",
        )
    return None
