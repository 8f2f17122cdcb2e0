"""House style, the stand-alone documents' static Quarto check, and the nbconvert fallback."""

from __future__ import annotations

import base64
from itertools import pairwise
from pathlib import Path

import nbformat
import pytest

from pcfm.base.style import (
    A4_TEXT_WIDTH_IN,
    CATEGORY_COLOURS,
    MIN_FONT_PT,
    PALETTE,
    new_figure,
    perceived_lab,
    smallest_colour_difference,
    smallest_font_pt,
    style_figure,
)
from pcfm.pipeline.render import cell_options, for_html
from pcfm.report.documents import (
    STANDALONE_DOCUMENTS,
    check_quarto_document,
    front_matter,
    read_front_matter,
    set_front_matter,
)
from pcfm.report.quarto_check import check_quarto_project
from pcfm.report.statements import (
    HTML_PAGE_BREAK,
    PANDOC_PAGE_BREAK,
    combine_statements,
    statements_markdown,
)

pytestmark = pytest.mark.unit

DEFICIENCIES = (None, "protanopia", "deuteranopia", "tritanopia")


@pytest.mark.parametrize("deficiency", DEFICIENCIES)
def test_the_first_four_palette_colours_stay_distinct(deficiency: str | None) -> None:
    assert smallest_colour_difference(PALETTE[:4], deficiency) > 25


def test_the_simulation_can_tell_red_from_green_only_with_normal_vision() -> None:
    """The check can fail: red and green collapse under deuteranopia."""
    red_green = ("#D5462F", "#4A9A2D")
    assert smallest_colour_difference(red_green, None) > 40
    assert smallest_colour_difference(red_green, "deuteranopia") < 15


@pytest.mark.parametrize("deficiency", DEFICIENCIES)
def test_categories_get_lighter_in_order_so_greyscale_keeps_the_order(
    deficiency: str | None,
) -> None:
    lightness = [perceived_lab(c, deficiency)[0] for c in CATEGORY_COLOURS]
    assert lightness == sorted(lightness)
    assert min(b - a for a, b in pairwise(lightness)) > 5


def test_house_figures_fit_a4_and_no_text_is_below_nine_points() -> None:
    figure, axes = new_figure()
    axes.plot([1, 2, 3], label="series")
    axes.set_xlabel("x")
    axes.set_title("title")
    axes.legend(fontsize=6)
    axes.tick_params(labelsize=5)
    assert smallest_font_pt(figure) < MIN_FONT_PT
    style_figure(figure)
    assert smallest_font_pt(figure) >= MIN_FONT_PT
    assert figure.get_size_inches()[0] == pytest.approx(A4_TEXT_WIDTH_IN)


@pytest.mark.parametrize("document", STANDALONE_DOCUMENTS, ids=lambda d: d.stem)
def test_the_standalone_documents_are_valid_for_quarto(project_files: Path, document) -> None:
    assert check_quarto_document(project_files / "notebooks" / document.notebook) == []


def test_the_book_with_the_new_chapters_is_valid(project_files: Path) -> None:
    assert check_quarto_project(project_files) == []


def _document(front: str | None, cells: list) -> nbformat.NotebookNode:
    all_cells = ([nbformat.v4.new_raw_cell(front)] if front else []) + cells
    notebook = nbformat.v4.new_notebook(cells=all_cells)
    for number, cell in enumerate(notebook.cells):
        cell["id"] = f"c{number}"
    return notebook


def test_the_document_check_catches_each_problem(tmp_path: Path) -> None:
    path = tmp_path / "doc.ipynb"
    nbformat.write(_document(None, [nbformat.v4.new_markdown_cell("# x")]), path)
    assert "raw cell of YAML front matter" in check_quarto_document(path)[0]

    no_author = front_matter("T", "S", "A").replace("author: A\n", "")
    cells = [
        nbformat.v4.new_markdown_cell("See @tbl-there and @fig-nowhere."),
        nbformat.v4.new_code_cell("#| label: tbl-there\nx"),
        nbformat.v4.new_code_cell("#| label: tbl-there\ny"),
    ]
    nbformat.write(_document(no_author, cells), path)
    problems = check_quarto_document(path)
    assert any("needs an author" in p for p in problems)
    assert any("@fig-nowhere has no target" in p for p in problems)
    assert any("label tbl-there is used by more than one cell" in p for p in problems)
    assert not any("@tbl-there" in p for p in problems)


def test_front_matter_is_replaced_with_the_runs_titles() -> None:
    notebook = _document(front_matter("Board paper", "old", "old author"), [])
    set_front_matter(notebook, "Board paper", "Test ICB, 2025-26", "Finance team")
    matter = read_front_matter(notebook)
    assert matter["subtitle"] == "Test ICB, 2025-26" and matter["author"] == "Finance team"
    assert set(matter["format"]) == {"html", "typst", "docx"}
    assert matter["execute"] == {"enabled": False, "echo": False}


def test_the_html_fallback_keeps_title_captions_and_alt_text() -> None:
    png = base64.b64encode(b"\x89PNG fake").decode()
    figure_cell = nbformat.v4.new_code_cell(
        '#| label: fig-x\n#| fig-cap: "Funding by quintile."\n#| fig-alt: "Bars of funding."\nf'
    )
    figure_cell.outputs = [
        nbformat.v4.new_output("display_data", data={"image/png": png}),
        nbformat.v4.new_output("stream", name="stderr", text="a warning\n"),
    ]
    table_cell = nbformat.v4.new_code_cell('#| label: tbl-y\n#| tbl-cap: "Every practice."\nt')
    table_cell.outputs = [
        nbformat.v4.new_output("display_data", data={"text/markdown": "| a |\n|---|\n| 1 |"})
    ]
    prose = nbformat.v4.new_markdown_cell("## Equity {#sec-equity}\n\nSee @tbl-y and @fig-x.")
    notebook = _document(
        front_matter("Allocation report", "ICB", "Team"), [figure_cell, table_cell, prose]
    )
    shown = for_html(notebook)
    assert shown.cells[0].cell_type == "markdown" and shown.cells[0].source.startswith(
        "# Allocation report"
    )
    figure_html = shown.cells[1].outputs[0]["data"]["text/html"]
    assert 'alt="Bars of funding."' in figure_html and "Funding by quintile." in figure_html
    assert len(shown.cells[1].outputs) == 1  # stderr noise is not published
    caption = shown.cells[2].outputs[0]["data"]["text/html"]  # the table's <caption>, later
    assert caption == '<p class="pcfm-table-caption">Table 1: Every practice.</p>'
    assert "Figure 1: Funding by quintile." in figure_html
    assert shown.cells[3].source == "## Equity\n\nSee Table 1 and Figure 1."
    assert notebook.cells[0].cell_type == "raw"  # the executed notebook is not changed


def test_cell_options_are_read_like_quarto() -> None:
    options = cell_options('#| label: fig-a\n#| fig-cap: "A: caption"\nplot()')
    assert options == {"label": "fig-a", "fig-cap": "A: caption"}


def test_statements_are_combined_one_per_page(tmp_path: Path) -> None:
    paths = []
    for code in ("P1", "P2"):
        cell = nbformat.v4.new_code_cell("practice_statement(run_dir, practice_code)")
        cell.outputs = [
            nbformat.v4.new_output("display_data", data={"text/markdown": f"## Practice {code}"})
        ]
        path = tmp_path / f"{code}.ipynb"
        nbformat.write(_document(None, [cell]), path)
        paths.append(path)
    combined = combine_statements(
        paths, front_matter("Practice statements", "s", "a"), HTML_PAGE_BREAK
    )
    sources = [cell.source for cell in combined.cells]
    assert combined.cells[0].cell_type == "raw"
    assert sources[1:] == ["## Practice P1", HTML_PAGE_BREAK, "## Practice P2"]
    written = tmp_path / "practice_statements.ipynb"
    nbformat.write(combined, written)
    assert check_quarto_document(written) == []


def test_statements_are_one_markdown_document_one_per_page(tmp_path: Path) -> None:
    """For pandoc: the front matter, then each statement, a page break between two."""
    paths = []
    for code in ("P1", "P2", "P3"):
        cell = nbformat.v4.new_code_cell("practice_statement(run_dir, practice_code)")
        cell.outputs = [
            nbformat.v4.new_output("display_data", data={"text/markdown": f"## Practice {code}"})
        ]
        path = tmp_path / f"{code}.ipynb"
        nbformat.write(_document(None, [cell]), path)
        paths.append(path)
    matter = front_matter("Practice statements", "s", "a")
    text = statements_markdown(paths, matter)
    assert text.startswith(matter + "\n")
    pages = text.removeprefix(matter).split(PANDOC_PAGE_BREAK)
    assert [page.strip() for page in pages] == [f"## Practice P{n}" for n in (1, 2, 3)]
    for fmt in ("typst", "html", "openxml"):  # a raw block per writer, no Quarto shortcode
        assert f"```{{={fmt}}}" in PANDOC_PAGE_BREAK
    assert "{{<" not in text


def test_the_assumptions_log_and_changelog_render_from_their_files() -> None:
    from pcfm.report.appendices import assumptions_table, changelog_table

    assumptions = assumptions_table()
    assert list(assumptions.columns) == ["id", "statement", "rationale", "impact"]
    assert assumptions["id"].is_unique and len(assumptions) >= 10
    assert set(assumptions["impact"]) <= {"high", "medium", "low"}
    assert list(changelog_table().columns) == ["version", "date", "change"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("assumptions: []\n", "non-empty list"),
        (
            "assumptions:\n  - id: A1\n    statement: s\n    impact: high\n",
            "entry 1: missing rationale",
        ),
        (
            "assumptions:\n  - {id: A1, statement: s, rationale: r, impact: huge}\n",
            "impact must be one of",
        ),
        (
            "assumptions:\n  - {id: A1, statement: s, rationale: r, impact: low}\n"
            "  - {id: A1, statement: t, rationale: r, impact: low}\n",
            "ids used more than once",
        ),
    ],
)
def test_a_broken_assumptions_log_is_a_clear_error(
    tmp_path: Path, content: str, message: str
) -> None:
    from pcfm.report.appendices import MethodologyLogError, assumptions_table

    path = tmp_path / "assumptions.yml"
    path.write_text(content)
    with pytest.raises(MethodologyLogError, match=message) as error:
        assumptions_table(path)
    assert str(path) in str(error.value)
