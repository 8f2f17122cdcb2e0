"""A small simulator of patients and cells from a known workload model, for the model tests.

Independent of ``pcfm.inputs.synthetic`` on purpose: the model tests need a truth they control
(exact rate ratios, a supply effect correlated with deprivation, optional overdispersion)
and must run in milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

AGE_BANDS = (*(f"{a}-{a + 4}" for a in range(0, 85, 5)), "85+")
LTC_BANDS = ("0", "1", "2", "3", "4+")
CMS_BANDS = ("0", "0-1", "1-2", "2-3", "3+")
QUINTILE_RATE_RATIOS = {1: 1.40, 2: 1.25, 3: 1.15, 4: 1.06, 5: 1.0}
LTC_RATE_RATIOS = {"0": 1.0, "1": 1.35, "2": 1.8, "3": 2.3, "4+": 3.0}
FLAG_RATE_RATIOS = {"newly_registered": 1.4, "care_home": 1.9, "interpreter_needed": 1.25}
BASELINE_RATE = 3.0
CELL_COLUMNS = [
    "practice_code",
    "age_band",
    "sex",
    "age_sex",
    "imd_quintile",
    "imd_decile",
    "ltc_band",
    "cms_band",
    "newly_registered",
    "care_home",
    "interpreter_needed",
]


def age_sex_rate_ratio(sex: str, band_index: int) -> float:
    """True age-sex rate ratio against F:30-34 (a U-shaped curve, women higher at 15-44)."""
    age = 5 * band_index + 2.5
    log_rate = 0.00025 * (age - 25) ** 2 - 0.2 * (age < 5) * -2.0
    if sex == "F" and 15 <= age < 45:
        log_rate += 0.25
    reference = 0.00025 * (32.5 - 25) ** 2 + 0.25
    return float(np.exp(log_rate - reference))


@dataclass(frozen=True)
class Simulated:
    """Patients and cells drawn from a known model.

    Attributes:
        patients: One row per patient (covariates, exposure, workload).
        cells: The patients summed by practice and covariates.
        truth: True rate ratio of every term, named ``covariate=level``.
        supply: True supply multiplier of each practice (ICB mean ≈ 1).
    """

    patients: pd.DataFrame
    cells: pd.DataFrame
    truth: dict[str, float]
    supply: pd.Series


def true_rate_ratios() -> dict[str, float]:
    """Every term's true rate ratio."""
    truth = {
        f"age_sex={sex}:{band}": age_sex_rate_ratio(sex, i)
        for sex in ("F", "M")
        for i, band in enumerate(AGE_BANDS)
        if f"{sex}:{band}" != "F:30-34"
    }
    truth |= {f"imd_quintile={q}": rr for q, rr in QUINTILE_RATE_RATIOS.items() if q != 5}
    truth |= {f"imd_decile={d}": QUINTILE_RATE_RATIOS[(d + 1) // 2] for d in range(1, 10)}
    truth |= {f"ltc_band={b}": rr for b, rr in LTC_RATE_RATIOS.items() if b != "0"}
    truth |= {f"{flag}=1": rr for flag, rr in FLAG_RATE_RATIOS.items()}
    return truth


def simulate(
    seed: int,
    n_patients: int = 20_000,
    n_practices: int = 40,
    supply_slope: float = 0.35,
    supply_noise: float = 0.10,
    overdispersion: float = 0.0,
    age_mix_spread: float = 0.0,
) -> Simulated:
    """Draw patients from the known model and aggregate them to cells.

    Args:
        seed: Random seed.
        n_patients: Patients in the ICB.
        n_practices: Practices; each has a deprivation mix and a supply multiplier.
        supply_slope: How much lower supply is in deprived practices: log supply falls by this
            per unit of the practice's deprivation position (0 least, 1 most deprived).
        supply_noise: Standard deviation of the rest of log supply.
        overdispersion: Gamma frailty variance per patient (0 = Poisson; NB2 α otherwise).
        age_mix_spread: How much practices' age mixes differ (0 = the same mix everywhere); a
            practice's age-band weights are tilted by exp(t · band / 17), t ~ U(−s, s).
    """
    rng = np.random.default_rng(seed)
    practice_position = rng.uniform(0, 1, n_practices)
    log_supply = -supply_slope * practice_position + rng.normal(0, supply_noise, n_practices)
    log_supply -= np.log(np.mean(np.exp(log_supply)))
    practice = rng.integers(0, n_practices, n_patients)
    latent = np.clip(practice_position[practice] + rng.normal(0, 0.25, n_patients), 0, 0.999)
    decile = 10 - np.floor(latent * 10).astype(int)
    quintile = (decile + 1) // 2
    tilt = rng.uniform(-age_mix_spread, age_mix_spread, n_practices)
    age_weights = _age_distribution()[None, :] * np.exp(
        tilt[:, None] * np.arange(len(AGE_BANDS))[None, :] / (len(AGE_BANDS) - 1)
    )
    cumulative = np.cumsum(age_weights / age_weights.sum(axis=1, keepdims=True), axis=1)
    band_index = np.minimum(
        (rng.uniform(size=n_patients)[:, None] > cumulative[practice]).sum(axis=1),
        len(AGE_BANDS) - 1,
    )
    sex = np.where(rng.uniform(size=n_patients) < 0.5, "F", "M")
    ltc = np.minimum(rng.poisson(0.05 + band_index * 0.09), 4)
    cms_score = ltc * rng.uniform(0.3, 1.2, n_patients)
    newly = (rng.uniform(size=n_patients) < 0.08).astype(int)
    care_home = ((rng.uniform(size=n_patients) < 0.15) & (band_index >= 15)).astype(int)
    interpreter = (rng.uniform(size=n_patients) < 0.03 + 0.05 * latent).astype(int)
    exposure = np.where(newly == 1, rng.uniform(0.1, 1.0, n_patients), 1.0)

    age_sex_rr = {
        (s, i): age_sex_rate_ratio(s, i) for s in ("F", "M") for i in range(len(AGE_BANDS))
    }
    rate = BASELINE_RATE * np.array(
        [age_sex_rr[(s, i)] for s, i in zip(sex, band_index, strict=True)]
    )
    rate *= np.vectorize(QUINTILE_RATE_RATIOS.get)(quintile)
    rate *= np.array([LTC_RATE_RATIOS[LTC_BANDS[k]] for k in range(5)])[ltc]
    for flag, values in (
        ("newly_registered", newly),
        ("care_home", care_home),
        ("interpreter_needed", interpreter),
    ):
        rate *= np.where(values == 1, FLAG_RATE_RATIOS[flag], 1.0)
    mean = exposure * rate * np.exp(log_supply[practice])
    if overdispersion > 0:
        mean *= rng.gamma(1.0 / overdispersion, overdispersion, n_patients)
    workload = rng.poisson(mean).astype(float)

    bands = np.array(AGE_BANDS)[band_index]
    patients = pd.DataFrame(
        {
            "practice_code": np.char.add("P", np.char.zfill(practice.astype(str), 3)),
            "age_band": bands,
            "sex": sex,
            "age_sex": np.char.add(np.char.add(sex, ":"), bands),
            "imd_quintile": quintile,
            "imd_decile": decile,
            "ltc_band": np.array(LTC_BANDS)[ltc],
            "cms_band": pd.cut(cms_score, [-1, 0, 1, 2, 3, np.inf], labels=CMS_BANDS).astype(str),
            "newly_registered": newly,
            "care_home": care_home,
            "interpreter_needed": interpreter,
            "exposure": exposure,
            "workload": workload,
        }
    )
    supply = pd.Series(
        np.exp(log_supply),
        index=[f"P{p:03d}" for p in range(n_practices)],
        name="supply",
    )
    return Simulated(patients, to_cells(patients), true_rate_ratios(), supply)


def to_cells(patients: pd.DataFrame) -> pd.DataFrame:
    """Sum patients into cells: one row per practice and combination of covariates."""
    cells = (
        patients.assign(patients=1)
        .groupby(CELL_COLUMNS, sort=True, observed=True)[["workload", "exposure", "patients"]]
        .sum()
        .reset_index()
    )
    return cells


def _age_distribution() -> np.ndarray:
    weights = np.array([6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 6, 6, 5, 4, 3, 2, 2.0])
    return weights / weights.sum()
