"""Sensitivity analyses: the model refitted under alternative specifications, side by side.

Each alternative changes one choice of the specification in the parameter file (family,
morbidity measure, supply sterilisation, covariate set) and keeps the rest, so a difference in
coefficients or need indices is attributable to that one choice.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

import pandas as pd

from pcfm.base.parallel import parallel_map
from pcfm.model.errors import ModelSpecificationError
from pcfm.model.need_index import practice_need
from pcfm.model.terms import (
    EXPOSURE,
    PRACTICE,
    covariate_specs,
    uses_age_spline,
    with_levels_as_categories,
)
from pcfm.model.workload import WorkloadModel, fit_workload_model
from pcfm.params.model import ModelParams

__all__ = [
    "SPECIFIED",
    "alternative_specifications",
    "compare_coefficients",
    "compare_need_indices",
    "fit_alternatives",
    "need_by_specification",
]

#: Key of the model as specified in the parameter file.
SPECIFIED = "as specified"


def alternative_specifications(
    model_params: ModelParams, cells_columns: set[str] | None = None
) -> dict[str, ModelParams]:
    """The specification and its one-change alternatives, keyed by a readable label.

    Alternatives (only those that differ from the specification and whose cells columns exist):
    the other family; the other supply-sterilisation setting; IMD decile instead of quintile
    (or the reverse); the other morbidity measure (and the ACG band when the cells hold it);
    morbidity dropped (if in the model) or added (if not); age and sex additive instead of
    interacted (or the reverse); age-sex only.
    """
    columns = cells_columns
    specs = {SPECIFIED: model_params}

    def add(label: str, **update: object) -> None:
        candidate = model_params.model_copy(update=update)
        if candidate == model_params or candidate in specs.values():
            return
        if columns is not None and not _columns_available(candidate, columns):
            return
        specs[label] = candidate

    other_family = "negative_binomial" if model_params.family == "poisson" else "poisson"
    add(f"family: {other_family}", family=other_family)
    other_supply = (
        "none" if model_params.supply_sterilisation == "practice_effects" else ("practice_effects")
    )
    add(f"supply sterilisation: {other_supply}", supply_sterilisation=other_supply)
    covariates = list(model_params.covariates)
    if "deprivation" in covariates:
        other_band = "decile" if model_params.deprivation_band == "quintile" else "quintile"
        add(f"deprivation: {other_band}", deprivation_band=other_band)
    if "morbidity" in covariates:
        other_measure = (
            "cambridge_score" if model_params.morbidity_measure == "ltc_count" else "ltc_count"
        )
        add(f"morbidity: {other_measure}", morbidity_measure=other_measure)
        if columns is not None and "acg_band" in columns:
            add("morbidity: acg_band", morbidity_measure="acg_band")
        add("without morbidity", covariates=[c for c in covariates if c != "morbidity"])
    else:
        add(
            "with morbidity (LTC count)",
            covariates=[*covariates, "morbidity"],
            morbidity_measure="ltc_count",
        )
    if "age_sex" in covariates:
        other_form = "additive" if model_params.age_sex_form == "interacted" else "interacted"
        add(f"age and sex {other_form}", age_sex_form=other_form)
        add("age-sex only", covariates=["age_sex"])
    return specs


def _columns_available(model_params: ModelParams, columns: set[str]) -> bool:
    """Whether the cells hold (or can derive) every column the specification needs."""
    if uses_age_spline(model_params) and "age" not in columns:
        return False
    for spec in covariate_specs(model_params):
        if spec.column in columns:
            continue
        derivable = (spec.column == "age_sex" and {"age_band", "sex"} <= columns) or (
            spec.column in ("age_band", "sex") and "age_sex" in columns
        )
        if not derivable:
            return False
    return True


def fit_alternatives(
    cells: pd.DataFrame, model_params: ModelParams, workers: int = 1
) -> tuple[dict[str, WorkloadModel], dict[str, str]]:
    """Fit the specification and each alternative (see :func:`alternative_specifications`).

    A specification error in the model as specified stops the run; an alternative that
    cannot be estimated on these cells (e.g. practice effects collinear with deprivation in
    a small ICB) does not stop the others and is returned with its reason.

    Args:
        cells: The cells.
        model_params: The specification.
        workers: Processes fitting at once (`pcfm.base.parallel`); the fits are the same.

    Returns:
        Fitted models keyed by label, the first key ``"as specified"``, and the
        alternatives not fitted, keyed by label, with the reason.
    """
    specs = alternative_specifications(model_params, set(cells.columns))
    shipped = with_levels_as_categories(cells)
    fits = parallel_map(partial(_fit_or_error, shipped), list(specs.values()), workers)
    models: dict[str, WorkloadModel] = {}
    not_fitted: dict[str, str] = {}
    for label, fit in zip(specs, fits, strict=True):
        if isinstance(fit, WorkloadModel):
            models[label] = fit
        elif label == SPECIFIED:
            raise fit
        else:
            not_fitted[label] = str(fit)
    return models, not_fitted


def _fit_or_error(
    cells: pd.DataFrame, spec: ModelParams
) -> WorkloadModel | ModelSpecificationError:
    """One fit, or the reason it cannot be estimated (returned, so the other fits go on)."""
    try:
        return fit_workload_model(cells, spec)
    except ModelSpecificationError as error:
        return error


def compare_coefficients(models: dict[str, WorkloadModel]) -> pd.DataFrame:
    """Rate ratios (with 95% intervals) of every term under every specification, long form.

    Returns:
        Columns: specification, term, rate_ratio, ci_low, ci_high (terms absent from a
        specification have no row).
    """
    frames = [
        model.coefficients.drop(columns="p_value").assign(specification=label)
        for label, model in models.items()
    ]
    table = pd.concat(frames, ignore_index=True)
    return table[["specification", "term", "rate_ratio", "ci_low", "ci_high"]]


def need_by_specification(
    models: Mapping[str, WorkloadModel], cells: pd.DataFrame, practices: pd.DataFrame
) -> dict[str, pd.DataFrame]:
    """Each specification's need table, by the one kernel (:func:`practice_need`).

    Returns:
        Per label, in the order of ``models``: practice_code, registered_list,
        need_weighted_list, need_index (practice-code order).
    """
    return {
        label: practice_need(cells, model.predict_rate(cells), practices)
        for label, model in models.items()
    }


def compare_need_indices(
    need_tables: Mapping[str, pd.DataFrame], cells: pd.DataFrame
) -> pd.DataFrame:
    """Each practice's need index under every specification, side by side.

    Args:
        need_tables: From :func:`need_by_specification`; the ``"as specified"`` column is
            therefore the need index stage 03 publishes.
        cells: The cells, for each practice's person-years.

    Returns:
        One row per practice: practice_code, person_years, then one column per specification.
    """
    person_years = (
        cells.assign(**{PRACTICE: cells[PRACTICE].astype(str)})
        .groupby(PRACTICE, sort=True)[EXPOSURE]
        .sum()
        .astype(float)
    )
    table = pd.DataFrame({PRACTICE: person_years.index, "person_years": person_years.to_numpy()})
    for label, need in need_tables.items():
        index = need.assign(**{PRACTICE: need[PRACTICE].astype(str)}).set_index(PRACTICE)
        table[label] = index["need_index"].reindex(table[PRACTICE]).to_numpy()
    return table
