"""The rendered report is accessible (WCAG 2.2 AA): axe-core finds nothing, and what it cannot see.

One small run is rendered with Quarto (when installed) and again without it (nbconvert,
the fallback), and every HTML page of both is read back:

* axe-core (pinned in ``tests/a11y/package-lock.json``) runs its WCAG 2.0/2.1/2.2 A and
  AA rules in the system's headless Chromium and must find no violation of any impact;
  every request a page makes outside its folder is blocked and must not happen (a page
  reads offline: no CDN MathJax, widget manager or jQuery);
* by hand, as a machine can check them: each page's title names its document, no "¶" in
  a heading, every table with a caption and with column and row headers, readable column
  labels (no snake_case), and an empty list said as a sentence.

Needs Node with ``npm ci`` run in ``tests/a11y`` (``make a11y-tools``, run by ``.ci/run``)
and Debian's ``chromium`` (or ``PCFM_CHROMIUM``); the axe audit is skipped, saying why,
without them. The by-hand checks need neither.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from pcfm.base.folder import RunFolder
from pcfm.params import load_params
from pcfm.pipeline.render import render_with_nbconvert
from pcfm.pipeline.run import run_pipeline

pytestmark = pytest.mark.e2e

AUDIT_DIR = Path(__file__).parent / "a11y"

PARAMS = """\
run_name: accessible
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
  icb_name: NHS Test ICB
  date: 2025-03-20
"""


def _quarto() -> str | None:
    quarto = os.environ.get("PCFM_QUARTO") or shutil.which("quarto")
    return quarto if quarto and Path(quarto).exists() else None


@pytest.fixture(scope="module")
def renders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The report folder of each render: ``quarto`` (when installed) and ``fallback``."""
    root = tmp_path_factory.mktemp("accessible")
    params = root / "accessible.yml"
    params.write_text(PARAMS, encoding="utf-8")
    quarto = _quarto()
    with pytest.MonkeyPatch.context() as patch:
        if quarto:
            patch.setenv("PATH", f"{Path(quarto).parent}{os.pathsep}{os.environ['PATH']}")
        run_dir = run_pipeline(params, build_root=root / "build").run_dir
    if not quarto:
        return {"fallback": run_dir / "report"}
    fallback = root / "fallback"
    shutil.copytree(run_dir, fallback, ignore=shutil.ignore_patterns("report"))
    render_with_nbconvert(RunFolder(fallback), load_params(fallback / "params.yml").report)
    return {"quarto": run_dir / "report", "fallback": fallback / "report"}


def _pages(report: Path) -> list[Path]:
    pages = sorted(report.rglob("*.html"))
    assert pages, report
    return pages


def _soup(page: Path) -> BeautifulSoup:
    return BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")


def _audit_tools() -> tuple[str, str]:
    node = shutil.which("node")
    chromium = os.environ.get("PCFM_CHROMIUM") or shutil.which("chromium")
    if not node:
        pytest.skip("Node is not installed (the axe-core audit runs in Node)")
    if not (AUDIT_DIR / "node_modules" / "axe-core").is_dir():
        pytest.skip("axe-core is not installed: run `make a11y-tools` (npm ci in tests/a11y)")
    if not chromium:
        pytest.skip(
            "Chromium is not installed (apt-get install chromium, or set PCFM_CHROMIUM); "
            ".ci/run installs it where apt and the network are available"
        )
    return node, chromium


def test_axe_finds_no_violation_and_no_page_needs_the_network(renders: dict[str, Path]) -> None:
    node, chromium = _audit_tools()
    pages = [page for report in renders.values() for page in _pages(report)]
    done = subprocess.run(
        [node, "audit.mjs", chromium, *map(str, pages)],
        cwd=AUDIT_DIR,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout)
    assert len(results) == len(pages)
    violations = [
        (Path(result["page"]).name, violation["id"], violation["impact"], node_["target"])
        for result in results
        for violation in result["violations"]
        for node_ in violation["nodes"]
    ]
    assert violations == []
    assert [(r["page"], r["network"]) for r in results if r["network"]] == []


def test_every_page_is_titled_by_its_document(renders: dict[str, Path]) -> None:
    for report in renders.values():
        for page in _pages(report):
            soup = _soup(page)
            title = soup.title.get_text(strip=True) if soup.title else ""
            assert soup.html.get("lang") == "en-GB", page
            assert title and title != "Notebook", (page, title)
            heading = soup.find("h1")
            if heading is not None and page.name != "index.html":
                words = heading.get_text(" ", strip=True).split()[-1]
                assert words.lower() in title.lower(), (page, title, words)


def test_no_heading_carries_a_pilcrow(renders: dict[str, Path]) -> None:
    for report in renders.values():
        for page in _pages(report):
            headings = _soup(page).find_all(re.compile(r"^h[1-6]$"))
            assert headings, page.name
            assert [h.get_text() for h in headings if "¶" in h.get_text()] == [], page


def test_every_table_has_a_caption_and_column_and_row_headers(renders: dict[str, Path]) -> None:
    tables = 0
    for report in renders.values():
        for page in _pages(report):
            for table in _soup(page).find_all("table"):
                tables += 1
                where = (page.name, str(table)[:200])
                caption = table.find("caption", recursive=False)
                assert caption is not None and caption.get_text(strip=True), where
                column_headers = table.select("thead th")
                assert column_headers, where
                assert all(th.get("scope") == "col" for th in column_headers), where
                assert all(th.get_text(strip=True) for th in column_headers), where
                for row in table.select("tbody tr"):
                    first = row.find(["td", "th"])
                    assert first.name == "th" and first.get("scope") == "row", where
    assert tables > 20


def test_column_labels_are_words_not_identifiers(renders: dict[str, Path]) -> None:
    snake = re.compile(r"\b[a-z]+_[a-z_]+\b")
    for report in renders.values():
        for page in _pages(report):
            headers = [th.get_text(" ", strip=True) for th in _soup(page).select("thead th")]
            assert [h for h in headers if snake.search(h)] == [], page


def test_an_empty_list_is_a_sentence_not_a_header_row(renders: dict[str, Path]) -> None:
    for report in renders.values():
        for page in _pages(report):
            for table in _soup(page).find_all("table"):
                assert table.select("tbody tr"), (page.name, str(table)[:300])
    # the tiny run has no data problem, so the data chapter says so in words
    chapter = next(p for p in _pages(renders["fallback"]) if p.name == "01_data.html")
    assert "None: the data had no recoverable problems." in _soup(chapter).get_text(" ")


def _structure_tags(node: object, tags: list[tuple[str, object]]) -> None:
    """Every structure element under ``node`` of a tagged PDF, as (tag, its /Alt)."""
    node = node.get_object() if hasattr(node, "get_object") else node
    if isinstance(node, list):
        for kid in node:
            _structure_tags(kid, tags)
        return
    if not hasattr(node, "get"):
        return
    if node.get("/S"):
        tags.append((str(node["/S"]), node.get("/Alt")))
    if node.get("/K") is not None:
        _structure_tags(node["/K"], tags)


def test_every_pdf_is_tagged_with_language_title_headings_and_figure_alt_text(
    renders: dict[str, Path],
) -> None:
    from pypdf import PdfReader

    if "quarto" not in renders:
        pytest.skip("Quarto is not installed: no PDF to check")
    pdfs = sorted(renders["quarto"].glob("*.pdf"))
    assert len(pdfs) == 4
    for pdf in pdfs:
        reader = PdfReader(pdf)
        catalogue = reader.trailer["/Root"]
        assert catalogue.get("/Lang") == "en-GB", pdf.name
        assert reader.metadata and reader.metadata.get("/Title"), pdf.name
        assert catalogue["/MarkInfo"]["/Marked"], pdf.name
        tags: list[tuple[str, object]] = []
        _structure_tags(catalogue["/StructTreeRoot"], tags)
        assert any(re.fullmatch(r"/H\d?", tag) for tag, _ in tags), pdf.name
        assert {"/Table", "/TH"} <= {tag for tag, _ in tags}, pdf.name
        figures = [alt for tag, alt in tags if tag == "/Figure"]
        assert all(alt and str(alt).strip() for alt in figures), pdf.name
    book = next(pdf for pdf in pdfs if pdf.stem == "Primary-Care-Funding-Model")
    tags = []
    _structure_tags(PdfReader(book).trailer["/Root"]["/StructTreeRoot"], tags)
    assert sum(tag == "/Figure" for tag, _ in tags) >= 8


def test_every_word_file_has_language_title_headings_and_described_pictures(
    renders: dict[str, Path],
) -> None:
    import zipfile

    if "quarto" not in renders:
        pytest.skip("Quarto is not installed: no Word file to check")
    documents = sorted(renders["quarto"].glob("*.docx"))
    assert len(documents) == 4
    for document in documents:
        with zipfile.ZipFile(document) as archive:
            core = archive.read("docProps/core.xml").decode("utf-8")
            styles = archive.read("word/styles.xml").decode("utf-8")
            body = archive.read("word/document.xml").decode("utf-8")
        assert re.search(r"<dc:title>[^<]+</dc:title>", core), document.name
        assert 'w:val="en-GB"' in styles, document.name
        assert re.search(r'w:pStyle w:val="Heading\d"', body), document.name
        pictures = re.findall(r"<wp:docPr [^>]*>", body)
        assert [p for p in pictures if 'descr=""' in p or "descr=" not in p] == [], document.name
    allocation = (renders["quarto"] / "allocation-report.docx").read_bytes()
    with zipfile.ZipFile(renders["quarto"] / "allocation-report.docx") as archive:
        body = archive.read("word/document.xml").decode("utf-8")
    assert allocation and "most deprived fifth of practices receives" in body
