"""What an output path is: stdout (`-`, `/dev/stdout`), a special file written through (device, FIFO,
socket, `/dev/fd/N`), or a regular file (`real_target` follows a symlink); `stdout_fd()` refuses a closed stdout."""

from __future__ import annotations

import os
import re
import stat
import sys
from pathlib import Path

from biblip_cli.io.os_errors import OutputError

STDOUT_ALIASES = ("/dev/stdout", "/dev/fd/1", "/proc/self/fd/1")


def is_stdout(target: str | os.PathLike) -> bool:
    return str(target) == "-" or str(target) in STDOUT_ALIASES


_FD_ALIAS = re.compile(r"^/(dev/(stdout|stderr|fd/\d+)|proc/(self|\d+)/fd/\d+)$")


def is_special(path: Path) -> bool:
    """True for an existing character/block device, FIFO or socket, and for the file-descriptor names
    (`/dev/stderr`, `/dev/fd/N`, `/proc/self/fd/N`) whatever they point to: written through, never renamed."""
    if _FD_ALIAS.match(str(path)):
        return True
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def stdout_fd() -> int:
    """stdout's file descriptor (-1 for an in-memory stream, as under a test runner or in a notebook), or a
    one-line error when the process was started with stdout closed (`>&-`)."""
    import io

    closed = OutputError(
        "stdout is closed",
        where="<stdout>",
        hint="give the output a file name with -o, or do not close stdout",
    )
    if sys.stdout is None:
        raise closed
    try:
        fd = sys.stdout.fileno()
    except io.UnsupportedOperation:
        return -1  # no descriptor behind it: nothing to compare, nothing closed
    except (OSError, ValueError, AttributeError) as err:
        raise closed from err
    try:
        os.fstat(fd)
    except OSError as err:
        raise closed from err
    return fd


def real_target(path: Path) -> Path:
    """Where a regular-file output really goes: a symlink is followed, so the link itself stays."""
    return Path(os.path.realpath(path)) if path.is_symlink() else path
