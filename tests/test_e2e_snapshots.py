"""Golden snapshots of the key published tables of the tiny run, reviewed as a diff.

The invariants elsewhere say the numbers are coherent; these say they did not move. A
change that moves a published number fails here until its snapshot is regenerated with
``pytest tests/test_e2e_snapshots.py --force-regen`` (pytest-regressions), and the
regenerated files in ``tests/test_e2e_snapshots/`` then show, in the change's diff,
which numbers moved and by how much. Numbers are stored as text rounded to 4 decimal
places (pounds to the penny), so the diff reads like the tables and the comparison is
exact at that precision (runs are byte-reproducible, so there is no noise to allow for).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.e2e

#: Published tables kept as snapshots: the data, the model, need and the allocation.
SNAPSHOT_TABLES = (
    "data_summary_by_place",
    "model_coefficients",
    "need_index",
    "need_weights_age_sex",
    "allocation",
    "allocation_categories",
    "allocation_by_place",
    "allocation_by_pcn",
    "allocation_by_imd_quintile",
    "allocation_headline",
)
DECIMALS = 4


def _as_text(column: pd.Series) -> pd.Series:
    places = 2 if str(column.name).endswith("_gbp") else DECIMALS
    return column.map(lambda value: "" if pd.isna(value) else f"{value:.{places}f}")


def rounded(table: pd.DataFrame) -> pd.DataFrame:
    """Floats as text at :data:`DECIMALS` places (``*_gbp`` to the penny); the rest as published."""
    floats = table.select_dtypes("float").columns
    return table.assign(**{column: _as_text(table[column]) for column in floats})


@pytest.mark.parametrize("name", SNAPSHOT_TABLES)
def test_published_table_matches_its_snapshot(
    tiny_run: Path, name: str, dataframe_regression
) -> None:
    table = pd.read_csv(tiny_run / "publishable" / f"{name}.csv", keep_default_na=False)
    dataframe_regression.check(rounded(table), basename=name)


def test_allocation_summary_matches_its_snapshot(tiny_run: Path, data_regression) -> None:
    summary = json.loads((tiny_run / "publishable" / "allocation_summary.json").read_text())
    shown = {
        key: round(value, DECIMALS) if isinstance(value, float) else value
        for key, value in summary.items()
    }
    data_regression.check(shown, basename="allocation_summary")
