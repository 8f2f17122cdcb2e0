"""Statistical disclosure control of published counts of people.

NHS England's rule for sub-national counts (domain brief §5), also OpenSAFELY's:
counts from 1 to the threshold are shown as ``*``, every other count is rounded to
the nearest multiple of the rounding base, and 0 stays 0. Rates, confidence
intervals and model coefficients need no suppression.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

SUPPRESSED = "*"


def round_to_base(values: np.ndarray, base: int) -> np.ndarray:
    """Round to the nearest multiple of ``base``, halves away from zero (12.5 → 15 for base 5)."""
    return (np.floor(np.asarray(values, dtype=float) / base + 0.5) * base).astype(np.int64)


def control_counts(counts: pd.Series, threshold: int, rounding_base: int) -> pd.Series:
    """Apply the rule to one column of counts; the result is text ('*' or a whole number)."""
    values = pd.to_numeric(counts, errors="raise").to_numpy(dtype=float)
    if np.isnan(values).any() or (values < 0).any():
        raise ValueError(f"column {counts.name!r}: counts must be non-negative and present")
    rounded = round_to_base(values, rounding_base).astype(str)
    small = (values >= 1) & (values <= threshold)
    shown = np.where(small, SUPPRESSED, np.where(values == 0, "0", rounded))
    return pd.Series(shown, index=counts.index, name=counts.name, dtype="object")


def apply_disclosure_control(
    table: pd.DataFrame, count_columns: Iterable[str], threshold: int, rounding_base: int
) -> pd.DataFrame:
    """Return a copy of ``table`` whose count columns pass disclosure control."""
    controlled = table.copy()
    for column in count_columns:
        controlled[column] = control_counts(table[column], threshold, rounding_base)
    return controlled
