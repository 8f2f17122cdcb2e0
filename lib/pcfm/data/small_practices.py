"""Practices too small to publish: left out of the run, with a note, by one stated rule.

A practice whose registered list, or whose number of patients in the data, is at or below
the disclosure threshold (``disclosure.threshold``, 7 by the NHS rule) cannot be published:
its list, its need-weighted list (its list times its need index), its allocation and its
statement would each give away a count of 1 to 7 people, and suppressing them practice by
practice would leave the ICB's totals to give them back. So the data stage leaves such a
practice out of everything that follows — its patients are not in the cells the model is
fitted on, it has no need index, no allocation and no statement — and publishes it in
``data_practice_adjustments`` with the reason (its list shown only as "1 to 7"). Its
patients are so few that the model's estimates do not move perceptibly.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

#: The adjustment published for a practice left out by this rule.
SMALL_LIST_ADJUSTMENT = "left out: list at or below the disclosure threshold"


@dataclass(frozen=True)
class SmallPractices:
    """The practices left out, and the tables without them."""

    codes: tuple[str, ...]
    cells: pd.DataFrame
    cells_by_patient_fold: pd.DataFrame
    practices: pd.DataFrame
    adjustments: pd.DataFrame


def _without(table: pd.DataFrame, codes: tuple[str, ...]) -> pd.DataFrame:
    keep = ~table["practice_code"].astype(str).isin(codes)
    return table.loc[keep].reset_index(drop=True)


def leave_out_small_practices(
    cells: pd.DataFrame,
    cells_by_patient_fold: pd.DataFrame,
    practices: pd.DataFrame,
    threshold: int,
) -> SmallPractices:
    """Drop every practice whose registered list or patients in the cells is 1 to ``threshold``.

    Args:
        cells: The cells (``practice_code``, ``patients``).
        cells_by_patient_fold: The same split by patient fold.
        practices: The practices table (``practice_code``, ``registered_list``,
            ``practice_name`` where present).
        threshold: The disclosure threshold.

    Returns:
        The codes left out (sorted), the three tables without them, and one adjustment row
        per practice left out (``practice_code``, ``practice_name``, ``adjustment``, ``detail``).
    """
    codes = practices["practice_code"].astype(str)
    registered = pd.to_numeric(practices["registered_list"], errors="coerce").to_numpy()
    in_cells = (
        cells.assign(practice_code=cells["practice_code"].astype(str))
        .groupby("practice_code")["patients"]
        .sum()
        .reindex(codes)
        .fillna(0)
        .to_numpy()
    )
    small = (registered <= threshold) | ((in_cells >= 1) & (in_cells <= threshold))
    left_out = tuple(sorted(codes[small]))
    names = (
        practices["practice_name"].astype(str)
        if "practice_name" in practices
        else pd.Series("", index=practices.index)
    )
    detail = (
        f"registered list or patients in the data of 1 to {threshold} (the disclosure "
        "threshold): left out of the model, need, allocation and statements, since any "
        "figure of the practice would give its list away"
    )
    adjustments = pd.DataFrame(
        {
            "practice_code": list(codes[small]),
            "practice_name": list(names[small]),
            "adjustment": SMALL_LIST_ADJUSTMENT,
            "detail": detail,
        },
        columns=["practice_code", "practice_name", "adjustment", "detail"],
    ).sort_values("practice_code", kind="stable")
    return SmallPractices(
        left_out,
        _without(cells, left_out),
        _without(cells_by_patient_fold, left_out),
        _without(practices, left_out),
        adjustments.reset_index(drop=True),
    )
