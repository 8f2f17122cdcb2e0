"""The rule by which a shown number is "found" in a published table (tests/_numbers.py)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from _numbers import untraced_numbers

pytestmark = pytest.mark.unit


def _run(tmp_path: Path, shown: str) -> Path:
    run = tmp_path / "run"
    (run / "publishable").mkdir(parents=True)
    (run / "notebooks" / "statements").mkdir(parents=True)
    (run / "publishable" / "t.csv").write_text(
        "place,registered_list,share,money\nCity Practice 001,8965,-0.1234,1234.567\n"
    )
    (run / "publishable" / "s.json").write_text('{"n": {"deep": [42]}}')
    (run / "params.yml").write_text("run_name: t\nreport:\n  financial_year: 2025-26\n")
    from _numbers import DOCUMENT_NOTEBOOKS

    for name in DOCUMENT_NOTEBOOKS:
        notebook = nbformat.v4.new_notebook()
        cell = nbformat.v4.new_code_cell("x")
        if name == "06_board_paper.ipynb":
            cell.outputs = [nbformat.v4.new_output("display_data", data={"text/markdown": shown})]
        notebook.cells = [cell]
        nbformat.write(notebook, run / "notebooks" / name)
    return run


@pytest.mark.parametrize(
    "shown",
    ["£1,234.57", "1,235", "12.3% less", "-12%", "8,965", "42", "2025-26",
     "City Practice 001", "ICB average = 1", "IMD 2019", "95% interval"],
)  # fmt: skip
def test_found(tmp_path: Path, shown: str) -> None:
    assert untraced_numbers(_run(tmp_path, shown)) == []


@pytest.mark.parametrize(
    ("shown", "untraced"),
    [("8,963 patients", "8,963"), ("£1,234.56", "£1,234.56"), ("12.4%", "12.4%"),
     ("0.1234%", "0.1234%"), ("Practice 002", "002"), ("43 of 42", "43")],
)  # fmt: skip
def test_not_found(tmp_path: Path, shown: str, untraced: str) -> None:
    assert [m.text for m in untraced_numbers(_run(tmp_path, shown))] == [untraced]


def test_the_report_never_reads_the_restricted_area() -> None:
    """`pcfm.report` formats published tables: no module of it touches `restricted/`
    (the old headline.py read `restricted/practices.parquet`; this fails on it)."""
    import ast

    import pcfm.report

    package = Path(pcfm.report.__file__).parent
    for path in sorted(package.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        names |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        strings = [
            n.value
            for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str)
        ]
        assert not {"restricted", "read_restricted"} & names, path.name
        assert not any("restricted/" in s or ".parquet" in s for s in strings), path.name
