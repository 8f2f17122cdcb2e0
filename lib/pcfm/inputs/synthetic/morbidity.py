"""Morbidity of the synthetic patients: the 20 Cambridge Multimorbidity Score conditions.

Each patient has the 20 condition flags, drawn from logistic models with age, sex and
deprivation slopes and a shared patient frailty (so conditions cluster as they do in real
records), calibrated to the all-age prevalences in :data:`CONDITIONS`. ``ltc_count`` is the
number of flags; the need model (:mod:`.truth`) prices it by band.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from pcfm.data.contract import CAMBRIDGE_WEIGHTS
from pcfm.inputs.synthetic import llr_shape as shape
from pcfm.inputs.synthetic.truth import AGE_BANDS, SEXES


@dataclass(frozen=True)
class Condition:
    """How one Cambridge condition's prevalence varies (log-odds scale).

    Attributes:
        prevalence: All-age prevalence to calibrate to (England-like population).
        age_slope: Change in log-odds per 10 years of age.
        female_log_odds: Log-odds of women against men.
        deprivation_slope: Change in log-odds per IMD quintile toward the most deprived.
        adult: Whether the condition is rare in children (log-odds lowered by 2.5 under 16).
    """

    prevalence: float
    age_slope: float
    female_log_odds: float
    deprivation_slope: float
    adult: bool = True


#: The 20 Cambridge Multimorbidity Score conditions. Prevalences approximate the all-age QOF
#: registers for England (NHS Digital QOF 2020-21 to 2022-23: hypertension 14%, asthma 6.5%,
#: diabetes 7% (17+), CHD 3%, CKD 4% (18+), AF 2%, stroke/TIA 1.8%, COPD 1.9%, cancer 3.3%, heart
#: failure 0.9%, dementia 0.7%, serious mental illness 0.95%, epilepsy 0.8% (18+)) and, for
#: conditions without a QOF register, the 20-condition prevalences of Payne et al. 2020 (rounded;
#: *approximation*). Slopes are *assumptions* giving the familiar age, sex and deprivation patterns
#: (e.g. COPD and alcohol problems steep in deprivation, dementia steep in age).
CONDITIONS: dict[str, Condition] = {
    "hypertension": Condition(0.140, 0.95, -0.10, 0.05),
    "anxiety_depression": Condition(0.180, 0.05, 0.55, 0.12),
    "painful_condition": Condition(0.090, 0.45, 0.30, 0.12),
    "hearing_loss": Condition(0.050, 0.80, -0.20, 0.00),
    "irritable_bowel": Condition(0.040, 0.05, 0.70, 0.02),
    "asthma": Condition(0.065, -0.05, 0.10, 0.08, adult=False),
    "diabetes": Condition(0.070, 0.55, -0.25, 0.15),
    "coronary_heart_disease": Condition(0.030, 0.95, -0.60, 0.12),
    "chronic_kidney_disease": Condition(0.035, 1.10, 0.10, 0.05),
    "atrial_fibrillation": Condition(0.020, 1.20, -0.30, -0.02),
    "constipation": Condition(0.030, 0.50, 0.30, 0.08, adult=False),
    "stroke_tia": Condition(0.018, 0.95, -0.10, 0.10),
    "copd": Condition(0.019, 0.85, 0.00, 0.25),
    "connective_tissue_disease": Condition(0.015, 0.40, 0.80, 0.05),
    "cancer": Condition(0.033, 0.80, 0.05, 0.00),
    "alcohol_problems": Condition(0.015, 0.10, -0.70, 0.25),
    "heart_failure": Condition(0.009, 1.20, -0.30, 0.12),
    "dementia": Condition(0.007, 1.60, 0.10, 0.05),
    "psychosis_bipolar": Condition(0.0095, 0.00, -0.10, 0.20),
    "epilepsy": Condition(0.008, 0.00, 0.00, 0.10, adult=False),
}
#: Standard deviation of the patient frailty shared by all condition logits. *Assumption*: makes
#: conditions cluster (multimorbidity) as in real records.
FRAILTY_SD = 0.9
#: Extra log-odds per IMD quintile toward the most deprived, common to every condition: people in
#: deprived areas develop multimorbidity earlier (Barnett et al., Lancet 2012; McLean et al. 2015:
#: about 38% more multimorbidity in the most deprived decile). *Assumption* for its size.
DEPRIVATION_FRAILTY_SLOPE = 0.08
_CHILD_LOG_ODDS = -2.5

assert tuple(CONDITIONS) == tuple(CAMBRIDGE_WEIGHTS), "conditions must follow the contract"


def _condition_linear_part(
    condition: Condition, age: np.ndarray, female: np.ndarray, quintile: np.ndarray
) -> np.ndarray:
    """Log-odds of a condition without its intercept (age, sex, deprivation, childhood)."""
    linear = condition.age_slope * (age - 50.0) / 10.0
    linear = linear + condition.female_log_odds * female
    linear = linear + (condition.deprivation_slope + DEPRIVATION_FRAILTY_SLOPE) * (3.0 - quintile)
    if condition.adult:
        linear = linear + _CHILD_LOG_ODDS * (age < 16)
    return linear


@lru_cache(maxsize=1)
def _condition_intercepts() -> dict[str, float]:
    """Intercepts that give each condition its stated prevalence in a reference population.

    The reference population is LLR's registered age-sex structure (whole ICB) with the five
    IMD quintiles equally common (as in England), so the calibration does not depend on the seed
    or the size of the synthetic ICB. The frailty is integrated by Gauss-Hermite quadrature.
    """
    ages, females, quintiles, weights = [], [], [], []
    for s_index, sex in enumerate(SEXES):
        counts = np.zeros(len(AGE_BANDS))
        for place in shape.PLACES:
            counts += np.asarray(shape.LIST_BY_PLACE_SEX_BAND[place][sex], dtype=float)
        for band_index, lower in enumerate(shape.AGE_BAND_LOWER):
            single_ages = np.arange(lower, lower + 5 if lower < 85 else 100)
            for quintile in range(1, 6):
                ages.append(single_ages)
                females.append(np.full(single_ages.size, float(s_index == 0)))
                quintiles.append(np.full(single_ages.size, float(quintile)))
                weights.append(np.full(single_ages.size, counts[band_index] / single_ages.size))
    age, female, quintile, weight = (np.concatenate(x) for x in (ages, females, quintiles, weights))
    weight = weight / weight.sum()
    nodes, node_weights = np.polynomial.hermite_e.hermegauss(24)
    node_weights = node_weights / node_weights.sum()
    intercepts: dict[str, float] = {}
    for name, condition in CONDITIONS.items():
        linear = _condition_linear_part(condition, age, female, quintile)[:, None]
        linear = linear + FRAILTY_SD * nodes[None, :]
        low, high = -20.0, 10.0
        for _ in range(60):
            middle = (low + high) / 2
            probability = 1 / (1 + np.exp(-(middle + linear)))
            prevalence = weight @ probability @ node_weights
            if prevalence < condition.prevalence:
                low = middle
            else:
                high = middle
        intercepts[name] = (low + high) / 2
    return intercepts


def draw_conditions(
    rng: np.random.Generator, age: np.ndarray, is_male: np.ndarray, quintile: np.ndarray
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The condition flags (``cond_<name>`` columns) and their count, one row per patient."""
    n = age.size
    frailty = rng.normal(0.0, FRAILTY_SD, n)
    female = (is_male == 0).astype(float)
    agef = age.astype(float)
    quintile_f = quintile.astype(float)
    intercepts = _condition_intercepts()
    conditions: dict[str, np.ndarray] = {}
    ltc_count = np.zeros(n, dtype=np.int64)
    for name, condition in CONDITIONS.items():
        logit = intercepts[name] + frailty
        logit += _condition_linear_part(condition, agef, female, quintile_f)
        flag = rng.random(n) < 1.0 / (1.0 + np.exp(-logit))
        conditions[f"cond_{name}"] = flag.astype(np.int8)
        ltc_count += flag
    return conditions, ltc_count
