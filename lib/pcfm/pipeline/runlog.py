"""The run's own log, ``run.log`` at the root of the run folder.

Every run writes one, whatever the terminal shows: the start and end of each stage with its
time, pcfm's log records down to debug level, what the kernels wrote (`pcfm.base.kernels`)
and the warnings of the libraries that drive them (papermill, nbclient, jupyter_client, at
debug level: they are how a run works, not what it found), and how the run ended. It ends
up in ``build/<run>/run.log``, or ``build/.<run>.failed/run.log`` for a failed run.

The log is published with the run, so it must not say who ran it or where: absolute paths
are written relative to the build folder (``<build>/...``), the home folder (``~/...``) or
another named place (``<project>``, ``<data>``, ``<python>``, ``<tmp>``), by
:class:`RedactingFormatter`. pcfm logs no patient-level values, and the output checker
(`pcfm.base.disclosure.check`) reads the log back like every publishable file, for patient
identifiers and home-folder paths.
"""

from __future__ import annotations

import copy
import logging
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from pcfm.base.disclosure.check import RUN_LOG
from pcfm.pipeline.progress import OWN_LOGGER, TERMINAL_HANDLER, is_own_record

__all__ = ["LOG_ONLY", "RUN_LOG", "RedactingFormatter", "place_names", "run_log"]

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

#: ``extra=`` of a pcfm record meant for the run's log only, such as the failure the command
#: line reports in its own words: ``log.error("...", extra=LOG_ONLY)``.
LOG_ONLY = {"pcfm_run_log_only": True}


def _spellings(path: Path) -> list[str]:
    """The ways a folder can appear in a message: as given, and resolved."""
    spellings = {os.path.abspath(path)}
    with suppress(OSError):
        spellings.add(str(path.resolve()))
    return [s for s in spellings if s not in ("", os.sep)]


def place_names(
    build_root: Path,
    project_root: Path | None = None,
    data_folder: Path | None = None,
) -> list[tuple[str, str]]:
    """(absolute path, what to write instead), the longest first so that the nearest wins."""
    places: list[tuple[Path, str]] = [
        (build_root, "<build>"),
        (Path.home(), "~"),
        (Path(tempfile.gettempdir()), "<tmp>"),
        (Path(sys.prefix), "<python>"),
        (Path(sys.base_prefix), "<python>"),
    ]
    if project_root is not None:
        places.append((project_root, "<project>"))
    if data_folder is not None:
        places.append((data_folder, "<data>"))
    pairs = {spelling: name for path, name in places for spelling in _spellings(path)}
    return sorted(pairs.items(), key=lambda pair: len(pair[0]), reverse=True)


class RedactingFormatter(logging.Formatter):
    """Formats records with absolute paths replaced by place names, others' at debug level.

    Args:
        places: (absolute path, name) pairs, as :func:`place_names` gives them; a path is
            replaced only whole, where a separator, a space, punctuation or the end of the
            text follows it, not more of a name: ``/home/al`` does not eat into ``/home/alice``.
    """

    def __init__(self, places: Iterable[tuple[str, str]]) -> None:
        super().__init__(LOG_FORMAT)
        self.places = list(places)

    def redact(self, text: str) -> str:
        """``text`` with every known absolute path replaced by its place name."""
        for path, name in self.places:
            start = 0
            while (found := text.find(path, start)) >= 0:
                end = found + len(path)
                if end < len(text) and (text[end].isalnum() or text[end] in "_.-"):
                    start = end
                    continue
                text = text[:found] + name + text[end:]
                start = found + len(name)
        return text

    def format(self, record: logging.LogRecord) -> str:
        if not is_own_record(record) and record.levelno > logging.DEBUG:
            record = copy.copy(record)
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return self.redact(super().format(record))


class _RedactedFormat(logging.Formatter):
    """Another handler's format with the run log's place names in place of absolute paths."""

    def __init__(self, inner: logging.Formatter | None, redacting: RedactingFormatter) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter()
        self.redacting = redacting

    def format(self, record: logging.LogRecord) -> str:
        return self.redacting.redact(self.inner.format(record))


class _Propagate(logging.Handler):
    """Passes pcfm's records from ``threshold`` up to the root logger's handlers (not ``skip``).

    While the run log takes pcfm's debug records, pcfm's loggers do not propagate, so that
    other handlers (a terminal, a test's) see only the records they saw before the run, and
    not those marked :data:`LOG_ONLY`.
    """

    def __init__(self, threshold: int, skip: logging.Handler) -> None:
        super().__init__()
        self.threshold = threshold
        self.skip = skip

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno < self.threshold or getattr(record, "pcfm_run_log_only", False):
            return
        for handler in logging.getLogger().handlers:
            if handler is not self.skip and record.levelno >= handler.level:
                handler.handle(record)


@contextmanager
def run_log(path: Path, places: Iterable[tuple[str, str]]) -> Iterator[logging.Handler]:
    """Write every log record to ``path`` while the block runs; close it after.

    pcfm's records go to the log from debug level; the other handlers of the process get
    them as before the run (from the level the ``pcfm`` logger had), and other libraries'
    records reach the log from the level their loggers let through (warning by default).
    The terminal's handler (`pcfm.pipeline.progress.terminal_logging`) writes absolute
    paths as the log does, so ``pcfm run -v`` shows no home folder either.
    """
    handler = logging.FileHandler(path, mode="w", encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    redacting = RedactingFormatter(places)
    handler.setFormatter(redacting)
    root = logging.getLogger()
    # what -v shows on the terminal is the log's lines: as free of this machine's paths
    terminals = [h for h in root.handlers if getattr(h, TERMINAL_HANDLER, False)]
    formats = [terminal.formatter for terminal in terminals]
    for terminal, inner in zip(terminals, formats, strict=True):
        terminal.setFormatter(_RedactedFormat(inner, redacting))
    own = logging.getLogger(OWN_LOGGER)
    previous = (own.level, own.propagate)
    propagate = _Propagate(own.getEffectiveLevel(), skip=handler)
    own.addHandler(handler)
    own.addHandler(propagate)
    own.setLevel(logging.DEBUG)
    own.propagate = False
    root.addHandler(handler)
    try:
        yield handler
    finally:
        for terminal, inner in zip(terminals, formats, strict=True):
            terminal.setFormatter(inner)
        root.removeHandler(handler)
        own.removeHandler(propagate)
        own.removeHandler(handler)
        own.setLevel(previous[0])
        own.propagate = previous[1]
        handler.close()
