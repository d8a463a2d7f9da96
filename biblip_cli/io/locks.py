"""The output's lock and the temp files removed on exit.

- `OutputLock(path)`: an exclusive `fcntl.flock` on `.NAME.lock` beside the output, so a second run on the
  same output stops at once with a clear message; the lock file is removed when the run ends.
- `register_temp` / `unregister_temp`: temp files still open when the process ends (an error, SIGTERM,
  SIGINT) are removed by `cleanup()` (cli.main calls it), with every lock still held.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from pathlib import Path

from biblip_cli.io.os_errors import OutputError, os_error
from biblip_cli.io.output_paths import real_target

# --- temp files removed on exit --------------------------------------------------------------------

_TEMPS: set[str] = set()


def register_temp(path: str | os.PathLike) -> None:
    _TEMPS.add(str(path))


def unregister_temp(path: str | os.PathLike) -> None:
    _TEMPS.discard(str(path))


def cleanup() -> None:
    """Remove every temp file and lock file still registered (an error or a signal ended the run)."""
    for name in list(_TEMPS):
        with contextlib.suppress(OSError):
            os.unlink(name)
        _TEMPS.discard(name)
    for lock in list(_LOCKS):
        lock.release()


# --- the lock ---------------------------------------------------------------------------------------

_LOCKS: set[OutputLock] = set()


class OutputLock:
    """Exclusive lock for one output: `.NAME.lock` beside it, held with `fcntl.flock` until `release()`."""

    def __init__(self, target: str | os.PathLike) -> None:
        target = real_target(Path(target))
        self.target = target
        self.path = target.with_name(f".{target.name}.lock")
        self.fd: int | None = None
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
            except OSError as err:
                if err.errno != errno.ELOOP:
                    raise os_error(err, self.path, "create the lock file") from err
                try:  # a symlink in the lock's place: never lock (or create) its target; drop the link
                    os.unlink(self.path)
                except OSError as unlink_err:
                    raise os_error(unlink_err, self.path, "remove the link in the lock file's place") from err
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as err:
                os.close(fd)
                raise OutputError(
                    "another biblip run is writing this output",
                    where=str(target),
                    hint=f"wait for it to finish or choose another output name; its lock file is {self.path}",
                ) from err
            # the holder before us may have removed the file after we opened it: lock the file that is there
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        self.fd = fd
        _LOCKS.add(self)

    def release(self) -> None:
        if self.fd is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.path)  # while still holding it, so no one else holds this inode
        os.close(self.fd)
        self.fd = None
        _LOCKS.discard(self)

    def __enter__(self) -> OutputLock:  # noqa: PYI034
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
