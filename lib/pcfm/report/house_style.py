"""The house style of the rendered documents: what Quarto is given besides the content.

Figures have their style in `pcfm.base.style`; this module dresses the documents:

* **PDF (Typst)**: `templates/house-style.typ` (colours, fonts, tables that fit and
  break across pages) and, written per document by :func:`typst_page_setup`, an A4 page
  with the ICB and the document's title in the header and the date and "Page x of y" in
  the footer. The stand-alone documents also get `templates/typst-template.typ`, a compact
  NHS Blue title block in place of Quarto's. The practice statements, rendered by pandoc
  without Quarto, use the same files through `templates/statements.typ`.
* **Word**: a reference document (`pcfm.report.word_style`) with the same colours,
  header and footer.
* **HTML**: equations as MathML, which every current browser shows without loading
  anything from the web (many NHS networks are offline); the statements' single page has
  `templates/statements.css`.

Every file is written into the folder Quarto renders in, so the run is self-contained.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TEMPLATES = Path(__file__).resolve().parent / "templates"
HOUSE_STYLE_TYP = "house-style.typ"
TITLE_BLOCK_TYP = "typst-template.typ"
PAGE_SETUP_TYP = "page-setup.typ"
REFERENCE_DOCX = "reference.docx"
STATEMENTS_TYP = "statements.typ"
STATEMENTS_CSS = "statements.css"
#: The statements' CSS wrapped for pandoc's ``--include-in-header``.
STATEMENTS_CSS_HEADER = "statements-style.html"

#: Files the house style writes beside a document (not outputs to publish).
STYLE_FILES = frozenset(
    {
        HOUSE_STYLE_TYP,
        TITLE_BLOCK_TYP,
        PAGE_SETUP_TYP,
        REFERENCE_DOCX,
        STATEMENTS_TYP,
        STATEMENTS_CSS_HEADER,
    }
)

#: The language of every document, in every format (WCAG 3.1.1; PDF and Word language).
LANGUAGE = "en-GB"

#: Page margins of every PDF.
TYPST_MARGIN = {"x": "2cm", "top": "2.3cm", "bottom": "2cm"}


@dataclass(frozen=True)
class DocumentIdentity:
    """What every page of a document says about it: whose it is, what it is and when."""

    icb_name: str
    title: str
    date_text: str


def typst_string(text: object) -> str:
    """``text`` as a Typst string literal (shown literally, whatever it contains)."""
    value = str(text).replace("\\", "\\\\").replace('"', '\\"')
    value = value.replace("\n", " ").replace("\r", " ")
    return f'"{value}"'


def typst_page_setup(identity: DocumentIdentity) -> str:
    """A Typst ``set page`` rule: header (ICB, title) from page 2, footer on every page."""
    icb, title, date = (
        typst_string(identity.icb_name),
        typst_string(identity.title),
        typst_string(identity.date_text),
    )
    return (
        "// Written by pcfm.report.house_style for this document.\n"
        "#set page(\n"
        "  header: context {\n"
        "    if counter(page).get().first() > 1 {\n"
        f"      set text(size: 7.5pt, fill: nhs-dark-grey)\n"
        f"      [#{icb} #h(1fr) #{title}]\n"
        "      line(length: 100%, stroke: 0.4pt + nhs-blue)\n"
        "    }\n"
        "  },\n"
        "  footer: context {\n"
        "    set text(size: 7.5pt, fill: nhs-dark-grey)\n"
        f"    [#{date} #h(1fr) Page #counter(page).display() of "
        "#counter(page).final().first()]\n"
        "  },\n"
        ")\n"
    )


def write_typst_style(folder: Path, identity: DocumentIdentity) -> list[str]:
    """Write the Typst house style and page setup into ``folder``; their names, in order."""
    shutil.copy2(TEMPLATES / HOUSE_STYLE_TYP, folder / HOUSE_STYLE_TYP)
    (folder / PAGE_SETUP_TYP).write_text(typst_page_setup(identity), encoding="utf-8")
    return [HOUSE_STYLE_TYP, PAGE_SETUP_TYP]


def write_title_block(folder: Path) -> str:
    """Write the stand-alone documents' title block partial into ``folder``; its name."""
    shutil.copy2(TEMPLATES / TITLE_BLOCK_TYP, folder / TITLE_BLOCK_TYP)
    return TITLE_BLOCK_TYP


def write_statements_style(folder: Path) -> tuple[str, str]:
    """Write the statements' pandoc Typst template and HTML style into ``folder``; their names."""
    shutil.copy2(TEMPLATES / STATEMENTS_TYP, folder / STATEMENTS_TYP)
    css = (TEMPLATES / STATEMENTS_CSS).read_text(encoding="utf-8")
    (folder / STATEMENTS_CSS_HEADER).write_text(f"<style>\n{css}</style>\n", encoding="utf-8")
    return STATEMENTS_TYP, STATEMENTS_CSS_HEADER


def write_word_style(folder: Path, identity: DocumentIdentity, quarto: str) -> str:
    """Write the Word reference document into ``folder`` (`pcfm.report.word_style`)."""
    from pcfm.report.word_style import write_reference_docx

    write_reference_docx(
        folder / REFERENCE_DOCX,
        icb_name=identity.icb_name,
        title=identity.title,
        date_text=identity.date_text,
        quarto=quarto,
    )
    return REFERENCE_DOCX


def docx_options(reference_doc: str, toc: bool = False) -> dict[str, Any]:
    """Word options: the house reference document, a contents list when asked for."""
    return {"toc": toc, "reference-doc": reference_doc}


#: How Quarto prints the documents' date ("20 March 2025"), in every format.
DATE_FORMAT = "D MMMM YYYY"


def html_options(toc: bool) -> dict[str, Any]:
    """HTML options: a contents list when asked for, equations readable offline."""
    return {"toc": toc, "html-math-method": "mathml", "embed-resources": False}


def typst_options(includes: list[str], title_block: str | None) -> dict[str, Any]:
    """Typst options: A4, house margins, the house style included in the header."""
    options: dict[str, Any] = {
        "papersize": "a4",
        "margin": dict(TYPST_MARGIN),
        "fontsize": "10pt",
        "include-in-header": list(includes),
    }
    if title_block:
        options["template-partials"] = [title_block]
    return options
