"""VCF output: the BIOBLIP header lines, the temp-file-then-rename writer, bgzip (Bio.bgzf), BCF and the index.

Records are written as text (`str(variant)`, htslib's own formatting, or the input's own line) so byte
offsets are known (resume) and unannotated records come out exactly as they were read. bgzip output
uses Bio.bgzf; BCF (`-O b`/`-O u`, as bcftools spells them) is the finished text VCF read back and
written by cyvcf2's `Writer` (htslib); the tabix/CSI index is built with htslib's `bcf_index_build`
(through cyvcf2's shared library, `vcf_read.htslib`) or the `tabix` binary.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import cyvcf2
from Bio import bgzf

from biblip_cli.errors import BiblipError
from biblip_cli.io.vcf_read import VcfReader, htslib, open_vcf, quiet_htslib

if TYPE_CHECKING:
    from biblip_cli.io.outputs import OutputFile

log = logging.getLogger(__name__)

# The CSQ-style field: VEP's names and meanings first (docs/output.md maps each to VEP and SnpEff ANN),
# then ours. Readers take the order from the header's `Format:`; columns may be added at the end.
VEP_COLUMNS: tuple[str, ...] = (
    "Allele",
    "Consequence",
    "IMPACT",
    "SYMBOL",
    "Gene",
    "Feature_type",
    "Feature",
    "BIOTYPE",
    "EXON",
    "INTRON",
    "HGVSc",
    "HGVSp",
    "cDNA_position",
    "CDS_position",
    "Protein_position",
    "Amino_acids",
    "Codons",
    "STRAND",
    "CANONICAL",
    "MANE_SELECT",
    "HGVSg",
    "DISTANCE",
)
BIOBLIP_COLUMNS: tuple[str, ...] = VEP_COLUMNS + ("Pathogenicity", "Status")
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


def append_info(line: str, added: str) -> str:
    """A record line with `added` (`KEY=value[;KEY=value]`) appended to its INFO column.

    Editing the text leaves the rest of the line exactly as it was (bytes that are not UTF-8 included,
    as surrogate escapes); items with the keys being added (re-annotating our own output) are replaced,
    not duplicated."""
    columns = line.split("\t", 8)
    info = columns[7]
    last = len(columns) == 8  # no FORMAT/samples: INFO ends the line
    if last:
        info = info[:-1]
    if "BIOBLIP" in info:
        keys = {item.split("=", 1)[0] for item in added.split(";")}
        kept = [item for item in info.split(";") if item.split("=", 1)[0] not in keys and item != "."]
        info = ";".join(kept) or "."
    columns[7] = (added if info == "." else info + ";" + added) + ("\n" if last else "")
    return "\t".join(columns)


# --- header ----------------------------------------------------------------------------------------


def bioblip_header_line(columns: Iterable[str] = BIOBLIP_COLUMNS) -> dict[str, str]:
    return {
        "ID": "BIOBLIP",
        "Number": ".",
        "Type": "String",
        "Description": "Bio-BLIP annotation per ALT allele and transcript (values percent-encoded). Format: "
        + "|".join(columns),
    }


# The INFO keys biblip writes, with their Number and Type: an input declaring one of them otherwise would
# make our values unreadable by htslib (it parses them by the first declaration).
OUR_INFO: dict[str, tuple[str, str]] = {
    "BIOBLIP": (".", "String"),
    "BIOBLIP_EXPLAIN": ("A", "String"),
    "BIOBLIP_RANK": ("A", "Integer"),
    "BIOBLIP_SCORE": ("A", "Float"),
    "BIOBLIP_TARGET": (".", "String"),
}
_IDX = re.compile(r",IDX=\d+>$")
_INFO_LINE = re.compile(r"^##INFO=<ID=([^,>]+)(.*)$")


def _field(rest: str, key: str) -> str:
    match = re.search(rf"[<,]{key}=([^,>]+)", "<" + rest.lstrip(","))
    return match.group(1) if match else ""


def declared_info(reader: VcfReader) -> dict[str, tuple[str, str, str]]:
    """INFO id -> (Number, Type, header line) as the input declares them (first declaration wins)."""
    found: dict[str, tuple[str, str, str]] = {}
    for line in reader.vcf.raw_header.splitlines():
        match = _INFO_LINE.match(line)
        if match and match.group(1) not in found:
            rest = match.group(2)
            found[match.group(1)] = (_field(rest, "Number"), _field(rest, "Type"), line)
    return found


def check_info_conflicts(reader: VcfReader, *, overwrite: bool = False) -> None:
    """Before any output: refuse an input that declares a BIOBLIP* INFO key with another Number/Type
    (`overwrite`: our declaration replaces it in the output header, and our values replace its values)."""
    reader.overwrite_info = overwrite  # type: ignore[attr-defined]
    declared = declared_info(reader)
    for key, (number, kind) in OUR_INFO.items():
        if key in declared and declared[key][:2] != (number, kind) and not overwrite:
            old_number, old_kind, _line = declared[key]
            raise BiblipError(
                f"the input already declares INFO/{key} as Number={old_number},Type={old_kind}; "
                f"biblip writes Number={number},Type={kind}",
                where=reader.name,
                hint=f"add --overwrite-info to replace it, or remove it first: bcftools annotate -x INFO/{key}",
            )


def _info_line(spec: dict[str, str]) -> str:
    return (
        f"##INFO=<ID={spec['ID']},Number={spec['Number']},Type={spec['Type']},"
        f'Description="{spec["Description"]}">'
    )


def _add_info(reader: VcfReader, spec: dict[str, str]) -> None:
    key = spec["ID"]
    found = declared_info(reader).get(key)
    if found is not None and found[:2] != (spec["Number"], spec["Type"]):
        if not getattr(reader, "overwrite_info", False):
            check_info_conflicts(reader)  # raises the one-line error
        replaced: dict[str, str] = reader.__dict__.setdefault("replaced_info", {})
        replaced[found[2]] = _info_line(spec)
        return
    reader.vcf.add_info_to_header(spec)


def add_bioblip_header(reader: VcfReader, *, explain: bool = False) -> None:
    _add_info(reader, bioblip_header_line())
    if explain:
        _add_info(
            reader,
            {
                "ID": "BIOBLIP_EXPLAIN",
                "Number": "A",
                "Type": "String",
                "Description": "Bio-BLIP generated summary per ALT allele (percent-encoded, spaces as _)",
            },
        )


def add_rank_header(reader: VcfReader) -> None:
    _add_info(
        reader,
        {"ID": "BIOBLIP_RANK", "Number": "A", "Type": "Integer", "Description": "Bio-BLIP rank (1 = best)"},
    )
    _add_info(
        reader,
        {"ID": "BIOBLIP_SCORE", "Number": "A", "Type": "Float", "Description": "Bio-BLIP ranking score"},
    )


def add_target_header(reader: VcfReader) -> None:
    _add_info(
        reader,
        {
            "ID": "BIOBLIP_TARGET",
            "Number": ".",
            "Type": "String",
            "Description": "Bio-BLIP target-gene scores. Format: Allele|Gene|score",
        },
    )


def add_command_header(reader: VcfReader, command: str) -> None:
    from biblip_cli import __version__

    reader.vcf.add_to_header(f"##biblip_version={__version__}")
    reader.vcf.add_to_header(f"##biblip_command={command.replace(chr(10), ' ')}")


def header_text(reader: VcfReader) -> str:
    """The output header: htslib's, with lines htslib decoded lossily (bytes that are not UTF-8) put back
    from the input's own bytes (as surrogate escapes) and `--overwrite-info` replacements applied."""
    text = reader.vcf.raw_header
    replaced: dict[str, str] = getattr(reader, "replaced_info", {})
    if "\ufffd" not in text and not replaced:
        return text
    originals: dict[str, str] = {}
    if "\ufffd" in text:
        for line in reader.original_header_lines():
            line = _IDX.sub(">", line)  # BCF headers carry IDX=, htslib's text does not
            lossy = line.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            if lossy != line:
                originals.setdefault(lossy, line)
    out = []
    for line in text.split("\n"):
        line = replaced.get(line, line)
        out.append(originals.get(line, line))
    return "\n".join(out)


# --- output ----------------------------------------------------------------------------------------


# --- output types ----------------------------------------------------------------------------------

# bcftools' -O letters: v plain VCF, z bgzipped VCF, b compressed BCF, u uncompressed BCF
OUTPUT_TYPES: dict[str, str] = {"v": "plain VCF", "z": "bgzipped VCF", "b": "BCF", "u": "uncompressed BCF"}
OUTPUT_TYPE_HELP = "v = VCF, z = bgzipped VCF (+ .tbi), b = BCF, u = uncompressed BCF; default from the name"


def infer_output_type(output: str, output_type: str | None) -> str:
    """`-O` if given, else from the output name as bcftools does: `.bcf` -> b, `.gz`/`.bgz` -> z, else v."""
    if output_type:
        return output_type
    name = str(output)
    if name.endswith(".bcf"):
        return "b"
    return "z" if name.endswith((".gz", ".bgz")) else "v"


def check_output_type(output_type: str, write_index: bool = False) -> None:
    """A usage error for an unknown `-O` letter, or `--write-index` on an output that cannot be indexed."""
    from biblip_cli.errors import UsageError

    if output_type not in OUTPUT_TYPES:
        raise UsageError(
            f"unknown --output-type {output_type!r}",
            hint="use v (VCF), z (bgzipped VCF), b (BCF) or u (uncompressed BCF)",
        )
    if write_index and output_type not in ("z", "b"):
        raise UsageError(
            f"--write-index needs a compressed output (-O z or -O b), not -O {output_type}",
            hint="name the output .vcf.gz or .bcf, or pass -O z / -O b",
        )


def index_bcf(path: Path) -> Path | None:
    """Write `<path>.csi` (htslib, min_shift 14 as bcftools index); None (with a warning) when it fails."""
    csi = Path(str(path) + ".csi")
    lib = htslib()
    if lib is not None:
        quiet_htslib()
        if lib.bcf_index_build(str(path).encode(), 14) == 0 and csi.exists():
            return csi
    csi.unlink(missing_ok=True)
    log.warning("%s: no .csi index written (are the records sorted by position?); use `bcftools index`", path)
    return None


def write_bcf(text_vcf: Path, out: OutputFile, output_type: str) -> None:
    """Convert a finished text VCF into `out` as BCF with cyvcf2's Writer (`b` compressed, `u` not).

    A regular file is written into `out`'s temp file (the caller commits it: fsync + rename); stdout,
    devices and FIFOs are written through by htslib."""
    mode = "wb" if output_type == "b" else "wbu"
    if out.temp is not None:
        target = str(out.temp)
    else:
        out.flush()
        target = "-" if not out.owned else out.target
    quiet_htslib()
    reader = cyvcf2.VCF(str(text_vcf))
    try:
        writer = cyvcf2.Writer(target, reader, mode=mode)
        for variant in reader:
            writer.write_record(variant)
        writer.close()
    except OSError as err:
        raise BiblipError(f"cannot write BCF ({err})", where=out.where) from err
    finally:
        reader.close()


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


def bgzip_file(src: Path, dst: Path) -> Path | None:
    """bgzip `src` into `dst` through the output layer (temp file + rename; no lock: the caller holds it)."""
    return bgzip_to_temp(src, dst).commit()


def bgzip_to_temp(src: Path, dst: Path) -> OutputFile:
    """bgzip `src` into a temp file beside `dst`, flushed and fsync'd: `commit()` renames it into place."""
    from biblip_cli.io.outputs import OutputFile

    out = OutputFile(dst, lock=False)
    try:
        with open(src, "rb") as plain:
            writer = bgzf_writer(out)  # type: ignore[arg-type]
            while chunk := plain.read(1 << 20):
                writer.write(chunk)
            writer.close()
        out.prepare()
    except BaseException:
        out.abort()
        raise
    return out


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
    """Write a VCF through the output layer (`io/outputs.OutputFile`): a unique temp file beside `target`,
    locked, renamed there on `close()`; `-`, devices and FIFOs are written through.

    output_type: v plain, z bgzip (+ tabix index for regular files), b/u BCF (the text goes to a spool
    file beside the target, converted by `finish`; `write_index` adds the .csi)."""

    def __init__(
        self,
        target: str | os.PathLike,
        reader: VcfReader,
        output_type: str = "v",
        extra_header_lines: Iterable[str] = (),
        lock: bool = True,  # False: the caller holds the output's lock (io/locks.OutputLock)
        write_index: bool = False,
    ) -> None:
        from biblip_cli.io.outputs import OutputFile

        if output_type not in OUTPUT_TYPES:
            raise BiblipError(f"unknown output type {output_type!r}", hint="use v, z, b or u")
        self.target = str(target)
        self.output_type = output_type
        self.write_index = write_index
        for line in extra_header_lines:
            reader.vcf.add_to_header(line)
        self.file = OutputFile(self.target, lock=lock)
        self.to_stdout = self.file.final is None
        self.finished = False
        self.temp = self.file.temp
        self.spool: OutputFile | None = None
        if output_type in ("b", "u"):
            try:
                self.spool = text_spool(self.file)
            except BaseException:
                self.file.abort()
                raise
        self.sink: OutputFile | bgzf.BgzfWriter = (
            bgzf_writer(self.file) if output_type == "z" else (self.spool or self.file)
        )
        try:
            self.sink.write(header_text(reader).encode("utf-8", "surrogateescape"))
        except BaseException:
            self.abort()
            raise

    def write(self, variant: cyvcf2.Variant) -> None:
        from biblip_cli.io.vcf_read import record_text

        self.sink.write(record_text(variant).encode("utf-8", "surrogateescape"))

    def write_text(self, text: str) -> None:
        self.sink.write(text.encode("utf-8", "surrogateescape"))

    def finish(self) -> None:
        """All records written: close the BGZF stream, or convert the spool to BCF (the file stays a temp
        file until `commit`)."""
        try:
            if self.finished:
                return
            self.finished = True
            if isinstance(self.sink, bgzf.BgzfWriter):
                self.sink.close()
            elif self.spool is not None:
                self.spool.flush()
                write_bcf(self.spool.temp, self.file, self.output_type)  # type: ignore[arg-type]
                self.spool.abort()  # the text copy is not needed any more
        except BaseException:
            self.abort()
            raise

    def commit(self) -> Path | None:
        """Finish, rename into place, index; returns the final path (None for stdout/devices)."""
        self.finish()
        final = self.file.commit()
        if final is not None and self.output_type == "z":
            Path(str(final) + ".tbi").unlink(missing_ok=True)
            index_vcf_gz(final)
        if final is not None and self.output_type == "b":
            Path(str(final) + ".csi").unlink(missing_ok=True)
            if self.write_index:
                index_bcf(final)
        return final

    def close(self) -> Path | None:
        return self.commit()

    def abort(self) -> None:
        if self.spool is not None:
            self.spool.abort()
        self.file.abort()


def text_spool(out: OutputFile) -> OutputFile:
    """Where BCF output is written as text first: an output-layer temp file beside the target (else in
    $TMPDIR), never committed: `finish` reads it back and drops it."""
    import tempfile

    from biblip_cli.io.outputs import OutputFile

    folder = out.final.parent if out.final is not None else Path(tempfile.gettempdir())
    name = f"{out.final.name if out.final is not None else 'stdout'}.text.vcf"
    return OutputFile(folder / name, lock=False)


def _header_key(reader: VcfReader) -> tuple[list[str], list[str]]:
    """What must agree between shards: samples and the INFO/FORMAT definitions."""
    defs = [
        line
        for line in header_text(reader).splitlines()
        if line.startswith(("##INFO=", "##FORMAT=")) and "biblip_command" not in line
    ]
    return reader.samples, sorted(defs)


def concat_vcfs(inputs: list[str], target: str, output_type: str = "v", write_index: bool = False) -> int:
    """Concatenate VCFs with compatible headers (e.g. the shards of one run); returns records written.

    The header comes from the first input; records are copied in input order."""
    from biblip_cli.io.outputs import check_outputs

    if not inputs:
        raise BiblipError("nothing to merge", hint="pass the shard outputs in order")
    check_outputs(inputs, [("-o", target)])
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
    output = VcfOutput(target, readers[0], output_type, write_index=write_index)
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
