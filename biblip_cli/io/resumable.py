"""Crash-safe outputs that a killed run can resume.

A run writing to `OUT` writes plain text to `OUT.partial` (and `TSV.partial`) and, after each
completed batch, records in `OUT.partial.json` how many input records are done and how many bytes
of each partial file belong to them (files fsync'd first, state written atomically). `--resume`
checks the fingerprint of input + options, truncates the partials to those byte counts and goes on.
On success the partials are renamed (or bgzipped) to their final names; the final name never holds
a partial file. The partials keep their deterministic names (that is what `--resume` finds), and are
protected by the output layer's lock (`io/locks.OutputLock` on OUT and TSV): a second run on the same
output stops at once instead of writing into the same `OUT.partial`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from biblip_cli.errors import BiblipError, UsageError
from biblip_cli.io.guarded_file import GuardedFile
from biblip_cli.io.locks import OutputLock
from biblip_cli.io.os_errors import os_error
from biblip_cli.io.output_paths import real_target
from biblip_cli.io.outputs import OutputFile, check_directory
from biblip_cli.io.vcf_compress import bgzip_to_temp, index_bcf, index_vcf_gz, write_bcf

log = logging.getLogger(__name__)

STATE_FORMAT = 1
CHECKPOINT_INTERVAL_S = 0.5  # at most two fsyncs a second; every checkpoint is a batch boundary


def input_fingerprint(source: str, options: dict[str, Any]) -> str:
    """Hash of the input file's identity and the options that change the output."""
    stat = os.stat(source)
    ident = {
        "input": os.path.realpath(source),
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "options": options,
    }
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class ResumeState:
    fingerprint: str
    records_done: int = 0
    vcf_bytes: int = 0
    tsv_bytes: int = 0
    counters: dict[str, Any] = field(default_factory=dict)


class ResumableOutput:
    """`OUT.partial` (+ optional `TSV.partial`) with a JSON checkpoint beside it."""

    def __init__(self, target: Path, tsv: Path | None, fingerprint: str, *, resume: bool) -> None:
        for path in (target, tsv):
            if path is not None:
                check_directory(path)
        target = real_target(Path(target))
        tsv = real_target(Path(tsv)) if tsv is not None else None
        self.target = target
        self.tsv = tsv
        self.locks: list[OutputLock] = []
        for path in (target, tsv):
            if path is not None:
                try:
                    self.locks.append(OutputLock(path))
                except BaseException:
                    self._unlock()
                    raise
        try:
            self._open(target, tsv, fingerprint, resume)
        except BaseException:
            self._unlock()
            raise

    def _unlock(self) -> None:
        for lock in self.locks:
            lock.release()
        self.locks = []

    def _open(self, target: Path, tsv: Path | None, fingerprint: str, resume: bool) -> None:
        self.partial = target.with_name(target.name + ".partial")
        self.state_path = target.with_name(target.name + ".partial.json")
        self.tsv_partial = tsv.with_name(tsv.name + ".partial") if tsv else None
        self.state = ResumeState(fingerprint)
        self.resumed = False
        self._last_checkpoint = 0.0
        if resume:
            self.resumed = self._load(fingerprint)
        elif self.state_path.exists():
            log.info("%s: an unfinished run's partial output is there; starting over (use --resume)", target)
        # never through a link: `OUT.partial -> in.vcf` must not overwrite the input
        self.vcf: BinaryIO = GuardedFile.open_own(self.partial, resume=self.resumed)  # type: ignore[assignment]
        self.tsv_file: BinaryIO | None = None
        if self.tsv_partial:
            try:
                self.tsv_file = GuardedFile.open_own(self.tsv_partial, resume=self.resumed)  # type: ignore[assignment]
            except BaseException:
                self.vcf.close()
                if not self.resumed:
                    self.partial.unlink(missing_ok=True)
                raise
        if self.resumed:
            self.vcf.truncate(self.state.vcf_bytes)
            self.vcf.seek(self.state.vcf_bytes)
            if self.tsv_file is not None:
                self.tsv_file.truncate(self.state.tsv_bytes)
                self.tsv_file.seek(self.state.tsv_bytes)

    def _load(self, fingerprint: str) -> bool:
        if not self.state_path.exists() or not self.partial.exists():
            log.info("%s: nothing to resume; starting from the beginning", self.target)
            return False
        try:
            data = json.loads(self.state_path.read_text())
            state = ResumeState(**{k: v for k, v in data.items() if k != "format"})
        except (ValueError, TypeError) as err:
            raise BiblipError(
                "the resume state file is damaged",
                where=str(self.state_path),
                hint="delete it and the .partial file, then rerun without --resume",
            ) from err
        if state.fingerprint != fingerprint:
            raise UsageError(
                "the unfinished run used a different input file or different options",
                where=str(self.state_path),
                hint="rerun with the same input and options, or without --resume to start over",
            )
        if self.partial.stat().st_size < state.vcf_bytes or (
            self.tsv_partial
            and (not self.tsv_partial.exists() or self.tsv_partial.stat().st_size < state.tsv_bytes)
        ):
            raise BiblipError(
                "the partial output is shorter than its resume state says",
                where=str(self.partial),
                hint="rerun without --resume to start over",
            )
        self.state = state
        log.info("%s: resuming after record %d", self.target, state.records_done)
        return True

    def checkpoint(self, records_done: int, counters: dict[str, Any], *, force: bool = False) -> None:
        """Record that everything written so far covers input records 1..records_done."""
        now = time.monotonic()
        if not force and now - self._last_checkpoint < CHECKPOINT_INTERVAL_S:
            return
        self._last_checkpoint = now
        try:
            self._checkpoint(records_done, counters)
        except OSError as err:
            raise os_error(err, self.partial, "write") from err

    def _checkpoint(self, records_done: int, counters: dict[str, Any]) -> None:
        for handle in (self.vcf, self.tsv_file):
            if handle is not None:
                handle.flush()
                os.fsync(handle.fileno())
        self.state = ResumeState(
            self.state.fingerprint,
            records_done,
            self.vcf.tell(),
            self.tsv_file.tell() if self.tsv_file else 0,
            counters,
        )
        temp = self.state_path.with_name(self.state_path.name + ".tmp")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)  # a link in its place loses only the link
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
        with os.fdopen(fd, "w") as handle:
            json.dump({"format": STATE_FORMAT, **self.state.__dict__}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, self.state_path)

    def finish(self, output_type: str, write_index: bool = False) -> None:
        """Move the partials to their final names (bgzip + .tbi for output_type z; BCF for b/u, + .csi
        with `write_index`)."""
        try:
            self._finish(output_type, write_index)
        except OSError as err:
            self.abort()
            raise os_error(err, self.target, "finish the output") from err
        except BaseException:
            self.abort()
            raise
        self._unlock()

    def _finish(self, output_type: str, write_index: bool) -> None:
        # everything that can fail (a full disk) first, the renames last: both outputs or neither
        for handle in (self.vcf, self.tsv_file):
            if handle is not None:
                handle.flush()
                os.fsync(handle.fileno())
                handle.close()
        pending: Any = None  # the compressed/BCF output, written to its temp file, not yet renamed
        if output_type == "z":
            pending = bgzip_to_temp(self.partial, self.target)
        elif output_type in ("b", "u"):
            pending = OutputFile(self.target, lock=False)
            try:
                write_bcf(self.partial, pending, output_type)
            except BaseException:
                pending.abort()
                raise
        try:
            if self.tsv and self.tsv_partial:
                os.replace(self.tsv_partial, self.tsv)
        except BaseException:
            if pending is not None:
                pending.abort()
            raise
        if pending is None:
            os.replace(self.partial, self.target)
        else:
            for stale in (".tbi", ".csi"):
                Path(str(self.target) + stale).unlink(missing_ok=True)
            final = pending.commit()
            self.partial.unlink()
            if output_type == "z":
                index_vcf_gz(self.target)
            elif final is not None and output_type == "b" and write_index:
                index_bcf(final)
        self.state_path.unlink(missing_ok=True)

    def abort(self) -> None:
        """Remove everything (bad input, a full disk: nothing worth resuming). Closing may fail again
        (the buffered bytes still do not fit): the files are removed all the same."""
        for handle in (self.vcf, self.tsv_file):
            if handle is not None and not handle.closed:
                with contextlib.suppress(OSError, BiblipError):
                    handle.close()
        for path in (self.partial, self.tsv_partial, self.state_path, Path(str(self.state_path) + ".tmp")):
            if path is not None:
                path.unlink(missing_ok=True)
        self._unlock()

    def close_for_resume(self) -> None:
        """Interrupted: keep the partials and the last checkpoint for --resume."""
        for handle in (self.vcf, self.tsv_file):
            if handle is not None and not handle.closed:
                try:
                    handle.close()
                except OSError:  # e.g. a full disk: the last checkpoint still says what is good
                    pass
        self._unlock()
