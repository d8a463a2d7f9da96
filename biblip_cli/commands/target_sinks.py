"""Where `biblip target`'s VCF pass writes: resumable partial files or the output layer's writers."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from biblip_cli.commands.target_options import VCF_TSV_COLUMNS, TargetOptions
from biblip_cli.errors import UsageError
from biblip_cli.io.output_paths import is_stdout
from biblip_cli.io.outputs import TextOutput, commit_all, keep_files_if_stdout_closes


def open_text_out(target: str | Path | None) -> TextOutput | None:
    """A TSV through the output layer: temp file + rename (or written through for `-` and devices)."""
    if target is None:
        return None
    return TextOutput(target)


class VcfSinks:
    """Where the VCF pass writes: a resumable pair of partial files (`io/resumable.py`: checkpoint after
    every batch, `--resume`, renamed into place at the end) when both outputs are files, else the output
    layer's temp-file-and-rename writers (stdout and devices written through)."""

    def __init__(self, opts: TargetOptions, reader: Any, header_lines: Sequence[str] = ()) -> None:
        from biblip_cli.io.output_paths import is_special
        from biblip_cli.io.resumable import ResumableOutput, input_fingerprint
        from biblip_cli.io.vcf_header import header_text
        from biblip_cli.io.vcf_write import VcfOutput

        self.resumable: Any = None
        self.vcf: Any = None
        self.tsv: TextOutput | None = None
        self.resume_after = 0
        self.counters: dict[str, Any] = {}
        streamed = reader.is_stdin or any(
            path is not None and (is_stdout(path) or is_special(Path(path)))
            for path in (opts.output, opts.tsv)
        )
        if streamed and opts.resume:
            raise UsageError(
                "--resume needs an input file and output files",
                hint="pass -o OUT.vcf (and --tsv, if given, as a file too)",
            )
        if streamed:
            self.vcf = VcfOutput(opts.output, reader, opts.output_type, header_lines)
            try:
                self.tsv = open_text_out(opts.tsv)
                if self.tsv is not None:
                    self.tsv.write("\t".join(VCF_TSV_COLUMNS) + "\n")
            except BaseException:
                self.vcf.abort()
                raise
            keep_files_if_stdout_closes(self.vcf.file, self.tsv.file if self.tsv is not None else None)
            return
        for line in header_lines:  # provenance, as VcfOutput adds it on the streamed path
            reader.vcf.add_to_header(line)
        fingerprint = input_fingerprint(opts.input, opts.fingerprint_options())
        self.resumable = ResumableOutput(Path(opts.output), opts.tsv, fingerprint, resume=opts.resume)
        if self.resumable.resumed:
            self.resume_after = self.resumable.state.records_done
            self.counters = dict(self.resumable.state.counters)
            return
        try:
            self.resumable.vcf.write(header_text(reader).encode("utf-8", "surrogateescape"))
            if self.resumable.tsv_file is not None:
                self.resumable.tsv_file.write(("\t".join(VCF_TSV_COLUMNS) + "\n").encode())
            self.resumable.checkpoint(0, {}, force=True)
        except BaseException:
            self.resumable.abort()
            raise

    def write(self, vcf_text: str, tsv_text: str) -> None:
        if self.resumable is not None:
            self.resumable.vcf.write(vcf_text.encode("utf-8", "surrogateescape"))
            if self.resumable.tsv_file is not None and tsv_text:
                self.resumable.tsv_file.write(tsv_text.encode("utf-8", "surrogateescape"))
            return
        self.vcf.write_text(vcf_text)
        if self.tsv is not None and tsv_text:
            self.tsv.write(tsv_text)

    def checkpoint(self, record_number: int, counters: dict[str, Any], force: bool = False) -> None:
        if self.resumable is not None:
            self.resumable.checkpoint(record_number, counters, force=force)

    def commit(self, output_type: str) -> None:
        if self.resumable is not None:
            self.resumable.finish(output_type)
            return
        try:
            self.vcf.finish()
            commit_all(self.vcf.file, self.tsv.file if self.tsv is not None else None)  # all or none
            self.vcf.commit()  # the index, for -O z
        except BaseException:
            self.abort()
            raise

    def interrupted(self) -> bool:
        """Keep the partial files for `--resume` (True) or remove the outputs (False)."""
        if self.resumable is not None:
            self.resumable.close_for_resume()
            return True
        self.abort()
        return False

    def abort(self) -> None:
        if self.resumable is not None:
            self.resumable.abort()
            return
        self.vcf.abort()
        if self.tsv is not None:
            self.tsv.abort()
