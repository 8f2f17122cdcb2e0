"""The post-render accessibility step on pages shaped as Quarto and nbconvert write them.

The snippets are the templates' own markup (Quarto 1.10's table float and pagination,
nbconvert 7's heading permalink); the whole rendered report is checked by axe-core in
``tests/test_e2e_accessibility.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from pcfm.report.accessible_html import MARKER, make_page_accessible, make_report_accessible

pytestmark = pytest.mark.unit

QUARTO_PAGE = """<!DOCTYPE html><html><head><title>2  Data – Model</title></head><body>
<h2 id="sec-q">Quality</h2>
<div id="tbl-q" class="cell quarto-float"><figure class="quarto-float quarto-float-tbl figure">
<figcaption class="quarto-float-caption-top" id="tbl-q-caption-0ceaefa1">Table 2.6: Problems.
</figcaption><div aria-describedby="tbl-q-caption-0ceaefa1">
<div class="cell-output cell-output-display cell-output-markdown"><table>
<thead><tr><th></th><th>Rows</th></tr></thead>
<tbody><tr><td>SYNP0001</td><td>10</td></tr><tr><td>SYNP0002</td><td>15</td></tr></tbody>
</table></div></div></figure></div>
<nav class="page-navigation"><a href="./01-data.html" class="pagination-link" aria-label="Data">
<span class="chapter-number">2</span>&nbsp; <span class="chapter-title">Data</span></a></nav>
<div class="quarto-alternate-formats"><ul><li><a href="x.pdf"><i class="bi"></i>Typst</a></li>
</ul></div></body></html>"""

NBCONVERT_PAGE = """<!DOCTYPE html><html lang="en"><head><title>Notebook</title></head><body>
<h1 id="Data">Data<a class="anchor-link" href="#Data">¶</a></h1>
<p class="pcfm-table-caption">Table 1: Practices.</p>
<div class="jp-RenderedMarkdown"><table><thead><tr><th>Code</th><th>List</th></tr></thead>
<tbody><tr><td>P1</td><td>1</td></tr></tbody></table></div>
<h2 id="More">More<a class="anchor-link" href="#More">¶</a></h2>
<table><thead><tr><th>Code</th></tr></thead><tbody><tr><td>P2</td></tr></tbody></table>
</body></html>"""


def _soup(text: str) -> BeautifulSoup:
    return BeautifulSoup(text, "html.parser")


def test_a_quarto_table_gets_its_caption_and_headers() -> None:
    soup = _soup(make_page_accessible(QUARTO_PAGE))
    table = soup.find("table")
    caption = table.find("caption", recursive=False)
    assert caption.get_text(strip=True) == "Table 2.6: Problems."
    # the visible caption stays outside the scroll box, and is not read twice
    assert soup.find("figcaption")["aria-hidden"] == "true"
    assert soup.find("figcaption")["id"] == "tbl-q-caption-0ceaefa1"  # aria-describedby
    assert [th["scope"] for th in table.select("thead th")] == ["col", "col"]
    assert table.select("thead th")[0].get_text() == "Item"  # no empty corner
    assert [row.find().name for row in table.select("tbody tr")] == ["th", "th"]
    assert {row.find()["scope"] for row in table.select("tbody tr")} == {"row"}
    box = soup.select_one(".cell-output-display")
    assert box["tabindex"] == "0" and box["role"] == "region"
    assert box["aria-labelledby"] == caption["id"]


def test_quarto_navigation_and_format_links_are_named_by_what_they_show() -> None:
    soup = _soup(make_page_accessible(QUARTO_PAGE))
    link = soup.select_one("a.pagination-link")
    assert not link.has_attr("aria-label")
    assert " ".join(link.get_text().split()) == "2 Data"
    assert soup.select_one(".quarto-alternate-formats a").get_text(strip=True) == "PDF"
    assert soup.html["lang"] == "en-GB"
    assert soup.title.get_text() == "2  Data – Model"  # a good title is kept


def test_an_nbconvert_page_loses_its_pilcrows_and_is_titled() -> None:
    soup = _soup(make_page_accessible(NBCONVERT_PAGE, title="Data"))
    assert soup.title.get_text() == "Data"
    assert soup.html["lang"] == "en-GB"  # nbconvert writes only the two-letter code
    assert "¶" not in soup.get_text()
    assert [h.get_text() for h in soup.find_all(["h1", "h2"])] == ["Data", "More"]
    first, second = soup.find_all("table")
    assert first.caption.get_text() == "Table 1: Practices."
    assert soup.select_one(".pcfm-table-caption")["aria-hidden"] == "true"
    # a table written without a caption is named by its section (for screen readers)
    assert second.caption.get_text() == "Table: More"
    assert "pcfm-visually-hidden" in second.caption["class"]


def test_the_step_is_done_once(tmp_path: Path) -> None:
    page = tmp_path / "methodology" / "a.html"
    page.parent.mkdir()
    page.write_text(QUARTO_PAGE, encoding="utf-8")
    assert make_report_accessible(tmp_path) == 1
    once = page.read_text(encoding="utf-8")
    assert once.count(f'data-pcfm="{MARKER}"') == 1
    assert make_report_accessible(tmp_path) == 0
    assert page.read_text(encoding="utf-8") == once
