"""`--help` as click writes it: `--explain / --no-explain`, `PATH`, `TEXT`, `INTEGER`, no `<bool>`.

Typer 0.26-0.28 (the vendored-click releases) label every value `<str>`, `<path>` and the arguments
`{input}` in the usage line, and so does 0.29 (excluded in pyproject.toml for its start-up cost, still
handled); `readable_help()` puts click's conventional metavars back (an explicit `metavar=` wins) and the
CLI uses click's plain help layout (`rich_markup_mode=None`), which prints a flag pair as
`--explain / --no-explain` on one line. Applied once, from cli.py. Older Typers use click itself, whose
metavars are already these.
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
    import typer
    import typer.core

    if not hasattr(typer, "_click"):
        return  # a click-based Typer (< 0.26): click's metavars already
    if hasattr(getattr(typer.core, "_TyperParameter", None), "display_type"):
        _patch_display_type()  # Typer >= 0.29, where a user forces it past pyproject's bound
    else:
        _patch_make_metavar()


def _patch_make_metavar() -> None:
    """Typer 0.26-0.28: the metavars come from `make_metavar`."""
    from typer.core import TyperArgument, TyperOption

    if getattr(TyperOption.make_metavar, "_biblip", False):
        return

    def type_label(param: Any, ctx: Any) -> str:  # what click's make_metavar shows, made readable
        return _readable(param.type.get_metavar(param=param, ctx=ctx) or f"<{param.type.name}>")

    def option_metavar(self: Any, ctx: Any) -> str:
        if self.metavar is not None:
            return self.metavar
        return type_label(self, ctx) + ("..." if self.nargs != 1 else "")

    def argument_metavar(self: Any, ctx: Any, *, usage: bool = False) -> str:
        if usage:  # the usage line: INPUT, [INPUT], INPUT...
            return _usage_name(self)
        return f"{self.name} {self.metavar or type_label(self, ctx)}"

    option_metavar._biblip = True  # type: ignore[attr-defined]
    TyperOption.make_metavar = option_metavar  # type: ignore[method-assign]
    TyperArgument.make_metavar = argument_metavar  # type: ignore[method-assign]


def _patch_display_type() -> None:
    """Typer 0.29: the metavars come from `display_type`."""
    from typer.core import TyperArgument, TyperOption, _TyperParameter

    original = _TyperParameter.display_type
    if getattr(original, "_biblip", False):
        return

    def display_type(self: Any, ctx: Any) -> Any:
        if self.metavar is not None:
            return self.metavar
        if getattr(self, "is_flag", False):
            return None
        return _readable(str(original(self, ctx)))

    display_type._biblip = True  # type: ignore[attr-defined]
    _TyperParameter.display_type = display_type  # type: ignore[method-assign]
    TyperOption.display_type = display_type  # type: ignore[method-assign]
    TyperArgument.display_type = display_type  # type: ignore[method-assign]
    if hasattr(TyperArgument, "_usage_display_name"):
        TyperArgument._usage_display_name = _usage_name  # type: ignore[method-assign]


def _usage_name(param: Any) -> str:
    name = param.metavar or (param.name or "").upper()
    name = name if param.required else f"[{name}]"
    return name + ("..." if param.nargs != 1 else "")
