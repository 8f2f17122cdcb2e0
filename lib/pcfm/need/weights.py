"""Need weights, need-weighted lists and need indices.

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
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

#: Columns of the practice need table, in order.
NEED_COLUMNS = ["practice_code", "registered_list", "need_weighted_list", "need_index"]


class NeedInputError(ValueError):
    """Cells, predictions or practices that cannot give need weights, with the fault named."""


def _first(values: Iterable, n: int = 5) -> str:
    shown = [repr(v) for v in list(values)[:n]]
    return ", ".join(shown)


def _require_columns(table: pd.DataFrame, columns: Iterable[str], what: str) -> None:
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
    _require_columns(cells, ["exposure"], "cells")
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
    _require_columns(cells, ["practice_code", "exposure"], "cells")
    _require_columns(practices, ["practice_code", "registered_list"], "practices")
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

    raw_index = (sums["ew"] / sums["e"]).reindex(registered.index).to_numpy()
    raw_weighted = registered.to_numpy() * raw_index
    scale = registered.sum() / raw_weighted.sum()
    need_weighted = raw_weighted * scale
    return pd.DataFrame(
        {
            "practice_code": registered.index.to_numpy(dtype=object),
            "registered_list": practices.set_index(practice_codes)["registered_list"]
            .reindex(registered.index)
            .to_numpy(),
            "need_weighted_list": need_weighted,
            "need_index": need_weighted / registered.to_numpy(),
        }
    )


def weight_table(
    cells: pd.DataFrame, predicted_rate: np.ndarray, by: str | list[str]
) -> pd.DataFrame:
    """Mean need weight by a covariate (age–sex, deprivation band, morbidity band).

    The published weight tables: for each level, the exposure-weighted mean need weight of
    the cells at that level (so it reflects the case mix of the other covariates within
    the level, as the ICB's own population has it), with the person-years and patients.

    Args:
        cells: Cells with the column(s) ``by``, ``exposure`` and ``patients``.
        predicted_rate: Predicted workload per person-year, one per row of ``cells``.
        by: Column or columns to group by.

    Returns:
        One row per level with ``need_weight``, ``exposure`` (person-years) and ``patients``.
    """
    columns = [by] if isinstance(by, str) else list(by)
    _require_columns(cells, [*columns, "exposure", "patients"], "cells")
    weights = cell_need_weights(cells, predicted_rate)
    frame = cells[columns].copy()
    frame["exposure"] = cells["exposure"].to_numpy(dtype=float)
    frame["ew"] = frame["exposure"] * weights
    frame["patients"] = cells["patients"].to_numpy()
    table = frame.groupby(columns, sort=True, observed=True)[["exposure", "ew", "patients"]].sum()
    table["need_weight"] = table["ew"] / table["exposure"].where(table["exposure"] > 0)
    return table[["need_weight", "exposure", "patients"]].reset_index()


#: Published weight tables: name and the cells columns that can hold the factor, in order of
#: preference (the first present is used).
WEIGHT_TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "age_sex": ("age_sex",),
    "deprivation": ("imd_quintile", "imd_decile"),
    "morbidity": ("ltc_band", "cms_band"),
}


def need_weight_tables(
    cells: pd.DataFrame,
    predicted_rate: np.ndarray,
    columns: Mapping[str, str] | None = None,
) -> dict[str, pd.DataFrame]:
    """The published weight tables by age–sex, deprivation and morbidity.

    Args:
        cells: Cells with ``exposure``, ``patients`` and the factor columns.
        predicted_rate: Predicted workload per person-year, one per row of ``cells``.
        columns: Which cells column to tabulate for each factor (e.g. ``{"deprivation":
            "imd_decile"}`` to follow the model's deprivation band); by default the first of
            :data:`WEIGHT_TABLE_COLUMNS` present in ``cells``.

    Returns:
        One table per factor whose column is in ``cells``: the level, ``need_weight`` and
        ``patients`` (a count of people: publish through disclosure control).
    """
    chosen = dict(columns or {})
    tables: dict[str, pd.DataFrame] = {}
    for factor, candidates in WEIGHT_TABLE_COLUMNS.items():
        column = chosen.get(factor) or next((c for c in candidates if c in cells), None)
        if column is None or column not in cells:
            continue
        table = weight_table(cells, predicted_rate, column)
        if column == "age_sex":
            table = table.sort_values(column, key=lambda s: s.map(_age_sex_order), kind="stable")
        tables[factor] = table[[column, "need_weight", "patients"]].reset_index(drop=True)
    return tables


def _age_sex_order(label: str) -> tuple[str, int]:
    """Sort key of an age–sex level 'F:5-9': sex, then the first age of the band."""
    sex, _, band = str(label).partition(":")
    start = band.split("-")[0].rstrip("+")
    return (sex, int(start) if start.isdigit() else 999)
