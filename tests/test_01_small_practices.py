"""The small-practice rule: a list or patients of 1 to the threshold leaves the practice out."""

from __future__ import annotations

import pandas as pd
import pytest

from pcfm.data.small_practices import SMALL_LIST_ADJUSTMENT, leave_out_small_practices

pytestmark = pytest.mark.unit


def _cells(patients: dict[str, list[int]]) -> pd.DataFrame:
    rows = [(code, n) for code, counts in patients.items() for n in counts]
    return pd.DataFrame(rows, columns=["practice_code", "patients"])


def test_a_small_list_or_few_patients_leave_a_practice_out_and_nothing_else() -> None:
    practices = pd.DataFrame(
        {
            "practice_code": ["A", "B", "C", "D"],
            "practice_name": ["Big", "Small list", "Few in data", "Eight"],
            "registered_list": [900, 7, 500, 8],
        }
    )
    cells = _cells({"A": [400, 500], "B": [3, 4], "C": [2, 3], "D": [4, 4]})
    small = leave_out_small_practices(cells, cells.copy(), practices, threshold=7)
    assert small.codes == ("B", "C")
    assert small.practices["practice_code"].tolist() == ["A", "D"]
    assert set(small.cells["practice_code"]) == set(small.cells_by_patient_fold["practice_code"])
    assert set(small.cells["practice_code"]) == {"A", "D"}
    assert small.adjustments["practice_code"].tolist() == ["B", "C"]
    assert (small.adjustments["adjustment"] == SMALL_LIST_ADJUSTMENT).all()


def test_a_stricter_threshold_leaves_out_more() -> None:
    practices = pd.DataFrame({"practice_code": ["A", "D"], "registered_list": [900, 8]})
    cells = _cells({"A": [900], "D": [8]})
    assert leave_out_small_practices(cells, cells, practices, threshold=10).codes == ("D",)
    assert leave_out_small_practices(cells, cells, practices, threshold=7).codes == ()
