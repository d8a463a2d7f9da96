"""Streaming VCF/BCF input (cyvcf2); output is in vcf_write.py.

Reading: `open_vcf(path | "-")` sniffs plain-text input with Python first (htslib's own messages are
generic and go straight to stderr), then iterates `(record_number, cyvcf2.Variant)`. Any htslib
failure becomes a `BiblipError` naming the file, the record (and line, for text input) and a hint.
"""

from __future__ import annotations

import ctypes
import functools
import gzip
import logging
import os
import shutil
import subprocess
import zlib
from collections.abc import Iterator
from pathlib import Path

import cyvcf2

from biblip_cli.errors import BiblipError
from biblip_cli.records import Allele

log = logging.getLogger(__name__)

FIXED_COLUMNS = ("#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO")
STDIN_NAME = "<stdin>"
SNIFF_BYTES = 1 << 16
SNIFF_DATA_LINES = 200

# --- htslib access -----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def htslib() -> ctypes.CDLL | None:
    """htslib as linked into cyvcf2 (its symbols are exported); None if that ever stops working."""
    try:
        lib = ctypes.CDLL(cyvcf2.cyvcf2.__file__)
        lib.hts_set_log_level.argtypes = [ctypes.c_int]
        lib.bcf_index_build.argtypes = [ctypes.c_char_p, ctypes.c_int]
        lib.bcf_index_build.restype = ctypes.c_int
        return lib
    except (OSError, AttributeError):  # pragma: no cover - depends on the cyvcf2 build
        return None


def quiet_htslib() -> None:
    """Silence htslib's own stderr lines; we report problems ourselves (kept with BIBLIP_DEBUG)."""
    lib = htslib()
    if lib is not None and not os.environ.get("BIBLIP_DEBUG"):
        lib.hts_set_log_level(0)


# --- input -----------------------------------------------------------------------------------------


def _read_head(path: Path) -> tuple[str, bytes]:
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


def _stdin_source() -> tuple[str, bytes, bool, int | str, subprocess.Popen | None]:
    """Sniff stdin without losing it: (kind, decompressed head, whole input seen, source, feeder).

    The sniffed bytes are written into a fresh pipe, then `cat` (a separate process: htslib holds
    the GIL while it reads, so a Python thread could not feed it) copies the rest of stdin behind
    them. htslib reads the pipe; the stream is still read once and never held in memory."""
    if not shutil.which("cat"):
        return "stream", b"", False, "-", None
    raw_head = b""
    while len(raw_head) < STDIN_SNIFF_BYTES:
        chunk = os.read(0, STDIN_SNIFF_BYTES - len(raw_head))  # unbuffered: the rest stays in fd 0
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
        feeder = subprocess.Popen(["cat"], stdin=0, stdout=write_fd, close_fds=True)
    os.close(write_fd)
    return kind, head, ended and kind == "text", read_fd, feeder


def _looks_like_bed(fields: list[str]) -> bool:
    return len(fields) >= 3 and fields[1].isdigit() and fields[2].isdigit()


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
            columns = line.split("\t")
            if tuple(c.upper() for c in columns[:8]) != FIXED_COLUMNS:
                tabbed = "\t" in line
                raise BiblipError(
                    "garbled #CHROM header line (expected #CHROM POS ID REF ALT QUAL FILTER INFO"
                    + (")" if tabbed else ", tab-separated)"),
                    where=f"{where}: line {line_number}",
                    hint="the columns must be separated by tabs, not spaces"
                    if not tabbed
                    else "fix the header line",
                )
            n_columns = len(columns)
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


class VcfReader:
    """A VCF/BCF opened for streaming; iterate with `records()`."""

    def __init__(self, source: str | os.PathLike, *, threads: int | None = None) -> None:
        self.source = str(source)
        self.is_stdin = self.source == "-"
        self.name = STDIN_NAME if self.is_stdin else self.source
        self.kind = "stream"
        self.header_lines = 0
        quiet_htslib()
        source: str | int = self.source
        self.feeder: subprocess.Popen | None = None
        if self.is_stdin:
            self.kind, head, complete, source, self.feeder = _stdin_source()
            if self.kind in ("text", "gzip"):
                self.header_lines = sniff_text_header(head, self.name, complete)
        else:
            path = Path(self.source)
            if not path.exists():
                raise BiblipError("file not found", where=self.source, hint="check the path")
            if path.is_dir():
                raise BiblipError("is a directory, not a VCF", where=self.source, hint="pass a VCF file")
            if path.stat().st_size == 0:
                sniff_text_header(b"", self.source, True)
            self.kind, head = _read_head(path)
            if self.kind in ("text", "gzip"):
                complete = len(head) < SNIFF_BYTES and self.kind == "text"
                self.header_lines = sniff_text_header(head, self.source, complete)
        try:
            self.vcf = cyvcf2.VCF(source, threads=threads, lazy=True)
        except Exception as err:  # htslib gives OSError/Exception with generic text
            raise BiblipError(
                f"cannot read the VCF header ({err})",
                where=self.name,
                hint="is it a VCF/BCF file? a damaged or truncated file fails here; check `bcftools view -h`",
            ) from err
        if self.header_lines == 0:
            self.header_lines = self.vcf.raw_header.count("\n")

    # Line numbers are exact for text input without blank lines; BCF has no lines.
    def where(self, record_number: int) -> str:
        if self.kind in ("text", "gzip"):
            return f"{self.name}: line {self.header_lines + record_number} (record {record_number})"
        return f"{self.name}: record {record_number}"

    @property
    def samples(self) -> list[str]:
        return list(self.vcf.samples)

    @property
    def seqnames(self) -> list[str]:
        try:
            return list(self.vcf.seqnames)
        except Exception:  # noqa: BLE001 - no ##contig lines and no index
            return []

    def has_index(self) -> bool:
        if self.is_stdin:
            return False
        return any(Path(self.source + ext).exists() for ext in (".tbi", ".csi"))

    def records(self, region: str | None = None) -> Iterator[tuple[int, cyvcf2.Variant]]:
        """Yield (1-based record number, variant); with `region`, only that region (needs an index)."""
        iterator = self.vcf(region) if region else self.vcf
        number = 0
        while True:
            try:
                variant = next(iterator)
            except StopIteration:
                return
            except Exception as err:
                raise self._record_error(number + 1, err) from err
            number += 1
            chrom = variant.CHROM
            if not chrom or chrom[0] == "#":  # htslib reads blank and '#' lines as records
                raise BiblipError(
                    "blank line among the records" if not chrom else "comment line among the records",
                    where=self.where(number),
                    hint=BLANK_HINT if not chrom else "header lines must all come before the first record",
                )
            yield number, variant

    def records_text(self, region: str | None = None) -> Iterator[tuple[int, cyvcf2.Variant, str | None]]:
        """Like `records`, plus each record's own line (LF-terminated) when the input is a text file.

        Writing the original line keeps records byte-identical (htslib would reformat numbers such
        as QUAL `50.00`); the line is None for BCF, stdin, --region via an index, or when the two
        readers ever disagree (then htslib's text is used from there on)."""
        if region or self.is_stdin or self.kind not in ("text", "gzip"):
            for number, variant in self.records(region):
                yield number, variant, None
            return
        opener = gzip.open if self.kind == "gzip" else open
        with opener(self.source, "rb") as raw:  # type: ignore[operator]
            lines: Iterator[bytes] | None = iter(raw)
            pending: bytes | None = None
            try:
                for line in lines:  # type: ignore[union-attr]
                    if not line.startswith(b"#"):
                        pending = line
                        break
            except (OSError, EOFError, zlib.error):
                lines = None
            for number, variant in self.records():
                text = None
                if lines is not None:
                    try:
                        line = pending if pending is not None else next(lines, None)
                    except (OSError, EOFError, zlib.error):
                        line = None
                    pending = None
                    if line is not None:
                        text = line.decode("utf-8", "surrogateescape")
                        if text.endswith("\r\n"):
                            text = text[:-2] + "\n"
                        elif not text.endswith("\n"):
                            text += "\n"
                        if not text.startswith(f"{variant.CHROM}\t{variant.POS}\t"):
                            text = None
                    if text is None:
                        log.debug("%s: original lines out of step at record %d", self.name, number)
                        lines = None
                yield number, variant, text

    def _record_error(self, record_number: int, err: Exception) -> BiblipError:
        where = self.where(record_number)
        if self.kind in ("text", "gzip") and not self.is_stdin:
            found = _diagnose_line(Path(self.source), record_number)
            if found is not None:
                message, hint = found
                return BiblipError(message, where=where, hint=hint)
            if self.kind == "gzip":
                return BiblipError(
                    "truncated or corrupt compressed data",
                    where=where,
                    hint="the file was cut short (an interrupted copy or job?); recreate it",
                )
        if self.is_stdin and self.kind == "gzip":
            return BiblipError(
                "cannot parse this record: the compressed stream is cut short or the record is malformed",
                where=where,
                hint="check the input with `bgzip -t` / `bcftools view`",
            )
        return BiblipError(
            f"cannot parse this record ({err})",
            where=where,
            hint="check the record with `bcftools view`; a truncated or damaged file fails here",
        )

    def close(self) -> None:
        self.vcf.close()
        if self.feeder is not None:
            self.feeder.kill()
            self.feeder.wait()

    def __enter__(self) -> VcfReader:  # noqa: PYI034
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _diagnose_line(path: Path, record_number: int) -> tuple[str, str] | None:
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


def open_vcf(source: str | os.PathLike, *, threads: int | None = None) -> VcfReader:
    """Open a VCF/VCF.gz/BCF path or `-` (stdin) for streaming."""
    return VcfReader(source, threads=threads)


BLANK_HINT = "remove blank lines, e.g. grep -v '^$' in.vcf > fixed.vcf"
SYMBOLIC_CHARS = frozenset("<>[]*")
BASES = frozenset("ACGTN")


def alleles(variant: cyvcf2.Variant, record_number: int) -> list[Allele]:
    """One Allele per ALT; a missing ALT (`.`) gives an allele with alt '.' (status skipped)."""
    chrom = variant.CHROM
    pos = variant.POS
    ref = variant.REF.upper()
    alts = variant.ALT or ["."]
    # Bases are uppercased (lowercase is legal); symbolic ALTs keep their text (breakend contigs).
    return [
        Allele(chrom, pos, ref, alt.upper() if alt.isalpha() else alt, index, record_number)
        for index, alt in enumerate(alts)
    ]


def precheck(allele: Allele) -> str | None:
    """Status for alleles the spine cannot annotate (skipped | symbolic); None when it can try."""
    alt = allele.alt
    if alt == "." or not alt:
        return "skipped"
    if not SYMBOLIC_CHARS.isdisjoint(alt) or not SYMBOLIC_CHARS.isdisjoint(allele.ref):
        return "symbolic"
    if not BASES.issuperset(alt) or not BASES.issuperset(allele.ref):
        return "skipped"  # IUPAC codes (R, Y, ...) cannot be applied to or checked against the sequence
    return None


