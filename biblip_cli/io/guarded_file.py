"""`GuardedFile`: an open binary file whose write/flush/close errors name its path."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import BinaryIO

from biblip_cli.io.os_errors import OutputError, os_error


class GuardedFile:
    """An open binary file whose write/flush/close errors name its path (one-line `OutputError`)."""

    def __init__(self, raw: BinaryIO, path: str | os.PathLike) -> None:
        self.raw = raw
        self.path = str(path)

    @classmethod
    def open(cls, path: str | os.PathLike, mode: str = "wb") -> GuardedFile:
        try:
            return cls(open(path, mode), path)
        except OSError as err:
            raise os_error(err, path, "open the output") from err

    @classmethod
    def open_own(cls, path: str | os.PathLike, *, resume: bool = False) -> GuardedFile:
        """A file we keep under a fixed name (`OUT.partial`), never opened through a link: a fresh start
        removes whatever is there (a symlink or hard link to an input loses only the link) and creates a
        new file (`O_EXCL | O_NOFOLLOW`); a resume opens it only if it is a regular file with one link."""
        path = Path(path)
        try:
            if resume:
                found = os.lstat(path)
                if not stat.S_ISREG(found.st_mode) or found.st_nlink != 1:
                    raise OutputError(
                        "the partial output is not a regular file of its own (a link or a special file)",
                        where=str(path),
                        hint="delete it and rerun without --resume",
                    )
                fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW)
                return cls(os.fdopen(fd, "r+b"), path)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
            return cls(os.fdopen(fd, "wb"), path)
        except OSError as err:
            raise os_error(err, path, "open the output") from err

    def _call(self, name: str, *args: object) -> object:
        try:
            return getattr(self.raw, name)(*args)
        except BrokenPipeError:
            raise
        except OSError as err:
            raise os_error(err, self.path, "write") from err

    def write(self, data: bytes) -> int:
        return self._call("write", data)  # type: ignore[return-value]

    def flush(self) -> None:
        self._call("flush")

    def close(self) -> None:
        self._call("close")

    def tell(self) -> int:
        return self.raw.tell()

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.raw.seek(offset, whence)

    def truncate(self, size: int | None = None) -> int:
        return self._call("truncate", size)  # type: ignore[return-value]

    def fileno(self) -> int:
        return self.raw.fileno()

    @property
    def closed(self) -> bool:
        return self.raw.closed
