"""Logs and progress on stderr: one console, a rich bar on a terminal, a log line every ~10 s elsewhere.

`setup_logging` installs rich's logging handler on the same stderr `Console` the bars draw on, so log
lines print above a live bar instead of through it. `silence_library_bars` turns off the tqdm bars of
transformers / huggingface_hub ("Loading weights", downloads): our own progress replaces them.
`RunProgress` is what a long command reports to: `update(records, alleles)` after each batch.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any

log = logging.getLogger("biblip.progress")

LOG_INTERVAL_S = 10.0  # non-terminal stderr: one progress line this often (BIBLIP_PROGRESS_INTERVAL)
_console: Any = None


def stderr_console() -> Any:
    """The process's one rich Console on stderr (logs and bars share it)."""
    global _console
    if _console is None:
        from rich.console import Console

        _console = Console(stderr=True)
    return _console


def setup_logging(level: int) -> None:
    """Root logging at `level` on stderr: rich's handler on a terminal, plain `LEVEL name: message` lines
    otherwise (files and pipes stay grep-able, no colour codes)."""
    if sys.stderr.isatty():
        from rich.logging import RichHandler

        handler: logging.Handler = RichHandler(
            console=stderr_console(), show_time=False, show_path=False, rich_tracebacks=False
        )
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler._biblip = True  # type: ignore[attr-defined]
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_biblip", False)]:
        root.removeHandler(old)
    if not root.handlers:  # like basicConfig: a host's handlers (pytest's, an embedding app's) are kept
        root.addHandler(handler)
    root.setLevel(level)


def silence_library_bars() -> None:
    """No tqdm bars from transformers / huggingface_hub (set before they are imported; also applied to
    an already imported transformers)."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    if "transformers" in sys.modules:
        disable_transformers_bars()


def disable_transformers_bars() -> None:
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:  # pragma: no cover - the no-model install
        pass


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class RunProgress:
    """Progress of one run over `total` records (None when unknown): a transient rich bar when stderr is
    a terminal, else an INFO line every `interval` s (`records, alleles/s, ETA`); nothing when `quiet`."""

    def __init__(self, what: str, total: int | None = None, *, quiet: bool = False) -> None:
        self.what = what
        self.total = total
        self.quiet = quiet
        self.started = time.monotonic()
        self.last_line = self.started
        self.interval = float(os.environ.get("BIBLIP_PROGRESS_INTERVAL", LOG_INTERVAL_S))
        self.bar: Any = None
        self.task: Any = None

    def __enter__(self) -> RunProgress:  # noqa: PYI034 - final class
        if not self.quiet and sys.stderr.isatty():
            from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            columns = [SpinnerColumn(), TextColumn("{task.description}")]
            if self.total:
                from rich.progress import MofNCompleteColumn, TimeRemainingColumn

                columns += [BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
            columns.append(TimeElapsedColumn())
            self.bar = Progress(*columns, console=stderr_console(), transient=True)
            self.bar.start()
            self.task = self.bar.add_task(self.what, total=self.total)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def line(self, records: int, alleles: int) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = alleles / elapsed
        eta = "?"
        if self.total and records:
            eta = _clock(elapsed * (self.total - records) / records)
        done = f"{records:,}/{self.total:,}" if self.total else f"{records:,}"
        return f"{self.what}: {done} records, {alleles:,} alleles, {rate:,.0f} alleles/s, ETA {eta}"

    def update(self, records: int, alleles: int) -> None:
        if self.quiet:
            return
        if self.bar is not None:
            self.bar.update(
                self.task,
                completed=records,
                description=f"{self.what}: {records:,} records, {alleles:,} alleles",
            )
            return
        now = time.monotonic()
        if now - self.last_line >= self.interval:
            self.last_line = now
            log.info(self.line(records, alleles))
