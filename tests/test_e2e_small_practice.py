"""A practice with a list at or below the disclosure threshold: left out by the stated rule,
and the run still passes the output checker (issue 14).

One whole run on a test-local copy of the tiny synthetic ICB in which one practice is cut to
five patients (registered list 5): without the rule its list, need-weighted list and
allocation would be published and the gate would fail every run.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from conftest import write_tiny_params

from pcfm.base.disclosure.check import check_run_folder
from pcfm.data.small_practices import SMALL_LIST_ADJUSTMENT
from pcfm.inputs.synthetic import write_synthetic_icb
from pcfm.pipeline.run import run_pipeline

pytestmark = pytest.mark.e2e

SMALL = "SYNP0008"
SMALL_RUN = """\
run_name: small
seed: 7
data:
  source: folder
  folder: {folder}
model:
  supply_sterilisation: none
allocation:
  budget_gbp: 100000.01
"""


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("small")
    data = root / "data"
    write_synthetic_icb(data, seed=7, n_patients=3000, n_practices=8)
    patients = pd.read_parquet(data / "patients.parquet")
    theirs = patients["practice_code"] == SMALL
    dropped = patients.loc[theirs, "patient_id"].iloc[5:]
    patients.loc[~patients["patient_id"].isin(dropped)].to_parquet(data / "patients.parquet")
    activity = pd.read_parquet(data / "activity.parquet")
    activity.loc[~activity["patient_id"].isin(dropped)].to_parquet(data / "activity.parquet")
    practices = pd.read_parquet(data / "practices.parquet")
    practices.loc[practices["practice_code"] == SMALL, "registered_list"] = 5
    practices.to_parquet(data / "practices.parquet")
    params = write_tiny_params(root, SMALL_RUN.format(folder=data))
    return run_pipeline(params, build_root=root / "build").run_dir


def test_the_run_passes_the_output_checker(small_run: Path) -> None:
    assert check_run_folder(small_run) == []


def test_the_small_practice_is_listed_as_left_out_with_its_reason(small_run: Path) -> None:
    adjustments = pd.read_csv(small_run / "publishable" / "data_practice_adjustments.csv")
    row = adjustments.loc[adjustments["practice_code"] == SMALL]
    assert row["adjustment"].tolist() == [SMALL_LIST_ADJUSTMENT]
    assert "1 to 7" in row["detail"].iloc[0]


def test_no_published_table_shows_its_list_or_need(small_run: Path) -> None:
    publishable = small_run / "publishable"
    for path in sorted(publishable.glob("*.csv")):
        if path.stem != "data_practice_adjustments":
            assert SMALL not in path.read_text(encoding="utf-8"), path.name
    allocation = pd.read_csv(publishable / "allocation.csv")
    assert len(allocation) == 7 and allocation["registered_list"].min() > 7
    sheets = pd.read_excel(publishable / "tables.xlsx", sheet_name=None, dtype=str)
    for name, sheet in sheets.items():
        if name != "data_practice_adjustments":
            assert not sheet.isin([SMALL]).any().any(), name
    assert not list((small_run / "notebooks" / "statements").glob(f"*{SMALL}*"))


def test_the_totals_are_those_of_the_practices_kept(small_run: Path) -> None:
    """The ICB totals leave it out too, so no difference of totals gives its list back."""
    by_place = pd.read_csv(small_run / "publishable" / "allocation_by_place.csv")
    allocation = pd.read_csv(small_run / "publishable" / "allocation.csv")
    assert by_place["registered_list"].sum() == allocation["registered_list"].sum()
    assert by_place["practices"].sum() == 7
