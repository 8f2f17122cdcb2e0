"""Validation on held-out patients within practices: does the need model predict workload?

The cross-validation by practice (`pcfm.model.diagnostics`) predicts a practice the model
never saw, so it scores need against *observed* workload, which carries the practice's supply:
a supply-sterilised model is, by design, furthest from what an under-supplied practice
delivered. This module asks the question a need model should answer well instead: given a
practice's own level of workload, do its patients' need characteristics predict which of them
generate the work?

Patients are dealt into ``model.cv_folds`` folds by a seeded hash of their id when the data
stage builds the cells (`pcfm.data.cells.build_cell_tables`), so the cells of one fold hold only
that fold's patients. For each fold, every method is fitted on the other folds' cells and
predicts the held-out cells **including their practice's effect**: the method's need rate times
the practice's ratio of observed to predicted workload among its training patients. For the
Poisson model with practice effects that ratio is exactly its fitted practice effect (the
likelihood equations make each practice's fitted total equal its observed total); every other
method gets the same treatment, so the flat rate becomes each practice's own training rate per
person-year and the comparison is of need characteristics alone, within practices.

Everything published is an aggregate over all held-out patients; no cell leaves the module.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import xlogy

from pcfm.model.carr_hill import carr_hill_2007_weight
from pcfm.model.diagnostics import (
    AGE_SEX_ONLY,
    CARR_HILL,
    FLAT_RATE,
    NEED_WITH_PRACTICE_EFFECTS,
    NEED_WITHOUT_PRACTICE_EFFECTS,
    specification_label,
)
from pcfm.model.errors import CellsError, ModelSpecificationError
from pcfm.model.irls import fit_absorbed_glm
from pcfm.model.terms import EXPOSURE, PRACTICE, WORKLOAD
from pcfm.model.workload import fit_workload_model
from pcfm.params.model import ModelParams

__all__ = [
    "HELD_OUT_COLUMNS",
    "PATIENT_FOLD",
    "collapse_folds",
    "held_out_metrics",
    "held_out_predictions",
    "validate_held_out_patients",
]

#: The fold column of the cells split by patient (`pcfm.base.artefacts.CELLS_BY_PATIENT_FOLD`).
PATIENT_FOLD = "patient_fold"
_SUMS = [WORKLOAD, EXPOSURE, "patients"]
#: Columns of the published table, in order.
HELD_OUT_COLUMNS = [
    "method",
    "rank",
    "poisson_deviance",
    "deviance_explained",
    "r_squared",
    "calibration_slope",
    "calibration_mean_abs_error",
    "calibration_max_abs_error",
    "folds",
    "held_out_patients",
]


def collapse_folds(fold_cells: pd.DataFrame) -> pd.DataFrame:
    """Sum cells split by patient fold over the folds: the cells of those patients."""
    keys = [c for c in fold_cells.columns if c not in (*_SUMS, PATIENT_FOLD)]
    sums = [c for c in _SUMS if c in fold_cells.columns]
    return (
        fold_cells.groupby(keys, sort=False, dropna=False, observed=True)[sums].sum().reset_index()
    )


def _methods(model_params: ModelParams) -> dict[str, ModelParams | str]:
    """The methods compared: need model specifications, or 'carr_hill' / 'flat'."""
    methods: dict[str, ModelParams | str] = {specification_label(model_params): model_params}
    if model_params.supply_sterilisation == "practice_effects":
        methods[NEED_WITHOUT_PRACTICE_EFFECTS] = model_params.model_copy(
            update={"supply_sterilisation": "none"}
        )
    else:
        methods[NEED_WITH_PRACTICE_EFFECTS] = model_params.model_copy(
            update={"supply_sterilisation": "practice_effects"}
        )
    if list(model_params.covariates) != ["age_sex"]:
        methods[AGE_SEX_ONLY] = model_params.model_copy(update={"covariates": ["age_sex"]})
    methods[CARR_HILL] = "carr_hill"
    methods[FLAT_RATE] = "flat"
    return methods


def _need_rate(
    method: ModelParams | str, train: pd.DataFrame, held: pd.DataFrame, fold: int, label: str
) -> tuple[np.ndarray, np.ndarray]:
    """A method's need rate per person-year (up to a constant) on the training and held cells."""
    if method == "flat":
        return np.ones(len(train)), np.ones(len(held))
    if method == "carr_hill":
        return carr_hill_2007_weight(train), carr_hill_2007_weight(held)
    assert isinstance(method, ModelParams)
    try:
        model = fit_workload_model(train, method)
    except ModelSpecificationError as error:
        raise ModelSpecificationError(
            f"held-out patient fold {fold} ({label}, trained on the other folds): {error}"
        ) from None
    return model.predict_rate(train), model.predict_rate(held, unseen_as_reference=True)


def _with_practice_effect(
    train: pd.DataFrame, held: pd.DataFrame, train_rate: np.ndarray, held_rate: np.ndarray
) -> np.ndarray:
    """Held-out workload: need rate × exposure × the practice's observed ÷ predicted in training.

    A practice with no training patients, or no training workload, gets the ICB's ratio.
    """
    train_need = train_rate * train[EXPOSURE].to_numpy(dtype=float)
    frame = pd.DataFrame(
        {
            "practice": train[PRACTICE].astype(str).to_numpy(),
            "y": train[WORKLOAD],
            "need": train_need,
        }
    )
    totals = frame.groupby("practice", sort=False)[["y", "need"]].sum()
    icb_ratio = float(totals["y"].sum() / totals["need"].sum())
    ratio = (totals["y"] / totals["need"]).where(totals["y"] > 0)
    held_ratio = held[PRACTICE].astype(str).map(ratio).fillna(icb_ratio).to_numpy(dtype=float)
    return held_rate * held[EXPOSURE].to_numpy(dtype=float) * held_ratio


def held_out_predictions(
    fold_cells: pd.DataFrame, model_params: ModelParams
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Each held-out cell's workload as predicted by every method, fitted on the other folds.

    Args:
        fold_cells: Cells split by ``patient_fold`` (each patient's cells in one fold).
        model_params: The need model as specified.

    Returns:
        ``(predictions, not_fitted)``: one row per held-out cell and method (method,
        patient_fold, practice_code, exposure, patients, workload observed and predicted;
        restricted: these are cells), and the comparator models that could not be fitted on
        some fold's training patients, with the reason (they are left out, not fatal).

    Raises:
        CellsError: no ``patient_fold`` column, or fewer than two folds.
        ModelSpecificationError: the need model as specified cannot be fitted on some fold's
            training patients.
    """
    if PATIENT_FOLD not in fold_cells.columns:
        raise CellsError(f"cells: the held-out validation needs a '{PATIENT_FOLD}' column")
    folds = sorted(pd.unique(fold_cells[PATIENT_FOLD]))
    if len(folds) < 2:
        raise CellsError(
            f"cells: the held-out validation needs at least 2 patient folds; found {len(folds)}"
        )
    methods = _methods(model_params)
    fold_of_row = fold_cells[PATIENT_FOLD].to_numpy()
    splits = [
        (
            int(fold),
            collapse_folds(fold_cells[fold_of_row != fold]),
            fold_cells[fold_of_row == fold].reset_index(drop=True),
        )
        for fold in folds
    ]
    frames, not_fitted = [], {}
    specified = next(iter(methods))
    for label, method in methods.items():
        try:
            frames += [_predict_fold(label, method, *split) for split in splits]
        except ModelSpecificationError as error:
            if label == specified:
                raise
            not_fitted[label] = str(error)
            frames = [frame for frame in frames if frame["method"].iloc[0] != label]
    return pd.concat(frames, ignore_index=True), not_fitted


def _predict_fold(
    label: str, method: ModelParams | str, fold: int, train: pd.DataFrame, held: pd.DataFrame
) -> pd.DataFrame:
    train_rate, held_rate = _need_rate(method, train, held, fold, label)
    return pd.DataFrame(
        {
            "method": label,
            PATIENT_FOLD: fold,
            PRACTICE: held[PRACTICE].astype(str).to_numpy(),
            EXPOSURE: held[EXPOSURE].to_numpy(dtype=float),
            "patients": held["patients"].to_numpy(),
            WORKLOAD: held[WORKLOAD].to_numpy(dtype=float),
            "predicted": _with_practice_effect(train, held, train_rate, held_rate),
        }
    )


def _deviance(observed: np.ndarray, predicted: np.ndarray) -> float:
    return float(
        2.0 * np.sum(xlogy(observed, observed) - xlogy(observed, predicted) - observed + predicted)
    )


def _calibration_slope(observed: np.ndarray, predicted: np.ndarray, practice: np.ndarray) -> float:
    """b of the Poisson regression log E[y] = a + b log(predicted): 1 if calibrated in spread."""
    positive = predicted > 0
    clusters = pd.factorize(practice[positive])[0].astype(np.int64)
    fit = fit_absorbed_glm(
        observed[positive],
        np.log(predicted[positive])[:, None],
        np.zeros(int(positive.sum())),
        np.zeros(int(positive.sum()), dtype=np.int64),
        clusters,
    )
    return float(fit.coef[0])


def held_out_metrics(predictions: pd.DataFrame, n_groups: int = 10) -> dict[str, float]:
    """How well one method predicts held-out workload, on the held-out cells.

    ``poisson_deviance`` is the deviance of the held-out cells; ``deviance_explained`` is
    1 − that ÷ the deviance of one ICB-wide rate per person-year (computed from the held-out
    cells themselves, so a method with practice effects can exceed what any method without them
    reaches); ``r_squared`` is 1 − Σ E (r − r̂)² ÷ Σ E (r − r̄)² on the cells' workload per
    person-year r, weighted by person-years E; the calibration columns come from the held-out
    cells ordered by predicted rate and cut into ``n_groups`` groups of equal person-years:
    the mean (weighted by person-years) and largest |observed ÷ predicted − 1|, and the slope of
    observed on predicted workload on the log scale (1 = neither too spread nor too flat).
    """
    exposure = predictions[EXPOSURE].to_numpy(dtype=float)
    observed = predictions[WORKLOAD].to_numpy(dtype=float)
    predicted = predictions["predicted"].to_numpy(dtype=float)
    practice = predictions[PRACTICE].to_numpy()
    mean_rate = observed.sum() / exposure.sum()
    deviance = _deviance(observed, predicted)
    null_deviance = _deviance(observed, mean_rate * exposure)
    observed_rate, predicted_rate = observed / exposure, predicted / exposure
    residual = np.sum(exposure * (observed_rate - predicted_rate) ** 2)
    total = np.sum(exposure * (observed_rate - mean_rate) ** 2)
    order = np.argsort(predicted_rate, kind="stable")
    cumulative = np.cumsum(exposure[order]) / exposure.sum()
    group = np.empty(len(order), dtype=np.int64)
    group[order] = np.minimum((cumulative * n_groups - 1e-12).astype(np.int64), n_groups - 1)
    group_observed = np.bincount(group, observed, n_groups)
    group_predicted = np.bincount(group, predicted, n_groups)
    group_exposure = np.bincount(group, exposure, n_groups)
    filled = group_predicted > 0
    error = np.abs(group_observed[filled] / group_predicted[filled] - 1.0)
    return {
        "poisson_deviance": deviance,
        "deviance_explained": 1.0 - deviance / null_deviance if null_deviance > 0 else np.nan,
        "r_squared": float(1.0 - residual / total) if total > 0 else float("nan"),
        "calibration_slope": _calibration_slope(observed, predicted, practice),
        "calibration_mean_abs_error": float(np.average(error, weights=group_exposure[filled])),
        "calibration_max_abs_error": float(error.max()),
    }


def validate_held_out_patients(
    fold_cells: pd.DataFrame, model_params: ModelParams
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:
    """Score every method on held-out patients within practices (see the module docstring).

    Returns:
        ``(metrics, predictions, not_fitted)``: metrics has one row per method with
        :data:`HELD_OUT_COLUMNS` (``rank`` 1 = lowest held-out deviance; ``held_out_patients``
        counts every patient once, each being held out once); predictions and not_fitted are
        :func:`held_out_predictions`'s (predictions restricted).
    """
    predictions, not_fitted = held_out_predictions(fold_cells, model_params)
    n_folds = predictions[PATIENT_FOLD].nunique()
    rows = []
    for method, table in predictions.groupby("method", sort=False):
        rows.append(
            {
                "method": method,
                **held_out_metrics(table),
                "folds": n_folds,
                "held_out_patients": int(table["patients"].sum()),
            }
        )
    metrics = pd.DataFrame(rows)
    metrics["rank"] = metrics["poisson_deviance"].rank(method="min").astype(int)
    return metrics[HELD_OUT_COLUMNS], predictions, not_fitted
