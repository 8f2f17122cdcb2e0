"""Tables and text inside the files a run publishes, whatever their format.

The output checker reads back what was actually written — CSV, JSON, XLSX, Markdown,
HTML, executed notebooks, Word, PDF and SVG — rather than trusting the code that wrote
it, so a leak introduced by any stage, template or renderer is still seen. Every table
and text comes with a *place* that tells a person where to look.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from pcfm.base.markdown import unescape_markdown

#: Suffixes of files that hold no readable text (images, fonts, scripts, styles).
SKIPPED_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".gif", ".webp", ".ico", ".woff", ".woff2", ".ttf", ".eot",
     ".js", ".css", ".map", ".parquet"}
)  # fmt: skip

_WORD = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_PIPE_SEPARATOR = re.compile(r"^\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")


@dataclass(frozen=True)
class FoundTable:
    """A table read back from a file: its header and its rows as text."""

    place: str
    header: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class FoundText:
    """A stretch of text read back from a file, where it starts."""

    place: str
    text: str


def pipe_tables(text: str, place: str) -> list[FoundTable]:
    """Markdown pipe tables (as `DataFrame.to_markdown` writes them) in ``text``."""
    tables: list[FoundTable] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines) - 1:
        line = lines[index].strip()
        if line.startswith("|") and _PIPE_SEPARATOR.match(lines[index + 1].strip()):
            header = _pipe_cells(line)
            rows = []
            index += 2
            while index < len(lines) and lines[index].strip().startswith("|"):
                rows.append(_pipe_cells(lines[index].strip()))
                index += 1
            tables.append(FoundTable(f"{place}, table {len(tables) + 1}", header, rows))
        else:
            index += 1
    return tables


_PIPE_CELL_SEPARATOR = re.compile(r"(?<!\\)\|")


def _pipe_cells(line: str) -> list[str]:
    """The cells of one pipe-table row, as literal text (Markdown escapes removed)."""
    inner = line.strip().removeprefix("|")
    inner = inner[:-1] if inner.endswith("|") and not inner.endswith("\\|") else inner
    return [unescape_markdown(cell.strip()) for cell in _PIPE_CELL_SEPARATOR.split(inner)]


def html_tables(html: str, place: str) -> list[FoundTable]:
    """Every ``<table>`` of an HTML document; the first row with header cells is the header."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    tables = []
    for number, table in enumerate(soup.find_all("table"), start=1):
        header: list[str] = []
        rows: list[list[str]] = []
        for row in table.find_all("tr"):
            cells = row.find_all(["th", "td"])
            texts = [cell.get_text(" ", strip=True) for cell in cells]
            if not header:
                header = texts
            else:
                rows.append(texts)
        tables.append(FoundTable(f"{place}, table {number}", header, rows))
    return tables


def _docx_parts(path: Path) -> Iterator[tuple[str, bytes]]:
    with zipfile.ZipFile(path) as archive:
        for name in sorted(archive.namelist()):
            if name.startswith("word/") and name.endswith(".xml"):
                yield name, archive.read(name)


def _docx_text(element: ElementTree.Element) -> str:
    return "".join(node.text or "" for node in element.iter(f"{_WORD}t"))


def _docx_cell_text(cell: ElementTree.Element) -> str:
    """A cell's own text: its paragraphs, not those of a table nested inside it."""
    return "\n".join(_docx_text(paragraph) for paragraph in cell.findall(f"{_WORD}p"))


def _docx_rows(table: ElementTree.Element) -> list[list[str]]:
    """A table's own rows and cells (direct children only: Quarto nests tables in tables)."""
    return [
        [_docx_cell_text(cell) for cell in row.findall(f"{_WORD}tc")]
        for row in table.findall(f"{_WORD}tr")
    ]


def _is_layout_table(table: ElementTree.Element) -> bool:
    """Whether a table only holds other tables: Quarto wraps each captioned table in one."""
    return any(
        cell.find(f"{_WORD}tbl") is not None
        for row in table.findall(f"{_WORD}tr")
        for cell in row.findall(f"{_WORD}tc")
    )


def docx_tables_and_text(path: Path) -> tuple[list[FoundTable], list[FoundText]]:
    """Tables (first row as header) and paragraphs of a Word document.

    Each table is read by its own rows and cells; a table whose cells hold tables (the
    one-cell frame Quarto puts around a captioned table) is a frame, not a table, and
    the tables inside it are read in their own right.
    """
    tables: list[FoundTable] = []
    texts: list[FoundText] = []
    for part, content in _docx_parts(path):
        root = ElementTree.fromstring(content)
        for table in root.iter(f"{_WORD}tbl"):
            if _is_layout_table(table):
                continue
            rows = _docx_rows(table)
            if rows:
                place = f"{part}, table {len(tables) + 1}"
                tables.append(FoundTable(place, rows[0], rows[1:]))
        paragraphs = [_docx_text(p) for p in root.iter(f"{_WORD}p")]
        texts.append(FoundText(part, "\n".join(paragraphs)))
    return tables, texts


def _json_tables(value: Any, place: str) -> Iterator[FoundTable]:
    """Each scalar of a JSON document as a one-cell table under its key; lists of records."""
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, dict | list):
                yield from _json_tables(item, f"{place}.{key}" if place else str(key))
            else:
                yield FoundTable(f"key {place + '.' if place else ''}{key}", [key], [[str(item)]])
    elif isinstance(value, list):
        records = [item for item in value if isinstance(item, dict)]
        if records:
            header = list(dict.fromkeys(key for record in records for key in record))
            rows = [[str(record.get(key, "")) for key in header] for record in records]
            yield FoundTable(f"key {place}", header, rows)


def _notebook_tables_and_text(path: Path) -> tuple[list[FoundTable], list[FoundText]]:
    notebook = json.loads(path.read_text(encoding="utf-8"))
    tables: list[FoundTable] = []
    texts: list[FoundText] = []
    for cell_number, cell in enumerate(notebook.get("cells", []), start=1):
        source = "".join(cell.get("source", ""))
        texts.append(FoundText(f"cell {cell_number} source", source))
        if cell.get("cell_type") == "markdown":
            tables.extend(pipe_tables(source, f"cell {cell_number} source"))
        for output_number, output in enumerate(cell.get("outputs", []), start=1):
            place = f"cell {cell_number} output {output_number}"
            if "text" in output:
                texts.append(FoundText(place, "".join(output["text"])))
            if "traceback" in output:
                texts.append(FoundText(place, "\n".join(output["traceback"])))
            for mime, content in output.get("data", {}).items():
                if not mime.startswith("text/") and mime != "application/json":
                    continue
                text = content if isinstance(content, str) else "".join(content)
                if isinstance(content, dict):
                    text = json.dumps(content)
                texts.append(FoundText(f"{place} ({mime})", text))
                if mime == "text/markdown":
                    tables.extend(pipe_tables(text, f"{place} ({mime})"))
                elif mime == "text/html":
                    tables.extend(html_tables(text, f"{place} ({mime})"))
    return tables, texts


def _xlsx_tables(path: Path) -> list[FoundTable]:
    from openpyxl import load_workbook

    workbook = load_workbook(path, read_only=True, data_only=True)
    tables = []
    for sheet in workbook.worksheets:
        values = [
            ["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)
        ]
        if values:
            tables.append(FoundTable(f"sheet {sheet.title!r}", values[0], values[1:]))
    workbook.close()
    return tables


def _pdf_text(path: Path) -> list[FoundText]:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(path.read_bytes()))
    return [
        FoundText(f"page {number}", page.extract_text() or "")
        for number, page in enumerate(reader.pages, start=1)
    ]


def tables_and_text(path: Path) -> tuple[list[FoundTable], list[FoundText]]:
    """Every table and every stretch of text in one file (empty for images and the like)."""
    suffix = path.suffix.lower()
    if suffix in SKIPPED_SUFFIXES:
        return [], []
    if suffix == ".ipynb":
        return _notebook_tables_and_text(path)
    if suffix == ".docx":
        return docx_tables_and_text(path)
    if suffix == ".xlsx":
        tables = _xlsx_tables(path)
        text = "\n".join(" ".join(row) for table in tables for row in [table.header, *table.rows])
        return tables, [FoundText("cells", text)]
    if suffix == ".pdf":
        return [], _pdf_text(path)
    text = path.read_text(encoding="utf-8", errors="replace")
    texts = [FoundText("text", text)]
    if suffix == ".csv":
        import csv

        rows = list(csv.reader(io.StringIO(text)))
        return ([FoundTable("table", rows[0], rows[1:])] if rows else []), texts
    if suffix == ".json":
        return list(_json_tables(json.loads(text), "")), texts
    if suffix in {".html", ".htm"}:
        return html_tables(text, "html"), texts
    if suffix in {".md", ".qmd", ".txt"}:
        return pipe_tables(text, "markdown"), texts
    return [], texts
