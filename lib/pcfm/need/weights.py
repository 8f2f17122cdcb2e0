"""Need weights by covariate: the published weight tables.

The definitions of need weight, need-weighted list and need index (methodology, chapter 3)
and the one function that computes them live in :mod:`pcfm.model.need_index`, below both
this package and the model's sensitivity analyses, so that stage 02's comparison of
specifications, stage 03 and the bootstrap of stage 04 compute need alike; they are
re-exported here.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from pcfm.model.need_index import (
    NEED_COLUMNS,
    NeedInputError,
    cell_need_weights,
    practice_need,
    require_columns,
)

__all__ = [
    "NEED_COLUMNS",
    "WEIGHT_TABLE_COLUMNS",
    "NeedInputError",
    "cell_need_weights",
    "need_weight_tables",
    "practice_need",
    "weight_table",
]


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
    require_columns(cells, [*columns, "exposure", "patients"], "cells")
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
