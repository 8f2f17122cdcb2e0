"""The Quarto project is valid without Quarto: chapters, embeds and cross-references."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pcfm.report.quarto_check import check_quarto_project

pytestmark = pytest.mark.unit


def test_the_project_has_no_problems(project_files: Path) -> None:
    assert check_quarto_project(project_files) == []


@pytest.fixture
def project_copy(project_files: Path, tmp_path: Path) -> Path:
    for name in ("_quarto.yml", "index.qmd"):
        shutil.copy(project_files / name, tmp_path / name)
    for name in ("methodology", "notebooks"):
        shutil.copytree(project_files / name, tmp_path / name)
    return tmp_path


def test_catches_a_missing_chapter(project_copy: Path) -> None:
    (project_copy / "methodology" / "03-need-weights.qmd").unlink()
    assert any(
        "03-need-weights.qmd does not exist" in p for p in check_quarto_project(project_copy)
    )


def test_catches_an_embed_of_an_unknown_label(project_copy: Path) -> None:
    chapter = project_copy / "methodology" / "02-workload-model.qmd"
    chapter.write_text(
        chapter.read_text() + "\n{{< embed ../notebooks/02_workload_model.ipynb#fig-nope >}}\n"
    )
    assert any("fig-nope: no cell" in p for p in check_quarto_project(project_copy))


def test_catches_an_embed_of_a_missing_notebook(project_copy: Path) -> None:
    chapter = project_copy / "methodology" / "01-data.qmd"
    chapter.write_text(chapter.read_text() + "\n{{< embed ../notebooks/99_none.ipynb#tbl-x >}}\n")
    assert any(
        "99_none.ipynb, which does not exist" in p for p in check_quarto_project(project_copy)
    )


def test_catches_a_dangling_cross_reference(project_copy: Path) -> None:
    chapter = project_copy / "index.qmd"
    chapter.write_text(chapter.read_text() + "\nSee @tbl-missing and @sec-nowhere.\n")
    problems = check_quarto_project(project_copy)
    assert any("@tbl-missing has no target" in p for p in problems)
    assert any("@sec-nowhere has no target" in p for p in problems)


def test_catches_missing_author_and_home_page(project_copy: Path) -> None:
    config = project_copy / "_quarto.yml"
    config.write_text(config.read_text().replace('  author: "', '  editor: "'))
    (project_copy / "index.qmd").unlink()
    problems = check_quarto_project(project_copy)
    assert any("book.author" in p for p in problems)
    assert any("index.qmd" in p for p in problems)
