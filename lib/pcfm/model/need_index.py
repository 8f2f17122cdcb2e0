"""The need-index kernel: from predicted rates to need-weighted lists and need indices.

Definitions (written up in the methodology, chapter 3):

* A cell's *need weight* is its predicted workload per person-year at reference
  supply divided by the ICB mean rate, the mean being weighted by exposure
  (person-years): ``w_c = r_c / (sum_c e_c r_c / sum_c e_c)``. The ICB's
  exposure-weighted mean need weight is therefore exactly 1.
* A practice's *raw need index* is the exposure-weighted mean need weight of its
  cells: ``I_p = sum_{c in p} e_c w_c / sum_{c in p} e_c``.
* Its *need-weighted list* is ``registered_list_p * I_p`` rescaled by one factor for
  the whole ICB so that the need-weighted lists add up to the registered lists;
  its *need index* is then need-weighted list / registered list.

The registered list (from the practices table) rather than the exposure carries the
index to a list size because funding is paid on the registered list; the rescaling
absorbs the difference between the two totals.

Why here, in the model package: stage 02 compares need indices across specifications,
stage 03 publishes them and stage 04 bootstraps them, and all three must compute the same
number. ``pcfm.model`` is the lowest package all three may import (``pcfm.need`` re-exports
these functions). :func:`need_index_from_sums` is the formula; :func:`practice_need` feeds
it from cells, and the bootstrap from its own sparse practice sums.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

__all__ = [
    "NEED_COLUMNS",
    "NeedInputError",
    "cell_need_weights",
    "need_index_from_sums",
    "practice_need",
    "require_columns",
]


def need_index_from_sums(
    weighted_exposure: np.ndarray, exposure: np.ndarray, registered: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Need-weighted lists and need indices from each practice's sums: the one formula.

    Args:
        weighted_exposure: Per practice, the sum over its cells of person-years × need
            weight (or × predicted rate: a factor common to every practice cancels in the
            rescaling).
        exposure: Per practice, its person-years (positive).
        registered: Per practice, its registered list (positive), in the same order.

    Returns:
        The need-weighted lists (adding up to the registered lists) and the need indices.
    """
    raw_index = weighted_exposure / exposure
    raw_weighted = registered * raw_index
    scale = registered.sum() / raw_weighted.sum()
    need_weighted = raw_weighted * scale
    return need_weighted, need_weighted / registered


#: Columns of the practice need table, in order.
NEED_COLUMNS = ["practice_code", "registered_list", "need_weighted_list", "need_index"]


class NeedInputError(ValueError):
    """Cells, predictions or practices that cannot give need weights, with the fault named."""


def _first(values: Iterable, n: int = 5) -> str:
    shown = [repr(v) for v in list(values)[:n]]
    return ", ".join(shown)


def require_columns(table: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    """Raise :class:`NeedInputError` naming the columns ``table`` lacks."""
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise NeedInputError(f"{what}: missing column(s) {', '.join(missing)}")


def _check_numeric(values: np.ndarray, what: str, column: str, positive: bool) -> np.ndarray:
    """Return ``values`` as floats, or raise naming the bad rows (positions and values only)."""
    try:
        numbers = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise NeedInputError(f"{what}: column {column} must be numeric") from None
    bad = ~np.isfinite(numbers) | ((numbers <= 0) if positive else (numbers < 0))
    if bad.any():
        rows = np.flatnonzero(bad)
        kind = "positive" if positive else "non-negative"
        raise NeedInputError(
            f"{what}: column {column} must be finite and {kind}; {len(rows)} row(s) are not "
            f"(rows {_first(rows)}; values {_first(numbers[rows])})"
        )
    return numbers


def cell_need_weights(cells: pd.DataFrame, predicted_rate: np.ndarray) -> np.ndarray:
    """Need weight of each cell: predicted rate ÷ the ICB's exposure-weighted mean rate.

    Args:
        cells: Cells with an ``exposure`` column (person-years).
        predicted_rate: Predicted workload per person-year for each row of ``cells``.

    Returns:
        One weight per cell; their exposure-weighted mean over the ICB is 1.
    """
    require_columns(cells, ["exposure"], "cells")
    rate = np.asarray(predicted_rate, dtype=float).ravel()
    if len(rate) != len(cells):
        raise NeedInputError(
            f"predicted_rate has {len(rate)} values but cells has {len(cells)} rows"
        )
    rate = _check_numeric(rate, "predicted_rate", "predicted_rate", positive=True)
    exposure = _check_numeric(cells["exposure"].to_numpy(), "cells", "exposure", positive=False)
    total_exposure = exposure.sum()
    if total_exposure <= 0:
        raise NeedInputError("cells: total exposure is zero, so no mean rate can be formed")
    mean_rate = float(exposure @ rate) / total_exposure
    return rate / mean_rate


def practice_need(
    cells: pd.DataFrame, predicted_rate: np.ndarray, practices: pd.DataFrame
) -> pd.DataFrame:
    """Need-weighted list and need index of every practice.

    Args:
        cells: Cells (one row per covariate combination per practice) with
            ``practice_code`` and ``exposure``.
        predicted_rate: Predicted workload per person-year at reference supply, one value
            per row of ``cells``.
        practices: The practices table of the data contract (``practice_code``,
            ``registered_list``).

    Returns:
        One row per practice, in practice-code order, with ``practice_code``,
        ``registered_list``, ``need_weighted_list`` and ``need_index``. The need-weighted
        lists add up to the registered lists.

    Raises:
        NeedInputError: if a column is missing, a value is not usable, or the practices in
            the cells and in the practices table differ.
    """
    require_columns(cells, ["practice_code", "exposure"], "cells")
    require_columns(practices, ["practice_code", "registered_list"], "practices")
    weights = cell_need_weights(cells, predicted_rate)
    exposure = cells["exposure"].to_numpy(dtype=float)
    codes = cells["practice_code"].astype(str).to_numpy()

    frame = pd.DataFrame({"practice_code": codes, "e": exposure, "ew": exposure * weights})
    sums = frame.groupby("practice_code", sort=True)[["e", "ew"]].sum()

    practice_codes = practices["practice_code"].astype(str)
    duplicated = practice_codes[practice_codes.duplicated()]
    if len(duplicated):
        raise NeedInputError(
            f"practices: column practice_code has {len(duplicated)} duplicated value(s) "
            f"({_first(duplicated.unique())})"
        )
    registered = pd.Series(
        _check_numeric(
            practices["registered_list"].to_numpy(), "practices", "registered_list", True
        ),
        index=practice_codes.to_numpy(),
    ).sort_index()

    no_cells = registered.index.difference(sums.index)
    if len(no_cells):
        raise NeedInputError(
            f"practices: {len(no_cells)} practice(s) have no cells, so no need index "
            f"({_first(no_cells)})"
        )
    unknown = sums.index.difference(registered.index)
    if len(unknown):
        raise NeedInputError(
            f"cells: column practice_code has {len(unknown)} code(s) not in the practices "
            f"table ({_first(unknown)})"
        )
    no_exposure = sums.index[sums["e"].to_numpy() <= 0]
    if len(no_exposure):
        raise NeedInputError(
            f"cells: {len(no_exposure)} practice(s) have zero total exposure "
            f"({_first(no_exposure)})"
        )

    need_weighted, need_index = need_index_from_sums(
        sums["ew"].reindex(registered.index).to_numpy(),
        sums["e"].reindex(registered.index).to_numpy(),
        registered.to_numpy(),
    )
    return pd.DataFrame(
        {
            "practice_code": registered.index.to_numpy(dtype=object),
            "registered_list": practices.set_index(practice_codes)["registered_list"]
            .reindex(registered.index)
            .to_numpy(),
            "need_weighted_list": need_weighted,
            "need_index": need_index,
        }
    )
