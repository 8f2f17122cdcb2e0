"""The report rendered by a real Quarto, read back from the files it wrote.

Every check here reads the rendered HTML, PDF and Word files themselves: nothing cut off,
every cross-reference resolved, every figure embedded, Word tables real tables, the board
paper two to four pages, one page per practice statement, equations in all three
formats, and hostile text in the ICB name shown literally. The test needs Quarto ≥ 1.9
(`PCFM_QUARTO`, or `quarto` on PATH; `make test` installs the shared one where
`../shared/tools/quarto` exists) and is skipped, saying so, without it.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from bs4 import BeautifulSoup
from docx import Document as WordDocument
from pypdf import PdfReader

from pcfm.base.disclosure.extract import docx_tables_and_text
from pcfm.pipeline.run import run_pipeline

pytestmark = pytest.mark.e2e

#: Text that breaks Markdown, HTML or Typst if it is not escaped.
HOSTILE_ICB = "NHS <Test> & *Star* ICB @x $5 // #1 [a] _u_ é C:\\y"

PARAMS = f"""\
run_name: rendered
seed: 11
data:
  source: synthetic
  synthetic:
    n_patients: 4000
    n_practices: 9
allocation:
  budget_gbp: 250000
  bootstrap_replicates: 5
report:
  icb_name: {json.dumps(HOSTILE_ICB)}
  date: 2025-03-20
  meeting: ICB Board, 20 March 2025
"""

DOCUMENTS = ("allocation-report", "board-paper", "practice-statements")


def _quarto() -> str:
    quarto = os.environ.get("PCFM_QUARTO") or shutil.which("quarto")
    if not quarto or not Path(quarto).exists():
        pytest.skip(
            "Quarto is not installed (set PCFM_QUARTO or put quarto on PATH; `make test` "
            "installs it from ../shared/tools/quarto where that exists)"
        )
    return quarto


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    quarto = _quarto()
    root = tmp_path_factory.mktemp("rendered")
    params = root / "rendered.yml"
    params.write_text(PARAMS, encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", f"{Path(quarto).parent}{os.pathsep}{os.environ['PATH']}")
        result = run_pipeline(params, build_root=root / "build")
    return result.run_dir


def _pdf_pages(path: Path) -> list[str]:
    reader = PdfReader(io.BytesIO(path.read_bytes()))
    return [page.extract_text() or "" for page in reader.pages]


def _pdf_text(path: Path) -> str:
    return "\n".join(_pdf_pages(path))


def _flat(text: str) -> str:
    """Text with every run of white space as one space (PDF text breaks lines anywhere)."""
    return " ".join(text.split())


def _book(run_dir: Path, suffix: str) -> Path:
    found = [p for p in (run_dir / "report").glob(f"*{suffix}") if p.stem not in DOCUMENTS]
    assert len(found) == 1, found
    return found[0]


def _practices(run_dir: Path) -> list[str]:
    return pd.read_csv(run_dir / "publishable" / "allocation.csv")["practice_code"].tolist()


def test_all_twelve_documents_are_rendered(rendered: Path) -> None:
    report = rendered / "report"
    for stem in DOCUMENTS:
        for suffix in (".html", ".pdf", ".docx"):
            assert (report / f"{stem}{suffix}").stat().st_size > 0
    assert (report / "index.html").exists()
    assert _book(rendered, ".pdf").stat().st_size > 0
    assert _book(rendered, ".docx").stat().st_size > 0


def test_no_html_page_names_the_build_folder(rendered: Path) -> None:
    # Quarto writes each embedded notebook's absolute path into the page; the runner takes
    # it out (a path of this machine, different on every run).
    build = rendered.parent.absolute().as_posix()
    pages = sorted((rendered / "report").rglob("*.html"))
    assert pages
    assert [p.name for p in pages if build in p.read_text(encoding="utf-8")] == []
    chapter = (rendered / "report" / "methodology" / "02-workload-model.html").read_text(
        encoding="utf-8"
    )
    assert 'data-notebook="notebooks/02_workload_model.ipynb"' in chapter


def test_every_practice_of_every_practice_table_is_in_the_pdfs(rendered: Path) -> None:
    """Long tables break across pages instead of being cut off at the first page's foot."""
    practices = _practices(rendered)
    for pdf in (rendered / "report" / "allocation-report.pdf", _book(rendered, ".pdf")):
        text = _pdf_text(pdf)
        missing = [code for code in practices if code not in text]
        assert missing == [], (pdf.name, missing)


def test_every_cross_reference_is_resolved_in_every_format(rendered: Path) -> None:
    texts = {pdf.name: _flat(_pdf_text(pdf)) for pdf in (rendered / "report").glob("*.pdf")}
    for docx in (rendered / "report").glob("*.docx"):
        _, found = docx_tables_and_text(docx)
        texts[docx.name] = _flat(" ".join(t.text for t in found))
    for html in (rendered / "report").rglob("*.html"):
        soup = BeautifulSoup(html.read_text(encoding="utf-8"), "html.parser")
        texts[html.name] = _flat(soup.get_text(" "))
    unresolved = re.compile(r"\?@|@(?:sec|tbl|fig|eq)-")
    for name, text in texts.items():
        assert not unresolved.search(text), (name, unresolved.search(text))
    # the introduction's references became the appendix's number, not a list number "(1)"
    for name in (_book(rendered, ".pdf").name, _book(rendered, ".docx").name):
        assert re.search(r"data contract \(Appendix [A-Z]\)", texts[name]), name
    book = texts[_book(rendered, ".pdf").name]
    assert re.search(r"\(Chapter \d\)", book)
    assert not re.search(r"\((?:Chapter|Appendix) \w\.\)", book)  # no stray full stop


def test_every_figure_is_embedded_in_pdf_and_word(rendered: Path) -> None:
    report = rendered / "report"
    expected = {"allocation-report": 2, "board-paper": 0}
    for stem, figures in expected.items():
        reader = PdfReader(io.BytesIO((report / f"{stem}.pdf").read_bytes()))
        assert sum(len(page.images) for page in reader.pages) >= figures, stem
        with zipfile.ZipFile(report / f"{stem}.docx") as archive:
            media = [n for n in archive.namelist() if n.startswith("word/media/")]
        assert len(media) >= figures, stem
    book_figures = sum(
        1
        for notebook in (rendered / "notebooks").glob("0[1-4]_*.ipynb")
        for line in notebook.read_text(encoding="utf-8").splitlines()
        if '"#| label: fig-' in line
    )
    reader = PdfReader(io.BytesIO(_book(rendered, ".pdf").read_bytes()))
    assert sum(len(page.images) for page in reader.pages) >= book_figures
    with zipfile.ZipFile(_book(rendered, ".docx")) as archive:
        assert len([n for n in archive.namelist() if n.startswith("word/media/")]) >= book_figures


def test_word_tables_are_real_tables_with_their_header(rendered: Path) -> None:
    tables, _ = docx_tables_and_text(rendered / "report" / "allocation-report.docx")
    practice_tables = [t for t in tables if t.header[:2] == ["Code", "Practice"]]
    assert len(practice_tables) == 1
    table = practice_tables[0]
    assert [row[0] for row in table.rows] == _practices(rendered)
    assert all(len(row) == len(table.header) for row in table.rows)
    assert "Registered list" in table.header and "Need index" in table.header


def test_the_board_paper_has_two_to_four_pages_and_a_front_sheet(rendered: Path) -> None:
    pages = _pdf_pages(rendered / "report" / "board-paper.pdf")
    assert 2 <= len(pages) <= 4
    front = _flat(pages[0])
    for words in ("Recommendation", "Executive summary", "Approval", "ICB Board, 20 March 2025"):
        assert words in front, words
    assert "Page 1 of" in front and "20 March 2025" in front


def test_the_statements_pdf_has_one_page_per_practice(rendered: Path) -> None:
    pages = _pdf_pages(rendered / "report" / "practice-statements.pdf")
    practices = _practices(rendered)
    assert len(pages) == len(practices)
    for page, code in zip(pages, practices, strict=True):
        assert f"({code})" in page
        assert sum(f"({other})" in page for other in practices) == 1


def test_equations_are_in_all_three_formats(rendered: Path) -> None:
    chapter = rendered / "report" / "methodology" / "02-workload-model.html"
    html = chapter.read_text(encoding="utf-8")
    assert "<math" in html and "mathjax" not in html.lower()  # MathML: readable offline
    with zipfile.ZipFile(_book(rendered, ".docx")) as archive:
        assert "<m:oMath" in archive.read("word/document.xml").decode("utf-8")
    text = _pdf_text(_book(rendered, ".pdf"))
    assert re.search(r"\(\d+\.\d+\)", text)  # Typst numbers the book's equations (2.1)


def test_hostile_text_is_shown_literally_in_every_format(rendered: Path) -> None:
    report = rendered / "report"
    flat = _flat(HOSTILE_ICB)
    assert flat in _flat(_pdf_text(report / "allocation-report.pdf"))
    soup = BeautifulSoup((report / "allocation-report.html").read_text("utf-8"), "html.parser")
    assert flat in _flat(soup.get_text(" "))
    _, texts = docx_tables_and_text(report / "allocation-report.docx")
    assert any(flat in _flat(t.text) for t in texts)


def test_hostile_text_is_shown_once_in_every_documents_title(rendered: Path) -> None:
    """The subtitle (ICB and year) reads back exactly: a backslash is not doubled."""
    report = rendered / "report"
    subtitle = _flat(f"{HOSTILE_ICB}, 2025-26")
    for stem in DOCUMENTS:
        assert subtitle in _flat(_pdf_pages(report / f"{stem}.pdf")[0]), stem
        soup = BeautifulSoup((report / f"{stem}.html").read_text("utf-8"), "html.parser")
        shown = soup.select_one(".subtitle")
        assert shown is not None and _flat(shown.get_text(" ")) == subtitle, stem
        paragraphs = WordDocument(str(report / f"{stem}.docx")).paragraphs
        shown_in_word = [p.text for p in paragraphs if p.style.name == "Subtitle"]
        assert [_flat(text) for text in shown_in_word] == [subtitle], stem
    book = _flat(_pdf_pages(_book(rendered, ".pdf"))[0])
    assert f"Methodology and allocation report: {subtitle}" in book


def test_pdf_pages_carry_the_house_header_and_footer(rendered: Path) -> None:
    pages = _pdf_pages(rendered / "report" / "allocation-report.pdf")
    for number, page in enumerate(pages, start=1):
        assert f"Page {number} of {len(pages)}" in _flat(page)
    if len(pages) > 1:
        assert "Allocation report" in pages[1]
