"""Errors a user can act on.

Every failure caused by input (a VCF, a bundle, a checkpoint, an option) is raised as a
`BiblipError`; the CLI prints it as one line (`error: <where>: <what> (hint: <hint>)`) and exits 1.
Anything else is a bug and keeps its traceback (shown with --debug).
"""

from __future__ import annotations


class BiblipError(Exception):
    """An input problem the user can fix. `where` names a file and, if known, a record/line."""

    exit_code = 1

    def __init__(self, message: str, *, where: str = "", hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.where = where
        self.hint = hint

    def one_line(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.hint:
            text += f" (hint: {self.hint})"
        return text.replace("\n", " ")


class UsageError(BiblipError):
    """Bad combination of options: exit code 2."""

    exit_code = 2
