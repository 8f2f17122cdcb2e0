"""Statistical disclosure control of published counts of people: the write side.

NHS England's rule for sub-national counts (domain brief §5), also OpenSAFELY's:
counts from 1 to the threshold are shown as ``*``, every other count is rounded to
the nearest multiple of the rounding base, and 0 stays 0. Registered-list sizes are
published openly by NHS England, so they are only suppressed when small. Rates,
confidence intervals and model coefficients need no suppression — except in a row whose
count is suppressed: there every cell but the row's labels is suppressed too, since a
person-years total, a count of contacts or a mean of 1 to 7 people gives the count away.

Which columns are counts is decided by the one registry, `pcfm.base.disclosure.columns`,
which the checker (`pcfm.base.disclosure.check`) reads too: a stage cannot publish a
count the checker would not recognise, nor forget to control one it would.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pcfm.base.disclosure.columns import (
    is_controlled_count_column,
    is_count_column,
    is_derived_column,
    is_list_size_column,
)
from pcfm.params.disclosure import DisclosureParams

SUPPRESSED = "*"


def round_to_base(values: np.ndarray, base: int) -> np.ndarray:
    """Round to the nearest multiple of ``base``, halves away from zero (12.5 → 15 for base 5)."""
    return (np.floor(np.asarray(values, dtype=float) / base + 0.5) * base).astype(np.int64)


def _counts(column: pd.Series) -> np.ndarray:
    values = pd.to_numeric(column, errors="raise").to_numpy(dtype=float)
    if np.isnan(values).any() or (values < 0).any():
        raise ValueError(f"column {column.name!r}: counts must be non-negative and present")
    return values


def control_counts(counts: pd.Series, threshold: int, rounding_base: int) -> pd.Series:
    """Apply the rule to one column of counts; the result is text ('*' or a whole number)."""
    values = _counts(counts)
    rounded = round_to_base(values, rounding_base).astype(str)
    small = (values >= 1) & (values <= threshold)
    shown = np.where(small, SUPPRESSED, np.where(values == 0, "0", rounded))
    return pd.Series(shown, index=counts.index, name=counts.name, dtype="object")


def control_list_sizes(sizes: pd.Series, threshold: int) -> pd.Series:
    """Suppress list sizes from 1 to the threshold; larger ones are shown exactly."""
    values = _counts(sizes)
    small = (values >= 1) & (values <= threshold)
    if not small.any():
        return sizes
    shown = np.where(small, SUPPRESSED, np.round(values).astype(np.int64).astype(str))
    return pd.Series(shown, index=sizes.index, name=sizes.name, dtype="object")


def small_count_rows(table: pd.DataFrame, threshold: int) -> np.ndarray:
    """Rows of ``table`` with a count of people (by the registry) from 1 to the threshold."""
    small = np.zeros(len(table), dtype=bool)
    for column in table.columns:
        if is_count_column(column):
            values = _counts(table[column])
            small |= (values >= 1) & (values <= threshold)
    return small


def apply_disclosure_control(table: pd.DataFrame, rule: DisclosureParams) -> pd.DataFrame:
    """Return a copy of ``table`` whose count columns (by the registry) pass disclosure control.

    In a row with a count from 1 to the threshold, every derived cell (every column the
    registry does not name as a label) is shown as ``*`` too, other counts included.
    """
    controlled = table.copy()
    for column in table.columns:
        if is_controlled_count_column(column):
            controlled[column] = control_counts(table[column], rule.threshold, rule.rounding_base)
        elif is_list_size_column(column):
            controlled[column] = control_list_sizes(table[column], rule.threshold)
    small = small_count_rows(table, rule.threshold)
    if small.any():
        for column in table.columns:
            if is_derived_column(column):
                shown = controlled[column].astype(object)
                shown[small] = SUPPRESSED
                controlled[column] = shown
    return controlled
