"""Logs and progress on stderr: one console, a rich bar on a terminal, a log line every ~10 s elsewhere.

`setup_logging` installs rich's logging handler on the same stderr `Console` the bars draw on, so log
lines print above a live bar instead of through it. `silence_library_bars` turns off the tqdm bars of
transformers / huggingface_hub ("Loading weights", downloads): our own progress replaces them.
`RunProgress` is what a long command reports to (`update(done, count)` after each batch); `StageProgress`
opens one per stage of a command that has several (rank, bundle build).
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


def _rate(per_second: float) -> str:
    return f"{per_second:,.0f}" if per_second >= 10 else f"{per_second:.2f}"


class RunProgress:
    """Progress of one run over `total` units (None when unknown): a rich bar when stderr is a terminal,
    else an INFO line every `interval` s (`done unit, rate, ETA`); nothing when `quiet`.

    `unit` names what `done` counts (records, steps, cases); `count_unit`, when set, names a second count
    whose rate is reported instead (annotate: records done, alleles/s). `initial` is where a resumed run
    starts (rate and ETA count only this run's work); `note` adds a live value (training: the loss)."""

    def __init__(
        self,
        what: str,
        total: int | None = None,
        *,
        unit: str = "records",
        count_unit: str | None = None,
        initial: int = 0,
        transient: bool = True,
        quiet: bool = False,
    ) -> None:
        self.what = what
        self.total = total
        self.unit = unit
        self.count_unit = count_unit
        self.initial = initial
        self.done = initial
        self.transient = transient
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
            self.bar = Progress(*columns, console=stderr_console(), transient=self.transient)
            self.bar.start()
            self.task = self.bar.add_task(self.what, total=self.total, completed=self.initial)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def _counts(self, done: int, count: int | None, note: str, of_total: bool = True) -> str:
        """`done[/total] unit[, count count_unit][, note]` (the bar shows the total in its own column)."""
        of = f"/{self.total:,}" if self.total and of_total else ""
        parts = [f"{done:,}{of} {self.unit}"]
        if self.count_unit is not None:
            parts.append(f"{count or 0:,} {self.count_unit}")
        if note:
            parts.append(note)
        return ", ".join(parts)

    def line(self, done: int, count: int | None = None, note: str = "") -> str:
        """The log line: `what: done/total unit[, count count_unit][, note], rate, ETA h:mm:ss`."""
        elapsed = max(time.monotonic() - self.started, 1e-9)
        this_run = done - self.initial
        if self.count_unit is not None:  # annotate's text: `N alleles/s`, whole numbers
            rate = f"{(count or 0) / elapsed:,.0f} {self.count_unit}/s"
        else:
            rate = f"{_rate(this_run / elapsed)} {self.unit}/s"
        eta = "?"
        if self.total and this_run > 0:
            eta = _clock(elapsed * (self.total - done) / this_run)
        return f"{self.what}: {self._counts(done, count, note)}, {rate}, ETA {eta}"

    def update(self, done: int, count: int | None = None, *, note: str = "") -> None:
        """Report `done` units so far (and the second count); draws the bar or logs when a line is due."""
        self.done = done
        if self.quiet:
            return
        if self.bar is not None:
            description = f"{self.what}: {self._counts(done, count, note, of_total=False)}"
            self.bar.update(self.task, completed=done, description=description)
            return
        now = time.monotonic()
        if now - self.last_line >= self.interval:
            self.last_line = now
            log.info(self.line(done, count, note))

    def advance(self, n: int = 1) -> None:
        """`n` more units done (callers that count batches, not totals)."""
        self.update(self.done + n)


class StageProgress:
    """A run of several stages (bundle build: proteins, paralogs, embedding): one `RunProgress` per stage,
    opened when a stage first reports (with its total, if known). Call it as `progress(stage, done, total)`."""

    def __init__(
        self, what: str, units: dict[str, str], *, default_unit: str = "steps", quiet: bool = False
    ) -> None:
        self.what = what
        self.units = units
        self.default_unit = default_unit
        self.quiet = quiet
        self.stage: str | None = None
        self.current: RunProgress | None = None

    def __enter__(self) -> StageProgress:  # noqa: PYI034 - final class
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.current is not None:
            self.current.__exit__(None, None, None)
        self.current = self.stage = None

    def __call__(self, stage: str, done: int, total: int | None = None) -> None:
        if stage != self.stage or self.current is None:
            self.close()
            unit = self.units.get(stage, self.default_unit)
            self.current = RunProgress(f"{self.what} {stage}", total, unit=unit, quiet=self.quiet).__enter__()
            self.stage = stage
        self.current.update(done)
