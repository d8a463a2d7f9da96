"""Command-line interface: parse options, call a task. No model or VCF logic lives here."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import Annotated

import typer

from biblip_cli import __version__
from biblip_cli.cli_annotate import annotate, merge
from biblip_cli.cli_bundle import bundle_app, models_app
from biblip_cli.cli_evaluate import evaluate, train
from biblip_cli.cli_help import readable_help
from biblip_cli.cli_rank import rank
from biblip_cli.cli_target import target
from biblip_cli.errors import BiblipError

readable_help()  # click's metavars (PATH, TEXT, INTEGER; none for flags), not Typer's <str>/<bool>

app = typer.Typer(
    name="biblip",
    help=(
        "Annotate and prioritise human genetic variants with Bio-BLIP.\n\n"
        "\b\nExample:\nbiblip annotate resources/demo.vcf.gz -o annotated.vcf.gz --tsv annotated.tsv"
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,  # click's layout: `--explain / --no-explain` on one line (cli_help.py)
    pretty_exceptions_enable=False,
)
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
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Only warnings and errors on stderr (no progress).")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logs too.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
) -> None:
    from biblip_cli.progress import setup_logging, silence_library_bars

    ctx.obj = {"quiet": quiet, "debug": debug, "verbose": verbose}
    level = logging.DEBUG if debug or verbose else logging.WARNING if quiet else logging.INFO
    setup_logging(level)
    if debug:
        os.environ["BIBLIP_DEBUG"] = "1"
    # transformers' "Loading weights" bar and huggingface_hub's tqdm bars (GGUF conversion): our own
    # progress replaces them (read when those libraries are first imported, so set here)
    silence_library_bars()


# --- one function per command, in the order of `biblip --help` ---------------------------------------
# (each parses options and calls a function in biblip_cli.commands, evaluation or training)
app.command("annotate")(annotate)
app.command("merge")(merge)
app.command("rank")(rank)
app.command("target")(target)
app.command("evaluate")(evaluate)
app.command("train")(train)


_SIGNALLED: list[int] = []


def _on_signal(signum: int, _frame: object) -> None:
    """SIGTERM ends the run like Ctrl-C: the commands' cleanup runs (temp files removed, resumable
    partials kept for --resume), then `main` exits 128 + signum."""
    _SIGNALLED.append(signum)
    raise KeyboardInterrupt(signum)


def _quiet_stdout() -> None:
    """After EPIPE: point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _hold_closed_stdout() -> None:
    """Started with stdout closed (`>&-`): put /dev/null on fd 1, so that no file the run opens becomes
    fd 1 by accident; sys.stdout stays None, so an output to stdout is still refused (`stdout is closed`)."""
    try:
        os.fstat(1)
    except OSError:
        with contextlib.suppress(OSError):
            fd = os.open(os.devnull, os.O_WRONLY)
            if fd != 1:
                os.dup2(fd, 1)
                os.close(fd)


def _flush_stdout() -> None:
    if sys.stdout is None:  # started with stdout closed
        return
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _quiet_stdout()
    except OSError as err:
        from biblip_cli.io.os_errors import os_error

        _quiet_stdout()
        raise os_error(err, "<stdout>", "write") from err


def main() -> None:
    """Console entry point. Click's standalone mode turns usage errors into exit 2 with a message;
    input errors (BiblipError) and file-system errors (OSError: disk full, read-only, permission, ...)
    become one line on stderr and exit 1; a closed stdout pipe is not an error (quiet exit 0).
    SIGTERM/SIGINT exit 128 + signal. Temp files of the output layer are removed on every way out."""
    import signal

    from biblip_cli.io.locks import cleanup
    from biblip_cli.io.os_errors import StdoutClosed, os_error
    from biblip_cli.paths import biblip_home

    # torch's compile cache goes to $BIBLIP_HOME, not a torchinductor_<user> folder left in $TMPDIR
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(biblip_home() / "torchinductor"))

    with contextlib.suppress(ValueError):  # not the main thread (embedded use)
        signal.signal(signal.SIGTERM, _on_signal)
    _hold_closed_stdout()
    code: int | str | None = 0
    try:
        try:
            app()
        except SystemExit as done:
            code = done.code
        if code in (0, None):
            _flush_stdout()
    except BiblipError as err:
        cleanup()
        if os.environ.get("BIBLIP_DEBUG"):
            raise
        typer.echo(f"error: {err.one_line()}", err=True)
        code = err.exit_code
    except (BrokenPipeError, StdoutClosed):
        cleanup()
        _quiet_stdout()
        code = 0
    except OSError as err:
        cleanup()
        if os.environ.get("BIBLIP_DEBUG"):
            raise
        typer.echo(f"error: {os_error(err).one_line()}", err=True)
        code = 1
    finally:
        cleanup()
    if _SIGNALLED:
        code = 128 + _SIGNALLED[0]
    sys.exit(code)


if __name__ == "__main__":
    main()
