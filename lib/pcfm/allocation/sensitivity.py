"""Sensitivity of allocations to the model: the same policy on several need tables.

Each alternative model (other covariates, family, supply sterilisation…) gives its own
need table; running the same funding comparison and policy on each shows, per practice,
how much its allocation depends on the modelling choice, and how many practices change
funding category or eligibility against the first (main) alternative. Every alternative
applies the same decision on outliers and special services (`pcfm.allocation.exclusions`):
the main model's, so a practice is excluded or capped under all of them or under none,
and the changes counted are those of the need model alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from pcfm.allocation.exclusions import PracticeStatuses, decide_statuses
from pcfm.allocation.funding import compare_funding
from pcfm.allocation.policies import AllocationResult, allocate
from pcfm.params.allocation import AllocationParams

#: The published ``allocation_sensitivity`` table's schema: always these columns, in order
#: (no rows when the analysis is switched off), so readers need not guess.
SENSITIVITY_TABLE = "allocation_sensitivity"
SENSITIVITY_COLUMNS: dict[str, str] = {
    "alternative": "str",
    "n_category_changed": "int64",
    "n_eligibility_changed": "int64",
    "allocated_gbp": "float64",
    "max_abs_change_gbp": "float64",
    "total_abs_change_gbp": "float64",
}


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


def allocation_sensitivity(
    need_tables: Mapping[str, pd.DataFrame],
    practices: pd.DataFrame,
    allocation_params: AllocationParams,
    previous_allocations: pd.DataFrame | None = None,
    baseline: str | None = None,
    statuses: PracticeStatuses | None = None,
) -> SensitivityResult:
    """Run the comparison and the policy on every need table and set them side by side.

    Args:
        need_tables: Need table per alternative (from the one kernel,
            :func:`pcfm.model.need_index.practice_need`; stage 02 hands them over as
            ``need_by_specification``), in display order.
        practices: The practices table.
        allocation_params: The policy and its parameters (the same for every alternative).
        previous_allocations: Last year's allocations for the transition rule, if any.
        baseline: The alternative to compare with; default the first.
        statuses: The run's decision on outliers and special services, applied to every
            alternative; when None it is decided once from the baseline's need table.

    Returns:
        The side-by-side allocations and the count of changes per alternative.
    """
    if not need_tables:
        raise ValueError("allocation_sensitivity needs at least one need table")
    names = list(need_tables)
    baseline = baseline or names[0]
    if baseline not in need_tables:
        raise ValueError(f"baseline {baseline!r} is not one of the alternatives ({names})")
    if statuses is None:
        statuses = decide_statuses(need_tables[baseline], practices, allocation_params.outliers)
    results = {
        name: allocate(
            compare_funding(table, practices, allocation_params, statuses),
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
                # An excluded practice has no category (0 here) under every alternative.
                "n_category_changed": int(
                    (table["category"].fillna(0) != base["category"].fillna(0)).sum()
                ),
                "n_eligibility_changed": int((table["eligible"] != base["eligible"]).sum()),
                "allocated_gbp": result.summary["allocated_gbp"],
                "max_abs_change_gbp": float(difference.max()),
                "total_abs_change_gbp": float(difference.sum()),
            }
        )
    return SensitivityResult(
        allocations=wide.reset_index(),
        changes=pd.DataFrame(rows, columns=list(SENSITIVITY_COLUMNS)),
        baseline=baseline,
        results=results,
    )


def no_sensitivity_table() -> pd.DataFrame:
    """The published table of a run with ``allocation.sensitivity`` off: the columns, no rows."""
    return pd.DataFrame(
        {column: pd.Series(dtype=dtype) for column, dtype in SENSITIVITY_COLUMNS.items()}
    )
