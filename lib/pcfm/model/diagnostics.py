"""Diagnostics and validation of the workload model, each returning a tidy DataFrame.

- Calibration: observed against predicted workload by decile of predicted need, and by
  practice.
- Cross-validation that holds out whole practices, so a practice is always predicted by a
  model that never saw it (the situation of a practice asking "why do I get this?").
- Practice-level predictive performance against an age-sex-only model, the "Carr-Hill 2007"
  age-sex weights and a flat rate per person-year.

All tables are aggregates (practices or deciles); no patient-level row leaves this module.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd
from scipy.special import xlogy

from pcfm.base.parallel import parallel_map
from pcfm.model.carr_hill import carr_hill_2007_weight
from pcfm.model.errors import ModelSpecificationError
from pcfm.model.terms import EXPOSURE, PRACTICE, WORKLOAD, with_levels_as_categories
from pcfm.model.workload import WorkloadModel, fit_workload_model
from pcfm.params.model import ModelParams

__all__ = [
    "AGE_SEX_ONLY",
    "CARR_HILL",
    "FLAT_RATE",
    "NEED_WITHOUT_PRACTICE_EFFECTS",
    "NEED_WITH_PRACTICE_EFFECTS",
    "calibration_by_decile",
    "calibration_by_practice",
    "compare_practice_predictions",
    "cross_validate_by_practice",
    "fit_statistics_table",
    "practice_folds",
    "prediction_metrics",
    "specification_label",
]

FLAT_RATE = "flat rate per person-year"
NEED_WITHOUT_PRACTICE_EFFECTS = "need model without practice effects"
NEED_WITH_PRACTICE_EFFECTS = "need model with practice effects"
AGE_SEX_ONLY = "age-sex only model"
CARR_HILL = "Carr-Hill 2007 age-sex weights"


_STATISTICS: tuple[tuple[str, str, str], ...] = (
    ("family", "Family", "Count model family (log link, person-years as exposure)."),
    ("supply_sterilisation", "Supply sterilisation", "Practice fixed effects or none."),
    ("n_cells", "Cells", "Rows of the cells table the model was fitted on."),
    ("n_practices", "Practices", "Practices in the fit (clusters of the robust errors)."),
    ("n_terms", "Need terms", "Rate ratios estimated (practice effects not counted)."),
    (
        "baseline_rate_per_person_year",
        "Baseline rate",
        "Workload per person-year at every reference level, at reference supply.",
    ),
    (
        "deviance_explained",
        "Deviance explained",
        "1 − deviance ÷ deviance of the intercept-only model, on cells.",
    ),
    (
        "pseudo_r2_mcfadden",
        "McFadden pseudo-R²",
        "1 − log-likelihood ÷ that of the intercept-only model, on cells.",
    ),
    (
        "pearson_dispersion",
        "Pearson dispersion",
        "Pearson χ² ÷ residual degrees of freedom (1 if the family's variance is right).",
    ),
    (
        "nb_alpha",
        "NB dispersion α between cells",
        "Var = μ + αμ² of a cell's workload, not a patient's (0 for Poisson; methodology).",
    ),
    ("iterations", "IRLS iterations", "Iterations to convergence (tolerance 1e-11 on log scale)."),
)


def fit_statistics_table(model: WorkloadModel) -> pd.DataFrame:
    """The model's fit statistics as a table: statistic, value, meaning."""
    rows = []
    for key, label, meaning in _STATISTICS:
        value = model.summary[key]
        if isinstance(value, float):
            value = f"{value:.4g}"
        rows.append({"statistic": label, "value": str(value), "meaning": meaning})
    return pd.DataFrame(rows)


def calibration_by_decile(
    model: WorkloadModel, cells: pd.DataFrame, n_groups: int = 10
) -> pd.DataFrame:
    """Observed against predicted workload by group of predicted need per person-year.

    Cells are ordered by predicted need rate and cut into ``n_groups`` groups of about equal
    person-years. ``fitted_workload`` includes each practice's own supply (this is the model's
    calibration); ``predicted_need`` holds supply at the ICB reference (what funding uses).

    Returns:
        One row per group: need_decile (1 = lowest need), person_years, observed_workload,
        fitted_workload, predicted_need, observed_rate, fitted_rate, predicted_need_rate and
        observed_to_fitted.
    """
    rate = model.predict_rate(cells)
    exposure = cells[EXPOSURE].to_numpy(dtype=float)
    order = np.argsort(rate, kind="stable")
    cumulative = np.cumsum(exposure[order]) / exposure.sum()
    group = np.empty(len(rate), dtype=np.int64)
    group[order] = np.minimum((cumulative * n_groups - 1e-12).astype(np.int64), n_groups - 1) + 1
    frame = pd.DataFrame(
        {
            "need_decile": group,
            "person_years": exposure,
            "observed_workload": cells[WORKLOAD].to_numpy(dtype=float),
            "fitted_workload": model.fitted_workload(cells),
            "predicted_need": rate * exposure,
        }
    )
    table = frame.groupby("need_decile", sort=True).sum().reset_index()
    table["observed_rate"] = table["observed_workload"] / table["person_years"]
    table["fitted_rate"] = table["fitted_workload"] / table["person_years"]
    table["predicted_need_rate"] = table["predicted_need"] / table["person_years"]
    table["observed_to_fitted"] = table["observed_workload"] / table["fitted_workload"]
    return table


def calibration_by_practice(model: WorkloadModel, cells: pd.DataFrame) -> pd.DataFrame:
    """Observed workload against predicted need, practice by practice.

    ``observed_to_need`` above 1 means the practice delivers more than the ICB-average supply
    would for its patients' need; with practice effects it equals the practice's estimated
    ``supply_ratio``. ``need_index`` is predicted need per person-year over the ICB mean.

    Returns:
        One row per practice: practice_code, person_years, observed_workload, fitted_workload,
        predicted_need, observed_to_fitted, observed_to_need, need_index and, when the cells
        have ``imd_quintile``, most_deprived_share (share of person-years in IMD quintile 1).
    """
    exposure = cells[EXPOSURE].to_numpy(dtype=float)
    frame = pd.DataFrame(
        {
            PRACTICE: cells[PRACTICE].astype(str).to_numpy(),
            "person_years": exposure,
            "observed_workload": cells[WORKLOAD].to_numpy(dtype=float),
            "fitted_workload": model.fitted_workload(cells),
            "predicted_need": model.predict_workload(cells),
        }
    )
    has_quintile = "imd_quintile" in cells.columns
    if has_quintile:
        quintile = pd.to_numeric(cells["imd_quintile"], errors="coerce").to_numpy()
        frame["most_deprived_py"] = np.where(quintile == 1, exposure, 0.0)
    table = frame.groupby(PRACTICE, sort=True).sum().reset_index()
    if has_quintile:
        table["most_deprived_share"] = table.pop("most_deprived_py") / table["person_years"]
    table["observed_to_fitted"] = table["observed_workload"] / table["fitted_workload"]
    table["observed_to_need"] = table["observed_workload"] / table["predicted_need"]
    icb_need_rate = table["predicted_need"].sum() / table["person_years"].sum()
    table["need_index"] = table["predicted_need"] / table["person_years"] / icb_need_rate
    return table


def practice_folds(cells: pd.DataFrame, n_folds: int, seed: int) -> pd.Series:
    """Fold number (1…n_folds) of each practice: a seeded shuffle dealt round-robin."""
    practices = np.sort(cells[PRACTICE].astype(str).unique())
    if len(practices) < n_folds:
        raise ModelSpecificationError(
            f"cross-validation needs at least {n_folds} practices (model.cv_folds); the cells "
            f"have {len(practices)}"
        )
    shuffled = np.random.default_rng(seed).permutation(practices)
    return pd.Series(np.arange(len(shuffled)) % n_folds + 1, index=shuffled, name="fold")


def cross_validate_by_practice(
    cells: pd.DataFrame,
    model_params: ModelParams,
    seed: int,
    n_folds: int | None = None,
    workers: int = 1,
) -> pd.DataFrame:
    """Predict each practice's workload from a model fitted without it (k-fold by practice).

    The held-out practice has no practice effect in the training fit, so with supply
    sterilisation it is predicted at the reference supply: the prediction is its need, and
    the gap to its observed workload includes its own supply.

    Returns:
        One row per practice: practice_code, fold, person_years, observed_workload,
        predicted_workload.
    """
    folds = practice_folds(cells, n_folds or model_params.cv_folds, seed)
    [predicted] = _cross_validated_workload(cells, [model_params], folds, workers)
    return _by_practice(cells, predicted, folds)


def _cross_validated_workload(
    cells: pd.DataFrame, specs: list[ModelParams], folds: pd.Series, workers: int
) -> list[np.ndarray]:
    """Each specification's prediction of every cell from the fit on the other folds."""
    fold_of_row = cells[PRACTICE].astype(str).map(folds).to_numpy()
    fold_numbers = [int(fold) for fold in sorted(folds.unique())]
    tasks = [(spec, fold) for spec in specs for fold in fold_numbers]
    shipped = with_levels_as_categories(cells)
    outcomes = parallel_map(partial(_practice_fold_workload, shipped, fold_of_row), tasks, workers)
    error = next((o for o in outcomes if isinstance(o, ModelSpecificationError)), None)
    if error is not None:
        raise error
    predictions = []
    for spec in specs:
        predicted = np.empty(len(cells))
        for (of_spec, fold), workload in zip(tasks, outcomes, strict=True):
            if of_spec is spec:
                predicted[fold_of_row == fold] = workload
        predictions.append(predicted)
    return predictions


def _practice_fold_workload(
    cells: pd.DataFrame, fold_of_row: np.ndarray, task: tuple[ModelParams, int]
) -> np.ndarray | ModelSpecificationError:
    """The held-out fold's predicted workload, or why the other folds cannot be fitted."""
    spec, fold = task
    held = fold_of_row == fold
    try:
        model = fit_workload_model(cells[~held], spec)
    except ModelSpecificationError as error:
        return ModelSpecificationError(
            f"cross-validation fold {fold} (training on the other folds): {error}"
        )
    return model.predict_workload(cells[held], unseen_as_reference=True)


def _by_practice(cells: pd.DataFrame, predicted: np.ndarray, folds: pd.Series) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            PRACTICE: cells[PRACTICE].astype(str).to_numpy(),
            "person_years": cells[EXPOSURE].to_numpy(dtype=float),
            "observed_workload": cells[WORKLOAD].to_numpy(dtype=float),
            "predicted_workload": predicted,
        }
    )
    table = frame.groupby(PRACTICE, sort=True).sum().reset_index()
    table.insert(1, "fold", table[PRACTICE].map(folds).to_numpy())
    return table


def _weighted_rate_predictions(
    cells: pd.DataFrame, weight_per_person: np.ndarray, folds: pd.Series
) -> np.ndarray:
    """Workload = weighted person-years × the training folds' workload per weighted person-year."""
    exposure = cells[EXPOSURE].to_numpy(dtype=float)
    workload = cells[WORKLOAD].to_numpy(dtype=float)
    weighted = exposure * weight_per_person
    fold_of_row = cells[PRACTICE].astype(str).map(folds).to_numpy()
    predicted = np.empty(len(cells))
    for fold in sorted(folds.unique()):
        held = fold_of_row == fold
        predicted[held] = weighted[held] * workload[~held].sum() / weighted[~held].sum()
    return predicted


def prediction_metrics(table: pd.DataFrame) -> dict[str, float]:
    """Practice-level accuracy of predicted against observed workload.

    ``r_squared`` is 1 − Σ E_p (r_p − r̂_p)² / Σ E_p (r_p − r̄)² on workload per person-year r,
    weighted by person-years E_p; ``mean_absolute_percentage_error`` is the mean over practices
    of |predicted − observed| / observed; ``poisson_deviance`` is the deviance of the practice
    totals; ``correlation`` is Pearson's between observed and predicted rates.
    """
    exposure = table["person_years"].to_numpy(dtype=float)
    observed = table["observed_workload"].to_numpy(dtype=float)
    predicted = table["predicted_workload"].to_numpy(dtype=float)
    observed_rate, predicted_rate = observed / exposure, predicted / exposure
    mean_rate = observed.sum() / exposure.sum()
    residual = np.sum(exposure * (observed_rate - predicted_rate) ** 2)
    total = np.sum(exposure * (observed_rate - mean_rate) ** 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        percentage = np.abs(predicted - observed) / observed
    return {
        "r_squared": float(1.0 - residual / total) if total > 0 else float("nan"),
        "mean_absolute_percentage_error": float(np.nanmean(percentage[observed > 0])),
        "poisson_deviance": float(
            2.0
            * np.sum(xlogy(observed, observed) - xlogy(observed, predicted) - observed + predicted)
        ),
        "correlation": _correlation(observed_rate, predicted_rate),
    }


def _correlation(first: np.ndarray, second: np.ndarray) -> float:
    """Pearson's correlation, NaN (not a warning) when either side is constant."""
    if np.std(first) == 0 or np.std(second) == 0:
        return float("nan")
    return float(np.corrcoef(first, second)[0, 1])


def compare_practice_predictions(
    cells: pd.DataFrame,
    model_params: ModelParams,
    seed: int,
    n_folds: int | None = None,
    health_domain_score: pd.Series | None = None,
    workers: int = 1,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Does the need model predict practice workload better than what we have?

    Every method is scored out of sample on the same practice folds: the need model as
    specified, the same model without practice effects (when it has them: a held-out practice
    is predicted at reference supply, so the sterilised model predicts need, not the
    supply-constrained workload), the same model with age-sex only, the "Carr-Hill 2007"
    age-sex weights (scaled by the training folds' workload per weighted person-year) and a
    flat rate per person-year.

    Args:
        cells: The cells.
        model_params: The specification of the need model.
        seed: Seed of the practice folds.
        n_folds: Folds (default ``model_params.cv_folds``).
        health_domain_score: Optional IMD health-and-disability domain score per practice for
            the Carr-Hill deprivation factor (1.054 ** score).
        workers: Processes fitting at once (`pcfm.base.parallel`); the results are the same.

    Returns:
        ``(metrics, predictions)``: metrics has one row per method (method, r_squared,
        mean_absolute_percentage_error, poisson_deviance, correlation); predictions has one
        row per practice and method (practice_code, fold, method, person_years,
        observed_workload, predicted_workload).
    """
    n_folds = n_folds or model_params.cv_folds
    folds = practice_folds(cells, n_folds, seed)
    specs = {specification_label(model_params): model_params}
    if model_params.supply_sterilisation == "practice_effects":
        specs[NEED_WITHOUT_PRACTICE_EFFECTS] = model_params.model_copy(
            update={"supply_sterilisation": "none"}
        )
    if list(model_params.covariates) != ["age_sex"]:
        specs[AGE_SEX_ONLY] = model_params.model_copy(update={"covariates": ["age_sex"]})
    predicted = _cross_validated_workload(cells, list(specs.values()), folds, workers)
    tables = {
        label: _by_practice(cells, workload, folds)
        for label, workload in zip(specs, predicted, strict=True)
    }
    carr_hill = _weighted_rate_predictions(
        cells, carr_hill_2007_weight(cells, health_domain_score), folds
    )
    tables[CARR_HILL] = _by_practice(cells, carr_hill, folds)
    flat = _weighted_rate_predictions(cells, np.ones(len(cells)), folds)
    tables[FLAT_RATE] = _by_practice(cells, flat, folds)
    metrics = pd.DataFrame(
        [{"method": name, **prediction_metrics(t)} for name, t in tables.items()]
    )
    predictions = pd.concat(
        [t.assign(method=name) for name, t in tables.items()], ignore_index=True
    )[[PRACTICE, "fold", "method", "person_years", "observed_workload", "predicted_workload"]]
    return metrics, predictions


def specification_label(model_params: ModelParams) -> str:
    """How the validation tables name the need model as specified."""
    supply = (
        "with practice effects"
        if model_params.supply_sterilisation == "practice_effects"
        else "without practice effects"
    )
    return f"need model as specified ({model_params.family}, {supply})"
