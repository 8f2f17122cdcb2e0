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
    if {"age_band", "sex"} <= set(cells.columns):
        bands, sexes = cells["age_band"].astype(str), cells["sex"].astype(str)
    elif "age_sex" in cells.columns:
        parts = cells["age_sex"].astype(str).str.split(":", n=1, expand=True)
        sexes, bands = parts[0], parts[1]
    else:
        raise CellsError("cells: the Carr-Hill weights need age_band and sex (or age_sex)")
    weights = np.full(len(cells), np.nan)
    for sex in SEXES:
        mask = (sexes == sex).to_numpy()
        weights[mask] = weight_by_age(sex, bands[mask].map(_band_lower_age).to_numpy())
    if np.isnan(weights).any():
        bad = sexes[np.isnan(weights)].drop_duplicates()
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
