"""Small text files: the one gzip-or-plain opener, the one sha256 helper, and user text files (PED, phenotype list)."""

from __future__ import annotations

import gzip
import hashlib
import io
from pathlib import Path

from biblip_cli.errors import BiblipError


def is_gzip(path: Path) -> bool:
    """Decided by the magic bytes, not the suffix."""
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def open_text(path: Path) -> io.TextIOBase:
    """Plain or gzip UTF-8 text (newline="" for the csv module), decided by the magic bytes."""
    if is_gzip(path):
        return gzip.open(path, "rt", encoding="utf-8", newline="")  # type: ignore[return-value]
    return open(path, encoding="utf-8", newline="")


def open_existing_text(path: Path, what: str = "file", hint: str | None = None) -> io.TextIOBase:
    """`open_text`, with a one-line `<what> not found` error when `path` is not a file."""
    path = Path(path)
    if not path.is_file():
        raise BiblipError(f"{what} not found", where=str(path), hint=hint)
    return open_text(path)


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def read_user_text(path: Path, kind: str, hint: str) -> str:
    """The file's text (a UTF-8 BOM dropped); `kind` names it in errors ("PED file"), `hint` says what to give."""
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError as err:
        raise BiblipError(f"{kind} not found", where=str(path), hint="check the path") from err
    except (OSError, UnicodeDecodeError) as err:
        raise BiblipError(f"cannot read {kind} ({err})", where=str(path), hint=hint) from err
