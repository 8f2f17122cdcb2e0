"""Largest-remainder rounding (pcfm.allocation.rounding)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pcfm.allocation.rounding import RoundingError, largest_remainder

pytestmark = pytest.mark.unit


def test_worked_examples():
    # 100 units in thirds: 33.33 each; one unit missing goes to the first of the exact tie.
    assert largest_remainder([1, 1, 1], 100).tolist() == [34, 33, 33]
    # Quotas 12.5, 37.5 -> 12 and 37 with one unit missing: equal remainders, the larger amount.
    assert largest_remainder([1, 3], 50).tolist() == [12, 38]
    # Quotas 4.6, 3.3, 2.1: floors 4, 3, 2; the missing unit to the largest remainder (0.6).
    assert largest_remainder([46, 33, 21], 10).tolist() == [5, 3, 2]


def test_tie_break_by_key_not_position():
    assert largest_remainder([1, 1, 1], 100, tie_break=["C", "A", "B"]).tolist() == [33, 34, 33]


def test_zero_amount_gets_zero_and_zero_total():
    assert largest_remainder([0, 1, 1], 3).tolist()[0] == 0
    assert largest_remainder([0, 0], 0).tolist() == [0, 0]
    assert largest_remainder([], 0).tolist() == []


def test_exact_whole_quotas_are_kept():
    amounts = np.array([0.1, 0.2, 0.3]) * 1000  # float noise: 100.00000000000001 etc.
    assert largest_remainder(amounts, 600).tolist() == [100, 200, 300]


@pytest.mark.parametrize(
    ("amounts", "total", "message"),
    [
        ([1, -1], 5, "1 are not"),
        ([1, np.nan], 5, "finite and non-negative"),
        ([0, 0], 5, "all 0"),
        ([1, 1], -1, "non-negative whole number"),
        ([1, 1], 2.5, "non-negative whole number"),
    ],
)
def test_bad_input(amounts, total, message):
    with pytest.raises(RoundingError, match=message):
        largest_remainder(amounts, total)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.one_of(st.just(0.0), st.floats(1e-3, 1e9)), min_size=1, max_size=40).filter(
        lambda values: sum(values) > 0
    ),
    st.integers(0, 10**12),
)
def test_properties(amounts, total):
    units = largest_remainder(amounts, total)
    assert units.dtype == np.int64
    assert int(units.sum()) == total
    quotas = np.array(amounts) * total / sum(amounts)
    # Each result is the floor or the ceiling of its quota (with float slack on huge totals).
    slack = 1e-6 * max(1.0, total / 1e6)
    assert (units >= np.floor(quotas - slack)).all()
    assert (units <= np.ceil(quotas + slack)).all()
    assert (units[np.array(amounts) == 0] == 0).all()
    # Row order does not change what each amount gets (positions as keys follow the rows).
    order = np.arange(len(amounts))[::-1]
    again = largest_remainder(np.array(amounts)[order], total, tie_break=order)
    assert (again == units[order]).all()
