"""Quarto renders Word with the reference document: header, footer, table and heading styles.

Needs the real Quarto (``$PCFM_QUARTO`` or ``quarto`` on the PATH); skipped without it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import docx
import pytest
from docx.oxml.ns import qn

from pcfm.report.word_style import quarto_or_none, write_reference_docx

pytestmark = pytest.mark.integration

HOSTILE = '<x> & "q" é'


QUARTO = quarto_or_none()


QMD = """---
title: "Allocation report"
format:
  docx:
    reference-doc: {reference}
---

# Introduction

A paragraph of body text.

| Practice | Funding (£) |
|:---------|------------:|
{rows}

: Funding by practice {{#tbl-x}}
"""


def test_quarto_renders_word_in_the_house_style(tmp_path: Path) -> None:
    if QUARTO is None:
        pytest.skip("Quarto not found: set PCFM_QUARTO or put quarto on the PATH")
    reference = write_reference_docx(
        tmp_path / "reference.docx",
        icb_name=f"NHS Test ICB {HOSTILE}",
        title="Allocation report",
        date_text="1 April 2026",
    )
    rows = "\n".join(f"| Practice {i:02d} | {i * 1234.5:,.1f} |" for i in range(1, 61))
    source = tmp_path / "doc.qmd"
    source.write_text(QMD.format(reference=reference.name, rows=rows), encoding="utf-8")
    subprocess.run(
        [str(QUARTO), "render", source.name, "--to", "docx"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        timeout=300,
    )
    output = docx.Document(tmp_path / "doc.docx")

    section = output.sections[0]
    header = "\n".join(p.text for p in section.header.paragraphs)
    footer = "\n".join(p.text for p in section.footer.paragraphs)
    assert f"NHS Test ICB {HOSTILE}" in header and "Allocation report" in header
    assert footer.startswith("1 April 2026")
    codes = [c.text.split()[0] for c in section.footer._element.iter(qn("w:instrText"))]
    assert codes == ["PAGE", "NUMPAGES"]
    assert round(output.sections[0].page_width.cm, 1) == 21.0

    # Quarto wraps a cross-referenced table in a one-cell layout table; the data table is
    # the one with 61 rows. Both get pandoc's table style "Table".
    body = output.element.body
    tables = list(body.iter(qn("w:tbl")))
    data = next(t for t in tables if len(t.findall(qn("w:tr"))) == 61)
    assert data.find(f"{qn('w:tblPr')}/{qn('w:tblStyle')}").get(qn("w:val")) == "Table"
    first_row = data.find(qn("w:tr"))
    assert first_row.find(f"{qn('w:trPr')}/{qn('w:tblHeader')}") is not None
    # Pandoc writes the column's alignment on each cell's paragraph, first. (Quarto 1.10
    # then appends the layout cell's `center` in the same w:pPr, which LibreOffice obeys:
    # a Quarto issue that no reference document can undo.)
    numbers = data.findall(qn("w:tr"))[5].findall(qn("w:tc"))[1]
    alignments = [jc.get(qn("w:val")) for jc in numbers.iter(qn("w:jc"))]
    assert alignments[0] == "right", alignments

    heading = output.styles["Heading 1"]
    assert str(heading.font.color.rgb) == "005EB8"
    heading_paragraph = next(p for p in output.paragraphs if p.text == "Introduction")
    assert heading_paragraph.style.name == "Heading 1"
    defaults = output.styles.element.find(qn("w:docDefaults"))
    assert defaults.find(f".//{qn('w:rFonts')}").get(qn("w:ascii")) == "Arial"
