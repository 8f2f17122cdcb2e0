"""Tables and text inside the files a run publishes, whatever their format.

The output checker reads back what was actually written — CSV, TSV, Parquet, JSON, XLSX,
Markdown, HTML, executed notebooks, Word, PDF, SVG, the text chunks of PNG images, the
members of ZIP archives, and any other file that is text — rather than trusting the code
that wrote it, so a leak introduced by any stage, template or renderer is still seen. Every
table and text comes with a *place* that tells a person where to look.

What cannot be read is never passed silently: fonts and images other than PNG are
:class:`SkippedFile` with the reason (they hold no text a reader sees as text), and any
other binary file is :class:`UnreadableFile`, which the checker reports as a finding.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from pcfm.base.markdown import unescape_markdown

_FONT = "a font: glyph outlines, no text"
_IMAGE = "an image without text chunks (only PNG text chunks can be read; no stage writes this)"
#: Suffixes of files that hold no text the checker can read, with the reason they are skipped.
SKIPPED_SUFFIXES: dict[str, str] = {
    ".woff": _FONT, ".woff2": _FONT, ".ttf": _FONT, ".otf": _FONT, ".eot": _FONT,
    ".jpg": _IMAGE, ".jpeg": _IMAGE, ".gif": _IMAGE, ".webp": _IMAGE, ".ico": _IMAGE,
}  # fmt: skip
#: How deep ZIP archives inside ZIP archives are opened.
ZIP_DEPTH = 3
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_ZIP_SIGNATURE = b"PK\x03\x04"


class SkippedFile(Exception):
    """A file with no text to read (a font, an image other than PNG): listed, with the reason."""


class UnreadableFile(ValueError):
    """A binary file of a type the checker cannot read: it cannot be vouched for."""


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
    """A stretch of text read back from a file, where it starts.

    ``prose`` is False for markup read only for identifiers (an HTML page's source, a CSV
    file's raw lines), and ``identifiers`` False for the same words read again for prose
    (without tags, cell by cell). ``flowing`` is False where a line break ends a thought
    (one table row a line), so prose is not read across it.
    """

    place: str
    text: str
    prose: bool = True
    identifiers: bool = True
    flowing: bool = True


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

    return _soup_tables(BeautifulSoup(html, "html.parser"), place)


def _soup_tables(soup: Any, place: str) -> list[FoundTable]:
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


def _docx_parts(content: bytes) -> Iterator[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
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


def docx_tables_and_text(path: Path | bytes) -> tuple[list[FoundTable], list[FoundText]]:
    """Tables (first row as header) and paragraphs of a Word document.

    Each table is read by its own rows and cells; a table whose cells hold tables (the
    one-cell frame Quarto puts around a captioned table) is a frame, not a table, and
    the tables inside it are read in their own right.
    """
    tables: list[FoundTable] = []
    texts: list[FoundText] = []
    data = path if isinstance(path, bytes) else Path(path).read_bytes()
    for part, content in _docx_parts(data):
        root = ElementTree.fromstring(content)
        for table in root.iter(f"{_WORD}tbl"):
            if _is_layout_table(table):
                continue
            rows = _docx_rows(table)
            if rows:
                place = f"{part}, table {len(tables) + 1}"
                tables.append(FoundTable(place, rows[0], rows[1:]))
        paragraphs = [_docx_text(p) for p in root.iter(f"{_WORD}p")]
        texts.append(FoundText(part, "\n\n".join(paragraphs)))
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


def _notebook_tables_and_text(content: bytes) -> tuple[list[FoundTable], list[FoundText]]:
    notebook = json.loads(content.decode("utf-8"))
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


def _xlsx_tables(content: bytes) -> list[FoundTable]:
    from openpyxl import load_workbook

    workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    tables = []
    for sheet in workbook.worksheets:
        values = [
            ["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)
        ]
        if values:
            tables.append(FoundTable(f"sheet {sheet.title!r}", values[0], values[1:]))
    workbook.close()
    return tables


def _pdf_text(content: bytes) -> list[FoundText]:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(content))
    return [
        FoundText(f"page {number}", page.extract_text() or "")
        for number, page in enumerate(reader.pages, start=1)
    ]


def _cells_text(tables: list[FoundTable], identifiers: bool = True) -> FoundText:
    """Every cell of some tables as text, one row a line, cells apart."""
    lines = [" | ".join(row) for table in tables for row in [table.header, *table.rows]]
    return FoundText("cells", "\n".join(lines), identifiers=identifiers, flowing=False)


def _parquet_tables(content: bytes) -> list[FoundTable]:
    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(content))
    columns = [
        ["" if value is None else str(value) for value in column.to_pylist()]
        for column in table.columns
    ]
    rows = [list(row) for row in zip(*columns, strict=True)] if columns else []
    return [FoundTable("table", [str(name) for name in table.column_names], rows)]


def png_texts(content: bytes) -> list[FoundText]:
    """The text chunks (tEXt, zTXt, iTXt) of a PNG image, keyword and text, each with its place.

    The pixels cannot be read back; what a PNG says in words is in these chunks.
    """
    if not content.startswith(_PNG_SIGNATURE):
        raise UnreadableFile("not a PNG image (no PNG signature)")
    texts = []
    position = len(_PNG_SIGNATURE)
    number = 0
    while position + 8 <= len(content):
        length = int.from_bytes(content[position : position + 4], "big")
        kind = content[position + 4 : position + 8]
        data = content[position + 8 : position + 8 + length]
        position += 12 + length
        if kind == b"IEND":
            break
        if kind not in (b"tEXt", b"zTXt", b"iTXt"):
            continue
        number += 1
        keyword, _, rest = data.partition(b"\0")
        if kind == b"tEXt":
            text = rest.decode("latin-1")
        elif kind == b"zTXt":
            text = zlib.decompress(rest[1:]).decode("latin-1")
        else:
            compressed, rest = rest[:1] == b"\1", rest[2:]
            _language, _, rest = rest.partition(b"\0")
            _translated, _, rest = rest.partition(b"\0")
            text = (zlib.decompress(rest) if compressed else rest).decode("utf-8", "replace")
        name = keyword.decode("latin-1")
        texts.append(FoundText(f"PNG {kind.decode()} chunk {number} ({name!r})", f"{name}\n{text}"))
    return texts


def _html_tables_and_prose(html: str) -> tuple[list[FoundTable], str]:
    """An HTML page's tables, and the words a reader sees outside them, from one parse."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    tables = _soup_tables(soup, "html")
    for element in soup.find_all(["table", "script", "style"]):
        element.decompose()
    return tables, soup.get_text(" ")


def _in_member(
    name: str, found: tuple[list[FoundTable], list[FoundText]]
) -> tuple[list[FoundTable], list[FoundText]]:
    tables, texts = found
    return (
        [FoundTable(f"member {name!r}, {t.place}", t.header, t.rows) for t in tables],
        [
            FoundText(f"member {name!r}, {t.place}", t.text, t.prose, t.identifiers, t.flowing)
            for t in texts
        ],
    )


def _zip_tables_and_text(content: bytes, depth: int) -> tuple[list[FoundTable], list[FoundText]]:
    """Every member of a ZIP archive, read by its own type; a member that cannot be read fails."""
    if depth > ZIP_DEPTH:
        raise UnreadableFile(f"ZIP archives nested more than {ZIP_DEPTH} deep")
    tables: list[FoundTable] = []
    texts: list[FoundText] = []
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        for info in sorted(archive.infolist(), key=lambda item: item.filename):
            if info.is_dir():
                continue
            try:
                found = content_tables_and_text(
                    info.filename, archive.read(info.filename), depth + 1
                )
            except SkippedFile:
                continue  # a font or image inside an archive: no text, as outside one
            except UnreadableFile as error:
                raise UnreadableFile(f"member {info.filename!r}: {error}") from None
            member_tables, member_texts = _in_member(info.filename, found)
            tables += member_tables
            texts += member_texts
    return tables, texts


def _text_of(content: bytes, suffix: str) -> str:
    """A file's bytes as text; a binary file of no known type is unreadable."""
    if b"\0" in content[:8192]:
        raise UnreadableFile(
            f"a binary file of a type the checker cannot read ({suffix or 'no suffix'})"
        )
    return content.decode("utf-8", errors="replace")


def content_tables_and_text(
    name: str, content: bytes, depth: int = 0
) -> tuple[list[FoundTable], list[FoundText]]:
    """Every table and every stretch of text in a file's bytes, by the type its name says.

    Raises:
        SkippedFile: a font or an image other than PNG (no text to read), with the reason.
        UnreadableFile: a binary file of a type the checker cannot read.
    """
    suffix = Path(name).suffix.lower()
    if suffix in SKIPPED_SUFFIXES:
        raise SkippedFile(SKIPPED_SUFFIXES[suffix])
    if suffix == ".png":
        return [], png_texts(content)
    if suffix == ".ipynb":
        return _notebook_tables_and_text(content)
    if suffix == ".docx":
        return docx_tables_and_text(content)
    if suffix == ".xlsx":
        tables = _xlsx_tables(content)
        return tables, [_cells_text(tables)]
    if suffix == ".pdf":
        return [], _pdf_text(content)
    if suffix == ".parquet":
        tables = _parquet_tables(content)
        return tables, [_cells_text(tables)]
    if suffix == ".zip" or content.startswith(_ZIP_SIGNATURE):
        return _zip_tables_and_text(content, depth)
    text = _text_of(content, suffix)
    texts = [FoundText("text", text)]
    if suffix in {".csv", ".tsv"}:
        rows = list(csv.reader(io.StringIO(text), delimiter="\t" if suffix == ".tsv" else ","))
        tables = [FoundTable("table", rows[0], rows[1:])] if rows else []
        raw = FoundText("text", text, prose=False)
        return tables, [raw, _cells_text(tables, identifiers=False)]
    if suffix == ".json":
        return list(_json_tables(json.loads(text), "")), texts
    if suffix in {".html", ".htm"}:
        tables, prose = _html_tables_and_prose(text)
        return tables, [
            FoundText("text", text, prose=False),
            FoundText("html prose", prose, identifiers=False),
        ]
    if suffix in {".md", ".qmd", ".txt"}:
        return pipe_tables(text, "markdown"), texts
    return [], texts


def tables_and_text(path: Path) -> tuple[list[FoundTable], list[FoundText]]:
    """Every table and every stretch of text in one file (see :func:`content_tables_and_text`)."""
    return content_tables_and_text(path.name, Path(path).read_bytes())
