"""Committed notebooks: no outputs, a `parameters` cell with only paths, thin code."""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

from pcfm.base.resources import project_file
from pcfm.pipeline.run import NOTEBOOKS

pytestmark = pytest.mark.unit

NOTEBOOK_PATHS = sorted(project_file("notebooks").glob("*.ipynb"))


def test_the_pipeline_notebooks_exist() -> None:
    assert {p.name for p in NOTEBOOK_PATHS} >= set(NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOK_PATHS, ids=lambda p: p.name)
def test_committed_without_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    dirty = [
        i
        for i, cell in enumerate(notebook.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert dirty == [], f"{path.name}: cells {dirty} carry outputs; strip them"


@pytest.mark.parametrize("path", NOTEBOOK_PATHS, ids=lambda p: p.name)
def test_first_code_cell_is_parameters_with_only_paths(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    first = next(cell for cell in notebook.cells if cell.cell_type == "code")
    assert "parameters" in first.metadata.get("tags", [])
    assigned = {
        target.id
        for node in ast.parse(first.source).body
        if isinstance(node, ast.Assign)
        for target in node.targets
    }
    assert assigned <= {"params_path", "run_dir", "practice_code"}


@pytest.mark.parametrize("path", NOTEBOOK_PATHS, ids=lambda p: p.name)
def test_notebooks_stay_thin(path: Path) -> None:
    """Logic lives in the package: no function or class definitions, no loops in notebooks."""
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        for node in ast.walk(ast.parse(cell.source)):
            assert not isinstance(node, ast.FunctionDef | ast.ClassDef | ast.For | ast.While), (
                f"{path.name}: move {type(node).__name__} into the pcfm package"
            )
