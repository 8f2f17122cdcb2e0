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

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import xlogy

from pcfm.base.parallel import parallel_map
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
from pcfm.model.irls import MAX_ITERATIONS, TOLERANCE
from pcfm.model.terms import EXPOSURE, PRACTICE, WORKLOAD, with_levels_as_categories
from pcfm.model.workload import fit_workload_model
from pcfm.params.model import ModelParams

__all__ = [
    "HELD_OUT_COLUMNS",
    "PATIENT_FOLD",
    "FoldSplit",
    "collapse_folds",
    "fold_splits",
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


@dataclass(frozen=True)
class FoldSplit:
    """One patient fold held out: the training cells, the held-out cells and their practices.

    Attributes:
        fold: The held-out fold.
        train: :func:`collapse_folds` of the other folds' rows.
        held: The fold's own rows.
        train_practice: Each training row's practice as a code shared with ``held_practice``.
        held_practice: Each held-out row's practice, coded as above.
    """

    fold: int
    train: pd.DataFrame
    held: pd.DataFrame
    train_practice: np.ndarray
    held_practice: np.ndarray


def fold_splits(fold_cells: pd.DataFrame) -> list[FoldSplit]:
    """Each patient fold held out in turn (see :class:`FoldSplit`).

    The training cells are found with one grouping of all the rows instead of one per fold:
    each row's cell is numbered once and the training sums are weighted counts over the other
    folds' rows.
    """
    keys = [c for c in fold_cells.columns if c not in (*_SUMS, PATIENT_FOLD)]
    sums = [c for c in _SUMS if c in fold_cells.columns]
    fold_cells = with_levels_as_categories(fold_cells)
    grouping = fold_cells.groupby(keys, sort=False, dropna=False, observed=True)
    cell_of_row = grouping.ngroup().to_numpy()
    n_cells = int(cell_of_row.max()) + 1
    cell_keys = grouping[sums[0]].first().reset_index()[keys]
    practice_of_row = pd.factorize(fold_cells[PRACTICE])[0]
    practice_of_cell = np.empty(n_cells, dtype=np.int64)
    practice_of_cell[cell_of_row] = practice_of_row
    fold_of_row = fold_cells[PATIENT_FOLD].to_numpy()
    splits = []
    for fold in sorted(pd.unique(fold_of_row)):
        held = fold_of_row == fold
        train_cell = cell_of_row[~held]
        present = np.bincount(train_cell, minlength=n_cells) > 0
        train = cell_keys[present].reset_index(drop=True)
        for column in sums:
            values = fold_cells[column].to_numpy()[~held]
            total = np.bincount(train_cell, values.astype(float), n_cells)[present]
            train[column] = total.astype(values.dtype) if values.dtype.kind in "iu" else total
        splits.append(
            FoldSplit(
                fold=int(fold),
                train=train,
                held=fold_cells[held].reset_index(drop=True),
                train_practice=practice_of_cell[present],
                held_practice=practice_of_row[held],
            )
        )
    return splits


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
    method: ModelParams | str, split: FoldSplit, label: str
) -> tuple[np.ndarray, np.ndarray]:
    """A method's need rate per person-year (up to a constant) on the training and held cells."""
    train, held = split.train, split.held
    if method == "flat":
        return np.ones(len(train)), np.ones(len(held))
    if method == "carr_hill":
        return carr_hill_2007_weight(train), carr_hill_2007_weight(held)
    assert isinstance(method, ModelParams)
    try:
        model = fit_workload_model(train, method)
    except ModelSpecificationError as error:
        raise ModelSpecificationError(
            f"held-out patient fold {split.fold} ({label}, trained on the other folds): {error}"
        ) from None
    return model.predict_rate(train), model.predict_rate(held, unseen_as_reference=True)


def _with_practice_effect(
    split: FoldSplit, train_rate: np.ndarray, held_rate: np.ndarray
) -> np.ndarray:
    """Held-out workload: need rate × exposure × the practice's observed ÷ predicted in training.

    A practice with no training patients, or no training workload, gets the ICB's ratio.
    """
    train, held = split.train, split.held
    n_practices = int(max(split.train_practice.max(), split.held_practice.max())) + 1
    workload = np.bincount(split.train_practice, train[WORKLOAD].to_numpy(dtype=float), n_practices)
    need = np.bincount(
        split.train_practice, train_rate * train[EXPOSURE].to_numpy(dtype=float), n_practices
    )
    icb_ratio = float(workload.sum() / need.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(workload > 0, workload / need, icb_ratio)
    return held_rate * held[EXPOSURE].to_numpy(dtype=float) * ratio[split.held_practice]


def held_out_predictions(
    fold_cells: pd.DataFrame, model_params: ModelParams, workers: int = 1
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Each held-out cell's workload as predicted by every method, fitted on the other folds.

    Args:
        fold_cells: Cells split by ``patient_fold`` (each patient's cells in one fold).
        model_params: The need model as specified.
        workers: Processes fitting at once (`pcfm.base.parallel`); the predictions are the same.

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
    splits = fold_splits(fold_cells)
    tasks = [(label, method, split) for label, method in methods.items() for split in splits]
    outcomes = parallel_map(_predicted_or_error, tasks, workers)
    frames, not_fitted = [], {}
    specified = next(iter(methods))
    for label in methods:
        of_method = [
            (split, outcome)
            for (name, _, split), outcome in zip(tasks, outcomes, strict=True)
            if name == label
        ]
        errors = [o for _, o in of_method if isinstance(o, ModelSpecificationError)]
        if not errors:
            frames += [_predictions_frame(label, split, values) for split, values in of_method]
        elif label == specified:
            raise errors[0]
        else:
            not_fitted[label] = str(errors[0])
    return pd.concat(frames, ignore_index=True), not_fitted


def _predicted_or_error(
    task: tuple[str, ModelParams | str, FoldSplit],
) -> np.ndarray | ModelSpecificationError:
    """One method's predictions of one held-out fold, or why it cannot be fitted there."""
    label, method, split = task
    try:
        train_rate, held_rate = _need_rate(method, split, label)
    except ModelSpecificationError as error:
        return error
    return _with_practice_effect(split, train_rate, held_rate)


def _predictions_frame(label: str, split: FoldSplit, predicted: np.ndarray) -> pd.DataFrame:
    held = split.held
    return pd.DataFrame(
        {
            "method": label,
            PATIENT_FOLD: split.fold,
            PRACTICE: held[PRACTICE].to_numpy(),
            EXPOSURE: held[EXPOSURE].to_numpy(dtype=float),
            "patients": held["patients"].to_numpy(),
            WORKLOAD: held[WORKLOAD].to_numpy(dtype=float),
            "predicted": predicted,
        }
    )


def _deviance(observed: np.ndarray, predicted: np.ndarray) -> float:
    return float(
        2.0 * np.sum(xlogy(observed, observed) - xlogy(observed, predicted) - observed + predicted)
    )


def _calibration_slope(observed: np.ndarray, predicted: np.ndarray) -> float:
    """b of the Poisson regression log E[y] = a + b log(predicted): 1 if calibrated in spread.

    Newton's method on (a, b), which for this log link is IRLS, started from the calibrated
    answer b = 1; only b is wanted, so no covariance is formed.
    """
    positive = predicted > 0
    y, log_predicted = observed[positive], np.log(predicted[positive])
    a, b = float(np.log(y.sum() / predicted[positive].sum())), 1.0
    for _ in range(MAX_ITERATIONS):
        mu = np.exp(a + b * log_predicted)
        residual = y - mu
        mu_x = mu * log_predicted
        information = np.array([[mu.sum(), mu_x.sum()], [mu_x.sum(), mu_x @ log_predicted]])
        gradient = np.array([residual.sum(), residual @ log_predicted])
        step_a, step_b = np.linalg.solve(information, gradient)
        a, b = a + step_a, b + step_b
        if max(abs(step_a), abs(step_b)) < TOLERANCE:
            break
    return float(b)


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
        "calibration_slope": _calibration_slope(observed, predicted),
        "calibration_mean_abs_error": float(np.average(error, weights=group_exposure[filled])),
        "calibration_max_abs_error": float(error.max()),
    }


def validate_held_out_patients(
    fold_cells: pd.DataFrame, model_params: ModelParams, workers: int = 1
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:
    """Score every method on held-out patients within practices (see the module docstring).

    ``workers`` processes fit at once (`pcfm.base.parallel`); the scores are the same.

    Returns:
        ``(metrics, predictions, not_fitted)``: metrics has one row per method with
        :data:`HELD_OUT_COLUMNS` (``rank`` 1 = lowest held-out deviance; ``held_out_patients``
        counts every patient once, each being held out once); predictions and not_fitted are
        :func:`held_out_predictions`'s (predictions restricted).
    """
    predictions, not_fitted = held_out_predictions(fold_cells, model_params, workers)
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
