"""The house style of the Word documents: a pandoc reference document made in code.

Quarto renders ``.docx`` with pandoc, which takes every style, the page setup and the
header and footer from a *reference document* (``format: docx: reference-doc: PATH``).
:func:`write_reference_docx` writes one for a report: A4 portrait with 2 cm margins,
Arial on dark text, headings in NHS Blue, tables with an NHS Blue header row and thin
grey rules, and a header (ICB name, document title) and footer (date, "Page X of Y").

Why pandoc's own default reference document is the starting point, restyled with
python-docx: pandoc writes paragraphs in styles of its own ("First Paragraph",
"Compact", "Table Caption", "Image Caption", "Captioned Figure", "Hyperlink", the
table style "Table", ...). Its default reference document (``pandoc
--print-default-data-file reference.docx``) defines all of them, so restyling it keeps
every style pandoc looks for; python-docx's own template lacks most of them. The default
is taken from the Quarto that will render (its path is an argument), since a reference
document is only needed when Quarto renders. Another base can be passed (``base``); any
style restyled here that the base lacks is created, so the house style never silently
falls back to pandoc's.

The file is deterministic: the same arguments and the same pandoc give a byte-identical
file (fixed core properties, zip timestamps and member order).

Known limits, from Quarto 1.10 rather than this file: a table with a cross-reference id
(``: Caption {#tbl-x}``) is put in a one-cell layout table, which pandoc also gives the
style "Table" (so a thin grey box surrounds caption and table); its caption is written
in "Image Caption"; its cells get a second ``w:jc`` (``center``) after pandoc's own
alignment; and being nested, the table may not repeat its header row on a new page
(LibreOffice 7.4 even cuts it off at the end of the first page). A table captioned without
an id is pandoc's own: "Table Caption", right-aligned numbers, header row repeated.
`pcfm.report.word_tables` undoes each of these in the rendered file.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from docx import Document
from docx.document import Document as DocxDocument
from docx.enum.section import WD_ORIENT
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_TAB_ALIGNMENT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.oxml.xmlchemy import BaseOxmlElement
from docx.shared import Cm, Pt, RGBColor
from docx.styles import BabelFish
from docx.styles.style import BaseStyle
from docx.text.paragraph import Paragraph
from lxml import etree

from pcfm.base.style import NHS_BLACK, NHS_BLUE, NHS_DARK_BLUE, NHS_DARK_GREY, NHS_PALE_GREY

#: Body font, and the metric-compatible font named as its fallback in the font table.
BODY_FONT = "Arial"
FALLBACK_FONT = "Liberation Sans"
BODY_PT = 11.0
TABLE_PT = 9.5
SMALL_PT = 9.0
#: NHS identity grey 4, for table rules (lighter than any colour of `pcfm.base.style`).
RULE_GREY = "#D8DDE0"
WHITE = "#FFFFFF"

PAGE_WIDTH = Cm(21.0)
PAGE_HEIGHT = Cm(29.7)
MARGIN = Cm(2.0)
TEXT_WIDTH = Cm(17.0)

#: Core properties are fixed so that the file does not change from run to run.
_FIXED_TIME = datetime(2000, 1, 1, tzinfo=UTC)
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_PRINT_DEFAULT = ("--print-default-data-file", "reference.docx")
_THEME_FONT_ATTRIBUTES = ("asciiTheme", "hAnsiTheme", "eastAsiaTheme", "cstheme")
_NOT_XML_TEXT = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
#: Elements that come before ``w:szCs`` in ``w:rPr`` and ``w:pBdr`` in ``w:pPr``.
_BEFORE_SZ_CS = (
    *("w:rStyle", "w:rFonts", "w:b", "w:bCs", "w:i", "w:iCs", "w:caps", "w:smallCaps"),
    *("w:strike", "w:dstrike", "w:outline", "w:shadow", "w:emboss", "w:imprint"),
    *("w:noProof", "w:snapToGrid", "w:vanish", "w:webHidden", "w:color", "w:spacing"),
    *("w:w", "w:kern", "w:position", "w:sz"),
)
_BEFORE_P_BDR = (
    *("w:pStyle", "w:keepNext", "w:keepLines", "w:pageBreakBefore", "w:framePr"),
    *("w:widowControl", "w:numPr", "w:suppressLineNumbers"),
)
_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_A = "http://schemas.openxmlformats.org/drawingml/2006/main"


def write_reference_docx(
    path: Path,
    *,
    icb_name: str,
    title: str,
    date_text: str,
    quarto: str | os.PathLike[str] | None = None,
    base: Path | None = None,
) -> Path:
    """Write the house-style reference document for one report to ``path``.

    ``base`` is the reference document to restyle; by default pandoc's own, printed by
    ``quarto`` (default: ``$PCFM_QUARTO``, else ``quarto`` on the PATH).
    """
    source = base.read_bytes() if base is not None else pandoc_default_reference(quarto)
    document = Document(io.BytesIO(source))
    _clear_body(document)
    _set_page(document)
    _set_defaults(document)
    _set_text_styles(document)
    _set_table_style(document)
    _set_header_and_footer(document, icb_name=icb_name, title=title, date_text=date_text)
    _set_core_properties(document, icb_name=icb_name, title=title)
    buffer = io.BytesIO()
    document.save(buffer)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        _deterministic_zip(
            buffer.getvalue(),
            {"word/fontTable.xml": _with_fallback_font, "word/theme/theme1.xml": _arial_theme},
        )
    )
    return path


def find_quarto(quarto: str | os.PathLike[str] | None = None) -> str:
    """The Quarto to ask for pandoc's default: the argument, ``$PCFM_QUARTO`` or the PATH."""
    found = quarto or os.environ.get("PCFM_QUARTO") or shutil.which("quarto")
    if not found:
        raise FileNotFoundError("Quarto not found: pass its path, or set PCFM_QUARTO")
    return os.fspath(found)


def quarto_or_none() -> str | None:
    """:func:`find_quarto`, or None where Quarto is not installed (tests skip then)."""
    try:
        return find_quarto()
    except FileNotFoundError:
        return None


def pandoc_default_reference(quarto: str | os.PathLike[str] | None = None) -> bytes:
    """Pandoc's default reference document, from the pandoc bundled with Quarto."""
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "reference.docx"
        subprocess.run(
            [find_quarto(quarto), "pandoc", "-o", str(target), *_PRINT_DEFAULT],
            check=True,
            capture_output=True,
        )
        return target.read_bytes()


# --- page, defaults and styles ----------------------------------------------------------


def _clear_body(document: DocxDocument) -> None:
    """Drop the sample text: pandoc reads only the styles and the section properties."""
    body = document.element.body
    for child in list(body):
        if child.tag != qn("w:sectPr"):
            body.remove(child)
    body.insert(0, OxmlElement("w:p"))


def _set_page(document: DocxDocument) -> None:
    section = document.sections[0]
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = PAGE_WIDTH, PAGE_HEIGHT
    section.left_margin = section.right_margin = MARGIN
    section.top_margin = section.bottom_margin = MARGIN
    section.header_distance = section.footer_distance = Cm(1.0)
    section.gutter = Cm(0)


def _child(parent: etree._Element, tag: str, first: bool = False) -> etree._Element:
    """The first child ``tag`` of ``parent``, created (first or last) when absent."""
    found = parent.find(qn(tag))
    if found is None:
        found = OxmlElement(tag)
        if first:
            parent.insert(0, found)
        else:
            parent.append(found)
    return found


def _set_defaults(document: DocxDocument) -> None:
    """Body font, size, colour and language for every run, and no theme fonts or colours.

    Theme references win over explicit fonts and colours in Word, so they are removed
    from every style; styles without a font of their own then inherit Arial from here.
    """
    styles = document.styles.element
    for fonts in list(styles.iter(qn("w:rFonts"))):
        for attribute in _THEME_FONT_ATTRIBUTES:
            fonts.attrib.pop(qn(f"w:{attribute}"), None)
        if not fonts.attrib:
            fonts.getparent().remove(fonts)
    for colour in styles.iter(qn("w:color")):
        for attribute in ("themeColor", "themeShade", "themeTint"):
            colour.attrib.pop(qn(f"w:{attribute}"), None)
    defaults = _child(styles, "w:docDefaults", first=True)
    run = _child(_child(defaults, "w:rPrDefault", first=True), "w:rPr")
    for child in list(run):
        run.remove(child)
    fonts = OxmlElement("w:rFonts")
    for attribute in ("ascii", "hAnsi", "eastAsia", "cs"):
        fonts.set(qn(f"w:{attribute}"), BODY_FONT)
    colour = OxmlElement("w:color", {qn("w:val"): _hex(NHS_BLACK)})
    size = OxmlElement("w:sz", {qn("w:val"): str(round(BODY_PT * 2))})
    size_cs = OxmlElement("w:szCs", {qn("w:val"): str(round(BODY_PT * 2))})
    language = OxmlElement("w:lang", {qn("w:val"): "en-GB", qn("w:eastAsia"): "en-GB"})
    run.extend([fonts, colour, size, size_cs, language])
    paragraph = _child(_child(defaults, "w:pPrDefault"), "w:pPr")
    for child in list(paragraph):
        paragraph.remove(child)
    paragraph.append(
        OxmlElement(
            "w:spacing", {qn("w:after"): "120", qn("w:line"): "264", qn("w:lineRule"): "auto"}
        )
    )


def _style(document: DocxDocument, name: str, kind: WD_STYLE_TYPE, base: str | None) -> BaseStyle:
    """The style ``name``, added (based on ``base``) when the reference document lacks it.

    Names are matched without regard to case: Word writes built-in names in lower case
    ("heading 1", "caption"), pandoc's default does not always ("Caption").
    """
    for style in document.styles:
        if style.type == kind and (style.name or "").lower() == name.lower():
            return style
    style = document.styles.add_style(name, kind)
    style.element.styleId = name.replace(" ", "")
    if BabelFish.ui2internal(name) != name:  # a built-in style of Word, not a custom one
        style.element.attrib.pop(qn("w:customStyle"), None)
    if base is not None:
        style.base_style = _style(document, base, kind, None)
    return style


def _font(
    style: BaseStyle,
    *,
    size: float | None = None,
    colour: str | None = None,
    bold: bool | None = None,
    italic: bool | None = None,
) -> None:
    """Set the given font properties of ``style``; those not given are left as they are."""
    font = style.font
    if size is not None:
        font.size = Pt(size)
        size_cs = OxmlElement("w:szCs", {qn("w:val"): str(round(size * 2))})
        _put_after(style.element.get_or_add_rPr(), size_cs, _BEFORE_SZ_CS)
    if colour is not None:
        font.color.rgb = RGBColor.from_string(_hex(colour))
    if bold is not None:
        font.bold = bold
    if italic is not None:
        font.italic = italic


def _put_after(parent: BaseOxmlElement, element: etree._Element, predecessors: tuple) -> None:
    """Put ``element`` into ``parent`` after the last of ``predecessors`` (schema order)."""
    parent.remove_all(element.tag.replace(f"{{{_W}}}", "w:"))
    anchor = None
    for child in parent:
        if child.tag in {qn(name) for name in predecessors}:
            anchor = child
    if anchor is None:
        parent.insert(0, element)
    else:
        anchor.addnext(element)


def _set_text_styles(document: DocxDocument) -> None:
    """Title, subtitle, headings, body text, captions and links in the NHS identity."""
    paragraph, character = WD_STYLE_TYPE.PARAGRAPH, WD_STYLE_TYPE.CHARACTER

    body = _style(document, "Body Text", paragraph, "Normal")
    body.paragraph_format.space_before, body.paragraph_format.space_after = Pt(0), Pt(7)
    _style(document, "First Paragraph", paragraph, "Body Text")
    compact = _style(document, "Compact", paragraph, "Body Text")
    compact.paragraph_format.space_before = compact.paragraph_format.space_after = Pt(1.8)

    title = _style(document, "Title", paragraph, "Normal")
    _font(title, size=24, colour=NHS_DARK_BLUE, bold=True)
    title.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.LEFT
    title.paragraph_format.space_after = Pt(6)
    subtitle = _style(document, "Subtitle", paragraph, "Title")
    _font(subtitle, size=14, colour=NHS_BLUE, bold=False)
    subtitle.paragraph_format.space_after = Pt(12)
    for name in ("Author", "Date"):
        _font(
            _style(document, name, paragraph, "Title"),
            size=BODY_PT,
            colour=NHS_DARK_GREY,
            bold=False,
        )
    abstract_title = _style(document, "Abstract Title", paragraph, "Title")
    _font(abstract_title, size=BODY_PT, colour=NHS_BLUE, bold=True)

    headings = {1: (16, 18, 6), 2: (13, 14, 4), 3: (11.5, 10, 3), 4: (BODY_PT, 8, 2)}
    for level in range(1, 7):
        size, before, after = headings.get(level, headings[4])
        heading = _style(document, f"Heading {level}", paragraph, "Normal")
        _font(heading, size=size, colour=NHS_BLUE, bold=True, italic=False)
        heading.paragraph_format.space_before = Pt(before)
        heading.paragraph_format.space_after = Pt(after)
        heading.paragraph_format.keep_with_next = True
        linked = heading.element.find(qn("w:link"))
        if linked is not None:
            for style in document.styles:
                if style.style_id == linked.get(qn("w:val")):
                    _font(style, size=size, colour=NHS_BLUE, bold=True, italic=False)

    # Quarto writes the captions of cross-referenced tables in "Image Caption" too, so
    # every caption looks the same: bold dark text, a little smaller than the body.
    caption = _style(document, "Caption", paragraph, "Normal")
    _font(caption, size=TABLE_PT, colour=NHS_BLACK, bold=True, italic=False)
    table_caption = _style(document, "Table Caption", paragraph, "Caption")
    table_caption.paragraph_format.space_before = Pt(6)
    table_caption.paragraph_format.space_after = Pt(3)
    table_caption.paragraph_format.keep_with_next = True
    image_caption = _style(document, "Image Caption", paragraph, "Caption")
    image_caption.paragraph_format.space_after = Pt(10)
    _style(document, "Captioned Figure", paragraph, "Normal").paragraph_format.keep_with_next = True

    toc_heading = _style(document, "TOC Heading", paragraph, "Heading 1")
    _font(toc_heading, size=16, colour=NHS_BLUE, bold=True)

    link = _style(document, "Hyperlink", character, None)
    _font(link, colour=NHS_BLUE)
    link.font.underline = True

    for name in ("Header", "Footer"):
        style = _style(document, name, paragraph, "Normal")
        _font(style, size=SMALL_PT, colour=NHS_DARK_GREY)
        style.paragraph_format.space_before = style.paragraph_format.space_after = Pt(0)
        stops = style.paragraph_format.tab_stops
        stops.clear_all()
        stops.add_tab_stop(TEXT_WIDTH, WD_TAB_ALIGNMENT.RIGHT)
    _rule(_style(document, "Header", paragraph, "Normal"), "bottom", NHS_BLUE, size=6)
    _rule(_style(document, "Footer", paragraph, "Normal"), "top", RULE_GREY, size=4)


def _rule(style: BaseStyle, side: str, colour: str, size: int) -> None:
    """A line above or below every paragraph of ``style`` (header and footer rules)."""
    borders = OxmlElement("w:pBdr")
    borders.append(_border(side, colour, size, space=4))
    _put_after(style.element.get_or_add_pPr(), borders, _BEFORE_P_BDR)


def _border(side: str, colour: str, size: int, space: int = 0) -> etree._Element:
    return OxmlElement(
        f"w:{side}",
        {
            qn("w:val"): "single",
            qn("w:sz"): str(size),
            qn("w:space"): str(space),
            qn("w:color"): _hex(colour),
        },
    )


def _set_table_style(document: DocxDocument) -> None:
    """The table style "Table" that pandoc gives every table, rebuilt from scratch.

    Header row: NHS Blue fill, white bold text, repeated on each page (pandoc also marks
    the row with ``w:tblHeader`` itself). Thin grey rules, smaller text, pale bands.
    Alignment is left to pandoc, which writes it on each cell's paragraph from the
    Markdown table, so right-aligned numbers stay right-aligned.
    """
    style = _style(document, "Table", WD_STYLE_TYPE.TABLE, None).element
    for child in list(style):
        if child.tag not in {qn("w:name"), qn("w:uiPriority"), qn("w:qFormat")}:
            style.remove(child)
    style.set(qn("w:default"), "1")
    size = str(round(TABLE_PT * 2))
    paragraph = OxmlElement("w:pPr")
    paragraph.append(OxmlElement("w:spacing", {qn("w:before"): "0", qn("w:after"): "0"}))
    run = OxmlElement("w:rPr")
    run.extend(
        [OxmlElement("w:sz", {qn("w:val"): size}), OxmlElement("w:szCs", {qn("w:val"): size})]
    )
    table = OxmlElement("w:tblPr")
    table.append(OxmlElement("w:tblStyleRowBandSize", {qn("w:val"): "1"}))
    table.append(OxmlElement("w:tblInd", {qn("w:w"): "0", qn("w:type"): "dxa"}))
    borders = OxmlElement("w:tblBorders")
    for side in ("top", "left", "bottom", "right", "insideH", "insideV"):
        borders.append(_border(side, RULE_GREY, size=4))
    table.append(borders)
    margins = OxmlElement("w:tblCellMar")
    for side, width in (("top", 28), ("left", 85), ("bottom", 28), ("right", 85)):
        margins.append(OxmlElement(f"w:{side}", {qn("w:w"): str(width), qn("w:type"): "dxa"}))
    table.append(margins)
    # No w:cantSplit for the rows: Quarto puts a cross-referenced table inside the single
    # row of a layout table with this style too, and that row must break across pages.
    style.extend([paragraph, run, table, _header_row(), _band("band2Horz", NHS_PALE_GREY)])


def _header_row() -> etree._Element:
    header = OxmlElement("w:tblStylePr", {qn("w:type"): "firstRow"})
    run = OxmlElement("w:rPr")
    run.append(OxmlElement("w:b"))
    run.append(OxmlElement("w:bCs"))
    run.append(OxmlElement("w:color", {qn("w:val"): _hex(WHITE)}))
    row = OxmlElement("w:trPr")
    row.append(OxmlElement("w:tblHeader"))
    cell = OxmlElement("w:tcPr")
    borders = OxmlElement("w:tcBorders")
    for side in ("top", "left", "bottom", "right", "insideV"):
        borders.append(_border(side, NHS_BLUE, size=4))
    cell.append(borders)
    cell.append(
        OxmlElement(
            "w:shd", {qn("w:val"): "clear", qn("w:color"): "auto", qn("w:fill"): _hex(NHS_BLUE)}
        )
    )
    cell.append(OxmlElement("w:vAlign", {qn("w:val"): "bottom"}))
    header.extend([run, row, cell])
    return header


def _band(kind: str, fill: str) -> etree._Element:
    band = OxmlElement("w:tblStylePr", {qn("w:type"): kind})
    cell = OxmlElement("w:tcPr")
    cell.append(
        OxmlElement(
            "w:shd", {qn("w:val"): "clear", qn("w:color"): "auto", qn("w:fill"): _hex(fill)}
        )
    )
    band.append(cell)
    return band


# --- header, footer and properties ------------------------------------------------------


def _set_header_and_footer(
    document: DocxDocument, *, icb_name: str, title: str, date_text: str
) -> None:
    """ICB name and title in the header; date and "Page X of Y" (live fields) in the footer."""
    section = document.sections[0]
    section.different_first_page_header_footer = False
    section.header.is_linked_to_previous = False
    section.footer.is_linked_to_previous = False
    header = section.header.paragraphs[0]
    header.style = _style(document, "Header", WD_STYLE_TYPE.PARAGRAPH, "Normal")
    header.add_run(_plain(icb_name)).bold = True
    header.add_run("\t" + _plain(title))
    footer = section.footer.paragraphs[0]
    footer.style = _style(document, "Footer", WD_STYLE_TYPE.PARAGRAPH, "Normal")
    footer.add_run(_plain(date_text) + "\tPage ")
    _add_field(footer, "PAGE")
    footer.add_run(" of ")
    _add_field(footer, "NUMPAGES")


def _add_field(paragraph: Paragraph, instruction: str) -> None:
    """A complex field (``PAGE``, ``NUMPAGES``) that Word and LibreOffice update."""
    for kind, text in (("begin", None), ("instr", instruction), ("separate", None), ("", "1")):
        run = paragraph.add_run()._r
        if kind == "instr":
            code = OxmlElement("w:instrText", {qn("xml:space"): "preserve"})
            code.text = f" {text} \\* MERGEFORMAT "
            run.append(code)
        elif kind:
            run.append(OxmlElement("w:fldChar", {qn("w:fldCharType"): kind}))
        else:
            shown = OxmlElement("w:t")
            shown.text = text
            run.append(shown)
    paragraph.add_run()._r.append(OxmlElement("w:fldChar", {qn("w:fldCharType"): "end"}))


def _set_core_properties(document: DocxDocument, *, icb_name: str, title: str) -> None:
    properties = document.core_properties
    properties.title = _plain(title)
    properties.author = properties.last_modified_by = _plain(icb_name)
    properties.created = properties.modified = _FIXED_TIME
    properties.revision = 1


def _plain(text: str) -> str:
    """``text`` as one line of XML-safe text (python-docx escapes ``<``, ``&`` and quotes)."""
    return " ".join(_NOT_XML_TEXT.sub("", str(text)).split())


def _hex(colour: str) -> str:
    return colour.lstrip("#").upper()


# --- the package ------------------------------------------------------------------------


def _deterministic_zip(package: bytes, transforms: dict[str, Callable[[bytes], bytes]]) -> bytes:
    """The package re-zipped with fixed timestamps and order ([Content_Types].xml first)."""
    with zipfile.ZipFile(io.BytesIO(package)) as source:
        members = {name: source.read(name) for name in source.namelist()}
    order = sorted(members, key=lambda name: (name != "[Content_Types].xml", name))
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w") as target:
        for name in order:
            data = members[name]
            if name in transforms:
                data = transforms[name](data)
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 0
            info.external_attr = 0
            target.writestr(info, data, compresslevel=9)
    return output.getvalue()


def _with_fallback_font(xml: bytes) -> bytes:
    """The font table with Arial first, naming a metric-compatible fallback."""
    fonts = etree.fromstring(xml)
    for font in fonts.findall(f"{{{_W}}}font"):
        if font.get(f"{{{_W}}}name") == BODY_FONT:
            fonts.remove(font)
    arial = etree.Element(f"{{{_W}}}font", {f"{{{_W}}}name": BODY_FONT})
    for tag, value in (
        ("altName", FALLBACK_FONT),
        ("panose1", "020B0604020202020204"),
        ("charset", "00"),
        ("family", "swiss"),
        ("pitch", "variable"),
    ):
        etree.SubElement(arial, f"{{{_W}}}{tag}", {f"{{{_W}}}val": value})
    fonts.insert(0, arial)
    return etree.tostring(fonts, xml_declaration=True, encoding="UTF-8", standalone=True)


def _arial_theme(xml: bytes) -> bytes:
    """The theme with Arial as its heading and body font, for anything that asks the theme."""
    theme = etree.fromstring(xml)
    for kind in ("majorFont", "minorFont"):
        for latin in theme.iter(f"{{{_A}}}{kind}"):
            face = latin.find(f"{{{_A}}}latin")
            if face is not None:
                face.attrib.clear()
                face.set("typeface", BODY_FONT)
    return etree.tostring(theme, xml_declaration=True, encoding="UTF-8", standalone=True)
