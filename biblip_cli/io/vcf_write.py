"""VCF output: the BIOBLIP header lines, the temp-file-then-rename writer, bgzip (Bio.bgzf) and the tabix index.

Records are written as text (`str(variant)`, htslib's own formatting, or the input's own line) so byte
offsets are known (resume) and unannotated records come out exactly as they were read. bgzip output
uses Bio.bgzf; the tabix index is built with htslib's `bcf_index_build` (through cyvcf2's shared
library, `vcf_read.htslib`) or the `tabix` binary.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

import cyvcf2
from Bio import bgzf

from biblip_cli.errors import BiblipError
from biblip_cli.io.vcf_read import VcfReader, htslib, open_vcf, quiet_htslib

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

class _KeepOpen:
    """A binary stream whose close() only flushes: Bio.bgzf closes its handle, and ours is stdout or a
    temp file that still needs its fsync and rename."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw

    def write(self, data: bytes) -> int:
        return self.raw.write(data)

    def flush(self) -> None:
        self.raw.flush()

    def close(self) -> None:
        self.raw.flush()

    def fileno(self) -> int:
        return self.raw.fileno()


def bgzf_writer(raw: BinaryIO) -> bgzf.BgzfWriter:
    """Bio.bgzf's BGZF writer (what bgzip writes, with the EOF block) on an open stream it leaves open."""
    return bgzf.BgzfWriter(fileobj=_KeepOpen(raw))


def bgzip_file(src: Path, dst: Path) -> None:
    with open(src, "rb") as plain, open(dst, "wb") as raw:
        writer = bgzf_writer(raw)
        while chunk := plain.read(1 << 20):
            writer.write(chunk)
        writer.close()
        raw.flush()
        os.fsync(raw.fileno())


def index_vcf_gz(path: Path) -> Path | None:
    """Write `<path>.tbi`; returns it, or None (with a warning) when no indexer works."""
    tbi = Path(str(path) + ".tbi")
    lib = htslib()
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
        self.sink: BinaryIO | bgzf.BgzfWriter = bgzf_writer(raw) if output_type == "z" else raw
        self.sink.write(header_text(reader).encode())

    def write(self, variant: cyvcf2.Variant) -> None:
        self.sink.write(str(variant).encode())

    def write_text(self, text: str) -> None:
        self.sink.write(text.encode())

    def close(self) -> Path | None:
        """Finish, rename into place, index; returns the final path (None for stdout)."""
        if isinstance(self.sink, bgzf.BgzfWriter):
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
