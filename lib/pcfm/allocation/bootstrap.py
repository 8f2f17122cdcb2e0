"""Uncertainty of need indices and eligibility: a bootstrap over practices.

Each replicate draws as many practices as the ICB has, with replacement; the cells of a
drawn practice come along (a practice drawn twice counts twice in the fit, as a separate
practice so that practice effects stay estimable); the workload model is refitted on
them; and every real practice gets its need index from the refitted model's predictions
on its own cells, then its funding ratio and eligibility as in the main run. Over the
replicates this gives a 95% percentile interval for each need index and the share of
replicates in which the practice is eligible (``p_eligible``).

Resampling practices reflects that the ICB's practices are one draw of the practices a
model like this could be fitted on, and it keeps each practice's patients together
(their workload is correlated through the practice). It does not reflect uncertainty in
a practice's own current funding, which is known.

Speed: predictions depend only on the model's covariates, so they are made once per
distinct combination of them and spread to the cells. Where the model is a Poisson fit with a
single intercept (no practice effects), the fit on the resampled cells equals the fit on
the cells summed over practices with each practice weighted by the number of times it
was drawn (the Poisson likelihood depends on the data only through those sums), so each
replicate fits a table of a few hundred rows instead of every cell.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from pcfm.allocation.funding import FundingInputError, funding_arrays
from pcfm.need.weights import practice_need
from pcfm.params.allocation import AllocationParams
from pcfm.params.model import ModelParams

#: Columns of cells that are sums, not covariates.
SUM_COLUMNS = ("workload", "exposure", "patients")
BOOTSTRAP_COLUMNS = ["practice_code", "need_index_low", "need_index_high", "p_eligible"]

FitFunction = Callable[[pd.DataFrame, ModelParams], Any]


class BootstrapError(ValueError):
    """Inputs the bootstrap cannot run on, with the fault named."""


@dataclass(frozen=True)
class BootstrapResult:
    """The bootstrap of need indices and eligibility.

    Attributes:
        table: Per practice: ``practice_code``, ``need_index_low``, ``need_index_high``
            (2.5% and 97.5% percentiles), ``p_eligible``, ``need_index_se`` (standard
            deviation over replicates).
        need_index: Replicates × practices array of need indices (columns in table order).
        eligible: Replicates × practices boolean array.
        n_replicates: Replicates that succeeded.
        n_failed: Replicates whose refit failed (e.g. a level absent from the draw); they
            are redrawn, up to as many again as requested, and counted here.
        seed: The seed used.
        collapsed: Whether replicates were fitted on cells summed over practices.
    """

    table: pd.DataFrame
    need_index: np.ndarray
    eligible: np.ndarray
    n_replicates: int
    n_failed: int
    seed: int
    collapsed: bool


def _default_fit() -> FitFunction:
    from pcfm.model import fit_workload_model

    return fit_workload_model


def _model_columns(model_params: ModelParams, cells: pd.DataFrame) -> list[str]:
    """The cells columns the model uses: its predictions depend on these alone."""
    from pcfm.model.terms import covariate_specs

    columns = [spec.column for spec in covariate_specs(model_params)]
    missing = [c for c in columns if c not in cells.columns]
    if missing:
        raise BootstrapError(f"cells: missing model column(s) {', '.join(missing)}")
    return columns


def bootstrap_need(
    cells: pd.DataFrame,
    practices: pd.DataFrame,
    model_params: ModelParams,
    allocation_params: AllocationParams,
    n_replicates: int,
    seed: int,
    fit: FitFunction | None = None,
) -> BootstrapResult:
    """Resample practices, refit the model and recompute need and eligibility.

    Args:
        cells: The cells the main model was fitted on (``practice_code``, covariates,
            ``workload``, ``exposure``).
        practices: The practices table (registered list, current funding).
        model_params: The model specification to refit.
        allocation_params: Categories and eligibility rules.
        n_replicates: Number of bootstrap replicates (at least 1).
        seed: Seed of the random draws; the same seed gives the same result.
        fit: The fitting function (``fit(cells, model_params)`` returning an object with
            ``predict_rate(cells)``); default :func:`pcfm.model.fit_workload_model`.

    Returns:
        The per-practice intervals and probabilities, and the replicate arrays.

    Raises:
        BootstrapError: if ``n_replicates`` is below 1 or too many refits fail.
    """
    # Many small fits: one BLAS thread each is faster than several competing for the cores.
    with threadpool_limits(limits=1, user_api="blas"):
        return _bootstrap(
            cells, practices, model_params, allocation_params, n_replicates, seed, fit
        )


def _bootstrap(
    cells: pd.DataFrame,
    practices: pd.DataFrame,
    model_params: ModelParams,
    allocation_params: AllocationParams,
    n_replicates: int,
    seed: int,
    fit: FitFunction | None = None,
) -> BootstrapResult:
    if n_replicates < 1:
        raise BootstrapError(f"n_replicates must be at least 1 (got {n_replicates})")
    for column in ("practice_code", "workload", "exposure"):
        if column not in cells.columns:
            raise BootstrapError(f"cells: missing column {column}")
    fit = fit or _default_fit()
    rng = np.random.default_rng(seed)

    covariates = _model_columns(model_params, cells)
    codes = cells["practice_code"].astype(str).to_numpy()
    practice_codes, practice_of_cell = np.unique(codes, return_inverse=True)
    n_practices = len(practice_codes)
    combos, combo_of_cell = _combinations(cells, covariates)

    collapsed = model_params.family == "poisson" and model_params.supply_sterilisation == "none"
    if collapsed:
        sums = {
            column: _combo_by_practice(
                cells[column].to_numpy(dtype=float),
                combo_of_cell,
                practice_of_cell,
                len(combos),
                n_practices,
            )
            for column in SUM_COLUMNS
            if column in cells.columns
        }
    rows_of_practice = [np.flatnonzero(practice_of_cell == p) for p in range(n_practices)]

    # Checks the inputs once (clear errors) and fixes the practice order: sorted codes.
    practice_need(cells, np.ones(len(cells)), practices)
    by_code = practices.assign(practice_code=practices["practice_code"].astype(str))
    by_code = by_code.set_index("practice_code").loc[practice_codes]
    registered = by_code["registered_list"].to_numpy(dtype=float)
    funding = pd.to_numeric(by_code["current_funding_gbp"], errors="coerce").to_numpy(float)
    if not (np.isfinite(funding).all() and (funding >= 0).all()):
        raise FundingInputError("practices: current_funding_gbp must be non-negative numbers")
    exposure_by = _combo_by_practice(
        cells["exposure"].to_numpy(dtype=float),
        combo_of_cell,
        practice_of_cell,
        len(combos),
        n_practices,
    ).T.tocsr()
    practice_exposure = np.asarray(exposure_by.sum(axis=1)).ravel()

    indices: list[np.ndarray] = []
    eligibles: list[np.ndarray] = []
    failed = 0
    while len(indices) < n_replicates:
        draw = rng.integers(0, n_practices, n_practices)
        if collapsed:
            counts = np.bincount(draw, minlength=n_practices).astype(float)
            sample = _collapsed_sample(combos, sums, counts)
        else:
            sample = _stacked_sample(cells, rows_of_practice, draw)
        try:
            model = fit(sample, model_params)
            combo_rate = np.asarray(model.predict_rate(combos), dtype=float)
        except ValueError:
            failed += 1
            if failed > n_replicates:
                raise BootstrapError(
                    f"{failed} bootstrap refits failed (of {len(indices) + failed}); the "
                    "model has levels too sparse to refit on resampled practices"
                ) from None
            continue
        need_index = _need_index(exposure_by @ combo_rate, practice_exposure, registered)
        arrays = funding_arrays(funding, registered * need_index, allocation_params)
        indices.append(need_index)
        eligibles.append(arrays["eligible"])

    need_index = np.vstack(indices)
    eligible = np.vstack(eligibles)
    table = pd.DataFrame(
        {
            "practice_code": practice_codes.astype(object),
            "need_index_low": np.percentile(need_index, 2.5, axis=0),
            "need_index_high": np.percentile(need_index, 97.5, axis=0),
            "p_eligible": eligible.mean(axis=0),
            "need_index_se": need_index.std(axis=0, ddof=1) if len(need_index) > 1 else np.nan,
        }
    )
    return BootstrapResult(
        table=table,
        need_index=need_index,
        eligible=eligible,
        n_replicates=len(indices),
        n_failed=failed,
        seed=seed,
        collapsed=collapsed,
    )


def _need_index(
    practice_exposure_rate: np.ndarray, practice_exposure: np.ndarray, registered: np.ndarray
) -> np.ndarray:
    """Need index as :func:`pcfm.need.weights.practice_need` defines it, from practice sums."""
    mean_rate = practice_exposure_rate.sum() / practice_exposure.sum()
    raw_index = practice_exposure_rate / practice_exposure / mean_rate
    raw_weighted = registered * raw_index
    return raw_weighted * (registered.sum() / raw_weighted.sum()) / registered


def _combinations(cells: pd.DataFrame, covariates: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """Distinct covariate combinations and, for each cell, the number of its combination."""
    if not covariates:
        return pd.DataFrame(index=[0]), np.zeros(len(cells), dtype=np.int64)
    group = cells.groupby(covariates, sort=True, dropna=False, observed=True)
    combo_of_cell = group.ngroup().to_numpy()
    combos = group.size().reset_index()[covariates]
    return combos, combo_of_cell


def _combo_by_practice(
    values: np.ndarray, combo: np.ndarray, practice: np.ndarray, n_combos: int, n_practices: int
) -> sp.csr_matrix:
    """Sparse combos × practices matrix of the sums of ``values``."""
    return sp.csr_matrix((values, (combo, practice)), shape=(n_combos, n_practices))


def _collapsed_sample(
    combos: pd.DataFrame, sums: dict[str, sp.csr_matrix], counts: np.ndarray
) -> pd.DataFrame:
    """The resampled cells summed over practices, each practice weighted by its draw count."""
    sample = combos.copy()
    for column, matrix in sums.items():
        sample[column] = matrix @ counts
    sample = sample[sample["exposure"] > 0].reset_index(drop=True)
    # Two pseudo-practices: the fit needs at least two clusters for its standard errors,
    # which the bootstrap does not use; its point estimates do not depend on the labels.
    sample.insert(0, "practice_code", np.where(np.arange(len(sample)) % 2 == 0, "S1", "S2"))
    return sample


def _stacked_sample(
    cells: pd.DataFrame, rows_of_practice: list[np.ndarray], draw: np.ndarray
) -> pd.DataFrame:
    """The cells of the drawn practices, each draw relabelled as a practice of its own."""
    rows = np.concatenate([rows_of_practice[p] for p in draw])
    labels = np.repeat(
        [f"BS{i:05d}" for i in range(len(draw))], [len(rows_of_practice[p]) for p in draw]
    )
    sample = cells.iloc[rows].reset_index(drop=True)
    sample["practice_code"] = labels
    return sample
