"""OSError as one line: `os_error(err, path, doing)` names the path and adds a hint; `OutputError` (a
file-system problem, exit 1) and `StdoutClosed` (the reader of stdout went away: the run ends quietly)."""

from __future__ import annotations

import errno
import os

from biblip_cli.errors import BiblipError

_HINTS = {
    errno.ENOSPC: "free some space or write to another disk",
    errno.EDQUOT: "free some space (disk quota) or write elsewhere",
    errno.EROFS: "write the output to a writable location",
    errno.EACCES: "check the permissions, or write elsewhere",
    errno.EPERM: "check the permissions, or write elsewhere",
    errno.EISDIR: "give a file name, not a directory",
    errno.ENOTDIR: "a part of the path is a file, not a directory",
    errno.ENOENT: "check the path; create the output directory first",
    errno.EPIPE: "the reader of the output went away",
    errno.EFBIG: "the file is too large for this file system",
    errno.EIO: "the disk or device reported an I/O error",
}


class StdoutClosed(BaseException):
    """The reader of stdout went away (EPIPE): the run ends quietly (cli.main exits 0).

    A BaseException so that no `except Exception` (typer's included) turns it into an error message."""


class OutputError(BiblipError):
    """A file-system problem with an output (or an input read): one line, exit 1."""


def os_error(err: OSError, path: str | os.PathLike | None = None, doing: str = "") -> BiblipError:
    """`err` as a one-line error naming the path (`err.filename` if none is given) and a hint."""
    where = str(path) if path is not None else (str(err.filename) if err.filename else "")
    what = (err.strerror or str(err)).rstrip(".").lower() if err.strerror else str(err)
    if doing:
        what = f"cannot {doing}: {what}"
    hint = _HINTS.get(err.errno or 0, "")
    return OutputError(what, where=where, hint=hint)
