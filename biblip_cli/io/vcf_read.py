"""Streaming VCF/BCF input and output (cyvcf2 + a small BGZF writer).

Reading: `open_vcf(path | "-")` sniffs plain-text input with Python first (htslib's own messages are
generic and go straight to stderr), then iterates `(record_number, cyvcf2.Variant)`. Any htslib
failure becomes a `BiblipError` naming the file, the record (and line, for text input) and a hint.

Writing: records are written as text (`str(variant)`, htslib's own formatting) so byte offsets are
known (resume) and unannotated records come out exactly as htslib read them. bgzip output uses a
BGZF writer here; the tabix index is built with htslib's `bcf_index_build` (through cyvcf2's
shared library) or the `tabix` binary.
"""

from __future__ import annotations

import ctypes
import functools
import gzip
import logging
import os
import shutil
import struct
import subprocess
import sys
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

import cyvcf2

from biblip_cli.errors import BiblipError
from biblip_cli.records import Allele

log = logging.getLogger(__name__)

# The CSQ-style field: order is the contract (DESIGN.md); columns after Pathogenicity may be added.
BIOBLIP_COLUMNS: tuple[str, ...] = (
    "Allele",
    "Gene",
    "Feature",
    "Consequence",
    "HGVSp",
    "Protein_position",
    "Amino_acids",
    "Pathogenicity",
    "Impact",
    "HGVSc",
    "Codons",
    "Exon",
    "Intron",
    "Distance",
    "Flags",
)
FIXED_COLUMNS = ("#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO")
STDIN_NAME = "<stdin>"
SNIFF_BYTES = 1 << 16
SNIFF_DATA_LINES = 200

INFO_ESCAPES: dict[str, str] = {
    ",": "%2C",
    ";": "%3B",
    "=": "%3D",
    "|": "%7C",
    " ": "_",
    "\t": "_",
    "\n": "_",
    "\r": "_",
}
_INFO_ESCAPES = str.maketrans(INFO_ESCAPES)


def escape_info(value: str) -> str:
    """Make a value safe inside an INFO string (VEP's convention: percent-codes, spaces to `_`)."""
    return value.translate(_INFO_ESCAPES)


# --- htslib access -----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _htslib() -> ctypes.CDLL | None:
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
    lib = _htslib()
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


# --- header ----------------------------------------------------------------------------------------


def bioblip_header_line(columns: Iterable[str] = BIOBLIP_COLUMNS) -> dict[str, str]:
    return {
        "ID": "BIOBLIP",
        "Number": ".",
        "Type": "String",
        "Description": "Bio-BLIP annotation per ALT allele and gene (values percent-encoded). Format: "
        + "|".join(columns),
    }


def add_bioblip_header(reader: VcfReader, *, explain: bool = False) -> None:
    reader.vcf.add_info_to_header(bioblip_header_line())
    if explain:
        reader.vcf.add_info_to_header(
            {
                "ID": "BIOBLIP_EXPLAIN",
                "Number": "A",
                "Type": "String",
                "Description": "Bio-BLIP generated summary per ALT allele (percent-encoded, spaces as _)",
            }
        )


def add_rank_header(reader: VcfReader) -> None:
    reader.vcf.add_info_to_header(
        {"ID": "BIOBLIP_RANK", "Number": "A", "Type": "Integer", "Description": "Bio-BLIP rank (1 = best)"}
    )
    reader.vcf.add_info_to_header(
        {"ID": "BIOBLIP_SCORE", "Number": "A", "Type": "Float", "Description": "Bio-BLIP ranking score"}
    )


def add_target_header(reader: VcfReader) -> None:
    reader.vcf.add_info_to_header(
        {
            "ID": "BIOBLIP_TARGET",
            "Number": ".",
            "Type": "String",
            "Description": "Bio-BLIP target-gene scores. Format: Allele|Gene|score",
        }
    )


def add_command_header(reader: VcfReader, command: str) -> None:
    from biblip_cli import __version__

    reader.vcf.add_to_header(f"##biblip_version={__version__}")
    reader.vcf.add_to_header(f"##biblip_command={command.replace(chr(10), ' ')}")


def header_text(reader: VcfReader) -> str:
    return reader.vcf.raw_header


# --- output ----------------------------------------------------------------------------------------

_BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
_BGZF_BLOCK = 0xFF00


class BgzfWriter:
    """Minimal BGZF (blocked gzip) writer: what bgzip writes, readable and indexable by htslib."""

    def __init__(self, raw: BinaryIO, level: int = 6) -> None:
        self.raw = raw
        self.level = level
        self.buffer = bytearray()

    def write(self, data: bytes) -> None:
        self.buffer += data
        while len(self.buffer) >= _BGZF_BLOCK:
            self._block(bytes(self.buffer[:_BGZF_BLOCK]))
            del self.buffer[:_BGZF_BLOCK]

    def _block(self, data: bytes) -> None:
        compressor = zlib.compressobj(self.level, zlib.DEFLATED, -15)
        cdata = compressor.compress(data) + compressor.flush()
        header = struct.pack("<4BI2BH2BHH", 0x1F, 0x8B, 8, 4, 0, 0, 0xFF, 6, 66, 67, 2, len(cdata) + 25)
        self.raw.write(header + cdata + struct.pack("<2I", zlib.crc32(data), len(data)))

    def flush(self) -> None:
        if self.buffer:
            self._block(bytes(self.buffer))
            self.buffer.clear()
        self.raw.flush()

    def close(self) -> None:
        self.flush()
        self.raw.write(_BGZF_EOF)
        self.raw.flush()


def bgzip_file(src: Path, dst: Path) -> None:
    with open(src, "rb") as plain, open(dst, "wb") as raw:
        writer = BgzfWriter(raw)
        while chunk := plain.read(1 << 20):
            writer.write(chunk)
        writer.close()
        raw.flush()
        os.fsync(raw.fileno())


def index_vcf_gz(path: Path) -> Path | None:
    """Write `<path>.tbi`; returns it, or None (with a warning) when no indexer works."""
    tbi = Path(str(path) + ".tbi")
    lib = _htslib()
    if lib is not None:
        quiet_htslib()
        if lib.bcf_index_build(str(path).encode(), 0) == 0 and tbi.exists():
            return tbi
    if shutil.which("tabix"):
        done = subprocess.run(["tabix", "-f", "-p", "vcf", str(path)], check=False, capture_output=True)
        if done.returncode == 0:
            return tbi
    tbi.unlink(missing_ok=True)
    log.warning(
        "%s: no tabix index written (the records are not sorted by position, or no indexer is available); "
        "sort with `bcftools sort` and index with `tabix -p vcf` if you need one",
        path,
    )
    return None


class VcfOutput:
    """Write a VCF to a temp file beside `target` and rename it there on `close()`.

    `target` "-" streams to stdout. output_type "z" = bgzip (+ tabix index for files)."""

    def __init__(
        self,
        target: str | os.PathLike,
        reader: VcfReader,
        output_type: str = "v",
        extra_header_lines: Iterable[str] = (),
    ) -> None:
        if output_type not in ("v", "z"):
            raise BiblipError(f"unknown output type {output_type!r}", hint="use v (plain) or z (bgzip)")
        self.target = str(target)
        self.output_type = output_type
        self.to_stdout = self.target == "-"
        for line in extra_header_lines:
            reader.vcf.add_to_header(line)
        if self.to_stdout:
            self.temp = None
            raw: BinaryIO = sys.stdout.buffer
        else:
            final = Path(self.target)
            if not final.parent.exists():
                raise BiblipError(
                    "output directory does not exist", where=str(final.parent), hint="create it"
                )
            self.temp = final.with_name(f".{final.name}.tmp{os.getpid()}")
            raw = open(self.temp, "wb")  # noqa: SIM115
        self.raw = raw
        self.sink: BinaryIO | BgzfWriter = BgzfWriter(raw) if output_type == "z" else raw
        self.sink.write(header_text(reader).encode())

    def write(self, variant: cyvcf2.Variant) -> None:
        self.sink.write(str(variant).encode())

    def write_text(self, text: str) -> None:
        self.sink.write(text.encode())

    def close(self) -> Path | None:
        """Finish, rename into place, index; returns the final path (None for stdout)."""
        if isinstance(self.sink, BgzfWriter):
            self.sink.close()
        self.raw.flush()
        if self.temp is None:
            return None
        os.fsync(self.raw.fileno())
        self.raw.close()
        final = Path(self.target)
        os.replace(self.temp, final)
        if self.output_type == "z":
            Path(str(final) + ".tbi").unlink(missing_ok=True)
            index_vcf_gz(final)
        return final

    def abort(self) -> None:
        if self.temp is not None:
            self.raw.close()
            self.temp.unlink(missing_ok=True)


def _header_key(reader: VcfReader) -> tuple[list[str], list[str]]:
    """What must agree between shards: samples and the INFO/FORMAT definitions."""
    defs = [
        line
        for line in header_text(reader).splitlines()
        if line.startswith(("##INFO=", "##FORMAT=")) and "biblip_command" not in line
    ]
    return reader.samples, sorted(defs)


def concat_vcfs(inputs: list[str], target: str, output_type: str = "v") -> int:
    """Concatenate VCFs with compatible headers (e.g. the shards of one run); returns records written.

    The header comes from the first input; records are copied in input order."""
    if not inputs:
        raise BiblipError("nothing to merge", hint="pass the shard outputs in order")
    readers = [open_vcf(path) for path in inputs]
    first_key = _header_key(readers[0])
    for reader in readers[1:]:
        key = _header_key(reader)
        if key[0] != first_key[0]:
            raise BiblipError(
                "samples differ from the first file's",
                where=reader.name,
                hint="merge only the shards of one run (same input, same options)",
            )
        if key[1] != first_key[1]:
            raise BiblipError(
                "INFO/FORMAT header lines differ from the first file's",
                where=reader.name,
                hint="merge only the shards of one run (same input, same options)",
            )
    output = VcfOutput(target, readers[0], output_type)
    written = 0
    try:
        for reader in readers:
            for _number, variant in reader.records():
                output.write(variant)
                written += 1
            reader.close()
    except BaseException:
        output.abort()
        raise
    output.close()
    return written
