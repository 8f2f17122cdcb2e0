"""Disclosure control: 1 to threshold suppressed, the rest rounded to the base, 0 stays 0."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pcfm.disclosure import apply_disclosure_control, control_counts

pytestmark = pytest.mark.unit


def test_worked_example() -> None:
    counts = pd.Series([0, 1, 7, 8, 12, 13, 1234], name="patients")
    assert control_counts(counts, 7, 5).tolist() == ["0", "*", "*", "10", "10", "15", "1235"]


def test_only_count_columns_change() -> None:
    table = pd.DataFrame({"place": ["A", "B"], "patients": [3, 101], "rate": [0.5, 4.25]})
    controlled = apply_disclosure_control(table, ["patients"], 7, 5)
    assert controlled["patients"].tolist() == ["*", "100"]
    assert controlled["rate"].tolist() == [0.5, 4.25]
    assert table["patients"].tolist() == [3, 101]


def test_negative_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="patients"):
        control_counts(pd.Series([-1], name="patients"), 7, 5)


@given(st.lists(st.integers(0, 10**7), min_size=1), st.integers(0, 20), st.integers(1, 10))
def test_no_published_count_is_small_or_off_base(
    counts: list[int], threshold: int, base: int
) -> None:
    shown = control_counts(pd.Series(counts), threshold, base)
    for raw, value in zip(counts, shown, strict=True):
        if value == "*":
            assert 1 <= raw <= threshold
        else:
            assert int(value) % base == 0
            assert abs(int(value) - raw) <= base / 2
            assert (raw == 0) == (int(value) == 0) or raw > threshold
