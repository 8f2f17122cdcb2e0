"""Disclosure control: 1 to threshold suppressed, the rest rounded to the base, 0 stays 0."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pcfm.base.disclosure.control import apply_disclosure_control, control_counts
from pcfm.params.disclosure import DisclosureParams

pytestmark = pytest.mark.unit


def test_worked_example() -> None:
    counts = pd.Series([0, 1, 7, 8, 12, 13, 1234], name="patients")
    assert control_counts(counts, 7, 5).tolist() == ["0", "*", "*", "10", "10", "15", "1235"]


RULE = DisclosureParams(threshold=7, rounding_base=5)


def test_only_count_columns_change() -> None:
    table = pd.DataFrame({"place": ["A", "B"], "patients": [3, 101], "rate": [0.5, 4.25]})
    controlled = apply_disclosure_control(table, RULE)
    assert controlled["patients"].tolist() == ["*", "100"]
    assert controlled["rate"].tolist() == [0.5, 4.25]
    assert table["patients"].tolist() == [3, 101]


def test_the_registry_decides_which_columns_are_counts() -> None:
    """Controlled counts are rounded; list sizes are exact unless small; other numbers kept."""
    table = pd.DataFrame(
        {
            "n_patients_over_65": [3, 1234],
            "person_years": [0, 88.4],
            "registered_list": [4, 8963],
            "need_weighted_list": [4.2, 8963.7],
        }
    )
    controlled = apply_disclosure_control(table, RULE)
    assert controlled["n_patients_over_65"].tolist() == ["*", "1235"]
    assert controlled["person_years"].tolist() == ["0", "90"]
    assert controlled["registered_list"].tolist() == ["*", "8963"]
    assert controlled["need_weighted_list"].tolist() == [4.2, 8963.7]


def test_list_sizes_without_small_ones_stay_numbers() -> None:
    table = pd.DataFrame({"registered_list": [8963, 12001]})
    assert apply_disclosure_control(table, RULE)["registered_list"].tolist() == [8963, 12001]


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
