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
a practice's own current funding, which is known. With ``allocation.bootstrap_resample:
patients_within_practices`` the practices are kept and each practice's patients are drawn
with replacement instead (multinomial counts over its cells: the uncertainty of a fixed set
of practices' patients, narrower by construction).

The refits go through the model's public API (`pcfm.model.resample.PracticeResampler`),
which also owns the exact shortcut it takes for a Poisson fit without practice effects.
For a Poisson model (``allocation.bootstrap_refit: newton``) each replicate is refitted by
Newton's method started at the full-sample fit, on the cells weighted by the draw
(`pcfm.model.resample.NewtonRefitter`): a few steps to convergence instead of a full IRLS
fit with its checks. The first ``allocation.bootstrap_check_replicates`` replicates are
also refitted in full; when their largest difference in need index exceeds
``allocation.bootstrap_check_tolerance`` (or a full refit fails where Newton did not) the
whole bootstrap is redone with full refits from the same seed, and the result says which
method it used and the difference found.
Speed here: predictions depend only on the model's covariates, so they are made once per
distinct combination of them, and each practice's need comes from a sparse practices ×
combinations matrix of person-years, through the one need-index kernel
(`pcfm.model.need_index.need_index_from_sums`) that stage 03 uses.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from pcfm.allocation.exclusions import PracticeStatuses
from pcfm.allocation.funding import FundingInputError, funding_arrays
from pcfm.base.parallel import parallel_map
from pcfm.model import (
    CellsError,
    FitFunction,
    NewtonRefitter,
    PracticeResampler,
    fit_workload_model,
    need_index_from_sums,
)
from pcfm.need.weights import practice_need
from pcfm.params.allocation import AllocationParams
from pcfm.params.model import ModelParams

log = logging.getLogger(__name__)

#: ``allocation.bootstrap_resample`` values.
PRACTICES_RESAMPLED = "practices"
PATIENTS_WITHIN_PRACTICES = "patients_within_practices"

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
        resample: What was resampled (``allocation.bootstrap_resample``).
        method: How replicates were refitted: ``"Newton from the full-sample fit"`` or
            ``"full refit"`` (also when the Newton refits failed their check).
        n_checked: Replicates refitted in full as well, to check the Newton refits.
        max_check_difference: Largest absolute difference in need index between the Newton
            and the full refit over the checked replicates (None when none was checked).
    """

    table: pd.DataFrame
    need_index: np.ndarray
    eligible: np.ndarray
    n_replicates: int
    n_failed: int
    seed: int
    collapsed: bool
    resample: str = PRACTICES_RESAMPLED
    method: str = "full refit"
    n_checked: int = 0
    max_check_difference: float | None = None


def bootstrap_need(
    cells: pd.DataFrame,
    practices: pd.DataFrame,
    model_params: ModelParams,
    allocation_params: AllocationParams,
    n_replicates: int,
    seed: int,
    fit: FitFunction | None = None,
    statuses: PracticeStatuses | None = None,
    workers: int = 1,
    on_progress: Callable[[int, int], None] | None = None,
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
        workers: Processes refitting at once (`pcfm.base.parallel`); the replicates are the
            same. A caller's own ``fit`` is always called here (it may not be picklable).
        on_progress: Called with (replicates refitted, replicates wanted) as they proceed.

    Returns:
        The per-practice intervals and probabilities, and the replicate arrays.

    Raises:
        BootstrapError: if ``n_replicates`` is below 1 or too many refits fail.
    """
    # Many small fits: one BLAS thread each is faster than several competing for the cores.
    with threadpool_limits(limits=1, user_api="blas"):
        return _bootstrap(
            cells,
            practices,
            model_params,
            allocation_params,
            n_replicates,
            seed,
            fit,
            statuses,
            workers if fit is None else 1,
            on_progress,
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
    workers: int = 1,
    on_progress: Callable[[int, int], None] | None = None,
) -> BootstrapResult:
    if n_replicates < 1:
        raise BootstrapError(f"n_replicates must be at least 1 (got {n_replicates})")
    try:
        resampler = PracticeResampler.for_cells(cells, model_params)
    except CellsError as error:
        raise BootstrapError(str(error)) from None
    practice_codes = resampler.practice_codes

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

    def need_of(combo_rate: np.ndarray) -> np.ndarray:
        return need_index_from_sums(exposure_by @ combo_rate, practice_exposure, registered)

    resample = allocation_params.bootstrap_resample
    full = _FullRefit(resampler, resample, fit)
    refit: _Refit = full
    newton = allocation_params.bootstrap_refit == "newton"
    if fit is None and newton and NewtonRefitter.supports(model_params):
        try:
            start = fit_workload_model(cells, model_params)
        except ValueError as error:
            raise BootstrapError(f"the full-sample fit failed: {error}") from None
        refit = _NewtonRefit(NewtonRefitter.from_fit(resampler, start), resampler, resample)
    n_check = allocation_params.bootstrap_check_replicates
    replicates = _replicates(
        refit, n_replicates, seed, n_check if refit is not full else 0, workers, on_progress
    )
    method = refit.name
    n_checked, max_difference = 0, None
    if refit is not full:
        n_checked, max_difference = _check_against_full_refits(replicates, full, need_of, n_check)
        tolerance = allocation_params.bootstrap_check_tolerance
        if max_difference is not None and not max_difference <= tolerance:
            log.warning(
                "bootstrap: Newton refits differ from full refits by up to %.3g in need index "
                "(tolerance %.3g): falling back to full refits",
                max_difference,
                tolerance,
            )
            replicates = _replicates(
                full, n_replicates, seed, workers=workers, on_progress=on_progress
            )
            method = f"{full.name} (Newton refits failed their check)"
        else:
            log.info(
                "bootstrap: Newton refits agree with full refits on %d replicate(s) to %.3g in "
                "need index (tolerance %.3g)",
                n_checked,
                max_difference if max_difference is not None else float("nan"),
                tolerance,
            )

    indices = []
    eligibles = []
    for combo_rate in replicates.rates:
        need_weighted, need_index = need_of(combo_rate)
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
        n_failed=replicates.n_failed,
        seed=seed,
        collapsed=resampler.collapsed and refit is full,
        resample=resample,
        method=method,
        n_checked=n_checked,
        max_check_difference=max_difference,
    )


class _Refit:
    """One way of refitting a replicate: from a draw to the combinations' predicted rates."""

    name = ""

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def rates(self, draw: np.ndarray) -> np.ndarray:
        raise NotImplementedError


def _draw(resampler: PracticeResampler, resample: str, rng: np.random.Generator) -> np.ndarray:
    """Practice positions drawn with replacement, or a weight per cell (patients resampled)."""
    if resample == PATIENTS_WITHIN_PRACTICES:
        return resampler.patient_weights(rng)
    return rng.integers(0, resampler.n_practices, resampler.n_practices)


@dataclass(frozen=True)
class _FullRefit(_Refit):
    """The specification refitted by its own fitting function on the drawn cells."""

    resampler: PracticeResampler
    resample: str
    fit: FitFunction | None
    name = "full refit"

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        return _draw(self.resampler, self.resample, rng)

    def rates(self, draw: np.ndarray) -> np.ndarray:
        if self.resample == PATIENTS_WITHIN_PRACTICES:
            model = self.resampler.refit_weighted(draw, self.fit)
        else:
            model = self.resampler.refit(draw, self.fit)
        return self.resampler.combination_rates(model)


@dataclass(frozen=True)
class _NewtonRefit(_Refit):
    """Newton's method from the full-sample fit on the weighted cells."""

    refitter: NewtonRefitter
    resampler: PracticeResampler
    resample: str
    name = "Newton from the full-sample fit"

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        return _draw(self.resampler, self.resample, rng)

    def rates(self, draw: np.ndarray) -> np.ndarray:
        weights = (
            draw
            if self.resample == PATIENTS_WITHIN_PRACTICES
            else self.resampler.practice_weights(draw)
        )
        return self.refitter.combination_rates(weights)


@dataclass(frozen=True)
class _Replicates:
    rates: list[np.ndarray]  # the combinations' predicted rates, per replicate
    draws: list[np.ndarray]  # the draws of the first replicates, kept for the check
    n_failed: int


#: Batches of replicates per worker: small enough for a progress bar and to even the load.
CHUNKS_PER_WORKER = 8


def _replicates(
    refit: _Refit,
    n_replicates: int,
    seed: int,
    keep_draws: int = 0,
    workers: int = 1,
    on_progress: Callable[[int, int], None] | None = None,
) -> _Replicates:
    """The first ``n_replicates`` draws whose refit succeeds, in the order drawn.

    The draws come from one generator here, in order, and are refitted in batches of as many as
    are still needed (spread over ``workers`` processes): the replicates are those of drawing
    and refitting one at a time, whatever the number of workers.
    """
    rng = np.random.default_rng(seed)
    rates: list[np.ndarray] = []
    draws: list[np.ndarray] = []
    failed = 0
    while len(rates) < n_replicates:
        batch = [refit.draw(rng) for _ in range(n_replicates - len(rates))]
        chunks = np.array_split(np.arange(len(batch)), min(len(batch), CHUNKS_PER_WORKER * workers))
        done_before = len(rates)

        def report(n_chunks: int, chunks: list[np.ndarray] = chunks, base: int = done_before):
            if on_progress is not None:
                refitted = sum(len(chunk) for chunk in chunks[:n_chunks])
                on_progress(min(base + refitted, n_replicates), n_replicates)

        outcomes = [
            rate
            for chunk in parallel_map(
                partial(_chunk_rates, refit),
                [[batch[i] for i in c] for c in chunks],
                workers,
                on_done=report,
            )
            for rate in chunk
        ]
        for draw, combo_rate in zip(batch, outcomes, strict=True):
            if combo_rate is None:
                failed += 1
                continue
            rates.append(combo_rate)
            if len(draws) < keep_draws:
                draws.append(draw)
        if failed > n_replicates:
            raise BootstrapError(
                f"{failed} bootstrap refits failed (of {len(rates) + failed}); the "
                "model has levels too sparse to refit on resampled data"
            )
    return _Replicates(rates, draws, failed)


def _chunk_rates(refit: _Refit, draws: list[np.ndarray]) -> list[np.ndarray | None]:
    """Each draw's combination rates, or None where its refit fails."""
    rates: list[np.ndarray | None] = []
    with threadpool_limits(limits=1, user_api="blas"):
        for draw in draws:
            try:
                rates.append(refit.rates(draw))
            except ValueError:
                rates.append(None)
    return rates


def _check_against_full_refits(
    replicates: _Replicates, full: _FullRefit, need_of, n_check: int
) -> tuple[int, float | None]:
    """Refit the first ``n_check`` replicates in full; the largest difference in need index
    (infinite when a full refit fails where the fast one did not)."""
    checked = list(zip(replicates.rates[:n_check], replicates.draws[:n_check], strict=True))
    if not checked:
        return 0, None
    largest = 0.0
    for combo_rate, draw in checked:
        try:
            full_rate = full.rates(draw)
        except ValueError:
            return len(checked), float("inf")
        difference = np.abs(need_of(combo_rate)[1] - need_of(full_rate)[1]).max()
        largest = max(largest, float(difference))
    return len(checked), largest


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
