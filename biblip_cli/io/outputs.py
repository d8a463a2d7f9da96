"""The one output layer: every file a command writes goes through here.

- `check_outputs(inputs, outputs)`: before any work, refuse an output that is the same file as an input
  (`os.path.samefile`: symlinks and hard links included) or as another output of the same run, an output
  that is a directory, and an output directory that is missing or not writable.
- `OutputFile(path)`: a regular file is written to a uniquely named temp file in the target's directory
  (`tempfile.mkstemp`), fsync'd and `os.replace`d over the target on `commit()` (a symlinked target is
  replaced where it points, the link stays), under an `OutputLock` (io/locks.py); character devices, FIFOs,
  sockets, `/dev/stdout` and `-` are written through (no temp file, no rename). Writes turn OSError into a
  one-line `OutputError` naming the path (io/os_errors.py); `abort()` removes the temp file. Temp files still
  open when the process ends (an error, SIGTERM, SIGINT) are removed by `locks.cleanup()` (cli.main calls it).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from biblip_cli.errors import UsageError
from biblip_cli.io.locks import OutputLock, register_temp, unregister_temp
from biblip_cli.io.os_errors import _HINTS, OutputError, StdoutClosed, os_error
from biblip_cli.io.output_paths import is_special, is_stdout, real_target, stdout_fd

log = logging.getLogger(__name__)


def _key(path: Path) -> str:
    """A name for comparing outputs that may not exist yet: the real directory + the file name."""
    real = Path(os.path.realpath(path))
    return str(real)


def _identity(path: str | os.PathLike) -> tuple[int, int, int] | None:
    """(st_dev, st_ino, st_mode) of an existing file (links followed), None when there is none."""
    try:
        found = os.stat(path)
    except (OSError, ValueError):
        return None
    return found.st_dev, found.st_ino, found.st_mode


def _fd_identity(fd: int) -> tuple[int, int, int] | None:
    try:
        found = os.fstat(fd)
    except (OSError, ValueError):
        return None
    return found.st_dev, found.st_ino, found.st_mode


def check_outputs(
    inputs: Iterable[str | os.PathLike | None],
    outputs: Iterable[tuple[str, str | os.PathLike | None]],
) -> None:
    """Refuse bad outputs before any work. `outputs` are (option name, path) pairs; None = not asked.

    Two names are one file when their (st_dev, st_ino) agree: symlinks, hard links, the same FIFO given
    twice, stdin or stdout redirected from/into a file. Character devices (`/dev/null`, a terminal) may be
    given twice: nothing is stored there."""
    given = [str(p) for p in inputs if p is not None]
    ins = [Path(p) for p in given if p != "-"]
    # stdin redirected from a regular file (`biblip annotate - < in.vcf`): that file is an input too
    stdin_id = _fd_identity(0) if "-" in given else None
    if stdin_id is not None and not stat.S_ISREG(stdin_id[2]):
        stdin_id = None
    seen: dict[str, str] = {}
    seen_ids: dict[tuple[int, int], str] = {}
    stdout_by: str | None = None

    def same_as_earlier(option: str, where: str, ident: tuple[int, int, int] | None) -> None:
        if ident is None or stat.S_ISCHR(ident[2]) or stat.S_ISDIR(ident[2]):
            return
        if stdin_id is not None and ident[:2] == stdin_id[:2]:
            raise UsageError(
                f"{option} is redirected into the input - (stdin)"
                if where == "<stdout>"
                else f"{option} is the same file as the input - (stdin)",
                where=where,
                hint="write the output to a new file; the input would be overwritten",
            )
        earlier = seen_ids.get(ident[:2])
        if earlier is not None:
            raise UsageError(
                f"{option} is the same file as {earlier}",
                where=where,
                hint="give each output its own file (a hard link, the same FIFO or stdout count as one)",
            )
        seen_ids[ident[:2]] = option

    for option, value in outputs:
        if value is None:
            continue
        if is_stdout(value):
            if stdout_by is not None:
                raise UsageError(
                    f"stdout cannot carry both {stdout_by} and {option}", hint="give one of them a file name"
                )
            stdout_by = option
            fd = stdout_fd()
            _check_stdout_is_no_input(option, ins)
            same_as_earlier(f"{option} (stdout)", "<stdout>", _fd_identity(fd))
            continue
        path = Path(str(value))
        if path.is_dir():
            raise UsageError(f"{option} is a directory", where=str(path), hint="give a file name inside it")
        special = is_special(path)
        for source in ins:
            same = False
            with contextlib.suppress(OSError):
                same = source.exists() and path.exists() and os.path.samefile(source, path)
            if same:
                raise UsageError(
                    f"{option} is the same file as the input {source}",
                    where=str(path),
                    hint="write the output to a new file; the input would be overwritten",
                )
        same_as_earlier(option, str(path), _identity(path))
        if not special:
            key = _key(path)
            if key in seen:
                raise UsageError(
                    f"{option} is the same file as {seen[key]}",
                    where=str(path),
                    hint="give each output its own file name",
                )
            seen[key] = option
            for extra in (".partial", ".tbi"):  # files the run writes beside its outputs
                seen.setdefault(key + extra, option)
            check_directory(path)


def _check_stdout_is_no_input(option: str, inputs: list[Path]) -> None:
    """`biblip annotate in.vcf >> in.vcf`: stdout redirected into an input file (for `-` see check_outputs)."""
    try:
        out = os.fstat(sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        return
    if not stat.S_ISREG(out.st_mode):
        return
    for source in inputs:
        with contextlib.suppress(OSError):
            found = os.stat(source)
            if (found.st_dev, found.st_ino) == (out.st_dev, out.st_ino):
                raise UsageError(
                    f"{option} (stdout) is redirected into the input {source}",
                    hint="redirect stdout to a new file; the input would be overwritten",
                )


def check_directory(path: Path) -> None:
    """The output's directory must exist and be writable (a temp file and a lock file go there)."""
    parent = Path(os.path.realpath(path)).parent if path.is_symlink() else (path.parent)
    parent = parent if str(parent) else Path(".")
    if not parent.exists():
        raise OutputError("output directory does not exist", where=str(parent), hint="create it first")
    if not parent.is_dir():
        raise OutputError(
            "output directory is not a directory", where=str(parent), hint=_HINTS[errno.ENOTDIR]
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        ro = False
        with contextlib.suppress(OSError):
            ro = bool(os.statvfs(parent).f_flag & os.ST_RDONLY)
        raise OutputError(
            "output directory is on a read-only file system" if ro else "output directory is not writable",
            where=str(parent),
            hint=_HINTS[errno.EROFS] if ro else _HINTS[errno.EACCES],
        )


# --- the writer -------------------------------------------------------------------------------------


class OutputFile:
    """A binary output: `write`, `flush`, `fileno`, then `commit()` (or `abort()`).

    Regular files: unique temp file + lock + fsync + rename. Devices, FIFOs, `-`: written through."""

    def __init__(self, target: str | os.PathLike, *, lock: bool = True) -> None:
        self.target = str(target)
        self.temp: Path | None = None
        self.lock: OutputLock | None = None
        self.closed = False
        self.prepared = False
        self.owned = True
        self.drop_if_closed = False  # stdout beside a file output: see `keep_files_if_stdout_closes`
        if is_stdout(self.target):
            stdout_fd()  # started with stdout closed (`>&-`): one line, not an AttributeError
            self.raw: BinaryIO = sys.stdout.buffer
            self.owned = False
            self.final: Path | None = None
            return
        path = Path(self.target)
        if is_special(path):
            self.final = None
            try:
                self.raw = open(path, "ab")  # noqa: SIM115 - closed in commit/abort; append: a redirected fd keeps what it has
            except OSError as err:
                raise os_error(err, path, "open the output") from err
            return
        check_directory(path)
        self.final = real_target(path)
        if lock:
            self.lock = OutputLock(self.final)
        try:
            fd, name = tempfile.mkstemp(prefix=f".{self.final.name}.", suffix=".tmp", dir=self.final.parent)
        except OSError as err:
            self._release()
            raise os_error(err, self.final.parent, "create a temp file") from err
        self.temp = Path(name)
        register_temp(name)
        with contextlib.suppress(OSError):
            os.fchmod(fd, 0o666 & ~_umask())
        self.raw = os.fdopen(fd, "wb")

    @property
    def where(self) -> str:
        return "<stdout>" if self.final is None and not self.owned else self.target

    def write(self, data: bytes) -> int:
        try:
            return self.raw.write(data)
        except BrokenPipeError as err:
            self._stdout_closed(err)
            return len(data)
        except OSError as err:
            raise os_error(err, self.where, "write") from err

    def flush(self) -> None:
        try:
            self.raw.flush()
        except BrokenPipeError as err:
            self._stdout_closed(err)
        except OSError as err:
            raise os_error(err, self.where, "write") from err

    def _stdout_closed(self, err: BrokenPipeError) -> None:
        """EPIPE: a file is a plain error; stdout ends the run quietly (`StdoutClosed`), or, beside file
        outputs that must still be written (`drop_if_closed`), the rest of stdout goes to /dev/null."""
        if self.owned:
            raise os_error(err, self.where, "write") from err
        if not self.drop_if_closed:
            raise StdoutClosed() from err
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.raw.fileno())  # the interpreter's last flush of stdout cannot fail either
            os.close(devnull)
        self.raw = open(os.devnull, "wb")  # noqa: SIM115 - lives as long as the run
        self.drop_if_closed = False
        log.info(
            "stdout was closed by its reader; the rest of it is dropped, the file outputs are still written"
        )

    def fileno(self) -> int:
        return self.raw.fileno()

    def prepare(self) -> None:
        """Flush (fsync a temp file) and close: after this only the rename is left (see `commit_all`)."""
        if self.closed or self.prepared:
            return
        try:
            self.flush()
            if self.owned:
                try:
                    if self.temp is not None:
                        os.fsync(self.raw.fileno())
                    self.raw.close()
                except OSError as err:
                    raise os_error(err, self.where, "write") from err
            self.prepared = True
        except BaseException:
            self.abort()
            raise

    def commit(self) -> Path | None:
        """Flush, fsync, rename over the target; returns the final path (None when written through)."""
        if self.closed:
            return self.final if self.temp is not None else None
        try:
            self.prepare()
            self.closed = True
            if self.temp is None:
                return None
            assert self.final is not None
            try:
                os.replace(self.temp, self.final)
            except OSError as err:
                raise os_error(err, self.final, "move the finished output into place") from err
            unregister_temp(self.temp)
            return self.final
        except BaseException:
            self.abort()
            raise
        finally:
            if self.closed:
                self._release()

    def abort(self) -> None:
        """Drop the output: the temp file is removed (a written-through stream is left as it is)."""
        if self.owned and not self.raw.closed:
            with contextlib.suppress(OSError):
                self.raw.close()
        self.closed = True
        if self.temp is not None:
            with contextlib.suppress(OSError):
                self.temp.unlink()
            unregister_temp(self.temp)
        self._release()

    def _release(self) -> None:
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def __enter__(self) -> OutputFile:  # noqa: PYI034
        return self

    def __exit__(self, kind: object, *exc: object) -> None:
        if kind is None:
            self.commit()
        else:
            self.abort()


def keep_files_if_stdout_closes(*files: OutputFile | None) -> None:
    """`annotate -o o.vcf --tsv - | head`: when stdout's reader stops early, the run goes on without stdout
    and still writes the file outputs (exit 0), instead of ending quietly with o.vcf never written.
    Only when at least one of `files` is not stdout; a run that writes only to stdout still stops at once."""
    present = [f for f in files if f is not None]
    if any(f.owned for f in present):
        for output in present:
            if not output.owned:
                output.drop_if_closed = True


def commit_all(*files: OutputFile | None) -> list[Path | None]:
    """Commit the outputs of one run together: the written-through ones (stdout, devices, FIFOs) are
    flushed first, then every temp file is flushed and fsync'd, and only then is each renamed into place.
    A failure before the renames (`--tsv /dev/full`, a full disk) aborts them all: no output is left."""
    present = [f for f in files if f is not None]
    try:
        for output in sorted(present, key=lambda f: f.temp is not None):
            output.prepare()
        return [output.commit() for output in present]
    except BaseException:
        for output in present:
            output.abort()
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_file(path: str | os.PathLike, data: bytes | str) -> None:
    """The whole file at once, atomically (text is UTF-8 with surrogateescape)."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    with OutputFile(path) as out:
        out.write(data)


class TextOutput:
    """Text on top of `OutputFile` (UTF-8; surrogateescape keeps undecodable input bytes as they were)."""

    def __init__(self, target: str | os.PathLike, *, lock: bool = True) -> None:
        self.file = OutputFile(target, lock=lock)

    def write(self, text: str) -> int:
        return self.file.write(text.encode("utf-8", "surrogateescape"))

    def flush(self) -> None:
        self.file.flush()

    def commit(self) -> Path | None:
        return self.file.commit()

    def abort(self) -> None:
        self.file.abort()

    def __enter__(self) -> TextOutput:  # noqa: PYI034
        return self

    def __exit__(self, kind: object, *exc: object) -> None:
        if kind is None:
            self.commit()
        else:
            self.abort()
