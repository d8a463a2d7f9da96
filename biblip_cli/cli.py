"""Command-line interface: parse options, call a task. No model or VCF logic lives here."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from biblip_cli import __version__
from biblip_cli.errors import BiblipError

app = typer.Typer(
    name="biblip",
    help=(
        "Annotate and prioritise human genetic variants with Bio-BLIP.\n\n"
        "Example: biblip annotate resources/demo.vcf.gz -o annotated.vcf.gz --tsv annotated.tsv"
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
bundle_app = typer.Typer(help="Build, check and describe reference bundles.", no_args_is_help=True)
models_app = typer.Typer(help="Prepare and list model weights (frozen LLM, text encoder).", no_args_is_help=True)
app.add_typer(bundle_app, name="bundle")
app.add_typer(models_app, name="models")

log = logging.getLogger("biblip")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"biblip {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors on stderr.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
) -> None:
    ctx.obj = {"quiet": quiet, "debug": debug}
    level = logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if debug:
        os.environ["BIBLIP_DEBUG"] = "1"


# --- commands are added below, one function per command -------------------------------------------
# (each parses options and calls a function in biblip_cli.tasks)


def main() -> None:
    """Console entry point: map BiblipError to a one-line message and its exit code."""
    try:
        app(standalone_mode=False)
    except BiblipError as err:
        if os.environ.get("BIBLIP_DEBUG"):
            raise
        typer.echo(f"error: {err.one_line()}", err=True)
        sys.exit(err.exit_code)
    except typer.Exit as exit_:
        sys.exit(exit_.exit_code)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as err:  # click usage errors
        import click

        if isinstance(err, click.exceptions.ClickException):
            err.show()
            sys.exit(2)
        if isinstance(err, BrokenPipeError):
            sys.exit(0)
        raise


if __name__ == "__main__":
    main()
