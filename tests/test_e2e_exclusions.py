"""Outliers and special services end to end: the table is always published and every document
shows it, by name with the reason, or says that no practice was excluded or capped.

Two runs: the tiny run (no practice is excluded or capped), and a tiny run on a test-local
copy of its synthetic data in which one practice is a special service, one is excluded by
name and one has a fifth of its funding (its core money "in another payment line"), under
``outliers.rule: cap``. The default synthetic generator's output is not changed.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from _numbers import untraced_numbers
from conftest import write_tiny_params

from pcfm.allocation.exclusions import EXCLUSION_COLUMNS
from pcfm.data.validate import validate_folder
from pcfm.inputs.synthetic import write_synthetic_icb
from pcfm.params import params_from_dict
from pcfm.pipeline.run import run_pipeline

pytestmark = pytest.mark.e2e

SPECIAL = "SYNP0002"
NAMED = "SYNP0005"
OUTLIER = "SYNP0003"
SPECIAL_RUN = """\
run_name: special
seed: 7
data:
  source: folder
  folder: {folder}
# 8 practices whose deprived practices hold only deprived patients: deprivation is not
# identified within practices, so this ICB is fitted without them (test_02_model_validation).
model:
  supply_sterilisation: none
allocation:
  policy: top_up_to_average
  budget_gbp: 100000.01
  bootstrap_replicates: 40
  outliers:
    rule: cap
    excluded_practices:
      {named}: merged into another practice during the year
"""


def _outputs_text(path: Path) -> str:
    notebook = nbformat.read(path, as_version=4)
    return "\n".join(
        output.get("data", {}).get("text/markdown", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
    ).replace("\\", "")  # Markdown escapes


def _published(run: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(
        run / "publishable" / f"{name}.csv", dtype={"practice_code": str}, keep_default_na=False
    )


def test_the_tiny_run_publishes_an_empty_table_and_says_so(tiny_run: Path) -> None:
    exclusions = _published(tiny_run, "allocation_exclusions")
    assert list(exclusions.columns) == list(EXCLUSION_COLUMNS) and len(exclusions) == 0
    assert (_published(tiny_run, "allocation")["status"] == "ordinary").all()
    summary = json.loads((tiny_run / "publishable" / "allocation_summary.json").read_text())
    assert (summary["n_excluded"], summary["n_capped"], summary["n_kept"]) == (0, 0, 0)
    for name in ("06_allocation_report.ipynb", "06_board_paper.ipynb"):
        assert "No practice was excluded or capped" in _outputs_text(tiny_run / "notebooks" / name)


@pytest.fixture(scope="module")
def special_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("special")
    data = root / "data"
    write_synthetic_icb(data, seed=7, n_patients=3000, n_practices=8)
    practices = pd.read_parquet(data / "practices.parquet")
    practices["special_service"] = ""
    practices.loc[practices["practice_code"] == SPECIAL, "special_service"] = (
        "homeless / inclusion health"
    )
    outlier = practices["practice_code"] == OUTLIER
    practices.loc[outlier, "current_funding_gbp"] *= 0.2
    (data / "practices.parquet").unlink()
    practices.to_csv(data / "practices.csv", index=False)  # blank = an ordinary practice
    params = write_tiny_params(root, SPECIAL_RUN.format(folder=data, named=NAMED))
    return run_pipeline(params, build_root=root / "build").run_dir


def test_a_practices_file_with_or_without_special_service_is_valid(
    special_run: Path, tmp_path: Path
) -> None:
    data = params_from_dict({"run_name": "x"}).data
    folder = shutil.copytree(special_run.parents[1] / "data", tmp_path / "data")
    practices = pd.read_csv(folder / "practices.csv", keep_default_na=False)
    assert (practices["special_service"] == "").sum() == 7  # blanks in the CSV
    assert validate_folder(folder, data).row_counts["practices"] == 8  # raises if invalid
    practices.drop(columns=["special_service"]).to_csv(folder / "practices.csv", index=False)
    assert validate_folder(folder, data).row_counts["practices"] == 8


def test_each_practice_gets_its_status_and_nothing_when_excluded(special_run: Path) -> None:
    exclusions = _published(special_run, "allocation_exclusions").set_index("practice_code")
    assert exclusions["status"].to_dict() == {
        SPECIAL: "excluded",
        NAMED: "excluded",
        OUTLIER: "capped",
    }
    assert exclusions.loc[SPECIAL, "rule"] == "special_services: exclude"
    assert exclusions.loc[SPECIAL, "reason"].startswith(
        "special service (homeless / inclusion health): funding £"
    )
    assert exclusions.loc[NAMED, "reason"] == (
        "excluded by the ICB: merged into another practice during the year"
    )
    assert "(below 0.5); counted as £" in exclusions.loc[OUTLIER, "reason"]
    allocation = _published(special_run, "allocation").set_index("practice_code")
    assert allocation.loc[[SPECIAL, NAMED], "allocation_gbp"].tolist() == [0.0, 0.0]
    assert allocation.loc[[SPECIAL, NAMED], "category"].tolist() == ["", ""]
    assert allocation.loc[OUTLIER, "counted_funding_gbp"] == pytest.approx(
        exclusions.loc[OUTLIER, "counted_funding_gbp"]
    )
    assert allocation["status"].to_dict() == {
        code: exclusions["status"].get(code, "ordinary") for code in allocation.index
    }
    pence = (allocation["allocation_gbp"] * 100).round().astype(int).sum()
    summary = json.loads((special_run / "publishable" / "allocation_summary.json").read_text())
    assert pence + round(summary["unallocated_gbp"] * 100) == 10_000_001
    assert (summary["n_excluded"], summary["n_capped"], summary["n_kept"]) == (2, 1, 0)
    # The bootstrap kept the decision: the excluded practices are eligible in no replicate.
    assert allocation.loc[[SPECIAL, NAMED], "p_eligible"].tolist() == [0.0, 0.0]


def test_the_documents_name_each_practice_with_its_reason(special_run: Path) -> None:
    exclusions = _published(special_run, "allocation_exclusions")
    notebooks = special_run / "notebooks"
    for name in ("06_allocation_report.ipynb", "06_board_paper.ipynb", "04_allocation.ipynb"):
        text = _outputs_text(notebooks / name)
        assert "No practice was excluded or capped" not in text
        for row in exclusions.itertuples():
            assert row.practice_name in text and row.reason in text, (name, row.practice_code)
    board = _outputs_text(notebooks / "06_board_paper.ipynb")
    assert "**2 practice(s)** excluded from the comparison and the allocation" in board
    assert "**1 practice(s)** funding capped in the comparison" in board
    statements = notebooks / "statements"
    excluded = _outputs_text(statements / f"{SPECIAL}.ipynb")
    assert "left out of the funding comparison and of this allocation" in excluded
    assert "in **funding category" not in excluded and "re-estimated" not in excluded
    assert "With the allocation" not in excluded
    assert "For the comparison with other practices it is capped" in _outputs_text(
        statements / f"{OUTLIER}.ipynb"
    )


def test_every_number_the_documents_show_is_published(special_run: Path) -> None:
    missing = untraced_numbers(special_run)
    assert not missing, "\n".join(f"{m.source}: {m.text!r} in …{m.context}…" for m in missing[:20])
