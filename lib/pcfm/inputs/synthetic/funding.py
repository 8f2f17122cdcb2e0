"""Current funding of the synthetic practices: Carr-Hill-like, with no deprivation term.

Synthetic practices are funded by the "Carr-Hill 2007" age-sex weights
(`pcfm.reference.carr_hill_2007`), times a global sum per weighted patient, with a little
noise for other income lines; deprived practices therefore come out under-funded relative to
need. Real practices keep their published funding and weighted list where given.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pcfm.inputs.synthetic import llr_shape as shape
from pcfm.inputs.synthetic.truth import SEXES
from pcfm.reference import carr_hill_2007


def carr_hill_weighted_list(
    is_male: np.ndarray, age: np.ndarray, practice_index: np.ndarray, n_practices: int
) -> np.ndarray:
    """Carr-Hill 2007 age-sex weighted list per practice, rescaled to the raw ICB total."""
    weight = np.empty(age.size)
    for s_index, sex in enumerate(SEXES):
        mask = is_male == s_index
        weight[mask] = carr_hill_2007.weight_by_age(sex, age[mask])
    weight *= age.size / weight.sum()
    return np.bincount(practice_index, weight, n_practices)


def practice_funding(
    rng: np.random.Generator,
    practices: pd.DataFrame,
    weighted_list: np.ndarray,
    real_funding: bool,
) -> tuple[np.ndarray, pd.Series | np.ndarray]:
    """The practices' ``current_funding_gbp`` and ``carr_hill_weighted_list`` columns.

    Funding is made from the weighted list for every practice (so the random stream does not
    depend on which practices report funding); with ``real_funding`` the published funding and
    weighted list replace the made ones where given.
    """
    n_practices = weighted_list.size
    made_funding = (
        weighted_list * shape.GLOBAL_SUM_PER_WEIGHTED_PATIENT_GBP
        * np.exp(rng.normal(0.0, shape.FUNDING_NOISE_LOG_SD, n_practices))
    )  # fmt: skip
    if real_funding and "current_funding_gbp" in practices.columns:
        given_funding = pd.to_numeric(practices["current_funding_gbp"], errors="coerce")
        funding = given_funding.fillna(pd.Series(made_funding)).to_numpy(dtype=float)
    else:
        funding = made_funding
    if real_funding and "carr_hill_weighted_list" in practices.columns:
        given_weighted = pd.to_numeric(practices["carr_hill_weighted_list"], errors="coerce")
        weighted = given_weighted.fillna(pd.Series(weighted_list)).round(3)
    else:
        weighted = np.round(weighted_list, 3)
    return np.round(funding, 2), weighted
