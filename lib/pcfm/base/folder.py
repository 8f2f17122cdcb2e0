"""The layout of one run's folder, ``build/<run-name>/``.

Outputs are labelled by sensitivity, as OpenSAFELY labels its outputs:
``publishable/`` holds only aggregate, disclosure-controlled tables and figures;
``restricted/`` holds anything patient-level or small-cell and is never published.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

#: Files every finished run folder holds: only a folder with these is replaced by a new run.
RUN_MARKERS = ("manifest.json", "params.yml")


class FolderError(RuntimeError):
    """A folder that pcfm will not replace or cannot lock; the message says why."""


@dataclass(frozen=True)
class RunFolder:
    """Paths inside one run's folder."""

    root: Path

    @property
    def notebooks(self) -> Path:
        """Executed notebooks of the run."""
        return self.root / "notebooks"

    @property
    def publishable(self) -> Path:
        """Aggregate, disclosure-safe tables (CSV, one XLSX workbook) and JSON summaries."""
        return self.root / "publishable"

    @property
    def figures(self) -> Path:
        """Figures as PNG and SVG."""
        return self.publishable / "figures"

    @property
    def restricted(self) -> Path:
        """Patient-level and small-cell files: never published."""
        return self.root / "restricted"

    @property
    def input_data(self) -> Path:
        """Where a run that generates its own (synthetic) input data writes it."""
        return self.restricted / "input"

    @property
    def report(self) -> Path:
        """Rendered documents."""
        return self.root / "report"

    @property
    def params_file(self) -> Path:
        """The parameter file as used, copied into the run."""
        return self.root / "params.yml"

    @property
    def manifest(self) -> Path:
        """Provenance of the run: input hashes, parameters, versions, timings."""
        return self.root / "manifest.json"

    def create(self) -> None:
        """Make every folder of the layout; only the owner may read ``restricted/``.

        The run folder itself gets the user's usual permissions (a scratch folder from
        `tempfile.mkdtemp` starts owner-only), so the published outputs can be shared.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o777 & ~current_umask())
        for path in (self.notebooks, self.figures, self.restricted, self.report):
            path.mkdir(parents=True, exist_ok=True)
        self.restricted.chmod(0o700)


def current_umask() -> int:
    """The process's file-creation mask (reading it means setting it, so set it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def previous_of(final: Path) -> Path:
    """Where :func:`swap_into_place` keeps the old folder while it swaps."""
    return final.with_name(f".{final.name}.previous")


def recover_interrupted_swap(final: Path) -> None:
    """Finish a swap that a crash interrupted.

    The swap renames the old folder aside, renames the new one into place, then deletes
    the old one. A crash between the two renames leaves only the old folder, aside: it is
    restored. A crash after them leaves both: the old one is deleted.
    """
    previous = previous_of(final)
    if not previous.exists():
        return
    if final.exists():
        shutil.rmtree(previous)
    else:
        previous.rename(final)


def check_replaceable(final: Path, markers: Sequence[str], keep: Path | None = None) -> None:
    """Raise unless ``final`` may be replaced: absent, empty, or holding every marker file.

    Args:
        final: The folder a new run or data set would replace.
        markers: Files (relative to ``final``) that show it is pcfm's own output.
        keep: A folder that must survive, such as the run's input data: ``final`` may not
            be it or contain it.
    """
    if keep is not None:
        kept, target = Path(keep).resolve(), Path(final).resolve()
        if kept == target or target in kept.parents:
            raise FolderError(
                f"{final} holds the input data ({keep}); a new output there would delete "
                "it. Choose another run_name or output folder, or move the data"
            )
    if not final.exists() or not any(final.iterdir()):
        return
    missing = [name for name in markers if not (final / name).exists()]
    if missing:
        raise FolderError(
            f"{final} exists and is not pcfm's output (it has no {', '.join(missing)}), so "
            "it is left alone. Choose another name, or move or delete that folder yourself"
        )


@contextmanager
def exclusive_lock(lock_file: Path, what: str) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_file`` for the block, or fail at once.

    Two runs of one name would write the same folder; the second is told, not queued. The
    lock is the operating system's (``flock``), so it is released when the process ends,
    however it ends.
    """
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FolderError(
                f"{what} is already in progress (it holds {lock_file}); wait for it to "
                "finish, or use another name"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def remove_stale_scratch(parent: Path, name: str) -> None:
    """Remove scratch folders of ``name`` that a killed process left behind.

    Call it only while holding the lock for ``name``: then no live process owns them.
    They can hold restricted cells, so they are not left lying about.
    """
    for stale in parent.glob(f".{name}.*.partial"):
        shutil.rmtree(stale, ignore_errors=True)


def swap_into_place(
    scratch: Path, final: Path, markers: Sequence[str], keep: Path | None = None
) -> None:
    """Replace ``final`` by ``scratch``, if ``final`` is pcfm's own output.

    The old folder is removed only after the swap, so a failure before it leaves the
    earlier folder as it was, and a crash during it is undone by the next swap
    (:func:`recover_interrupted_swap`). ``markers`` and ``keep`` are as for
    :func:`check_replaceable`.
    """
    recover_interrupted_swap(final)
    check_replaceable(final, markers, keep)
    previous = previous_of(final)
    if final.exists():
        final.rename(previous)
    scratch.rename(final)
    if previous.exists():
        shutil.rmtree(previous)
