"""Rendering a run's report: Quarto when it is installed, nbconvert HTML when it is not.

Quarto renders the book in `_quarto.yml` from the run's executed notebooks without
executing anything (``execute: enabled: false``): the Quarto sources are staged in a
scratch folder inside the run next to a copy of the executed notebooks, so the
chapters' ``{{< embed ../notebooks/... >}}`` shortcodes resolve to this run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
import yaml
from nbconvert import HTMLExporter

from pcfm.params.report import ReportParams
from pcfm.pipeline.folder import RunFolder

#: Files and folders of the Quarto project, relative to the project root.
QUARTO_SOURCES = ("_quarto.yml", "index.qmd", "methodology")

HOW_TO_GET_QUARTO = (
    "Quarto is not on PATH, so the report was rendered as HTML notebooks only. For the full "
    "report (HTML, PDF via Typst, Word) install Quarto by one of: `conda env create -f "
    "environment.yml` (conda-forge quarto); `pip install quarto-cli` on a machine with internet "
    "access; or the installer from https://quarto.org/docs/get-started/ — then run `make report` "
    "again."
)


class RenderError(RuntimeError):
    """Quarto or nbconvert failed to render the report."""


@dataclass(frozen=True)
class RenderResult:
    """How the report was rendered and what was written."""

    renderer: str
    documents: list[Path]
    message: str


def render_report(folder: RunFolder, project_root: Path, report: ReportParams) -> RenderResult:
    """Render the report of the run in ``folder`` into ``folder.report``."""
    quarto = shutil.which("quarto")
    if quarto:
        return render_with_quarto(quarto, folder, project_root, report)
    return render_with_nbconvert(folder)


def stage_quarto_project(folder: RunFolder, project_root: Path, report: ReportParams) -> Path:
    """Copy the Quarto sources and this run's executed notebooks into ``<run>/_quarto``.

    The staged ``_quarto.yml`` carries the run's author and ICB, so the title page
    describes this run.
    """
    staging = folder.root / "_quarto"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    for name in QUARTO_SOURCES:
        source = project_root / name
        if source.is_dir():
            shutil.copytree(source, staging / name)
        else:
            shutil.copy2(source, staging / name)
    shutil.copytree(folder.notebooks, staging / "notebooks")
    config_path = staging / "_quarto.yml"
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    config["book"]["author"] = report.author
    config["book"]["subtitle"] = (
        f"Methodology and allocation report: {report.icb_name}, {report.financial_year}"
    )
    config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return staging


def render_with_quarto(
    quarto: str, folder: RunFolder, project_root: Path, report: ReportParams
) -> RenderResult:
    """``quarto render`` the book from this run's executed notebooks, all formats in one call."""
    staging = stage_quarto_project(folder, project_root, report)
    environment = {**os.environ, "QUARTO_PYTHON": sys.executable}
    done = subprocess.run(
        [quarto, "render", str(staging)],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RenderError(f"quarto render failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    shutil.rmtree(folder.report)
    shutil.move(staging / "_book", folder.report)
    shutil.rmtree(staging)
    documents = sorted(
        p for p in folder.report.rglob("*") if p.suffix in {".html", ".pdf", ".docx"}
    )
    return RenderResult("quarto", documents, f"Quarto rendered {len(documents)} documents.")


def render_with_nbconvert(folder: RunFolder) -> RenderResult:
    """An HTML page per executed notebook (code hidden) and an index page linking them."""
    exporter = HTMLExporter(
        exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True
    )
    folder.report.mkdir(parents=True, exist_ok=True)
    documents = []
    for notebook_path in sorted(folder.notebooks.glob("*.ipynb")):
        notebook = nbformat.read(notebook_path, as_version=4)
        try:
            body, _ = exporter.from_notebook_node(notebook)
        except Exception as error:  # nbconvert raises many types; report them all the same way
            raise RenderError(f"nbconvert failed on {notebook_path.name}: {error}") from error
        target = folder.report / f"{notebook_path.stem}.html"
        target.write_text(body, encoding="utf-8")
        documents.append(target)
    links = "\n".join(f'<li><a href="{p.name}">{p.stem}</a></li>' for p in documents)
    index = folder.report / "index.html"
    index.write_text(
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>pcfm report</title></head>"
        f"<body><h1>Primary Care Funding Model: executed notebooks</h1>\n<ul>\n{links}\n</ul>"
        f"\n<p>{HOW_TO_GET_QUARTO}</p></body></html>\n",
        encoding="utf-8",
    )
    return RenderResult("nbconvert", [index, *documents], HOW_TO_GET_QUARTO)
