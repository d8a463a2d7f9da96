"""Reading a small user text file (PED, phenotype list) with the same one-line errors."""

from __future__ import annotations

from pathlib import Path

from biblip_cli.errors import BiblipError


def read_user_text(path: Path, kind: str, hint: str) -> str:
    """The file's text (a UTF-8 BOM dropped); `kind` names it in errors ("PED file"), `hint` says what to give."""
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError as err:
        raise BiblipError(f"{kind} not found", where=str(path), hint="check the path") from err
    except (OSError, UnicodeDecodeError) as err:
        raise BiblipError(f"cannot read {kind} ({err})", where=str(path), hint=hint) from err
