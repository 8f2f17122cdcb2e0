"""The "Carr-Hill 2007" age-sex weights, the comparator a reviewer asks about first.

The weights are national reference data, held once in `pcfm.reference.carr_hill_2007`. The
Health Foundation also multiplies by 1.054 to the power of the area's IMD health-and-disability
domain score; the cells carry no domain score, so that factor is applied only when a score per
practice is supplied.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pcfm.model.errors import CellsError, first_values
from pcfm.reference.carr_hill_2007 import HEALTH_DOMAIN_FACTOR, SEXES, weight_by_age

__all__ = ["HEALTH_DOMAIN_FACTOR", "carr_hill_2007_weight"]


def _band_lower_age(age_band: str) -> int:
    return int(str(age_band).split("-")[0].rstrip("+"))


def carr_hill_2007_weight(
    cells: pd.DataFrame, health_domain_score: pd.Series | None = None
) -> np.ndarray:
    """Carr-Hill 2007 weight of each cell row (per person), from its age band and sex.

    Args:
        cells: Rows with ``age_band`` and ``sex`` (or ``age_sex`` as ``'<sex>:<band>'``).
        health_domain_score: Optional IMD health-and-disability domain score per practice code;
            each row is then multiplied by 1.054 ** score of its practice.

    Returns:
        Weight per person of each row, not yet rescaled (callers rescale to their total).
    """
    # One lookup per distinct (sex, band): cells repeat a few dozen pairs many times.
    if {"age_band", "sex"} <= set(cells.columns):
        sex_of_row, sexes = pd.factorize(cells["sex"], use_na_sentinel=False)
        band_of_row, bands = pd.factorize(cells["age_band"], use_na_sentinel=False)
        pair_of_row, codes = pd.factorize(sex_of_row * len(bands) + band_of_row)
        pairs = [(str(sexes[c // len(bands)]), str(bands[c % len(bands)])) for c in codes]
    elif "age_sex" in cells.columns:
        pair_of_row, values = pd.factorize(cells["age_sex"], use_na_sentinel=False)
        pairs = [(*str(value).split(":", 1), "")[:2] for value in values]
    else:
        raise CellsError("cells: the Carr-Hill weights need age_band and sex (or age_sex)")
    weight_of_pair = np.full(len(pairs), np.nan)
    for i, (sex, band) in enumerate(pairs):
        if sex in SEXES:
            weight_of_pair[i] = weight_by_age(sex, np.array([_band_lower_age(band)]))[0]
    weights = weight_of_pair[pair_of_row]
    if np.isnan(weights).any():
        bad = pd.Series([pair[0] for pair in pairs])[np.isnan(weight_of_pair)]
        raise CellsError(
            f"cells: column 'sex': {int(np.isnan(weights).sum())} row(s) are neither F nor M; "
            f"first values: {first_values(bad.tolist())}"
        )
    if health_domain_score is not None:
        score = cells["practice_code"].astype(str).map(health_domain_score).to_numpy(float)
        if np.isnan(score).any():
            raise CellsError("health_domain_score: no score for some practices in the cells")
        weights = weights * HEALTH_DOMAIN_FACTOR**score
    return weights
