"""Morbidity of the synthetic patients: the 20 Cambridge Multimorbidity Score conditions.

Each patient has the 20 condition flags, drawn from logistic models with age, sex and
deprivation slopes and a shared patient frailty (so conditions cluster as they do in real
records), calibrated to the all-age prevalences in :data:`CONDITIONS`. ``ltc_count`` is the
number of flags; the need model (:mod:`.truth`) prices it by band.

For real practices the prevalence of some conditions may instead be given per practice (from
QOF registers, :mod:`pcfm.inputs.public.qof_conditions`): :func:`prevalence_targets` reads
such a table and :func:`draw_conditions` then moves the intercept of each given practice and
condition so that the practice's expected prevalence in the denominator ages equals it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from pcfm.data.contract import CAMBRIDGE_WEIGHTS
from pcfm.inputs.synthetic import llr_shape as shape
from pcfm.inputs.synthetic.population import SynthInputError
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


@dataclass(frozen=True)
class PrevalenceTargets:
    """Per-practice prevalences to calibrate conditions to (:func:`prevalence_targets`).

    Attributes:
        practice_codes: The practices, in the generator's order.
        prevalence: Condition → target prevalence per practice (NaN: not calibrated, the
            synthetic prevalence is kept).
        min_age: Condition → per practice, the lowest age of the denominator population the
            prevalence is a share of (0: all ages).
    """

    practice_codes: np.ndarray
    prevalence: dict[str, np.ndarray]
    min_age: dict[str, np.ndarray]


#: Columns a prevalence table must have (others are ignored).
PREVALENCE_TABLE_COLUMNS = ("practice_code", "condition", "prevalence", "min_age")


def prevalence_targets(prevalence: pd.DataFrame, practice_codes: pd.Series) -> PrevalenceTargets:
    """Check a prevalence table and arrange it per condition and practice.

    Args:
        prevalence: practice_code, condition (a key of :data:`CONDITIONS`), prevalence (a
            fraction, 0 to 1) and min_age (the lowest age of the population the prevalence is a
            share of; 0 for all ages); one row per practice and condition at most. Practices or
            conditions without a row keep the synthetic prevalence.
        practice_codes: The generator's practices, in order.

    Raises:
        SynthInputError: naming the table, column, number of rows and the first offending values.
    """
    table = "prevalence"
    missing = [c for c in PREVALENCE_TABLE_COLUMNS if c not in prevalence.columns]
    if missing:
        raise SynthInputError(f"{table}: missing column(s) {', '.join(missing)}")
    frame = prevalence.loc[:, list(PREVALENCE_TABLE_COLUMNS)].copy()
    frame["practice_code"] = frame["practice_code"].astype(str)
    frame["condition"] = frame["condition"].astype(str)

    def fail(column: str, what: str, bad: pd.Series) -> None:
        if bad.any():
            shown = ", ".join(repr(v) for v in pd.unique(frame.loc[bad, column])[:5])
            raise SynthInputError(
                f"{table}: column {column}: {int(bad.sum())} rows {what}, e.g. {shown}"
            )

    fail("condition", "are not contract conditions", ~frame["condition"].isin(CONDITIONS))
    codes = pd.Index(practice_codes.astype(str))
    row_of = codes.get_indexer(frame["practice_code"])
    fail("practice_code", "name practices not in practices", pd.Series(row_of < 0, frame.index))
    value = pd.to_numeric(frame["prevalence"], errors="coerce")
    fail("prevalence", "are not fractions from 0 to 1", value.isna() | (value < 0) | (value > 1))
    min_age = pd.to_numeric(frame["min_age"], errors="coerce")
    fail("min_age", "are not whole ages >= 0",
         min_age.isna() | (min_age < 0) | (min_age != np.floor(min_age)))  # fmt: skip
    twice = frame.duplicated(["practice_code", "condition"], keep=False)
    fail("practice_code", "repeat a practice and condition", twice)

    n_practices = len(codes)
    targets: dict[str, np.ndarray] = {}
    ages: dict[str, np.ndarray] = {}
    for name, rows in frame.groupby("condition", sort=False).groups.items():
        index = row_of[frame.index.get_indexer(rows)]
        targets[name] = np.full(n_practices, np.nan)
        targets[name][index] = value.loc[rows].to_numpy(dtype=float)
        ages[name] = np.zeros(n_practices)
        ages[name][index] = min_age.loc[rows].to_numpy(dtype=float)
    ordered = [name for name in CONDITIONS if name in targets]
    return PrevalenceTargets(
        practice_codes=codes.to_numpy(),
        prevalence={name: targets[name] for name in ordered},
        min_age={name: ages[name] for name in ordered},
    )


#: Newton steps on the intercept shift at most, and the tolerance on expected cases.
_MAX_NEWTON_STEPS = 60
_CASES_TOLERANCE = 1e-6


def _expit(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def solve_intercept_shifts(
    logit: np.ndarray, group: np.ndarray, target: np.ndarray, n_groups: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per group, the shift ``s`` of the log-odds giving mean ``expit(logit + s)`` = ``target``.

    Vectorised over groups: Newton steps on logit(mean probability), which is nearly linear in
    the shift, kept inside a bracket that every step narrows (bisection where Newton would
    leave it), so each group converges. Groups with target 0 or 1 get a shift of -inf or +inf,
    groups with a NaN target or no members a shift of 0.

    Args:
        logit: Log-odds of each member without the shift.
        group: Group of each member (0 … ``n_groups`` - 1).
        target: Target mean probability per group (NaN: none).
        n_groups: Number of groups.

    Returns:
        The shift per group, and the mean probability of each group before the shift.
    """
    size = np.bincount(group, minlength=n_groups).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        before = np.bincount(group, _expit(logit), n_groups) / size
    shift = np.zeros(n_groups)
    solve = np.isfinite(target) & (size > 0)
    shift[solve & (target <= 0)] = -np.inf
    shift[solve & (target >= 1)] = np.inf
    solve &= (target > 0) & (target < 1)
    if not solve.any():
        return shift, before
    goal = np.where(solve, target, 0.5)
    goal_logit = np.log(goal / (1 - goal))
    low = np.full(n_groups, -np.inf)
    high = np.full(n_groups, np.inf)
    clipped = np.clip(np.where(solve, before, 0.5), 1e-12, 1 - 1e-12)
    shift[solve] = (goal_logit - np.log(clipped / (1 - clipped)))[solve]
    members = solve[group]
    logit, group = logit[members], group[members]
    for _ in range(_MAX_NEWTON_STEPS):
        probability = _expit(logit + shift[group])
        mean = np.bincount(group, probability, n_groups) / np.maximum(size, 1)
        slope = np.bincount(group, probability * (1 - probability), n_groups) / np.maximum(size, 1)
        error = np.where(solve, (mean - goal) * size, 0.0)
        if np.all(np.abs(error) < _CASES_TOLERANCE):
            break
        low = np.where(solve & (error < 0), np.maximum(low, shift), low)
        high = np.where(solve & (error > 0), np.minimum(high, shift), high)
        mean = np.clip(mean, 1e-12, 1 - 1e-12)
        step = (
            (goal_logit - np.log(mean / (1 - mean))) * mean * (1 - mean) / np.maximum(slope, 1e-300)
        )
        proposal = shift + np.clip(step, -5.0, 5.0)
        bisect = np.isfinite(low) & np.isfinite(high) & ((proposal <= low) | (proposal >= high))
        with np.errstate(invalid="ignore"):  # the midpoint of unbounded brackets is unused
            proposal = np.where(bisect, (low + high) / 2, proposal)
        shift = np.where(solve & (np.abs(error) >= _CASES_TOLERANCE), proposal, shift)
    else:
        raise AssertionError("intercept shifts did not converge")  # pragma: no cover
    return shift, before


def draw_conditions(
    rng: np.random.Generator,
    age: np.ndarray,
    is_male: np.ndarray,
    quintile: np.ndarray,
    practice_index: np.ndarray | None = None,
    targets: PrevalenceTargets | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray, pd.DataFrame]:
    """The condition flags (``cond_<name>`` columns) and their count, one row per patient.

    With ``targets`` (and ``practice_index``, each patient's row in the practices), each
    condition and practice given a target prevalence gets its own intercept shift, solved so
    that the expected share of the practice's patients aged ``min_age`` and over with the
    condition equals the target (:func:`solve_intercept_shifts`). The shift applies to all the
    practice's patients, so age, sex, deprivation and frailty keep their effects within the
    practice; practices and conditions without a target, and every random draw, are as without
    ``targets``.

    Returns:
        The flags, ``ltc_count`` (their sum per patient), and one row per practice and
        condition calibrated: practice_code, condition, min_age, eligible_patients,
        target_prevalence, synthetic_prevalence (expected before the shift), shift_log_odds and
        drawn_prevalence (the share of eligible patients drawn with the condition). Empty
        without ``targets``.
    """
    n = age.size
    frailty = rng.normal(0.0, FRAILTY_SD, n)
    female = (is_male == 0).astype(float)
    agef = age.astype(float)
    quintile_f = quintile.astype(float)
    intercepts = _condition_intercepts()
    conditions: dict[str, np.ndarray] = {}
    ltc_count = np.zeros(n, dtype=np.int64)
    records: list[pd.DataFrame] = []
    for name, condition in CONDITIONS.items():
        logit = intercepts[name] + frailty
        logit += _condition_linear_part(condition, agef, female, quintile_f)
        if targets is not None and name in targets.prevalence:
            if practice_index is None:
                raise ValueError("draw_conditions: targets need practice_index")
            logit, record = _calibrate(logit, agef, practice_index, targets, name)
        flag = rng.random(n) < 1.0 / (1.0 + np.exp(-logit))
        conditions[f"cond_{name}"] = flag.astype(np.int8)
        ltc_count += flag
        if targets is not None and name in targets.prevalence:
            records.append(_drawn(record, flag, agef, practice_index, targets, name))
    columns = ["practice_code", "condition", "min_age", "eligible_patients", "target_prevalence",
               "synthetic_prevalence", "shift_log_odds", "drawn_prevalence"]  # fmt: skip
    calibration = (
        pd.concat(records, ignore_index=True) if records else pd.DataFrame(columns=columns)
    )
    return conditions, ltc_count, calibration[columns]


def _calibrate(
    logit: np.ndarray,
    age: np.ndarray,
    practice_index: np.ndarray,
    targets: PrevalenceTargets,
    name: str,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Shift the log-odds of one condition per practice to its target; the shifts solved."""
    n_practices = targets.practice_codes.size
    target = targets.prevalence[name]
    eligible = age >= targets.min_age[name][practice_index]
    shift, before = solve_intercept_shifts(
        logit[eligible], practice_index[eligible], target, n_practices
    )
    size = np.bincount(practice_index[eligible], minlength=n_practices)
    calibrated = np.isfinite(target) & (size > 0)
    record = pd.DataFrame({
        "practice_index": np.flatnonzero(calibrated),
        "practice_code": targets.practice_codes[calibrated].astype(str),
        "condition": name,
        "min_age": targets.min_age[name][calibrated].astype(np.int64),
        "eligible_patients": size[calibrated].astype(np.int64),
        "target_prevalence": target[calibrated],
        "synthetic_prevalence": before[calibrated],
        "shift_log_odds": shift[calibrated],
    })  # fmt: skip
    return logit + shift[practice_index], record


def _drawn(
    record: pd.DataFrame,
    flag: np.ndarray,
    age: np.ndarray,
    practice_index: np.ndarray,
    targets: PrevalenceTargets,
    name: str,
) -> pd.DataFrame:
    """Add the drawn prevalence among the eligible patients to a calibration record."""
    n_practices = targets.practice_codes.size
    eligible = age >= targets.min_age[name][practice_index]
    cases = np.bincount(practice_index[eligible], flag[eligible], n_practices)
    size = np.bincount(practice_index[eligible], minlength=n_practices)
    rows = record["practice_index"].to_numpy()
    return record.assign(drawn_prevalence=cases[rows] / size[rows]).drop(columns="practice_index")
