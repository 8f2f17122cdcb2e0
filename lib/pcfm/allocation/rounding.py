"""Rounding shares of a budget to whole units so that they add up exactly.

Rounding each practice's share to the penny on its own can leave the total a few
pence off the budget. The largest-remainder (Hamilton) rule rounds every share
down, then gives the units still missing, one each, to the shares that lost the
most in rounding down. The total is then exactly the budget and no share moves by
a whole unit or more.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class RoundingError(ValueError):
    """Amounts or a total that cannot be rounded (negative, not finite, or all zero)."""


def largest_remainder(
    amounts: Sequence[float] | np.ndarray,
    total_units: int,
    tie_break: Sequence | np.ndarray | None = None,
) -> np.ndarray:
    """Whole units in proportion to ``amounts`` that add up to exactly ``total_units``.

    Args:
        amounts: Non-negative amounts (any scale); each result is the amount's share of
            ``total_units``, rounded.
        total_units: The whole number of units (e.g. pence) to share.
        tie_break: Optional keys (e.g. practice codes); where two remainders are exactly
            equal, the larger amount wins, then the smaller key. Without keys, position.

    Returns:
        Integer array (``int64``) the length of ``amounts`` adding up to ``total_units``;
        each entry is the floor or the ceiling of its exact share, and an amount of zero
        gets zero.

    Raises:
        RoundingError: if an amount is negative or not finite, the total is negative, or
            the total is positive while every amount is zero.

    Example:
        >>> largest_remainder([1, 1, 1], 100).tolist()
        [34, 33, 33]
    """
    values = np.asarray(amounts, dtype=float).ravel()
    total = int(total_units)
    if total != total_units or total < 0:
        raise RoundingError(f"total_units must be a non-negative whole number (got {total_units})")
    if not np.isfinite(values).all() or (values < 0).any():
        bad = np.flatnonzero(~np.isfinite(values) | (values < 0))
        raise RoundingError(
            f"amounts must be finite and non-negative; {len(bad)} are not "
            f"(positions {bad[:5].tolist()}; values {values[bad[:5]].tolist()})"
        )
    if total == 0:
        return np.zeros(len(values), dtype=np.int64)
    amount_total = values.sum()
    if amount_total <= 0:
        raise RoundingError(f"cannot share {total} units in proportion to amounts that are all 0")

    quotas = values * (total / amount_total)
    # A quota a hair from a whole number (float error) is that whole number.
    whole = np.round(quotas)
    near = np.isclose(quotas, whole, rtol=1e-14, atol=1e-9)
    floors = np.where(near, whole, np.floor(quotas))
    units = floors.astype(np.int64)
    remainders = np.where(values > 0, quotas - floors, -np.inf)
    keys = np.arange(len(values)) if tie_break is None else np.asarray(tie_break)
    key_rank = np.unique(keys, return_inverse=True)[1]
    missing = total - int(units.sum())
    if missing > 0:
        # Largest remainder first, then larger amount, then smaller key.
        order = np.lexsort((key_rank, -values, -remainders))
        units[order[:missing]] += 1
    elif missing < 0:  # only through near-whole quotas rounded up: undo the smallest first
        order = np.lexsort((-key_rank, values, remainders))
        order = order[units[order] > 0]
        units[order[:-missing]] -= 1
    return units
