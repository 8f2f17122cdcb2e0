"""Sensitivity of allocations to the model: the same policy on several need tables.

Each alternative model (other covariates, family, supply sterilisation…) gives its own
need table; running the same funding comparison and policy on each shows, per practice,
how much its allocation depends on the modelling choice, and how many practices change
funding category or eligibility against the first (main) alternative.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from pcfm.allocation.funding import compare_funding
from pcfm.allocation.policies import AllocationResult, allocate
from pcfm.need.weights import practice_need
from pcfm.params.allocation import AllocationParams
from pcfm.params.model import ModelParams


@dataclass(frozen=True)
class SensitivityResult:
    """Allocations of one policy under several need tables.

    Attributes:
        allocations: One row per practice: ``practice_code``, then per alternative
            ``need_index__<name>``, ``category__<name>`` and ``allocation_gbp__<name>``.
        changes: One row per alternative: ``alternative``, ``n_category_changed`` and
            ``n_eligibility_changed`` (against the baseline), ``allocated_gbp``,
            ``max_abs_change_gbp`` and ``total_abs_change_gbp`` (against the baseline).
        baseline: The name of the alternative the others are compared with.
        results: The full allocation result of each alternative.
    """

    allocations: pd.DataFrame
    changes: pd.DataFrame
    baseline: str
    results: dict[str, AllocationResult]


def fit_alternative_models(
    cells: pd.DataFrame, model_params: ModelParams
) -> tuple[dict[str, Any], dict[str, str]]:
    """Fit the model's alternative specifications one by one, keeping those that fit.

    Unlike :func:`pcfm.model.alternatives.fit_alternatives` a specification that cannot be
    fitted on these cells (e.g. practice effects collinear with deprivation in a small ICB)
    does not stop the others; it is returned with its reason.

    Returns:
        The fitted models by label (the specification first) and the failures by label.
    """
    from pcfm.model import fit_workload_model
    from pcfm.model.alternatives import alternative_specifications

    models: dict[str, Any] = {}
    failures: dict[str, str] = {}
    for label, spec in alternative_specifications(model_params, set(cells.columns)).items():
        try:
            models[label] = fit_workload_model(cells, spec)
        except ValueError as error:
            failures[label] = str(error)
    return models, failures


def need_tables_from_models(
    cells: pd.DataFrame, models: Mapping[str, Any], practices: pd.DataFrame
) -> dict[str, pd.DataFrame]:
    """Need table of each fitted model (anything with ``predict_rate(cells)``)."""
    return {
        name: practice_need(cells, model.predict_rate(cells), practices)
        for name, model in models.items()
    }


def allocation_sensitivity(
    need_tables: Mapping[str, pd.DataFrame],
    practices: pd.DataFrame,
    allocation_params: AllocationParams,
    previous_allocations: pd.DataFrame | None = None,
    baseline: str | None = None,
) -> SensitivityResult:
    """Run the comparison and the policy on every need table and set them side by side.

    Args:
        need_tables: Need table per alternative (from
            :func:`pcfm.need.weights.practice_need`), in display order.
        practices: The practices table.
        allocation_params: The policy and its parameters (the same for every alternative).
        previous_allocations: Last year's allocations for the transition rule, if any.
        baseline: The alternative to compare with; default the first.

    Returns:
        The side-by-side allocations and the count of changes per alternative.
    """
    if not need_tables:
        raise ValueError("allocation_sensitivity needs at least one need table")
    names = list(need_tables)
    baseline = baseline or names[0]
    if baseline not in need_tables:
        raise ValueError(f"baseline {baseline!r} is not one of the alternatives ({names})")
    results = {
        name: allocate(
            compare_funding(table, practices, allocation_params),
            allocation_params,
            previous_allocations,
        )
        for name, table in need_tables.items()
    }
    base = results[baseline].table.set_index("practice_code")
    wide = pd.DataFrame(index=base.index)
    rows = []
    for name, result in results.items():
        table = result.table.set_index("practice_code").reindex(base.index)
        wide[f"need_index__{name}"] = table["need_index"]
        wide[f"category__{name}"] = table["category"]
        wide[f"allocation_gbp__{name}"] = table["allocation_gbp"]
        difference = (table["allocation_gbp"] - base["allocation_gbp"]).abs()
        rows.append(
            {
                "alternative": name,
                "n_category_changed": int((table["category"] != base["category"]).sum()),
                "n_eligibility_changed": int((table["eligible"] != base["eligible"]).sum()),
                "allocated_gbp": result.summary["allocated_gbp"],
                "max_abs_change_gbp": float(difference.max()),
                "total_abs_change_gbp": float(difference.sum()),
            }
        )
    return SensitivityResult(
        allocations=wide.reset_index(),
        changes=pd.DataFrame(rows),
        baseline=baseline,
        results=results,
    )


def model_sensitivity_table(
    cells: pd.DataFrame,
    practices: pd.DataFrame,
    model_params: ModelParams,
    allocation_params: AllocationParams,
    previous_allocations: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The published sensitivity table: the policy under every alternative specification.

    Fits the alternatives of :func:`pcfm.model.alternatives.alternative_specifications`,
    runs the comparison and policy on each, and lists specifications that could not be
    fitted with the reason (column ``not_fitted``).
    """
    models, failures = fit_alternative_models(cells, model_params)
    tables = need_tables_from_models(cells, models, practices)
    changes = allocation_sensitivity(
        tables, practices, allocation_params, previous_allocations
    ).changes
    if failures:
        failed = pd.DataFrame(
            {"alternative": list(failures), "not_fitted": list(failures.values())}
        )
        changes = pd.concat([changes, failed], ignore_index=True)
        for column in ("n_category_changed", "n_eligibility_changed"):
            changes[column] = changes[column].astype("Int64")
    return changes


def need_tables_from_prediction_columns(
    cells: pd.DataFrame, practices: pd.DataFrame, prefix: str
) -> dict[str, pd.DataFrame]:
    """Need table per alternative from cells holding one prediction column per alternative.

    Args:
        cells: Cells with columns ``<prefix><label>`` (predicted rate per person-year under
            the specification ``label``), as stage 02 writes them.
        practices: The practices table.
        prefix: The prefix of the prediction columns.

    Returns:
        Need tables keyed by label, in column order.
    """
    return {
        column.removeprefix(prefix): practice_need(cells, cells[column].to_numpy(), practices)
        for column in cells.columns
        if column.startswith(prefix)
    }
