"""The need-to-workload model: fit on cells, rate ratios, prediction at reference supply.

The model, for cell i of practice p with person-years E_i and workload y_i:

    log E[y_i] = log E_i + x_i·β + a_p

with x_i the dummy-coded need covariates. Without supply sterilisation a_p is one common
intercept. With it, a_p is a practice fixed effect that absorbs everything about the practice
(its supply of appointments above all) that is not in x; need is then predicted with a_p held
at the ICB reference level ā, defined so that the ICB's predicted total workload equals its
observed total:

    exp(ā) = Σ_i y_i / Σ_i E_i exp(x_i·β)

i.e. the average practice multiplier exp(a_p) weighted by each practice's need-adjusted
person-years.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.stats import t as student_t

from pcfm.model.errors import ModelSpecificationError, first_values
from pcfm.model.irls import (
    MAX_ITERATIONS,
    GlmFit,
    deviance,
    fit_absorbed_glm,
    fit_negative_binomial,
    log_likelihood,
    within_information,
)
from pcfm.model.terms import (
    AGE_SPLINE_REFERENCE,
    EXPOSURE,
    PRACTICE,
    WORKLOAD,
    AgeSpline,
    DesignEncoder,
    covariate_specs,
    prepare_cells,
    uses_age_spline,
)
from pcfm.params.model import ModelParams

__all__ = ["COEFFICIENT_COLUMNS", "WorkloadModel", "age_sex_curve", "fit_workload_model"]

log = logging.getLogger(__name__)

COEFFICIENT_COLUMNS = ["term", "rate_ratio", "ci_low", "ci_high", "p_value"]
#: A slope beyond this on the log scale (a rate ratio below 1e-9 or above 1e9) is separation.
SEPARATION_LOG_LIMIT = 20.0

REFERENCE_SUPPLY_DEFINITION = (
    "practice effects held at the level at which the ICB's predicted total workload equals its "
    "observed total (the mean practice multiplier weighted by need-adjusted person-years)"
)


@dataclass(frozen=True)
class WorkloadModel:
    """A fitted need-to-workload model.

    Attributes:
        model_params: The specification it was fitted with.
        encoder: Dummy coding of the covariates (terms and reference levels).
        coef: Slopes on the log scale, in the order of ``encoder.term_names``.
        covariance: Cluster-robust covariance of ``coef`` (clustered by practice).
        log_reference_level: log workload per person-year at the reference levels of every
            covariate and at reference supply (the intercept without practice effects).
        coefficients: Rate ratios of the need terms: term, rate_ratio, ci_low, ci_high, p_value.
        practice_effects: Per practice: person_years, workload, expected need at reference
            supply and ``supply_ratio`` = exp(a_p − ā); empty without practice effects.
        summary: Fit statistics (see ``fit_workload_model``).
    """

    model_params: ModelParams
    encoder: DesignEncoder
    coef: np.ndarray
    covariance: np.ndarray
    log_reference_level: float
    coefficients: pd.DataFrame
    practice_effects: pd.DataFrame
    summary: dict[str, object] = field(default_factory=dict)

    @property
    def terms(self) -> list[str]:
        """Term names ``covariate=level`` in coefficient order."""
        return self.encoder.term_names

    @property
    def std_errors(self) -> np.ndarray:
        """Cluster-robust standard errors of the log rate ratios."""
        return np.sqrt(np.diag(self.covariance))

    def predict_rate(self, cells: pd.DataFrame, unseen_as_reference: bool = False) -> np.ndarray:
        """Expected workload per person-year of each cell row at reference supply.

        Args:
            cells: Rows with the model's covariate columns (workload and exposure not needed).
            unseen_as_reference: Predict a level absent from the fitting cells as the
                reference level instead of raising (cross-validation of held-out practices).

        Returns:
            One rate per row, in row order: exp(ā + x·β) (the intercept replaces ā without
            practice effects).
        """
        prepared = prepare_cells(cells, self.model_params, outcome=False)
        design = self.encoder.sparse_matrix(prepared, unseen_as_reference)
        return np.exp(self.log_reference_level + design @ self.coef)

    def predict_workload(
        self, cells: pd.DataFrame, unseen_as_reference: bool = False
    ) -> np.ndarray:
        """Expected workload of each cell row at reference supply (rate × exposure)."""
        exposure = pd.to_numeric(cells[EXPOSURE], errors="coerce").to_numpy(dtype=float)
        return self.predict_rate(cells, unseen_as_reference) * exposure

    def fitted_workload(self, cells: pd.DataFrame) -> np.ndarray:
        """Expected workload of each row at its own practice's supply (the fitted values).

        Equal to ``predict_workload`` without practice effects; with them, each row is scaled by
        its practice's ``supply_ratio``. Practices not in the fit get the reference supply.
        """
        predicted = self.predict_workload(cells)
        if self.practice_effects.empty:
            return predicted
        ratio = (
            cells[PRACTICE]
            .astype(str)
            .map(self.practice_effects.set_index(PRACTICE)["supply_ratio"])
            .fillna(1.0)
            .to_numpy(dtype=float)
        )
        return predicted * ratio


def _check_estimable(prepared: pd.DataFrame, design: sp.csr_matrix, encoder: DesignEncoder) -> None:
    """Raise, naming the term, for levels whose every cell has zero workload (separation)."""
    workload = prepared[WORKLOAD].to_numpy()
    if not np.any(workload > 0):
        raise ModelSpecificationError(
            f"all {len(workload)} cells have zero workload: the model cannot be estimated "
            "(check the activity table and the workload measure)"
        )
    # Only the 0/1 level columns: the spline columns are continuous and may be negative.
    level_workload = design[:, : encoder.n_dummy].T @ workload
    empty = [
        term for term, total in zip(encoder.term_names, level_workload, strict=False) if total <= 0
    ]
    if empty:
        raise ModelSpecificationError(
            f"perfect separation: every cell of {len(empty)} level(s) has zero workload, so "
            f"their rate ratios would be 0: {first_values(empty)}; merge these levels or drop "
            "the covariate"
        )
    for spec in encoder.specs:
        at_reference = (prepared[spec.column] == spec.reference).to_numpy(dtype=bool)
        if workload[at_reference].sum() <= 0:
            raise ModelSpecificationError(
                f"perfect separation: every cell at the reference level "
                f"{spec.column}={spec.reference} has zero workload, so the rate ratios against "
                "it are infinite"
            )


def _check_identifiable(
    design: sp.csr_matrix,
    groups: np.ndarray,
    terms: list[str],
    absorbed: bool,
    exposure: np.ndarray,
) -> None:
    """Raise for terms that cannot be separated from the practice effects or each other."""
    if design.shape[1] == 0:
        return
    information = within_information(design, exposure, groups)
    raw = np.abs(np.asarray(design.T @ exposure).ravel())
    variation = np.diag(information)
    if absorbed:
        constant = [t for t, v, r in zip(terms, variation, raw, strict=True) if v <= 1e-10 * r]
        if constant:
            raise ModelSpecificationError(
                f"term(s) {first_values(constant)} do not vary within any practice, so they "
                "cannot be separated from the practice effects "
                "(model.supply_sterilisation: practice_effects, the default); drop the "
                "covariate from model.covariates or set model.supply_sterilisation: none"
            )
    scale = np.sqrt(variation)
    eigenvalues, eigenvectors = np.linalg.eigh(information / np.outer(scale, scale))
    if eigenvalues[0] < 1e-10:
        involved = [terms[k] for k in np.flatnonzero(np.abs(eigenvectors[:, 0]) > 0.1)]
        if absorbed:
            raise ModelSpecificationError(
                f"terms {first_values(involved, 8)} are collinear with the practice effects "
                "(model.supply_sterilisation: practice_effects, the default): rate ratios are "
                "then estimated within practices, and in these cells the practices that hold "
                "these levels hold too few of the other levels to compare them (e.g. a small ICB "
                "whose deprived practices have only deprived patients); merge sparse levels, "
                "drop the covariate from model.covariates or set "
                "model.supply_sterilisation: none"
            )
        raise ModelSpecificationError(
            f"terms {first_values(involved, 8)} are collinear in these cells (one is a "
            "combination of the others), so their rate ratios are not identified; merge "
            "sparse levels or drop a covariate"
        )


def _coefficient_table(
    terms: list[str], coef: np.ndarray, covariance: np.ndarray, level: float, n_clusters: int
) -> pd.DataFrame:
    """Rate ratios with intervals and p-values from Student's t with G − 1 degrees of freedom.

    The covariance is clustered by practice (G clusters). With a few dozen clusters the normal
    quantile gives intervals that cover less than they claim; t(G − 1), as Stata and
    Cameron & Miller (2015) use for cluster-robust errors, brings the calibration study's
    coverage close to the nominal level. With hundreds of practices the two agree.
    """
    std_error = np.sqrt(np.diag(covariance))
    dof = max(n_clusters - 1, 1)
    quantile = student_t.ppf(0.5 + level / 2.0, dof)
    with np.errstate(divide="ignore", invalid="ignore"):
        p_value = 2.0 * student_t.sf(np.abs(coef / std_error), dof)
    return pd.DataFrame(
        {
            "term": terms,
            "rate_ratio": np.exp(coef),
            "ci_low": np.exp(coef - quantile * std_error),
            "ci_high": np.exp(coef + quantile * std_error),
            "p_value": p_value,
        }
    )


def _null_fit(
    y: np.ndarray, log_exposure: np.ndarray, alpha: float, groups: np.ndarray | None = None
) -> tuple[float, float]:
    """Deviance and log-likelihood without need terms (same family and α).

    With ``groups`` None this is the intercept-only model; with the practice codes it is the
    practice-effects-only model, against which the need terms' own contribution is measured.
    """
    if groups is None:
        groups = np.zeros(len(y), dtype=np.int64)
    if alpha == 0.0:  # Poisson: each group's fitted rate is its observed rate, in closed form
        exposure = np.exp(log_exposure)
        rate = np.bincount(groups, y) / np.bincount(groups, exposure)
        mu = exposure * rate[groups]
        return deviance(y, mu, 0.0), log_likelihood(y, mu, 0.0)
    fit = fit_absorbed_glm(y, np.zeros((len(y), 0)), log_exposure, groups, groups, alpha)
    return fit.deviance, fit.log_likelihood


def fit_workload_model(cells: pd.DataFrame, model_params: ModelParams) -> WorkloadModel:
    """Fit the need-to-workload model on covariate cells.

    The Poisson fit on cells is exactly the patient-level fit (the likelihoods differ by a
    constant), so cells can be as fine as the covariates allow and the result is the same.

    Args:
        cells: One row per practice × covariate combination with ``practice_code``,
            ``workload``, ``exposure`` (person-years) and the covariate columns.
        model_params: Covariates, family and supply sterilisation.

    Returns:
        The fitted model. ``summary`` holds: family, supply_sterilisation, covariates, n_cells,
        n_practices, practices_dropped (zero total workload, only with practice effects),
        n_terms, person_years, workload_total, baseline_rate_per_person_year, deviance,
        null_deviance, deviance_explained, need_deviance_explained (share of the deviance left
        by the practice effects alone that the need terms explain; equal to
        deviance_explained without practice effects), log_likelihood, null_log_likelihood,
        pseudo_r2_mcfadden, pearson_dispersion, nb_alpha, iterations, reference_supply.

    Raises:
        CellsError: missing columns or unusable values in the cells.
        ModelSpecificationError: a single-level covariate, perfect separation, all-zero
            workload, a term confounded with the practice effects, or no convergence.
    """
    start_s = time.perf_counter()
    prepared = prepare_cells(cells, model_params)
    absorbed = model_params.supply_sterilisation == "practice_effects"
    practices_dropped: list[str] = []
    if absorbed:
        totals = prepared.groupby(PRACTICE, sort=True)[WORKLOAD].sum()
        practices_dropped = totals.index[totals <= 0].tolist()
        if practices_dropped and len(practices_dropped) < len(totals):
            kept = ~prepared[PRACTICE].isin(practices_dropped).to_numpy()
            prepared = prepared[kept].reset_index(drop=True)
    specs = covariate_specs(model_params)
    age_spline = (
        AgeSpline.from_cells(prepared, model_params) if uses_age_spline(model_params) else None
    )
    encoder = DesignEncoder.from_cells(prepared, specs, age_spline)
    design = encoder.sparse_matrix(prepared)
    _check_estimable(prepared, design, encoder)

    y = prepared[WORKLOAD].to_numpy(dtype=float)
    exposure = prepared[EXPOSURE].to_numpy(dtype=float)
    log_exposure = np.log(exposure)
    practice_index, practice_codes = pd.factorize(prepared[PRACTICE], sort=True)
    practice_codes = np.asarray(practice_codes, dtype=object)
    clusters = practice_index.astype(np.int64)
    if len(practice_codes) < 2:
        raise ModelSpecificationError(
            f"the cells hold {len(practice_codes)} practice(s); standard errors clustered by "
            "practice (and practice effects) need at least 2"
        )
    if absorbed and np.bincount(clusters).max() < 2:
        raise ModelSpecificationError(
            f"every one of the {len(practice_codes)} practices has a single cell, so practice "
            "effects (model.supply_sterilisation: practice_effects, the default) fit each cell "
            "exactly and leave no variation within practices to estimate need from; set "
            "model.supply_sterilisation: none or use cells of finer need characteristics"
        )
    groups = clusters if absorbed else np.zeros(len(y), dtype=np.int64)
    _check_identifiable(design, groups, encoder.term_names, absorbed, exposure)

    if model_params.family == "poisson":
        fit = fit_absorbed_glm(y, design, log_exposure, groups, clusters)
    else:
        fit = fit_negative_binomial(y, design, log_exposure, groups, clusters)
    _check_converged(fit, encoder.term_names)

    need_only = np.exp(log_exposure + design @ fit.coef)
    if absorbed:
        log_reference = float(np.log(y.sum() / need_only.sum()))
    else:
        log_reference = float(fit.group_effects[0])
    practice_effects = _practice_effects(
        prepared, practice_codes, clusters, fit, need_only, log_reference, absorbed
    )
    null_deviance, null_loglik = _null_fit(y, log_exposure, fit.alpha)
    base_deviance = _null_fit(y, log_exposure, fit.alpha, groups)[0] if absorbed else null_deviance
    variance = fit.mu + fit.alpha * fit.mu**2
    n_params = design.shape[1] + int(groups.max()) + 1 + (fit.alpha > 0)
    summary: dict[str, object] = {
        "family": model_params.family,
        "supply_sterilisation": model_params.supply_sterilisation,
        "covariates": list(model_params.covariates),
        "n_cells": len(y),
        "n_practices": len(practice_codes),
        "practices_dropped": practices_dropped,
        "n_terms": design.shape[1],
        "person_years": float(exposure.sum()),
        "workload_total": float(y.sum()),
        "baseline_rate_per_person_year": float(np.exp(log_reference)),
        "deviance": fit.deviance,
        "null_deviance": null_deviance,
        "deviance_explained": 1.0 - fit.deviance / null_deviance if null_deviance > 0 else 0.0,
        "need_deviance_explained": 1.0 - fit.deviance / base_deviance if base_deviance > 0 else 0.0,
        "log_likelihood": fit.log_likelihood,
        "null_log_likelihood": null_loglik,
        "pseudo_r2_mcfadden": 1.0 - fit.log_likelihood / null_loglik,
        "pearson_dispersion": float(np.sum((y - fit.mu) ** 2 / variance))
        / max(len(y) - n_params, 1),
        "nb_alpha": fit.alpha,
        "iterations": fit.n_iterations,
        "reference_supply": REFERENCE_SUPPLY_DEFINITION if absorbed else "single intercept",
    }
    log.info(
        "workload model (%s, %s, supply sterilisation %s): %d cells, %d practices, %d terms, "
        "%d iterations, %.2f s",
        ", ".join(model_params.covariates), model_params.family,
        model_params.supply_sterilisation, len(y), len(practice_codes), design.shape[1],
        fit.n_iterations, time.perf_counter() - start_s,
    )  # fmt: skip
    return WorkloadModel(
        model_params=model_params,
        encoder=encoder,
        coef=fit.coef,
        covariance=fit.covariance,
        log_reference_level=log_reference,
        coefficients=_coefficient_table(
            encoder.term_names,
            fit.coef,
            fit.covariance,
            model_params.confidence_level,
            n_clusters=int(clusters.max()) + 1,
        ),
        practice_effects=practice_effects,
        summary=summary,
    )


def _check_converged(fit: GlmFit, terms: list[str]) -> None:
    drifting = [
        t
        for t, b in zip(terms, fit.coef, strict=True)
        if not np.isfinite(b) or abs(b) > SEPARATION_LOG_LIMIT
    ]
    if drifting:
        raise ModelSpecificationError(
            f"(quasi-)separation: the rate ratios of {first_values(drifting)} run off to 0 or "
            "infinity; merge sparse levels or drop the covariate"
        )
    if fit.n_iterations >= MAX_ITERATIONS:
        raise ModelSpecificationError(
            f"the fit did not converge in {MAX_ITERATIONS} iterations; look for sparse levels"
        )


def _practice_effects(
    prepared: pd.DataFrame,
    practice_codes: np.ndarray,
    clusters: np.ndarray,
    fit: GlmFit,
    need_only: np.ndarray,
    log_reference: float,
    absorbed: bool,
) -> pd.DataFrame:
    if not absorbed:
        return pd.DataFrame(
            columns=[PRACTICE, "person_years", "workload", "expected_need", "supply_ratio"]
        )
    n = len(practice_codes)
    expected = np.bincount(clusters, weights=need_only, minlength=n) * np.exp(log_reference)
    return pd.DataFrame(
        {
            PRACTICE: practice_codes,
            "person_years": np.bincount(
                clusters, weights=prepared[EXPOSURE].to_numpy(), minlength=n
            ),
            "workload": np.bincount(clusters, weights=prepared[WORKLOAD].to_numpy(), minlength=n),
            "expected_need": expected,
            "supply_ratio": np.exp(fit.group_effects - log_reference),
        }
    )


def age_sex_curve(model: WorkloadModel, ages: np.ndarray | None = None) -> pd.DataFrame:
    """The fitted age-sex rate-ratio curve against women aged 32, for the report.

    Every other covariate is held at its reference level, so the curve is the model's age-sex
    effect alone: with ``age_form: spline`` the smooth curve of single years, with bands a step
    function (each age gets its band's rate ratio).

    Args:
        model: A model with ``age_sex`` among its covariates.
        ages: Whole years of age to evaluate (default 0 to 100).

    Returns:
        Columns ``sex``, ``age`` and ``rate_ratio`` (1 for F aged 32), women first.

    Raises:
        ModelSpecificationError: the model has no age-sex covariate.
    """
    if "age_sex" not in model.model_params.covariates:
        raise ModelSpecificationError("the model has no age_sex covariate, so no age-sex curve")
    ages = np.arange(0, 101) if ages is None else np.asarray(ages, dtype=int)
    grid = pd.DataFrame(
        {
            "sex": np.repeat(["F", "M"], len(ages)),
            "age": np.tile(ages, 2),
        }
    )
    grid["age_band"] = np.where(
        grid["age"] >= 85,
        "85+",
        (grid["age"] // 5 * 5).astype(str) + "-" + (grid["age"] // 5 * 5 + 4).astype(str),
    )
    grid["age_sex"] = grid["sex"] + ":" + grid["age_band"]
    reference = pd.DataFrame({"sex": ["F"], "age": [AGE_SPLINE_REFERENCE]})
    reference["age_band"] = "30-34"
    reference["age_sex"] = "F:30-34"
    for spec in model.encoder.specs:
        if spec.column not in grid:
            grid[spec.column] = spec.reference
            reference[spec.column] = spec.reference
    rate = model.predict_rate(grid) / model.predict_rate(reference)[0]
    return grid[["sex", "age"]].assign(rate_ratio=rate)
