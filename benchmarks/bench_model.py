"""Benchmark of the workload-model fits at LLR scale (≈1.1 M patients, 127 practices).

Builds a synthetic ICB in the script itself (patients drawn from a known Poisson model with
practice supply effects), aggregates it to cells, and times in the same process:

1. the cell fit without practice effects (``fit_workload_model``, supply_sterilisation none);
2. the practice-effects fit (absorbed practice effects; target: under 5 s), and the same
   with the negative-binomial family;
3. the dense statsmodels fit of the same cells through the formula interface with one dummy
   per practice (the baseline the absorbed fit replaces), and the largest difference in
   coefficients between the two;
4. the naive patient-level statsmodels fit (formula interface, practice dummies) on a 10%
   random subsample of patients, scaled ×10 to the whole ICB (its cost is linear in rows);
5. the same practice-effects fit by pyfixest's ``fepois`` (the library anchor; the ``bench``
   extra, pinned in requirements-bench.lock, which ``make benchmark`` installs), with its time
   as a ratio to pcfm's fit and the largest differences in coefficients and standard errors
   (pyfixest's small-sample factor also has (N−1)/(N−K), so its errors differ in the sixth
   decimal);
6. the two validations of stage 02 with the practice-effects model: the cross-validation by
   practice (``compare_practice_predictions``) and the validation on held-out patients within
   practices (``validate_held_out_patients``, on cells split into 5 patient folds).

Run: ``.venv/bin/python benchmarks/bench_model.py [--patients N] [--skip-dense]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import statsmodels.api as sm
import statsmodels.formula.api as smf

from pcfm.model import fit_workload_model
from pcfm.model.diagnostics import compare_practice_predictions
from pcfm.model.held_out import validate_held_out_patients
from pcfm.params.model import ALL_COVARIATES, ModelParams

COVARIATES = ALL_COVARIATES
AGE_BANDS = np.array([*(f"{a}-{a + 4}" for a in range(0, 85, 5)), "85+"])
LTC_BANDS = np.array(["0", "1", "2", "3", "4+"])
CELL_COLUMNS = [
    "practice_code",
    "age_sex",
    "imd_decile",
    "ltc_band",
    "newly_registered",
    "care_home",
    "interpreter_needed",
]


def synthetic_patients(n_patients: int, n_practices: int, seed: int) -> pd.DataFrame:
    """Patients of an LLR-sized ICB with deprivation-correlated supply."""
    rng = np.random.default_rng(seed)
    position = rng.uniform(0, 1, n_practices)
    supply = np.exp(-0.35 * position + rng.normal(0, 0.1, n_practices))
    practice = rng.integers(0, n_practices, n_patients)
    latent = np.clip(position[practice] + rng.normal(0, 0.25, n_patients), 0, 0.999)
    decile = 10 - np.floor(latent * 10).astype(int)
    band = rng.integers(0, len(AGE_BANDS), n_patients)
    sex = np.where(rng.uniform(size=n_patients) < 0.5, "F", "M")
    ltc = np.minimum(rng.poisson(0.05 + band * 0.09), 4)
    newly = (rng.uniform(size=n_patients) < 0.08).astype(int)
    care_home = ((rng.uniform(size=n_patients) < 0.15) & (band >= 15)).astype(int)
    interpreter = (rng.uniform(size=n_patients) < 0.03 + 0.05 * latent).astype(int)
    exposure = np.where(newly == 1, rng.uniform(0.1, 1.0, n_patients), 1.0)
    log_rate = (
        np.log(3.0)
        + 0.0003 * (band * 5 - 30) ** 2
        + 0.2 * (sex == "F")
        + 0.04 * (10 - decile)
        + 0.3 * ltc
        + 0.35 * newly
        + 0.6 * care_home
        + 0.2 * interpreter
    )
    workload = rng.poisson(exposure * np.exp(log_rate) * supply[practice]).astype(float)
    return pd.DataFrame({
        "practice_code": np.char.add("P", np.char.zfill(practice.astype(str), 3)),
        "age_sex": np.char.add(np.char.add(sex, ":"), AGE_BANDS[band]),
        "imd_decile": decile,
        "ltc_band": LTC_BANDS[ltc],
        "newly_registered": newly,
        "care_home": care_home,
        "interpreter_needed": interpreter,
        "exposure": exposure,
        "workload": workload,
    })  # fmt: skip


def timed(function, *args, **kwargs):
    """Result of ``function`` and its wall time in seconds."""
    start_s = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start_s


FORMULA = (
    "workload ~ C(age_sex, Treatment('F:30-34')) + C(imd_decile, Treatment(10)) "
    "+ C(ltc_band, Treatment('0')) + newly_registered + care_home + interpreter_needed "
    "+ C(practice_code)"
)


def statsmodels_formula_fit(frame: pd.DataFrame):
    """The textbook fit: formula interface, a dummy per practice, clustered by practice."""
    groups = pd.factorize(frame["practice_code"])[0]
    return smf.glm(
        FORMULA, data=frame, family=sm.families.Poisson(), offset=np.log(frame["exposure"])
    ).fit(cov_type="cluster", cov_kwds={"groups": groups})


#: The same model for pyfixest (formulaic's contrast syntax; practice effects absorbed).
PYFIXEST_FORMULA = (
    "workload ~ C(age_sex, contr.treatment('F:30-34')) + C(imd_decile, contr.treatment(10)) "
    "+ C(ltc_band, contr.treatment('0')) + newly_registered + care_home + interpreter_needed "
    "| practice_code"
)


def pyfixest_fit(frame: pd.DataFrame):
    """The library anchor: pyfixest's fepois, absorbed practice effects, clustered errors."""
    import pyfixest

    data = frame.assign(log_exposure=np.log(frame["exposure"]))
    return pyfixest.fepois(
        PYFIXEST_FORMULA,
        data=data,
        offset="log_exposure",
        vcov={"CRV1": "practice_code"},
        iwls_tol=1e-10,
    )


def _pyfixest_terms(names: pd.Index) -> list[str]:
    """pyfixest's coefficient names as ``covariate=level``."""
    terms = []
    for name in names:
        if name.startswith("C("):
            covariate = name[2 : name.index(",")]
            level = name[name.rindex("[") + 1 : -1].removeprefix("T.")
            terms.append(f"{covariate}={level}")
        else:
            terms.append(f"{name}=1")
    return terms


def _time_pyfixest(cells: pd.DataFrame, sterilised, sterilised_s: float) -> None:
    """pyfixest on the same cells: time, ratio to pcfm's fit, largest coefficient gap."""
    try:
        import pyfixest  # noqa: F401
    except ImportError:
        print("pyfixest not installed (make benchmark installs requirements-bench.lock)")
        return
    fit, fit_s = timed(pyfixest_fit, cells)
    coef = fit.coef()
    coef.index = _pyfixest_terms(coef.index)
    se = fit.se()
    se.index = coef.index
    ours = pd.Series(sterilised.coef, index=sterilised.terms)
    ours_se = pd.Series(sterilised.std_errors, index=sterilised.terms)
    print(
        f"pyfixest fepois, absorbed practice effects: {fit_s:8.2f} s "
        f"(ratio to pcfm's fit {fit_s / sterilised_s:.2f}×; max |Δ coefficient| "
        f"{np.max(np.abs(coef.reindex(ours.index) - ours)):.1e}, max |Δ standard error| "
        f"{np.max(np.abs(se.reindex(ours.index) - ours_se)):.1e})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=1_100_000)
    parser.add_argument("--practices", type=int, default=127)
    parser.add_argument("--seed", type=int, default=20250401)
    parser.add_argument("--skip-dense", action="store_true", help="skip the statsmodels fits")
    args = parser.parse_args()

    patients, build_s = timed(synthetic_patients, args.patients, args.practices, args.seed)
    cells, aggregate_s = timed(
        lambda: (
            patients.groupby(CELL_COLUMNS, sort=True)[["workload", "exposure"]].sum().reset_index()
        )
    )
    print(
        f"synthetic ICB: {len(patients):,} patients, {args.practices} practices "
        f"({build_s:.1f} s); {len(cells):,} cells ({aggregate_s:.1f} s)"
    )

    naive_params = ModelParams(covariates=COVARIATES, deprivation_band="decile")
    sterilised_params = naive_params.model_copy(update={"supply_sterilisation": "practice_effects"})
    naive, naive_s = timed(fit_workload_model, cells, naive_params)
    sterilised, sterilised_s = timed(fit_workload_model, cells, sterilised_params)
    print(f"need terms: {len(sterilised.terms)}")
    print(
        f"cell fit, no practice effects      : {naive_s:8.2f} s "
        f"({naive.summary['iterations']} iterations)"
    )
    print(
        f"cell fit, absorbed practice effects: {sterilised_s:8.2f} s "
        f"({sterilised.summary['iterations']} iterations)  target < 5 s: "
        f"{'met' if sterilised_s < 5 else 'NOT met'}"
    )
    nb_params = sterilised_params.model_copy(update={"family": "negative_binomial"})
    nb, nb_s = timed(fit_workload_model, cells, nb_params)
    print(
        f"cell fit, negative binomial + practice effects: {nb_s:8.2f} s "
        f"(alpha {nb.summary['nb_alpha']:.3g}, profile likelihood over alpha)"
    )
    _time_pyfixest(cells, sterilised, sterilised_s)
    _time_validations(patients, sterilised_params, args.seed)
    if args.skip_dense:
        return

    dense, dense_s = timed(statsmodels_formula_fit, cells)
    dense_coef = _need_coefficients(dense.params)
    difference = float(
        np.max(np.abs(dense_coef.reindex(sterilised.terms).to_numpy() - sterilised.coef))
    )
    print(
        f"statsmodels dense cell fit, {dense.params.size} columns : {dense_s:8.2f} s "
        f"(max |Δ coefficient| vs absorbed fit: {difference:.1e})"
    )

    subsample = patients.sample(frac=0.1, random_state=args.seed)
    _, sub_s = timed(statsmodels_formula_fit, subsample)
    patient_s = sub_s * len(patients) / len(subsample)
    print(
        f"statsmodels patient-level fit on a 10% subsample ({len(subsample):,} rows): "
        f"{sub_s:8.2f} s; scaled to all patients ≈ {patient_s:8.1f} s"
    )
    print("ratios (time ÷ absorbed practice-effects fit):")
    print(f"  dense statsmodels cell fit      : {dense_s / sterilised_s:8.1f}×")
    print(f"  patient-level statsmodels (est.): {patient_s / sterilised_s:8.1f}×")
    print(f"  cell fit without practice effects: {naive_s / sterilised_s:8.2f}×")


def _time_validations(patients: pd.DataFrame, model_params: ModelParams, seed: int) -> None:
    """Time stage 02's two validations (5 folds each) on the same patients."""
    fold = np.random.default_rng(seed).integers(1, 6, len(patients))
    fold_cells, split_s = timed(
        lambda: (
            patients.assign(patient_fold=fold, patients=1)
            .groupby([*CELL_COLUMNS, "patient_fold"], sort=True)[
                ["workload", "exposure", "patients"]
            ]
            .sum()
            .reset_index()
        )
    )
    cells = fold_cells.drop(columns="patient_fold").groupby(CELL_COLUMNS).sum().reset_index()
    _, practice_s = timed(compare_practice_predictions, cells, model_params, seed, 5)
    (metrics, _, _), held_out_s = timed(validate_held_out_patients, fold_cells, model_params)
    print(f"cells split by 5 patient folds: {len(fold_cells):,} rows ({split_s:.1f} s)")
    print(f"validation, practices held out (5 folds)         : {practice_s:8.2f} s")
    print(f"validation, patients held out within practices   : {held_out_s:8.2f} s")
    print(metrics[["method", "rank", "deviance_explained", "r_squared"]].to_string(index=False))


def _need_coefficients(params: pd.Series) -> pd.Series:
    """Statsmodels' parameter names renamed to ``covariate=level`` (practice dummies dropped)."""
    renamed = {}
    for name, value in params.items():
        if name.startswith("C(practice_code)") or name == "Intercept":
            continue
        if name.startswith("C("):
            covariate = name[2 : name.index(",")]
            level = name[name.index("[T.") + 3 : -1]
            renamed[f"{covariate}={level}"] = value
        else:
            renamed[f"{name}=1"] = value
    return pd.Series(renamed)


if __name__ == "__main__":
    main()
