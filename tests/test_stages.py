"""The stage table lines up with the notebooks, chapters, tests, README and _quarto.yml."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
import yaml

from pcfm.stages import STAGES, STATEMENT_NOTEBOOK, stage_notebooks

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
NUMBERED = re.compile(r"^(?:test_)?(\d\d)[_-]")


def _numbers_in(folder: Path, pattern: str) -> dict[str, int]:
    return {
        path.name: int(match.group(1))
        for path in folder.glob(pattern)
        if (match := NUMBERED.match(path.name))
    }


def test_numbers_are_unique_and_increasing() -> None:
    numbers = [stage.number for stage in STAGES]
    assert numbers == sorted(set(numbers))


@pytest.mark.parametrize("stage", STAGES, ids=lambda stage: stage.label)
def test_each_stage_has_its_package_notebooks_chapter_and_tests(stage) -> None:
    importlib.import_module(stage.package)
    prefix = f"{stage.number:02d}"
    for notebook in stage.notebooks:
        assert notebook.startswith(f"{prefix}_"), notebook
        assert (ROOT / "notebooks" / notebook).exists(), notebook
    if stage.chapter is not None:
        assert Path(stage.chapter).name.startswith(f"{prefix}-"), stage.chapter
        assert (ROOT / stage.chapter).exists(), stage.chapter
    assert list((ROOT / "tests").glob(f"test_{prefix}_*.py")), f"no tests/test_{prefix}_*.py"


def test_every_numbered_file_belongs_to_a_stage() -> None:
    numbers = {stage.number for stage in STAGES}
    found = (
        _numbers_in(ROOT / "notebooks", "*.ipynb")
        | _numbers_in(ROOT / "methodology", "*.qmd")
        | _numbers_in(ROOT / "tests", "test_*.py")
    )
    strays = {name: number for name, number in found.items() if number not in numbers}
    assert not strays, f"numbered files without a stage: {strays}"
    notebooks = set(_numbers_in(ROOT / "notebooks", "*.ipynb"))
    assert notebooks == {*stage_notebooks(), STATEMENT_NOTEBOOK}
    chapters = {Path(p).name for p in _numbers_in(ROOT / "methodology", "*.qmd")}
    assert chapters == {Path(s.chapter).name for s in STAGES if s.chapter}


def test_the_book_has_the_chapters_in_stage_order() -> None:
    book = yaml.safe_load((ROOT / "_quarto.yml").read_text(encoding="utf-8"))["book"]
    numbered = [c for c in book["chapters"] if NUMBERED.match(Path(c).name)]
    assert numbered == [stage.chapter for stage in STAGES if stage.chapter]


def test_the_readme_method_table_is_the_stage_table() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## The method in one screen", 1)[1].split("\n## ", 1)[0]
    rows = [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in section.splitlines()
        if line.startswith("| ") and not line.startswith(("| stage", "| ---"))
    ]
    assert [(row[0], row[1]) for row in rows] == [
        (stage.label, f"`{stage.package}`") for stage in STAGES
    ]


def test_no_two_stages_write_the_same_artefact() -> None:
    for attribute in ("writes_restricted", "publishes", "published_json", "figures"):
        names = [name for stage in STAGES for name in getattr(stage, attribute)]
        assert len(names) == len(set(names)), attribute


def test_every_need_is_written_by_an_earlier_stage() -> None:
    written: set[str] = set()
    for stage in STAGES:
        missing = set(stage.needs) - written
        assert not missing, f"{stage.label} needs {sorted(missing)} before any stage writes it"
        written |= set(stage.writes_restricted)


def test_the_readme_layout_numbers_each_stage_package() -> None:
    """The layout section lists each stage's package with the stage's number."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    layout = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    for stage in STAGES:
        folder = stage.package.removeprefix("pcfm.").replace(".", "/")
        assert re.search(rf"^\s+{re.escape(folder)}/\s+{stage.number:02d}:", layout, re.M), (
            f"README layout: no line '{folder}/  {stage.number:02d}: ...'"
        )


def test_every_restricted_artefact_is_written_by_exactly_one_stage() -> None:
    from pcfm.base.artefacts import RESTRICTED_ARTEFACTS

    written = [artefact for stage in STAGES for artefact in stage.writes_restricted]
    assert sorted(a.name for a in written) == sorted(a.name for a in RESTRICTED_ARTEFACTS)
    needed = {artefact for stage in STAGES for artefact in stage.needs}
    assert needed <= set(RESTRICTED_ARTEFACTS)
