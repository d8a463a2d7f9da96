"""VCF output: the temp-file-then-rename writer `VcfOutput` and `concat_vcfs` (header lines in vcf_header.py,
bgzip, BCF and the index in vcf_compress.py).

Records are written as text (`str(variant)`, htslib's own formatting, or the input's own line) so byte
offsets are known (resume) and unannotated records come out exactly as they were read. bgzip output
uses Bio.bgzf; BCF (`-O b`/`-O u`, as bcftools spells them) is the finished text VCF read back and
written by cyvcf2's `Writer` (htslib); the tabix/CSI index is built with htslib's `bcf_index_build`
(through cyvcf2's shared library, `vcf_read.htslib`) or the `tabix` binary.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import cyvcf2
from Bio import bgzf

from biblip_cli.errors import BiblipError
from biblip_cli.io.vcf_compress import OUTPUT_TYPES, bgzf_writer, index_bcf, index_vcf_gz, write_bcf
from biblip_cli.io.vcf_header import header_text
from biblip_cli.io.vcf_read import VcfReader, open_vcf

if TYPE_CHECKING:
    from biblip_cli.io.outputs import OutputFile


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
