"""`--help` as click writes it: `--explain / --no-explain`, `PATH`, `TEXT`, `INTEGER`, no `<bool>`.

Typer 0.29 labels every value `<str>`, `<path>`, `<bool>` (flags included) and the arguments `{input}` in
the usage line; `readable_help()` puts click's conventional metavars back (an explicit `metavar=` wins)
and the CLI uses click's plain help layout (`rich_markup_mode=None`), which prints a flag pair as
`--explain / --no-explain` on one line. Applied once, from cli.py.
"""

from __future__ import annotations

from typing import Any

_NAMES = {"str": "TEXT", "path": "PATH", "int": "INTEGER", "float": "FLOAT", "bool": "BOOLEAN"}


def _readable(label: str) -> str:
    inner = label[1:-1] if label.startswith("<") and label.endswith(">") else label
    if inner.startswith("list[") and inner.endswith("]"):
        return _NAMES.get(inner[5:-1], inner[5:-1].upper()) + "..."
    if "|" in inner:  # choices
        return inner
    return _NAMES.get(inner, inner.upper())


def readable_help() -> None:
    try:
        from typer.core import TyperArgument, TyperOption, _TyperParameter
    except ImportError:  # pragma: no cover - another Typer: its own (click's) metavars
        return
    original = _TyperParameter.display_type
    if getattr(original, "_biblip", False):
        return

    def display_type(self: Any, ctx: Any) -> Any:
        if self.metavar is not None:
            return self.metavar
        if getattr(self, "is_flag", False):
            return None
        return _readable(str(original(self, ctx)))

    def usage_name(self: Any) -> str:
        name = self.metavar or self.name.upper()
        name = name if self.required else f"[{name}]"
        return name + ("..." if self.nargs != 1 else "")

    display_type._biblip = True  # type: ignore[attr-defined]
    _TyperParameter.display_type = display_type  # type: ignore[method-assign]
    TyperOption.display_type = display_type  # type: ignore[method-assign]
    TyperArgument.display_type = display_type  # type: ignore[method-assign]
    if hasattr(TyperArgument, "_usage_display_name"):
        TyperArgument._usage_display_name = usage_name  # type: ignore[method-assign]
