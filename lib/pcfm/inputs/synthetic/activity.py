r"""The activity simulation: what each practice delivers, given its patients' need.

Practice *p* delivers ``supply_p`` times what its patients need (:mod:`.truth` states the
supply law): practices in deprived areas have less clinical capacity per need-weighted patient
(the inverse care law) and deliver fewer contacts than needed. Delivered contacts are negative
binomial (NB2, a gamma-Poisson mixture):

.. math::

    Y_i \sim \mathrm{Poisson}(\mathrm{need}_i \cdot \mathrm{supply}_p \cdot g_i),\qquad
    g_i \sim \mathrm{Gamma}(1/\alpha, \alpha),\ \alpha = \mathrm{NB\_DISPERSION},

so ``Var(Y_i) = mu_i + alpha mu_i^2``. Each contact becomes an appointment row, dated within
the patient's registration, with a staff type, a mode and a duration shaped like LLR's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pcfm.data.contract import APPOINTMENT_MODES, STAFF_TYPES
from pcfm.inputs.synthetic import llr_shape as shape
from pcfm.inputs.synthetic.population import DAYS_IN_YEAR, REFERENCE_YEAR_START
from pcfm.inputs.synthetic.truth import (
    NB_DISPERSION,
    SUPPLY_NOISE_LOG_SD,
    SUPPLY_REFERENCE_IMD_SCORE,
    SUPPLY_SLOPE_PER_IMD_POINT,
)


def draw_supply(rng: np.random.Generator, practice_imd: np.ndarray) -> np.ndarray:
    """Each practice's supply factor (delivered ÷ needed contacts) from its patients' IMD score."""
    return np.exp(
        -SUPPLY_SLOPE_PER_IMD_POINT * (practice_imd - SUPPLY_REFERENCE_IMD_SCORE)
        + rng.normal(0.0, SUPPLY_NOISE_LOG_SD, practice_imd.size)
    )


def draw_contacts(rng: np.random.Generator, delivered_mean: np.ndarray) -> np.ndarray:
    """Delivered contacts per patient: negative binomial around ``delivered_mean``."""
    gamma = rng.gamma(1.0 / NB_DISPERSION, NB_DISPERSION, delivered_mean.size)
    return rng.poisson(delivered_mean * gamma)


def appointments(
    rng: np.random.Generator,
    patient_ids: pd.api.extensions.ExtensionArray,
    contacts: np.ndarray,
    days_registered: np.ndarray,
    care_home: np.ndarray,
    interpreter: np.ndarray,
) -> pd.DataFrame:
    """One row per appointment, dated within each patient's registration in the year."""
    owner = np.repeat(np.arange(contacts.size), contacts)
    rows = owner.size
    days = days_registered[owner]
    first_day = DAYS_IN_YEAR - days
    day = first_day + np.floor(rng.random(rows) * days).astype(np.int64)
    dates = REFERENCE_YEAR_START + day.astype("timedelta64[D]")

    staff_share = np.array([shape.STAFF_TYPE_SHARE[s] for s in STAFF_TYPES])
    staff = np.searchsorted(np.cumsum(staff_share), rng.random(rows) * staff_share.sum())
    staff = np.minimum(staff, len(STAFF_TYPES) - 1)

    mode_share = np.array([shape.MODE_SHARE[m] for m in APPOINTMENT_MODES])
    care_home_share = mode_share.copy()
    home_visit = APPOINTMENT_MODES.index("Home visit")
    care_home_share[home_visit] = 0.25
    draw = rng.random(rows)
    mode = np.searchsorted(np.cumsum(mode_share), draw * mode_share.sum())
    in_care_home = care_home[owner] == 1
    mode[in_care_home] = np.searchsorted(
        np.cumsum(care_home_share), draw[in_care_home] * care_home_share.sum()
    )
    mode = np.minimum(mode, len(APPOINTMENT_MODES) - 1)

    mean_minutes = np.array([shape.MEAN_DURATION_MINUTES[s] for s in STAFF_TYPES])[staff]
    mean_minutes = mean_minutes * np.where(interpreter[owner] == 1, 1.5, 1.0)
    minutes = np.clip(np.round(rng.gamma(4.0, mean_minutes / 4.0)), 1, 90).astype(float)

    return pd.DataFrame({
        "patient_id": patient_ids.take(owner),
        "appointment_date": dates,
        "staff_type": pd.Categorical.from_codes(staff, categories=list(STAFF_TYPES)),
        "mode": pd.Categorical.from_codes(mode, categories=list(APPOINTMENT_MODES)),
        "duration_minutes": minutes,
    })  # fmt: skip
