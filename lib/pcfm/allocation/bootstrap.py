"""Uncertainty of need indices and eligibility: a bootstrap over practices.

Each replicate draws as many practices as the ICB has, with replacement; the cells of a
drawn practice come along (a practice drawn twice counts twice in the fit, as a separate
practice so that practice effects stay estimable); the workload model is refitted on
them; and every real practice gets its need index from the refitted model's predictions
on its own cells, then its funding ratio and eligibility as in the main run. Over the
replicates this gives a 95% percentile interval for each need index and the share of
replicates in which the practice is eligible (``p_eligible``).

Outliers and special services keep the full-sample decision (`pcfm.allocation.exclusions`):
every replicate leaves out the same excluded practices and counts the same funding, in
pounds, for the capped ones; outliers are not re-derived per replicate. The question the
bootstrap answers is how sure the *need* side is, given the run's stated treatment of those
practices; a practice whose status flipped between replicates would make ``p_eligible``
mix two different rules. An excluded practice is never eligible (``p_eligible`` 0).

Resampling practices reflects that the ICB's practices are one draw of the practices a
model like this could be fitted on, and it keeps each practice's patients together
(their workload is correlated through the practice). It does not reflect uncertainty in
a practice's own current funding, which is known.

The refits go through the model's public API (`pcfm.model.resample.PracticeResampler`),
which also owns the exact shortcut it takes for a Poisson fit without practice effects.
Speed here: predictions depend only on the model's covariates, so they are made once per
distinct combination of them, and each practice's need comes from a sparse practices ×
combinations matrix of person-years, through the one need-index kernel
(`pcfm.model.need_index.need_index_from_sums`) that stage 03 uses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from pcfm.allocation.exclusions import PracticeStatuses
from pcfm.allocation.funding import FundingInputError, funding_arrays
from pcfm.model import CellsError, FitFunction, PracticeResampler, need_index_from_sums
from pcfm.need.weights import practice_need
from pcfm.params.allocation import AllocationParams
from pcfm.params.model import ModelParams

BOOTSTRAP_COLUMNS = ["practice_code", "need_index_low", "need_index_high", "p_eligible"]


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


def bootstrap_need(
    cells: pd.DataFrame,
    practices: pd.DataFrame,
    model_params: ModelParams,
    allocation_params: AllocationParams,
    n_replicates: int,
    seed: int,
    fit: FitFunction | None = None,
    statuses: PracticeStatuses | None = None,
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
        statuses: The run's full-sample decision on outliers and special services
            (:func:`pcfm.allocation.exclusions.decide_statuses`), applied unchanged in every
            replicate; None counts every practice's funding as it is (stage 04 always
            passes its decision).

    Returns:
        The per-practice intervals and probabilities, and the replicate arrays.

    Raises:
        BootstrapError: if ``n_replicates`` is below 1 or too many refits fail.
    """
    # Many small fits: one BLAS thread each is faster than several competing for the cores.
    with threadpool_limits(limits=1, user_api="blas"):
        return _bootstrap(
            cells, practices, model_params, allocation_params, n_replicates, seed, fit, statuses
        )


def _bootstrap(
    cells: pd.DataFrame,
    practices: pd.DataFrame,
    model_params: ModelParams,
    allocation_params: AllocationParams,
    n_replicates: int,
    seed: int,
    fit: FitFunction | None = None,
    statuses: PracticeStatuses | None = None,
) -> BootstrapResult:
    if n_replicates < 1:
        raise BootstrapError(f"n_replicates must be at least 1 (got {n_replicates})")
    try:
        resampler = PracticeResampler.for_cells(cells, model_params)
    except CellsError as error:
        raise BootstrapError(str(error)) from None
    rng = np.random.default_rng(seed)
    practice_codes = resampler.practice_codes
    n_practices = resampler.n_practices

    # Checks the inputs once (clear errors) and fixes the practice order: sorted codes.
    practice_need(cells, np.ones(len(cells)), practices)
    by_code = practices.assign(practice_code=practices["practice_code"].astype(str))
    by_code = by_code.set_index("practice_code").loc[practice_codes]
    registered = by_code["registered_list"].to_numpy(dtype=float)
    funding = pd.to_numeric(by_code["current_funding_gbp"], errors="coerce").to_numpy(float)
    if not (np.isfinite(funding).all() and (funding >= 0).all()):
        raise FundingInputError("practices: current_funding_gbp must be non-negative numbers")
    included = None
    if statuses is not None:
        try:
            included = statuses.included(practice_codes)
            funding = statuses.counted_funding(practice_codes)
        except ValueError as error:
            raise BootstrapError(str(error)) from None
    exposure_by = practice_combination_exposure(resampler)
    practice_exposure = np.asarray(exposure_by.sum(axis=1)).ravel()

    indices: list[np.ndarray] = []
    eligibles: list[np.ndarray] = []
    failed = 0
    while len(indices) < n_replicates:
        draw = rng.integers(0, n_practices, n_practices)
        try:
            combo_rate = resampler.combination_rates(resampler.refit(draw, fit))
        except ValueError:
            failed += 1
            if failed > n_replicates:
                raise BootstrapError(
                    f"{failed} bootstrap refits failed (of {len(indices) + failed}); the "
                    "model has levels too sparse to refit on resampled practices"
                ) from None
            continue
        need_weighted, need_index = need_index_from_sums(
            exposure_by @ combo_rate, practice_exposure, registered
        )
        arrays = funding_arrays(funding, need_weighted, allocation_params, included)
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
        collapsed=resampler.collapsed,
    )


def practice_combination_exposure(resampler: PracticeResampler) -> sp.csr_matrix:
    """Practices × covariate combinations matrix of person-years.

    Times the combinations' predicted rates it gives each practice's exposure-weighted
    rate, the sum the need-index kernel takes.
    """
    return sp.csr_matrix(
        (
            resampler.cells["exposure"].to_numpy(dtype=float),
            (resampler.practice_of_cell, resampler.combination_of_cell),
        ),
        shape=(resampler.n_practices, len(resampler.combinations)),
    )
