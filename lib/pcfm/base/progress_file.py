"""How a stage notebook's long step tells ``pcfm run`` how far it has got.

A stage runs in a Jupyter kernel, out of reach of the run's display
(`pcfm.pipeline.progress`). A step that counts its work (the bootstrap's replicates) writes
its count to one small file in the run folder, :data:`PROGRESS_FILE`, replaced whole on every
write; the runner reads it a few times a second while the stage runs
(:class:`ProgressWatcher`) and draws the bar. The file holds the unit and two counts, nothing
else, and is removed when the stage ends, so it never reaches a finished run.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

__all__ = [
    "PROGRESS_FILE",
    "ProgressWatcher",
    "counted_step",
    "read_progress",
    "write_progress",
]

#: The progress file, in the run folder (the stage notebooks' working folder).
PROGRESS_FILE = ".progress.json"
#: How often the runner reads the file (seconds).
POLL_INTERVAL_S = 0.25


def write_progress(run_dir: Path, unit: str, done: int, total: int) -> None:
    """Record that ``done`` of ``total`` ``unit`` are finished (atomically: write, rename)."""
    path = Path(run_dir) / PROGRESS_FILE
    partial = path.with_name(f"{PROGRESS_FILE}.{os.getpid()}.tmp")
    partial.write_text(json.dumps({"unit": unit, "done": done, "total": total}), "utf-8")
    os.replace(partial, path)


@contextmanager
def counted_step(run_dir: Path, unit: str) -> Iterator[Callable[[int, int], None]]:
    """A progress callback for one counted step; the file goes when the step ends."""
    try:
        yield partial(write_progress, Path(run_dir), unit)
    finally:
        (Path(run_dir) / PROGRESS_FILE).unlink(missing_ok=True)


def read_progress(run_dir: Path) -> tuple[str, int, int] | None:
    """``(unit, done, total)`` as last written, or None if nothing is being counted."""
    try:
        record = json.loads((Path(run_dir) / PROGRESS_FILE).read_text("utf-8"))
        return str(record["unit"]), int(record["done"]), int(record["total"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


class ProgressWatcher:
    """Reads the progress file while a stage runs and passes each new count on.

    Args:
        run_dir: The run folder the stage works in.
        counter: Returns the display's callback for a unit (`RunDisplay.counter`).
    """

    def __init__(self, run_dir: Path, counter: Callable[[str], Callable[[int, int], None]]):
        self.run_dir = Path(run_dir)
        self.counter = counter
        self._stop = threading.Event()
        self._last: tuple[str, int, int] | None = None
        self._callbacks: dict[str, Callable[[int, int], None]] = {}
        self._thread = threading.Thread(target=self._watch, name="pcfm-progress", daemon=True)

    def __enter__(self) -> ProgressWatcher:
        (self.run_dir / PROGRESS_FILE).unlink(missing_ok=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self._report(read_progress(self.run_dir))
        (self.run_dir / PROGRESS_FILE).unlink(missing_ok=True)

    def _watch(self) -> None:
        while not self._stop.wait(POLL_INTERVAL_S):
            self._report(read_progress(self.run_dir))

    def _report(self, progress: tuple[str, int, int] | None) -> None:
        if progress is None or progress == self._last:
            return
        self._last = progress
        unit, done, total = progress
        if unit not in self._callbacks:
            self._callbacks[unit] = self.counter(unit)
        self._callbacks[unit](done, total)
