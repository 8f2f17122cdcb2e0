"""Why a practice's need index is what it is: its contributions by factor.

A practice's need index is ``1 + contribution_age_sex + contribution_deprivation +
contribution_morbidity + contribution_other`` exactly. Each contribution is the factor's
Shapley value (methodology, chapter 3): switch factors "on" one at a time in every order,
and average the change in the practice's need index that switching on this factor
causes. "Off" means every cell of the ICB is predicted as if it were at the factor's
reference level (age–sex F:30-34, IMD quintile 5 / decile 10, no long-term conditions,
not newly registered, not in a care home, no interpreter), so with every factor off
every practice's need index is 1. The Shapley value is the one way of sharing the
difference that adds up, treats factors symmetrically and does not depend on the
order they are listed in; with four factors it takes 2^4 = 16 predictions.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from pcfm.model.need_index import need_index_from_sums
from pcfm.need.weights import practice_need

#: Factor groups and the reference value each cells column is set to when the factor is off.
FACTOR_REFERENCES: dict[str, dict[str, object]] = {
    "age_sex": {"age_sex": "F:30-34", "age_band": "30-34", "sex": "F", "age": 32},
    "deprivation": {"imd_quintile": 5, "imd_decile": 10},
    "morbidity": {"ltc_band": "0", "cms_band": "0", "acg_band": "0"},
    "other": {"newly_registered": 0, "care_home": 0, "interpreter_needed": 0},
}

#: Columns of the cells that are not covariates (a prediction never reads them).
_NOT_COVARIATES = ("practice_code", "exposure", "workload", "patients")
#: Columns added by :func:`decompose_need_index`, in order.
DECOMPOSITION_COLUMNS = [f"contribution_{factor}" for factor in FACTOR_REFERENCES]

RatePredictor = Callable[[pd.DataFrame], np.ndarray]


def _switch_off(cells: pd.DataFrame, factors: list[str], references) -> pd.DataFrame:
    """A copy of ``cells`` with the columns of ``factors`` set to their reference values."""
    changed = cells.copy()
    for factor in factors:
        for column, value in references[factor].items():
            if column in changed.columns:
                changed[column] = value
    return changed


def decompose_need_index(
    cells: pd.DataFrame,
    predict_rate: RatePredictor,
    practices: pd.DataFrame,
    factor_references: Mapping[str, Mapping[str, object]] | None = None,
) -> pd.DataFrame:
    """Each practice's need index split into contributions that add up to it.

    Args:
        cells: Cells with ``practice_code``, ``exposure`` and the covariate columns.
        predict_rate: Function giving the predicted workload per person-year at reference
            supply for each row of a cells table (e.g. ``WorkloadModel.predict_rate``).
        practices: The practices table (``practice_code``, ``registered_list``).
        factor_references: Factor groups and their reference values; default
            :data:`FACTOR_REFERENCES`.

    Returns:
        One row per practice (practice-code order): ``practice_code``, ``need_index`` and
        ``contribution_<factor>`` per factor, with ``need_index = 1 + sum(contributions)``.
    """
    references = dict(factor_references or FACTOR_REFERENCES)
    factors = list(references)
    n = len(factors)
    # The practice order and registered lists, and a check of the inputs, from the one
    # formula (`practice_need`); then each subset needs only its sums by practice.
    need = practice_need(cells, np.ones(len(cells)), practices)
    codes = need["practice_code"]
    practice_of_row = pd.Index(codes.astype(str)).get_indexer(cells["practice_code"].astype(str))
    exposure = cells["exposure"].to_numpy(dtype=float)
    practice_exposure = np.bincount(practice_of_row, exposure, len(codes))
    registered = need["registered_list"].to_numpy(dtype=float)
    # A prediction depends on a row's covariates only, and cells repeat a few thousand
    # combinations over the practices: predict each distinct combination once.
    covariates = [c for c in cells.columns if c not in _NOT_COVARIATES]
    combination_of_row = (
        cells.groupby(covariates, sort=False, dropna=False, observed=True).ngroup().to_numpy()
    )
    first_row = np.unique(combination_of_row, return_index=True)[1]
    combinations = cells.iloc[first_row][covariates].reset_index(drop=True)
    index_of: dict[frozenset[str], np.ndarray] = {}
    for size in range(n + 1):
        for subset in itertools.combinations(factors, size):
            off = [f for f in factors if f not in subset]
            rate = np.asarray(predict_rate(_switch_off(combinations, off, references)), float)
            weighted = np.bincount(practice_of_row, exposure * rate[combination_of_row], len(codes))
            index_of[frozenset(subset)] = need_index_from_sums(
                weighted, practice_exposure, registered
            )[1]

    table = pd.DataFrame({"practice_code": codes, "need_index": index_of[frozenset(factors)]})
    for factor in factors:
        others = [f for f in factors if f != factor]
        value = np.zeros(len(table))
        for size in range(n):
            weight = math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
            for subset in itertools.combinations(others, size):
                with_factor = index_of[frozenset((*subset, factor))]
                value += weight * (with_factor - index_of[frozenset(subset)])
        table[f"contribution_{factor}"] = value
    return table


def predictor_from_rate_ratios(
    rate_ratios: Mapping[str, float], baseline_rate: float = 1.0
) -> RatePredictor:
    """A log-linear rate predictor from rate ratios named ``covariate=level``.

    For tests and worked examples: the rate of a cell is ``baseline_rate`` times the rate
    ratio of each of its levels (1 for a reference level or a term not listed).
    """
    by_column: dict[str, dict[str, float]] = {}
    for term, ratio in rate_ratios.items():
        column, level = term.split("=", 1)
        by_column.setdefault(column, {})[level] = float(ratio)

    def predict(cells: pd.DataFrame) -> np.ndarray:
        rate = np.full(len(cells), float(baseline_rate))
        for column, ratios in by_column.items():
            levels = cells[column].astype(str)
            rate *= levels.map(ratios).fillna(1.0).to_numpy(dtype=float)
        return rate

    return predict
