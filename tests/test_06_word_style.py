"""The Word reference document is deterministic and carries the house style.

Everything is read back from the written file (python-docx and the raw XML of the zip),
not from the module's constants. Each test runs on pandoc's default reference document
(from Quarto, skipped without it) and on python-docx's template, which lacks most of
pandoc's styles, so the styles the module creates are checked too.
`test_06_word_style_render.py` renders with the real Quarto.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import docx
import pytest
from docx.oxml.ns import qn

from pcfm.report.word_style import quarto_or_none, write_reference_docx

pytestmark = pytest.mark.unit

HOSTILE = '<x> & "q" é'
ARGUMENTS = {"icb_name": "NHS Test ICB", "title": "Allocation report", "date_text": "1 April 2026"}


QUARTO = quarto_or_none()


@pytest.fixture(params=["pandoc default", "python-docx default"])
def base(request: pytest.FixtureRequest, tmp_path: Path) -> Path | None:
    """The document restyled: pandoc's own (None: ask Quarto), or python-docx's template."""
    if request.param == "pandoc default":
        if QUARTO is None:
            pytest.skip("Quarto not found (set PCFM_QUARTO) for pandoc's default reference")
        return None
    path = tmp_path / "python-docx.docx"
    docx.Document().save(path)
    return path


def _write(path: Path, base: Path | None, **arguments: str) -> Path:
    return write_reference_docx(path, **{**ARGUMENTS, **arguments}, base=base)


def _header_footer_text(path: Path) -> tuple[str, str]:
    section = docx.Document(path).sections[0]
    header = "\n".join(p.text for p in section.header.paragraphs)
    footer = "\n".join(p.text for p in section.footer.paragraphs)
    return header, footer


def _instructions(paragraphs) -> list[str]:
    return [
        code.text.split()[0]
        for paragraph in paragraphs
        for code in paragraph._p.iter(qn("w:instrText"))
    ]


def test_the_file_is_byte_identical_across_calls(tmp_path: Path, base: Path | None) -> None:
    first = _write(tmp_path / "a.docx", base).read_bytes()
    second = _write(tmp_path / "b.docx", base).read_bytes()
    assert first == second
    with zipfile.ZipFile(io.BytesIO(first)) as package:
        infos = package.infolist()
    assert infos[0].filename == "[Content_Types].xml"
    assert {info.date_time for info in infos} == {(1980, 1, 1, 0, 0, 0)}


def test_other_arguments_give_another_file(tmp_path: Path, base: Path | None) -> None:
    first = _write(tmp_path / "a.docx", base).read_bytes()
    assert first != _write(tmp_path / "b.docx", base, title="Board paper").read_bytes()


def test_header_and_footer_carry_icb_title_date_and_page_fields(
    tmp_path: Path, base: Path | None
) -> None:
    path = _write(tmp_path / "ref.docx", base)
    header, footer = _header_footer_text(path)
    assert "NHS Test ICB" in header and "Allocation report" in header
    assert footer.startswith("1 April 2026\tPage ") and " of " in footer
    section = docx.Document(path).sections[0]
    assert _instructions(section.footer.paragraphs) == ["PAGE", "NUMPAGES"]
    fields = [c.get(qn("w:fldCharType")) for c in section.footer._element.iter(qn("w:fldChar"))]
    assert fields == ["begin", "separate", "end"] * 2


def test_hostile_strings_survive_as_text(tmp_path: Path, base: Path | None) -> None:
    path = _write(
        tmp_path / "ref.docx",
        base,
        icb_name=f"ICB {HOSTILE}",
        title=f"Title {HOSTILE}\x00\x07",
        date_text=f"{HOSTILE} date",
    )
    header, footer = _header_footer_text(path)
    assert f"ICB {HOSTILE}" in header and f"Title {HOSTILE}" in header
    assert f"{HOSTILE} date" in footer
    with zipfile.ZipFile(path) as package:
        raw = package.read("word/header1.xml").decode()
    assert "&lt;x&gt; &amp;" in raw and "<x>" not in raw
    assert docx.Document(path).core_properties.title == f"Title {HOSTILE}"


def test_page_is_a4_portrait_with_2_cm_margins(tmp_path: Path, base: Path | None) -> None:
    section = docx.Document(_write(tmp_path / "ref.docx", base)).sections[0]
    assert round(section.page_width.cm, 1) == 21.0 and round(section.page_height.cm, 1) == 29.7
    margins = {section.left_margin, section.right_margin, section.top_margin}
    assert {round(m.cm, 1) for m in margins | {section.bottom_margin}} == {2.0}


def test_body_font_and_headings_are_the_house_ones(tmp_path: Path, base: Path | None) -> None:
    document = docx.Document(_write(tmp_path / "ref.docx", base))
    defaults = document.styles.element.find(qn("w:docDefaults"))
    fonts = defaults.find(f"{qn('w:rPrDefault')}/{qn('w:rPr')}/{qn('w:rFonts')}")
    assert fonts.get(qn("w:ascii")) == "Arial"
    size = int(defaults.find(f".//{qn('w:sz')}").get(qn("w:val"))) / 2
    assert 10.5 <= size <= 11
    colour = defaults.find(f".//{qn('w:color')}").get(qn("w:val"))
    assert colour.upper() == "231F20"
    for name in ("Heading 1", "Heading 2", "Heading 3", "Subtitle"):
        assert str(document.styles[name].font.color.rgb) == "005EB8", name
    assert str(document.styles["Title"].font.color.rgb) == "003087"
    assert not [
        f for f in document.styles.element.iter(qn("w:rFonts")) if f.get(qn("w:asciiTheme"))
    ]


def test_table_style_has_blue_header_row_and_grey_rules(tmp_path: Path, base: Path | None) -> None:
    document = docx.Document(_write(tmp_path / "ref.docx", base))
    style = next(s for s in document.styles if s.name == "Table")
    assert style.type == docx.enum.style.WD_STYLE_TYPE.TABLE
    header = style.element.find(f"{qn('w:tblStylePr')}[@{qn('w:type')}='firstRow']")
    assert header.find(f".//{qn('w:shd')}").get(qn("w:fill")) == "005EB8"
    assert header.find(f".//{qn('w:color')}").get(qn("w:val")) == "FFFFFF"
    assert header.find(f"{qn('w:rPr')}/{qn('w:b')}") is not None
    assert header.find(f"{qn('w:trPr')}/{qn('w:tblHeader')}") is not None
    borders = style.element.find(f"{qn('w:tblPr')}/{qn('w:tblBorders')}")
    assert {b.get(qn("w:color")) for b in borders} == {"D8DDE0"}
    size = int(style.element.find(f"{qn('w:rPr')}/{qn('w:sz')}").get(qn("w:val"))) / 2
    assert 9 <= size <= 9.5


def test_pandoc_named_styles_are_present(tmp_path: Path, base: Path | None) -> None:
    names = {s.name for s in docx.Document(_write(tmp_path / "ref.docx", base)).styles}
    assert {"Compact", "First Paragraph", "Table Caption", "Image Caption", "Caption"} <= names
