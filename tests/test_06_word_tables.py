"""Quarto's Word layout tables are unwrapped: real tables at the top level, one alignment.

Renders with the real Quarto (``$PCFM_QUARTO`` or ``quarto`` on the PATH) because the
layout table is Quarto's doing, and a hand-made imitation would only test the imitation;
skipped without it.
"""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

import docx
import pytest
from docx.oxml.ns import qn
from lxml import etree

from pcfm.report.word_style import quarto_or_none
from pcfm.report.word_tables import tidy_word_tables

pytestmark = pytest.mark.integration

ROWS = 80
QMD = """---
title: "Allocation report"
format: docx
---

# Introduction

A paragraph of body text.

| Practice | Funding (£) |
|:---------|------------:|
{rows}

: Funding by practice {{#tbl-x}}

See @tbl-x.

| Region | Count |
|:-------|------:|
| North | 1 |
| South | 22 |
"""


QUARTO = quarto_or_none()


def _expected_rows() -> list[tuple[str, str]]:
    return [(f"Practice {i:02d}", f"{i * 1234.5:,.1f}") for i in range(1, ROWS + 1)]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One render for the module (Quarto takes seconds); each test copies it."""
    if QUARTO is None:
        pytest.skip("Quarto not found: set PCFM_QUARTO or put quarto on the PATH")
    folder = tmp_path_factory.mktemp("word_tables")
    rows = "\n".join(f"| {name} | {value} |" for name, value in _expected_rows())
    (folder / "doc.qmd").write_text(QMD.format(rows=rows), encoding="utf-8")
    subprocess.run(
        [str(QUARTO), "render", "doc.qmd", "--to", "docx"],
        cwd=folder,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return folder / "doc.docx"


def _copy(source: Path, folder: Path, name: str = "doc.docx") -> Path:
    target = folder / name
    shutil.copyfile(source, target)
    return target


def _cell_text(cell: etree._Element) -> str:
    return "".join(t.text or "" for t in cell.iter(qn("w:t")))


def test_rendered_docx_has_a_layout_table(rendered: Path) -> None:
    """Guards the premise: if Quarto stops nesting, the tidy-up is no longer needed."""
    body = docx.Document(rendered).element.body
    assert any(t.find(f".//{qn('w:tbl')}") is not None for t in body.iter(qn("w:tbl")))


def test_layout_table_is_unwrapped(rendered: Path, tmp_path: Path) -> None:
    path = _copy(rendered, tmp_path)
    assert tidy_word_tables(path) == 1

    body = docx.Document(path).element.body
    assert all(t.find(f".//{qn('w:tbl')}") is None for t in body.iter(qn("w:tbl")))
    top = body.findall(qn("w:tbl"))
    assert len(top) == len(list(body.iter(qn("w:tbl")))) == 2

    data = top[0]
    rows = data.findall(qn("w:tr"))
    assert rows[0].find(f"{qn('w:trPr')}/{qn('w:tblHeader')}") is not None
    assert [_cell_text(c) for c in rows[0].findall(qn("w:tc"))] == ["Practice", "Funding (£)"]
    body_rows = [tuple(_cell_text(c) for c in r.findall(qn("w:tc"))) for r in rows[1:]]
    assert body_rows == _expected_rows()

    for row in rows:
        text_cell, number_cell = row.findall(qn("w:tc"))
        for cell, alignment in ((text_cell, "left"), (number_cell, "right")):
            for properties in cell.iter(qn("w:pPr")):
                values = [jc.get(qn("w:val")) for jc in properties.findall(qn("w:jc"))]
                assert values == [alignment], values

    # The caption is the last paragraph before the table (bookmarks may sit between).
    before = [e for e in data.itersiblings(preceding=True) if e.tag == qn("w:p")]
    assert "Funding by practice" in "".join(t.text or "" for t in before[0].iter(qn("w:t")))

    # Every paragraph has at most one w:pPr, first, with no kind twice.
    for paragraph in body.iter(qn("w:p")):
        properties = paragraph.findall(qn("w:pPr"))
        assert len(properties) <= 1
        if properties:
            assert paragraph[0] is properties[0]
            tags = [child.tag for child in properties[0]]
            assert len(tags) == len(set(tags)), tags

    second = [
        tuple(_cell_text(c) for c in r.findall(qn("w:tc"))) for r in top[1].findall(qn("w:tr"))
    ]
    assert second == [("Region", "Count"), ("North", "1"), ("South", "22")]


def _styles_of(paragraphs: list[etree._Element]) -> list[str | None]:
    found = [p.find(f"{qn('w:pPr')}/{qn('w:pStyle')}") for p in paragraphs]
    return [None if style is None else style.get(qn("w:val")) for style in found]


def test_the_caption_of_an_unwrapped_table_is_a_table_caption(
    rendered: Path, tmp_path: Path
) -> None:
    """Quarto gives a cross-referenced table the figures' caption style; tidied, it has the
    tables' one, and a figure's caption would keep its own."""
    body = docx.Document(rendered).element.body
    captions = [p for p in body.iter(qn("w:p")) if "Funding by practice" in _cell_text(p)]
    assert _styles_of(captions) == ["ImageCaption"]  # the premise: Quarto's choice

    path = _copy(rendered, tmp_path)
    tidy_word_tables(path)
    body = docx.Document(path).element.body
    data = body.findall(qn("w:tbl"))[0]
    before = [e for e in data.itersiblings(preceding=True) if e.tag == qn("w:p")]
    assert "Funding by practice" in _cell_text(before[0])
    assert _styles_of(before[:1]) == ["TableCaption"]


def test_other_members_are_kept_byte_for_byte(rendered: Path, tmp_path: Path) -> None:
    path = _copy(rendered, tmp_path)
    tidy_word_tables(path)
    with zipfile.ZipFile(rendered) as before, zipfile.ZipFile(path) as after:
        assert before.namelist() == after.namelist()
        for old, new in zip(before.infolist(), after.infolist(), strict=True):
            assert old.date_time == new.date_time
            if old.filename != "word/document.xml":
                assert before.read(old) == after.read(new), old.filename
        document = after.read("word/document.xml")
    assert document.startswith(b"<?xml") and b"<w:document " in document[:200]


def test_tidy_is_idempotent_and_deterministic(rendered: Path, tmp_path: Path) -> None:
    first = _copy(rendered, tmp_path, "a.docx")
    second = _copy(rendered, tmp_path, "b.docx")
    tidy_word_tables(first)
    tidy_word_tables(second)
    assert first.read_bytes() == second.read_bytes()
    once = first.read_bytes()
    assert tidy_word_tables(first) == 0
    assert first.read_bytes() == once
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_docx_without_layout_tables_is_unchanged(tmp_path: Path) -> None:
    """Needs no Quarto: a document with a plain table is left alone, byte for byte."""
    plain = tmp_path / "plain.docx"
    document = docx.Document()
    document.add_paragraph("No layout tables here.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "a"
    document.save(plain)
    before = plain.read_bytes()
    assert tidy_word_tables(plain) == 0
    assert plain.read_bytes() == before
