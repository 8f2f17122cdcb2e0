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


def test_only_count_columns_change_where_no_count_is_small() -> None:
    table = pd.DataFrame({"place": ["A", "B"], "patients": [13, 101], "rate": [0.5, 4.25]})
    controlled = apply_disclosure_control(table, RULE)
    assert controlled["patients"].tolist() == ["15", "100"]
    assert controlled["rate"].tolist() == [0.5, 4.25]
    assert table["patients"].tolist() == [13, 101]


def test_the_registry_decides_which_columns_are_counts() -> None:
    """Controlled counts are rounded; list sizes are exact unless small; other numbers kept."""
    table = pd.DataFrame(
        {
            "n_patients_over_65": [0, 1234],
            "person_years": [0, 88.4],
            "registered_list": [12, 8963],
            "need_weighted_list": [12.2, 8963.7],
        }
    )
    controlled = apply_disclosure_control(table, RULE)
    assert controlled["n_patients_over_65"].tolist() == ["0", "1235"]
    assert controlled["person_years"].tolist() == ["0", "90"]
    assert controlled["registered_list"].tolist() == [12, 8963]
    assert controlled["need_weighted_list"].tolist() == [12.2, 8963.7]


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


def test_a_row_with_a_suppressed_count_shows_nothing_derived_from_it() -> None:
    """A 4-patient place shows neither its person-years nor its workload rate (issue 14)."""
    table = pd.DataFrame(
        {
            "place": ["City", "Rutland"],
            "patients": [1585, 4],
            "person_years": [1490.2, 3.5],
            "workload_per_person_year": [5.19, 3.5],
        }
    )
    controlled = apply_disclosure_control(table, RULE)
    assert controlled.loc[1].tolist() == ["Rutland", "*", "*", "*"]
    assert controlled.loc[0].tolist() == ["City", "1585", "1490", 5.19]


def test_a_small_list_size_suppresses_the_practices_derived_figures() -> None:
    table = pd.DataFrame(
        {
            "practice_code": ["P1", "P2"],
            "practice_name": ["Big", "Tiny"],
            "registered_list": [8963, 6],
            "need_weighted_list": [9001.2, 6.3],
            "need_index": [1.004, 1.05],
        }
    )
    controlled = apply_disclosure_control(table, RULE)
    assert controlled.loc[1].tolist() == ["P2", "Tiny", "*", "*", "*"]
    assert controlled.loc[0, "need_weighted_list"] == 9001.2


def test_a_new_column_is_derived_unless_the_registry_names_it_a_label() -> None:
    """Safe by default: a column nobody declared is suppressed with the row's count."""
    from pcfm.base.disclosure.columns import is_derived_column, is_label_column

    table = pd.DataFrame({"age_sex": ["F:85+"], "new_measure": ["high"], "patients": [5]})
    assert apply_disclosure_control(table, RULE).loc[0].tolist() == ["F:85+", "*", "*"]
    assert is_label_column("IMD quintile") and is_label_column("pcn_name")
    assert is_derived_column("need_weight") and is_derived_column("patients")


def test_a_zero_count_suppresses_nothing() -> None:
    table = pd.DataFrame({"place": ["A"], "patients": [0], "rate": [0.0]})
    assert apply_disclosure_control(table, RULE).loc[0].tolist() == ["A", "0", 0.0]
