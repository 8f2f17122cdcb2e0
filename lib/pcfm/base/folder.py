"""The layout of one run's folder, ``build/<run-name>/``.

Outputs are labelled by sensitivity, as OpenSAFELY labels its outputs:
``publishable/`` holds only aggregate, disclosure-controlled tables and figures;
``restricted/`` holds anything patient-level or small-cell and is never published.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path


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
        """Make every folder of the layout."""
        for path in (self.notebooks, self.figures, self.restricted, self.report):
            path.mkdir(parents=True, exist_ok=True)


def swap_into_place(scratch: Path, final: Path) -> None:
    """Replace ``final`` by ``scratch``; the old folder is removed only after the swap, so a
    failure before it leaves the earlier folder as it was."""
    previous = final.with_name(f".{final.name}.previous")
    if previous.exists():
        shutil.rmtree(previous)
    if final.exists():
        final.rename(previous)
    scratch.rename(final)
    if previous.exists():
        shutil.rmtree(previous)
