"""The rendered HTML made accessible (WCAG 2.2 AA): what Quarto's and nbconvert's templates miss.

Applied to every HTML page of the report after rendering, with Quarto and without
(`pcfm.pipeline.render`), so both renders give the same structure to assistive technology.
Each fix names the template it makes up for; ``tests/test_e2e_accessibility.py`` runs
axe-core over the result and ``tests/test_06_accessible_html.py`` checks what axe cannot.

* every page has a language (``en-GB``) and a title naming its document (nbconvert calls
  every page "Notebook"; the fallback index had no ``lang``);
* headings read as their words: nbconvert's "¶" permalinks inside each heading go;
* every table has a ``<caption>`` naming it, column headers (``scope="col"``) and row
  headers (its first column, ``<th scope="row">``). Quarto puts a table's caption in a
  ``<figcaption>`` of a wrapper (nbconvert: a paragraph before it), which names no table:
  its words become the table's ``<caption>``, and the visible one, outside the scroll box,
  is hidden from assistive technology so nothing is read twice. A table without a caption
  is named by the section it is in;
* a box that scrolls a wide table can take keyboard focus and is named by its table's
  caption (Quarto's ``.cell-output-display`` scrolls; WCAG 2.1.1);
* Quarto's previous/next chapter links are named by what they show ("2 Data", not its
  ``aria-label`` "Data"; 2.5.3 label in name), its "Other formats" link to the PDF says
  "PDF", not "Typst", and lists of links are at least 24 px high (2.5.8 target size).
"""

from __future__ import annotations

from pathlib import Path

from bs4 import BeautifulSoup, Tag

from pcfm.report.house_style import LANGUAGE

#: Marks a page already processed (the step runs once per render; a rerun changes nothing).
MARKER = "pcfm-accessible"

#: CSS for what the templates leave too small or place oddly.
STYLE = f"""
/* {MARKER}: added by pcfm.report.accessible_html */
li > a, .quarto-alternate-formats a, nav.quarto-page-nav a {{
  display: inline-block; min-height: 24px; line-height: 24px;
}}
.pcfm-table-caption {{ font-style: italic; }}
.pcfm-scroll:focus {{ outline: 2px solid #005EB8; outline-offset: 2px; }}
.pcfm-visually-hidden {{
  position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0);
  white-space: nowrap;
}}
"""


def make_page_accessible(html_text: str, title: str | None = None) -> str:
    """``html_text`` (a whole page) with the fixes of the module docstring applied.

    ``title``: the document's title, for a page whose own title says nothing ("Notebook").
    """
    soup = BeautifulSoup(html_text, "html.parser")
    if soup.find("style", attrs={"data-pcfm": MARKER}):
        return html_text
    root = soup.find("html")
    # nbconvert takes only a two-letter code ("en"); the fallback index had none
    if isinstance(root, Tag) and root.get("lang") in (None, "", LANGUAGE.split("-")[0]):
        root["lang"] = LANGUAGE
    _set_title(soup, title)
    for anchor in soup.select("a.anchor-link"):  # nbconvert's "¶" in every heading
        anchor.decompose()
    for number, table in enumerate(soup.find_all("table"), start=1):
        _caption_table(soup, table, number)
        _header_cells(soup, table)
        _focusable_scroll_box(table)
    # Quarto's book template names its previous/next links by the chapter title alone
    for link in soup.select("a.pagination-link[aria-label]"):
        del link["aria-label"]
    # Quarto's "Other formats" names a Typst PDF after the tool, not the format
    for link in soup.select(".quarto-alternate-formats a[href$='.pdf']"):
        for text in link.find_all(string=True):
            if text.strip() == "Typst":
                text.replace_with(text.replace("Typst", "PDF"))
    head = soup.find("head")
    if isinstance(head, Tag):
        style = soup.new_tag("style", attrs={"data-pcfm": MARKER})
        style.string = STYLE
        head.append(style)
    return str(soup)


def make_report_accessible(report_dir: Path, titles: dict[str, str] | None = None) -> int:
    """Apply :func:`make_page_accessible` to every HTML page under ``report_dir``.

    ``titles``: a page's title by file name, for pages whose template titles them badly.
    Returns the number of pages changed.
    """
    changed = 0
    for page in sorted(report_dir.rglob("*.html")):
        text = page.read_text(encoding="utf-8")
        fixed = make_page_accessible(text, (titles or {}).get(page.name))
        if fixed != text:
            page.write_text(fixed, encoding="utf-8")
            changed += 1
    return changed


def _set_title(soup: BeautifulSoup, title: str | None) -> None:
    head = soup.find("head")
    if not isinstance(head, Tag):
        return
    element = soup.find("title")
    if element is None:
        element = soup.new_tag("title")
        head.insert(0, element)
    current = element.get_text(strip=True)
    if title and (not current or current == "Notebook"):
        element.string = title
    elif not current:
        heading = soup.find("h1")
        element.string = heading.get_text(" ", strip=True) if heading else "Report"


def _caption_table(soup: BeautifulSoup, table: Tag, number: int) -> None:
    """Give ``table`` a ``<caption>``: the text of the caption its template wrote outside it.

    The visible caption stays where the template put it (above the table, outside the box
    that scrolls a wide table, so it is never scrolled out of sight) and is hidden from
    assistive technology; the ``<caption>`` carries the same words for it, unseen.
    """
    if table.find("caption", recursive=False) is not None:
        return
    caption = soup.new_tag("caption", attrs={"class": "pcfm-visually-hidden"})
    caption["id"] = f"pcfm-table-{number}-caption"
    figure = table.find_parent("figure")
    figcaption = figure.find("figcaption") if isinstance(figure, Tag) else None
    previous = table.find_previous(class_="pcfm-table-caption")
    if isinstance(figcaption, Tag) and len(figure.find_all("table")) == 1:
        shown: Tag | None = figcaption
    elif isinstance(previous, Tag) and previous.find_next("table") is table:
        shown = previous
    else:
        shown = None
    if shown is not None:
        caption.string = shown.get_text(" ", strip=True)
        shown["aria-hidden"] = "true"
    else:  # no caption was written: name the table by the section it is in
        heading = table.find_previous(["h1", "h2", "h3", "h4"])
        section = heading.get_text(" ", strip=True) if isinstance(heading, Tag) else ""
        caption.string = f"Table: {section}" if section else f"Table {number}"
    table.insert(0, caption)


def _header_cells(soup: BeautifulSoup, table: Tag) -> None:
    head = table.find("thead")
    if isinstance(head, Tag):
        for cell in head.find_all("th"):
            cell["scope"] = "col"
            if not cell.get_text(strip=True):  # an empty corner reads as nothing
                cell.append("Item")
    body_rows = [row for body in table.find_all("tbody") for row in body.find_all("tr")]
    for row in body_rows:
        first = row.find(["td", "th"])
        if isinstance(first, Tag):
            first.name = "th"
            first["scope"] = "row"


def _focusable_scroll_box(table: Tag) -> None:
    box = table.find_parent(class_=["cell-output-display", "jp-RenderedMarkdown"])
    if not isinstance(box, Tag) or box.get("tabindex") is not None:
        return
    caption = table.find("caption", recursive=False)
    box["tabindex"] = "0"
    box["role"] = "region"
    classes = box.get("class") or []
    box["class"] = [*classes, "pcfm-scroll"]
    if isinstance(caption, Tag) and caption.get("id"):
        box["aria-labelledby"] = caption["id"]
    else:
        box["aria-label"] = "Table"
