"""Count regression with one absorbed factor of fixed effects, by IRLS in numpy.

Why not a dense design with one dummy per practice: at LLR scale (≈200k cells, ≈127
practices) that matrix has ≈190 columns and the formula interface takes tens of seconds.
With a single factor of fixed effects, each weighted least-squares step of IRLS splits
exactly (Frisch–Waugh–Lovell): the slopes come from the design demeaned within practice
(weights = IRLS weights) and each practice's effect is its weighted mean residual. The
iterates are therefore identical to those of the dense fit, at the cost of a few group
sums; the estimates and the cluster-robust covariance are the same to rounding. The demeaned
design is never formed: its cross-products come from the design's distinct rows, each with its
total weight, and from weighted counts over its non-zeros (`_DesignStructure`), which also
keeps multi-threaded BLAS out of the hot loop.

The same routine fits the model without practice effects by absorbing one group that holds
every cell (its effect is the intercept).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.optimize import minimize_scalar
from scipy.special import gammaln, xlogy

__all__ = [
    "GlmFit",
    "as_sparse",
    "deviance",
    "fit_absorbed_glm",
    "fit_negative_binomial",
    "log_likelihood",
    "within_information",
]

#: Slopes and group effects have converged when no log-scale value moves by more than this.
TOLERANCE = 1e-11
MAX_ITERATIONS = 100
#: After this many iterations, rounding noise in very large data may keep the changes just
#: above TOLERANCE; a change below SLOW_TOLERANCE then counts as converged.
SLOW_AFTER = 25
SLOW_TOLERANCE = 1e-9


@dataclass(frozen=True)
class GlmFit:
    """Result of one fit.

    Attributes:
        coef: Slopes β on the log scale, one per design column.
        group_effects: Absorbed effect of each group on the log scale (the intercept when
            there is a single group).
        mu: Fitted workload of each row, including its group effect and exposure.
        covariance: Cluster-robust covariance of ``coef`` with the G/(G−1) correction.
        hessian_inverse: Inverse of the (within-group) Fisher information of ``coef``.
        alpha: Negative-binomial dispersion (0 for Poisson).
        deviance: Deviance of the fit.
        log_likelihood: Log-likelihood of the fit.
        n_iterations: IRLS iterations used.
    """

    coef: np.ndarray
    group_effects: np.ndarray
    mu: np.ndarray
    covariance: np.ndarray
    hessian_inverse: np.ndarray
    alpha: float
    deviance: float
    log_likelihood: float
    n_iterations: int


def _indicator(groups: np.ndarray, n_groups: int) -> sp.csr_matrix:
    n_rows = len(groups)
    return sp.csr_matrix((np.ones(n_rows), (groups, np.arange(n_rows))), shape=(n_groups, n_rows))


def as_sparse(design: np.ndarray | sp.spmatrix) -> sp.csr_matrix:
    """The design as CSR: dummy columns are mostly zero, and sparse products avoid threaded BLAS."""
    return design.tocsr() if sp.issparse(design) else sp.csr_matrix(design)


@dataclass(frozen=True)
class _WithinMoments:
    """Weighted cross-products of the design after demeaning within groups, without forming it.

    With X̄_g the weighted group means (M_g / w_g, M = group sums of w·x):
    X̃'WX̃ = X'WX − M' diag(1/w_g) M and X̃'W z̃ = X'W z − M' z̄.
    """

    information: np.ndarray
    group_sums: np.ndarray
    weight_sums: np.ndarray


@dataclass(frozen=True)
class _DesignStructure:
    """What every IRLS iteration's cross-products need of the design, worked out once.

    Cells repeat a few thousand covariate combinations over the practices (LLR: 192,000 cells,
    3,000 to 12,000 distinct design rows), and X'WX depends on a row only through its
    covariates, so it is summed over the distinct rows with each one's total weight: the same
    matrix at a twentieth of the cost. The group sums of w·x are one weighted count over the
    design's non-zeros, by (group, column).
    """

    distinct_rows: sp.csr_matrix
    distinct_of_row: np.ndarray
    n_groups: int
    entry_row: np.ndarray
    entry_value: np.ndarray
    entry_slot: np.ndarray

    @classmethod
    def of(cls, design: sp.csr_matrix, groups: np.ndarray) -> _DesignStructure:
        """Distinct rows found by two fixed random projections of each row, checked exactly."""
        projection = np.random.default_rng(20250401).random((design.shape[1], 2))
        keys = np.asarray(design @ projection)
        distinct_of_row, _ = pd.factorize(keys[:, 0] + 1j * keys[:, 1])
        first = np.zeros(distinct_of_row.max() + 1, dtype=np.int64)
        # a row of each key (which one does not matter: rows of one key are checked equal)
        first[distinct_of_row] = np.arange(len(distinct_of_row))
        distinct_rows = design[first]
        if (design != distinct_rows[distinct_of_row]).nnz:  # a key shared by two rows
            distinct_rows, distinct_of_row = design, np.arange(design.shape[0])
        entries = design.tocoo()
        n_groups = int(groups.max()) + 1
        return cls(
            distinct_rows=distinct_rows,
            distinct_of_row=distinct_of_row,
            n_groups=n_groups,
            entry_row=entries.row,
            entry_value=entries.data,
            entry_slot=groups[entries.row].astype(np.int64) * design.shape[1] + entries.col,
        )

    def moments(self, weight: np.ndarray, groups: np.ndarray) -> _WithinMoments:
        """X̃'WX̃ and the group sums of w·x and of w, for these IRLS weights."""
        rows = self.distinct_rows
        distinct_weight = np.bincount(self.distinct_of_row, weight, rows.shape[0])
        gram = (rows.T.multiply(distinct_weight).tocsr() @ rows).toarray()
        n_terms = rows.shape[1]
        group_sums = np.bincount(
            self.entry_slot, weight[self.entry_row] * self.entry_value, self.n_groups * n_terms
        ).reshape(self.n_groups, n_terms)
        weight_sums = np.bincount(groups, weight, self.n_groups)
        information = gram - group_sums.T @ (group_sums / weight_sums[:, None])
        return _WithinMoments(information, group_sums, weight_sums)


def within_information(
    design: np.ndarray | sp.spmatrix, weight: np.ndarray, groups: np.ndarray
) -> np.ndarray:
    """X̃'WX̃ of the design demeaned within groups (weights ``weight``)."""
    return _DesignStructure.of(as_sparse(design), groups).moments(weight, groups).information


def deviance(y: np.ndarray, mu: np.ndarray, alpha: float) -> float:
    """Poisson (alpha = 0) or NB2 deviance."""
    if alpha == 0.0:
        return float(2.0 * np.sum(xlogy(y, y) - xlogy(y, mu) - (y - mu)))
    inv = 1.0 / alpha
    terms = xlogy(y, y) - xlogy(y, mu) - (y + inv) * (np.log1p(alpha * y) - np.log1p(alpha * mu))
    return float(2.0 * np.sum(terms))


def log_likelihood(y: np.ndarray, mu: np.ndarray, alpha: float) -> float:
    """Poisson (alpha = 0) or NB2 log-likelihood; gammaln makes it defined for non-integer y."""
    if alpha == 0.0:
        return float(np.sum(xlogy(y, mu) - mu - gammaln(y + 1.0)))
    inv = 1.0 / alpha
    return float(
        np.sum(
            gammaln(y + inv)
            - gammaln(inv)
            - gammaln(y + 1.0)
            + xlogy(y, alpha * mu)
            - (y + inv) * np.log1p(alpha * mu)
        )
    )


def fit_absorbed_glm(
    y: np.ndarray,
    design: np.ndarray | sp.spmatrix,
    log_exposure: np.ndarray,
    groups: np.ndarray,
    clusters: np.ndarray,
    alpha: float = 0.0,
    start_eta: np.ndarray | None = None,
) -> GlmFit:
    """Fit log E[y] = log_exposure + design·β + effect[group] by IRLS.

    Args:
        y: Workload of each row (≥ 0, not all zero in any group).
        design: Dummy-coded covariates, one column per term (no intercept column).
        log_exposure: Offset, log person-years.
        groups: Integer code 0…G−1 of the absorbed group of each row.
        clusters: Integer code 0…C−1 of the cluster of each row, for robust errors.
        alpha: NB2 dispersion, held fixed; 0 fits Poisson.
        start_eta: Starting linear predictor (including the offset), e.g. from a previous fit.

    Returns:
        The fit; ``n_iterations`` equal to ``MAX_ITERATIONS`` means it did not converge.
    """
    design = as_sparse(design)
    structure = _DesignStructure.of(design, groups)
    n_terms = design.shape[1]
    n_groups = int(groups.max()) + 1
    group_matrix = _indicator(groups, n_groups)
    if start_eta is None:
        exposure = np.exp(log_exposure)
        start_mu = 0.5 * (y + exposure * y.sum() / exposure.sum())
        eta = np.log(start_mu)
    else:
        eta = start_eta.copy()
    coef = np.zeros(n_terms)
    effects = np.zeros(n_groups)
    n_iterations = MAX_ITERATIONS
    for iteration in range(1, MAX_ITERATIONS + 1):
        mu = np.exp(eta)
        weight = mu / (1.0 + alpha * mu)
        working = eta - log_exposure + (y - mu) / mu
        moments = structure.moments(weight, groups)
        working_mean = np.bincount(groups, weight * working, n_groups) / moments.weight_sums
        right = design.T @ (weight * working) - moments.group_sums.T @ working_mean
        new_coef = np.linalg.solve(moments.information, right)
        new_effects = working_mean - (moments.group_sums @ new_coef) / moments.weight_sums
        change = max(
            float(np.max(np.abs(new_coef - coef), initial=0.0)),
            float(np.max(np.abs(new_effects - effects))),
        )
        coef, effects = new_coef, new_effects
        eta = log_exposure + design @ coef + effects[groups]
        if change < TOLERANCE or (iteration >= SLOW_AFTER and change < SLOW_TOLERANCE):
            n_iterations = iteration
            break
    mu = np.exp(eta)
    weight = mu / (1.0 + alpha * mu)
    moments = structure.moments(weight, groups)
    hessian_inverse = np.linalg.inv(moments.information)
    residual = (y - mu) / (1.0 + alpha * mu)
    n_clusters = int(clusters.max()) + 1
    cluster_residual = _indicator(clusters, n_clusters).multiply(residual).tocsr()
    group_means = moments.group_sums / moments.weight_sums[:, None]
    cluster_scores = (
        np.asarray((cluster_residual @ design).toarray())
        - (cluster_residual @ group_matrix.T) @ group_means
    )
    meat = cluster_scores.T @ cluster_scores
    correction = n_clusters / (n_clusters - 1) if n_clusters > 1 else 1.0
    covariance = correction * hessian_inverse @ meat @ hessian_inverse
    return GlmFit(
        coef=coef,
        group_effects=effects,
        mu=mu,
        covariance=covariance,
        hessian_inverse=hessian_inverse,
        alpha=alpha,
        deviance=deviance(y, mu, alpha),
        log_likelihood=log_likelihood(y, mu, alpha),
        n_iterations=n_iterations,
    )


def fit_negative_binomial(
    y: np.ndarray,
    design: np.ndarray | sp.spmatrix,
    log_exposure: np.ndarray,
    groups: np.ndarray,
    clusters: np.ndarray,
) -> GlmFit:
    """NB2 fit with the dispersion α estimated by maximising the profile likelihood.

    For each α the slopes and group effects are the IRLS fit above; α itself is found by a
    bounded one-dimensional search on log α (1e-8 to 100), warm-starting each fit.
    """
    design = as_sparse(design)
    poisson = fit_absorbed_glm(y, design, log_exposure, groups, clusters)
    state = {"eta": np.log(poisson.mu)}

    def negative_profile(log_alpha: float) -> float:
        fit = fit_absorbed_glm(
            y, design, log_exposure, groups, clusters, np.exp(log_alpha), state["eta"]
        )
        state["eta"] = np.log(fit.mu)
        return -fit.log_likelihood

    result = minimize_scalar(
        negative_profile,
        bounds=(np.log(1e-8), np.log(100.0)),
        method="bounded",
        options={"xatol": 1e-7},
    )
    return fit_absorbed_glm(
        y, design, log_exposure, groups, clusters, float(np.exp(result.x)), state["eta"]
    )
