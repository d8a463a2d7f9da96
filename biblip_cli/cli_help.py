"""`--help` as click writes it: `--explain / --no-explain`, `PATH`, `TEXT`, `INTEGER`, no `<bool>`.

Typer 0.26-0.28 (the vendored-click releases; 0.29 is excluded in pyproject.toml for its start-up cost)
label every value `<str>`, `<path>` and the arguments `{input}` in the usage line; `readable_help()` puts
click's conventional metavars back (an explicit `metavar=` wins) and the CLI uses click's plain help
layout (`rich_markup_mode=None`), which prints a flag pair as `--explain / --no-explain` on one line.
Applied once, from cli.py. Older Typers use click itself, whose metavars are already these.
"""

from __future__ import annotations

from typing import Any

_NAMES = {"str": "TEXT", "path": "PATH", "int": "INTEGER", "float": "FLOAT", "bool": "BOOLEAN"}


def _readable(label: str) -> str:
    dots = "..." if label.endswith("...") else ""
    label = label[: -len(dots)] if dots else label
    inner = label[1:-1] if label.startswith("<") and label.endswith(">") else label
    if inner.startswith("list[") and inner.endswith("]"):
        return _NAMES.get(inner[5:-1], inner[5:-1].upper()) + "..."
    if "|" in inner:  # choices
        return inner + dots
    return _NAMES.get(inner, inner.upper()) + dots


def readable_help() -> None:
    import typer
    from typer.core import TyperArgument, TyperOption

    if not hasattr(typer, "_click") or getattr(TyperOption.make_metavar, "_biblip", False):
        return  # a click-based Typer (click's metavars already), or patched before

    def option_metavar(self: Any, ctx: Any) -> str:
        if self.metavar is not None:
            return self.metavar
        return _readable(self.type.get_metavar(param=self, ctx=ctx) or f"<{self.type.name}>")

    def argument_metavar(self: Any, ctx: Any, *, usage: bool = False) -> str:
        if usage:  # the usage line: INPUT, [INPUT], INPUT...
            name = self.metavar or (self.name or "").upper()
            name = name if self.required else f"[{name}]"
            return name + ("..." if self.nargs != 1 else "")
        shown = self.metavar or _readable(self.type.get_metavar(param=self, ctx=ctx) or f"<{self.type.name}>")
        return f"{self.name} {shown}"

    option_metavar._biblip = True  # type: ignore[attr-defined]
    TyperOption.make_metavar = option_metavar  # type: ignore[method-assign]
    TyperArgument.make_metavar = argument_metavar  # type: ignore[method-assign]
