"""The report's stand-alone documents and their static check.

Besides the methodology book (`_quarto.yml`), a run publishes three stand-alone
documents, each an executed notebook rendered by itself: the allocation report, the
board paper and the practice statements. Their first cell is a raw cell of Quarto YAML
front matter (title, author, formats, ``echo: false``), which the renderer fills in with
the run's ICB, year and author.

:func:`check_quarto_document` extends the static check of the book
(`pcfm.report.quarto_check`) to these notebooks, for machines without Quarto: front
matter that parses, a title, an author when Typst is a format, unique cell labels, and
every cross-reference in the Markdown pointing at a label in the same notebook.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import yaml
from nbformat import NotebookNode

from pcfm.base.markdown import escape_markdown
from pcfm.report.house_style import DATE_FORMAT, LANGUAGE
from pcfm.report.quarto_check import (
    CELL_LABEL,
    CROSS_REFERENCE,
    SECTION_ID,
    example_list_lines,
)

#: Formats of every stand-alone document, rendered in one Quarto call each. The house
#: style (`pcfm.report.house_style`) adds its options when Quarto renders.
FORMATS: dict[str, Any] = {
    "html": {"toc": True},
    "typst": {"papersize": "a4"},
    "docx": {"toc": False},
}


@dataclass(frozen=True)
class Document:
    """A stand-alone document of the report: its notebook, title and rendered file stem."""

    notebook: str
    title: str
    stem: str


#: Pipeline notebooks rendered as stand-alone documents (the statements are assembled).
STANDALONE_DOCUMENTS = (
    Document("06_allocation_report.ipynb", "Allocation report", "allocation-report"),
    Document("06_board_paper.ipynb", "Board paper", "board-paper"),
)
STATEMENTS_DOCUMENT = Document(
    "practice_statements.ipynb", "Practice statements", "practice-statements"
)


def front_matter(
    title: str,
    subtitle: str,
    author: str,
    toc: bool = True,
    date: str | None = None,
    formats: dict[str, Any] | None = None,
) -> str:
    """Quarto YAML front matter for a stand-alone document rendered from stored outputs.

    The texts are Markdown to pandoc, so they are escaped (`pcfm.base.markdown`).
    """
    formats = {name: dict(options) for name, options in (formats or FORMATS).items()}
    formats["html"]["toc"] = toc
    content: dict[str, Any] = {
        "title": escape_markdown(title),
        "subtitle": escape_markdown(subtitle),
        "author": escape_markdown(author),
    }
    if date:
        content["date"] = escape_markdown(date)
        content["date-format"] = DATE_FORMAT
    # the document's language: HTML lang, Typst text language (PDF), Word proofing language
    content["lang"] = LANGUAGE
    content["format"] = formats
    content["execute"] = {"enabled": False, "echo": False}
    return "---\n" + yaml.safe_dump(content, sort_keys=False, allow_unicode=True) + "---"


def read_front_matter(notebook: NotebookNode) -> dict[str, Any] | None:
    """The YAML of the first cell when it is a raw front-matter cell, else None."""
    if not notebook.cells or notebook.cells[0].cell_type != "raw":
        return None
    text = notebook.cells[0].source.strip()
    if not (text.startswith("---") and text.endswith("---")):
        return None
    loaded = yaml.safe_load(text.strip("-\n")) or {}
    return loaded if isinstance(loaded, dict) else None


def set_front_matter(
    notebook: NotebookNode,
    title: str,
    subtitle: str,
    author: str,
    date: str | None = None,
    formats: dict[str, Any] | None = None,
) -> None:
    """Replace (or add) the front-matter cell with this run's titles and formats."""
    existing = read_front_matter(notebook)
    html = ((existing or {}).get("format") or {}).get("html") or {}
    toc = bool(html.get("toc", True)) if isinstance(html, dict) else True
    text = front_matter(title, subtitle, author, toc=toc, date=date, formats=formats)
    cell = nbformat.v4.new_raw_cell(text)
    cell["id"] = "front-matter"
    if existing is None:
        notebook.cells.insert(0, cell)
    else:
        notebook.cells[0] = cell


def check_quarto_document(path: Path) -> list[str]:
    """Every problem Quarto would have rendering this notebook alone (empty when valid)."""
    notebook = nbformat.read(path, as_version=4)
    name = path.name
    try:
        matter = read_front_matter(notebook)
    except yaml.YAMLError as error:
        return [f"{name}: front matter is not valid YAML: {error}"]
    if matter is None:
        return [f"{name}: the first cell must be a raw cell of YAML front matter (--- ... ---)"]
    problems = []
    if not matter.get("title"):
        problems.append(f"{name}: front matter has no title")
    formats = matter.get("format") or {}
    if "typst" in formats and not matter.get("author"):
        problems.append(f"{name}: front matter needs an author when typst is a format")
    execute = matter.get("execute") or {}
    if execute.get("enabled", True) is not False:
        problems.append(f"{name}: front matter must set execute.enabled: false (stored outputs)")
    labels: list[str] = []
    references: list[str] = []
    for cell in notebook.cells:
        if cell.cell_type == "code":
            labels.extend(CELL_LABEL.findall(cell.source))
        elif cell.cell_type == "markdown":
            problems.extend(
                f"{name}: a markdown line starting with '(@' becomes a numbered-example list"
                for _ in example_list_lines(cell.source)
            )
            references.extend(CROSS_REFERENCE.findall(cell.source))
            labels.extend(SECTION_ID.findall(cell.source))
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    problems.extend(f"{name}: label {label} is used by more than one cell" for label in duplicates)
    problems.extend(
        f"{name}: cross-reference @{reference} has no target"
        for reference in references
        if reference not in labels
    )
    return problems
