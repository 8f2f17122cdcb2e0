"""What ``pcfm run`` shows while it works: each stage with its time, a bar for long steps.

The runner (`pcfm.pipeline.run`) tells a display three things: a stage started
(:meth:`RunDisplay.stage_started`), a stage finished or failed
(:meth:`RunDisplay.stage_finished`), and, for a step that counts its work (the practice
statements, the render jobs, the files the output checker reads), how far it has got,
through the :data:`ProgressCallback` that :meth:`RunDisplay.counter` returns. The bootstrap
runs inside notebook 04, so it shows only as that stage.

Three displays, chosen by :func:`make_display`:

* :class:`LiveDisplay` on a terminal: the running stage with a spinner and its elapsed time,
  a bar with counts and time left on counted steps, and a line per finished stage (rich);
* :class:`LineDisplay` when standard output or standard error is not a terminal (CI, a log
  file): the same as plain lines, a counted step every tenth of the way or every 15 s;
* :class:`RunDisplay` itself shows nothing: ``--quiet``, and calls from Python.

Log records meant for the user go through the display too (:meth:`RunDisplay.log_handler`),
so that a warning printed while a bar is drawn does not break it; which records reach the
terminal is decided by :func:`terminal_logging`.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Literal, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

#: Called with (units done, units in all) as a counted step proceeds.
ProgressCallback = Callable[[int, int], None]

Verbosity = Literal["quiet", "normal", "verbose"]

#: A counted step on a plain display prints a line at least this often (s) ...
LINE_INTERVAL_S = 15.0
#: ... and every time it passes another tenth of its work.
LINE_STEPS = 10


def format_duration(seconds: float) -> str:
    """``'4.2 s'``, ``'2 min 05 s'``, ``'1 h 02 min'``: a duration for people."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, whole_seconds = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {whole_seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def time_left_s(elapsed_s: float, done: int, total: int) -> float | None:
    """Seconds left at the rate so far, or None before anything is done."""
    if done <= 0 or total <= 0:
        return None
    return elapsed_s / done * max(total - done, 0)


def _ignore(done: int, total: int) -> None:
    """A progress callback that shows nothing."""


class RunDisplay:
    """The display interface; this base shows nothing (``--quiet``, calls from Python)."""

    def stage_started(self, name: str, number: int, total: int) -> None:
        """Stage ``number`` of ``total`` (counting from 1), called ``name``, has started."""

    def stage_finished(self, name: str, elapsed_s: float, ok: bool = True) -> None:
        """The stage started last has ended after ``elapsed_s``, well or not."""

    def counter(self, unit: str) -> ProgressCallback:
        """A callback for the running stage's counted work (``unit``: what is counted)."""
        return _ignore

    def log_handler(self) -> logging.Handler:
        """A handler that writes log records to the terminal without breaking the display."""
        return _StreamHandler(sys.stderr)

    def close(self) -> None:
        """Stop drawing (idempotent)."""

    def __enter__(self) -> RunDisplay:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class _StreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Log records as ``pcfm: message`` lines on a stream, looked up when written."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(stream)
        self._fixed = stream is not None and stream not in (sys.stdout, sys.stderr)
        self.setFormatter(logging.Formatter("pcfm: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if not self._fixed:  # follow sys.stderr, so redirections (pytest's capsys) apply
            self.stream = sys.stderr
        super().emit(record)


class LineDisplay(RunDisplay):
    """Plain lines, for a stream that is not a terminal (CI, a log file)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._stage = ""
        self._stage_started = time.monotonic()
        self._last_line = 0.0
        self._last_step = 0

    def _write(self, text: str) -> None:
        stream = self._stream or sys.stderr
        with self._lock:
            stream.write(f"pcfm: {text}\n")
            stream.flush()

    def stage_started(self, name: str, number: int, total: int) -> None:
        self._stage = f"[{number}/{total}] {name}"
        self._stage_started = time.monotonic()
        self._last_line = self._stage_started
        self._last_step = 0
        self._write(f"{self._stage} ...")

    def stage_finished(self, name: str, elapsed_s: float, ok: bool = True) -> None:
        outcome = "done in" if ok else "failed after"
        self._write(f"{self._stage or name} {outcome} {format_duration(elapsed_s)}")

    def counter(self, unit: str) -> ProgressCallback:
        def report(done: int, total: int) -> None:
            now = time.monotonic()
            step = done * LINE_STEPS // total if total else LINE_STEPS
            if done < total and step <= self._last_step and now - self._last_line < LINE_INTERVAL_S:
                return
            self._last_step, self._last_line = step, now
            left = time_left_s(now - self._stage_started, done, total)
            after = f", about {format_duration(left)} left" if left and done < total else ""
            self._write(f"{self._stage}: {done}/{total} {unit}{after}")

        return report

    def log_handler(self) -> logging.Handler:
        return _StreamHandler(self._stream)


class _CountColumn(ProgressColumn):
    """``40/127 practices`` on a counted step; nothing on a stage that does not count."""

    def render(self, task: Task) -> Text:
        if task.total is None:
            return Text("")
        unit = task.fields.get("unit", "")
        return Text(f"{int(task.completed)}/{int(task.total)} {unit}", style="progress.download")


class _CountedBarColumn(BarColumn):
    """A bar on a counted step only (rich would draw a pulsing bar on the others)."""

    def render(self, task: Task) -> Text:  # type: ignore[override]
        if task.total is None:
            return Text("")
        return super().render(task)  # type: ignore[return-value]


class LiveDisplay(RunDisplay):
    """On a terminal: the running stage live, and a line per finished stage (rich)."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True, highlight=False)
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            _CountedBarColumn(bar_width=30),
            _CountColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._task: TaskID | None = None
        self._description = ""
        self._started = False

    def _start(self) -> None:
        if not self._started:
            self._progress.start()
            self._started = True

    def stage_started(self, name: str, number: int, total: int) -> None:
        self._start()
        self._description = f"[{number}/{total}] {name}"
        self._task = self._progress.add_task(self._description, total=None)

    def stage_finished(self, name: str, elapsed_s: float, ok: bool = True) -> None:
        if self._task is not None:
            self._progress.remove_task(self._task)
            self._task = None
        mark, outcome = ("[green]✓[/]", "") if ok else ("[red]✗[/]", "[red]failed after[/] ")
        line = Text.from_markup(f"{mark} ")
        line.append(self._description or name)
        line.append_text(Text.from_markup(f"  {outcome}{format_duration(elapsed_s)}"))
        self.console.print(line)

    def counter(self, unit: str) -> ProgressCallback:
        task = self._task

        def report(done: int, total: int) -> None:
            if task is not None and task in self._progress.task_ids:
                self._progress.update(task, completed=done, total=total, unit=unit)

        return report

    def log_handler(self) -> logging.Handler:
        return _ConsoleHandler(self.console)

    def close(self) -> None:
        if self._started:
            self._progress.stop()
            self._started = False


class _ConsoleHandler(logging.Handler):
    """Log records printed through the live display's console, above the running stage."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.console = console
        self.setFormatter(logging.Formatter("pcfm: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = Text(self.format(record))
            if record.levelno >= logging.ERROR:
                text.stylize("red")
            elif record.levelno >= logging.WARNING:
                text.stylize("yellow")
            self.console.print(text)
        except Exception:  # a log record must never stop the run
            self.handleError(record)


def streams_are_terminals() -> bool:
    """Whether both standard output and standard error are terminals."""
    return all(stream is not None and stream.isatty() for stream in (sys.stdout, sys.stderr))


def make_display(verbosity: Verbosity = "normal", live: bool | None = None) -> RunDisplay:
    """The display for ``pcfm run``.

    Args:
        verbosity: ``"quiet"`` shows no stages (only errors and the result, printed by the
            command line); otherwise every stage is shown.
        live: Draw live (rich) rather than plain lines; by default, when both standard
            output and standard error are terminals.
    """
    if verbosity == "quiet":
        return RunDisplay()
    if live is None:
        live = streams_are_terminals()
    return LiveDisplay() if live else LineDisplay()


#: The loggers whose records are pcfm's own; the rest (papermill, nbclient, jupyter_client,
#: traitlets, warnings) reach the terminal only with ``--verbose``.
OWN_LOGGER = "pcfm"


def is_own_record(record: logging.LogRecord) -> bool:
    """Whether a log record comes from pcfm itself."""
    return record.name == OWN_LOGGER or record.name.startswith(f"{OWN_LOGGER}.")


#: The level of the records shown on the terminal, by verbosity.
TERMINAL_LEVELS: dict[Verbosity, int] = {
    "quiet": logging.ERROR,
    "normal": logging.WARNING,
    "verbose": logging.DEBUG,
}


#: Marks the terminal's log handler, whose lines `pcfm.pipeline.runlog` keeps path-free.
TERMINAL_HANDLER = "pcfm_terminal"


@contextmanager
def terminal_logging(display: RunDisplay, verbosity: Verbosity) -> Iterator[logging.Handler]:
    """Show log records on the terminal through ``display`` while the block runs.

    ``quiet``: pcfm's errors; ``normal``: pcfm's warnings and errors; ``verbose``: every
    record down to debug level, other libraries' and the kernels' output included (what
    ``run.log`` holds). Python warnings raised meanwhile become log records (``py.warnings``),
    so they follow the same rule instead of being printed over the display.
    """
    handler = display.log_handler()
    setattr(handler, TERMINAL_HANDLER, True)  # run.log's place names apply to it too
    handler.setLevel(TERMINAL_LEVELS[verbosity])
    if verbosity != "verbose":
        handler.addFilter(is_own_record)
    root = logging.getLogger()
    own = logging.getLogger(OWN_LOGGER)
    previous_level = own.level
    if verbosity == "verbose":
        own.setLevel(logging.DEBUG)
    root.addHandler(handler)
    logging.captureWarnings(True)
    try:
        yield handler
    finally:
        logging.captureWarnings(False)
        root.removeHandler(handler)
        own.setLevel(previous_level)
