"""Streaming VCF/BCF input (cyvcf2); the text checks before htslib are in vcf_sniff.py, output in vcf_write.py.

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
import stat
import subprocess
import zlib
from collections.abc import Iterator
from pathlib import Path

import cyvcf2

from biblip_cli.errors import BiblipError
from biblip_cli.io.vcf_sniff import (
    BLANK_HINT,
    SNIFF_BYTES,
    diagnose_line,
    read_head,
    sniff_text_header,
    stdin_source,
)
from biblip_cli.records import Allele

log = logging.getLogger(__name__)

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


STDIN_NAME = "<stdin>"


def _is_stream(path: str) -> bool:
    """A path that can be read only once: a FIFO (also `<(...)`, /dev/fd/N) or a character device."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)


class VcfReader:
    """A VCF/BCF opened for streaming; iterate with `records()`."""

    def __init__(self, source: str | os.PathLike, *, threads: int | None = None) -> None:
        self.source = str(source)
        self.is_stdin = self.source == "-"
        self.name = STDIN_NAME if self.is_stdin else self.source
        stream_fd: int | None = 0 if self.is_stdin else None
        if not self.is_stdin and _is_stream(self.source):  # FIFO, <(process substitution), character device
            try:
                stream_fd = os.open(self.source, os.O_RDONLY)
            except OSError as err:
                raise BiblipError(f"cannot open the input ({err.strerror})", where=self.source) from err
            self.is_stdin = True  # read once, like stdin: no re-reading, no index, no --resume
        self.kind = "stream"
        self.header_lines = 0
        quiet_htslib()
        source: str | int = self.source
        self.feeder: subprocess.Popen | None = None
        self.head = b""
        if self.is_stdin:
            assert stream_fd is not None
            self.kind, head, complete, source, self.feeder = stdin_source(stream_fd)
            if stream_fd != 0 and source != stream_fd:
                os.close(stream_fd)  # `cat` has its own copy; htslib reads the fresh pipe
            self.head = head
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
            self.kind, head = read_head(path)
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

    def original_header_lines(self) -> list[str]:
        """The input's header lines, bytes decoded with surrogateescape (htslib's `raw_header` replaces
        bytes that are not UTF-8). Text/gzip: the `#` lines; BCF: the header text block; stdin: as far as
        the sniffed head reaches."""
        head = b""
        if self.is_stdin:
            head = self.head
        elif self.kind == "bcf":
            try:
                with gzip.open(self.source, "rb") as raw:
                    magic = raw.read(9)
                    if magic[:3] == b"BCF" and len(magic) == 9:
                        head = raw.read(int.from_bytes(magic[5:9], "little"))
            except (OSError, EOFError, zlib.error):
                return []
            head = head.rstrip(b"\0")
        else:
            opener = gzip.open if self.kind == "gzip" else open
            lines: list[bytes] = []
            try:
                with opener(self.source, "rb") as raw:  # type: ignore[operator]
                    for line in raw:
                        if not line.startswith(b"#"):
                            break
                        lines.append(line)
            except (OSError, EOFError, zlib.error):
                pass
            head = b"".join(lines)
        if head.startswith(b"BCF") and self.is_stdin and len(head) >= 9:
            head = head[9 : 9 + int.from_bytes(head[5:9], "little")].rstrip(b"\0")
        return [
            line.rstrip(b"\r").decode("utf-8", "surrogateescape")
            for line in head.split(b"\n")
            if line.startswith(b"#")
        ]

    # Line numbers are exact for text input without blank lines; BCF has no lines.
    def where(self, record_number: int) -> str:
        if self.kind in ("text", "gzip"):
            return f"{self.name}: line {self.header_lines + record_number} (record {record_number})"
        return f"{self.name}: record {record_number}"

    @property
    def samples(self) -> list[str]:
        """The sample names; names with bytes that are not UTF-8 (Windows-1252 `é`) come from the input's
        own `#CHROM` line, decoded with surrogateescape (cyvcf2 raises UnicodeDecodeError on them)."""
        try:
            return list(self.vcf.samples)
        except UnicodeDecodeError:
            for line in self.original_header_lines():
                if line.startswith("#CHROM"):
                    return line.rstrip("\r\n").split("\t")[9:]
            raise

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
            found = diagnose_line(Path(self.source), record_number)
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


def record_text(variant: cyvcf2.Variant) -> str:
    """`str(variant)` that survives bytes that are not UTF-8 (e.g. Windows-1252 in INFO): they are kept
    as surrogate escapes, so encoding with `surrogateescape` writes the record's bytes unchanged."""
    try:
        return str(variant)
    except UnicodeDecodeError as err:
        raw = err.object
        return bytes(raw).decode("utf-8", "surrogateescape")


def open_vcf(source: str | os.PathLike, *, threads: int | None = None) -> VcfReader:
    """Open a VCF/VCF.gz/BCF path or `-` (stdin) for streaming."""
    return VcfReader(source, threads=threads)


SYMBOLIC_CHARS = frozenset("<>[]*")
BASES = frozenset("ACGTN")


def alleles(variant: cyvcf2.Variant, record_number: int) -> list[Allele]:
    """One Allele per ALT; a missing ALT (`.`) gives an allele with alt '.' (status skipped)."""
    return record_alleles(variant.CHROM, variant.POS, variant.REF, variant.ALT, record_number)


def record_alleles(chrom: str, pos: int, ref: str, alts: list[str], record_number: int) -> list[Allele]:
    """`alleles` from a record's fields (what annotate's spine workers receive instead of the variant)."""
    ref = ref.upper()
    # Bases are uppercased (lowercase is legal); symbolic ALTs keep their text (breakend contigs).
    return [
        Allele(chrom, pos, ref, alt.upper() if alt.isalpha() else alt, index, record_number)
        for index, alt in enumerate(alts or ["."])
    ]


def precheck(allele: Allele) -> str | None:
    """Status for alleles the spine cannot annotate (skipped | symbolic); None when it can try."""
    alt = allele.alt
    # one base each (a str is a member only if it is one letter): most records, decided at once
    if alt in BASES and allele.ref in BASES:
        return None
    if alt == "." or not alt:
        return "skipped"
    if not SYMBOLIC_CHARS.isdisjoint(alt) or not SYMBOLIC_CHARS.isdisjoint(allele.ref):
        return "symbolic"
    if not BASES.issuperset(alt) or not BASES.issuperset(allele.ref):
        return "skipped"  # IUPAC codes (R, Y, ...) cannot be applied to or checked against the sequence
    return None


def indexed_record_count(path: str) -> int | None:
    """Records in an indexed VCF.gz/BCF from its index (no reading), None when there is no index (stdin,
    plain VCF) or the index keeps no counts."""
    if path == "-" or not any(Path(path + ext).is_file() for ext in (".tbi", ".csi")):
        return None
    quiet_htslib()
    try:
        vcf = cyvcf2.VCF(path)
        try:
            return int(vcf.num_records)
        finally:
            vcf.close()
    except (OSError, ValueError):
        return None
