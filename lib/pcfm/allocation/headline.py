"""The headline numbers of the allocation: computed once, published as a table and in JSON.

``publishable/allocation_headline.csv`` (one row per measure) and the same keys of
``publishable/allocation_summary.json`` are written from one :class:`AllocationHeadline`,
so they agree by construction; the documents read the numbers back from the table
(:meth:`AllocationHeadline.from_table`) and only format them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import pandas as pd

from pcfm.allocation.certainty import UNCERTAIN_COLUMN
from pcfm.allocation.equity import deprivation_gap
from pcfm.allocation.exclusions import CAPPED, EXCLUDED, KEPT
from pcfm.params.allocation import AllocationParams

#: What each measure of the headline table is, as the workbook shows it.
MEASURE_LABELS = {
    "budget_gbp": "Budget (£; empty for level_up_cost, which has none)",
    "allocated_gbp": "Allocated (£)",
    "unallocated_gbp": "Budget left unallocated (£)",
    "n_practices": "Practices",
    "n_funded": "Practices with an allocation above zero",
    "registered_patients": "Registered patients of all practices",
    "registered_patients_funded": "Registered patients of the practices with an allocation",
    "smallest_allocation_gbp": "Smallest allocation above zero (£)",
    "largest_allocation_gbp": "Largest allocation (£)",
    "median_allocation_gbp": "Median allocation above zero (£)",
    "icb_average_funding_per_nwp_gbp": "ICB average funding per need-weighted patient (£)",
    "deprivation_gap_before": (
        "Funding per need-weighted patient of the most deprived fifth of practices against "
        "the least deprived fifth, before the allocation (fraction; − = less)"
    ),
    "deprivation_gap_after": "The same after the allocation (fraction; − = less)",
    "bootstrap_replicates": "Bootstrap replicates (empty when not run)",
    "uncertain_low": "Lower end of the uncertain band of p_eligible (allocation.uncertain_low)",
    "uncertain_high": "Upper end of the uncertain band of p_eligible (allocation.uncertain_high)",
    "n_eligibility_uncertain": (
        "Practices whose eligibility is uncertain (empty when the bootstrap was not run)"
    ),
    "n_excluded": (
        "Practices excluded from the funding comparison and the allocation "
        "(allocation.outliers; listed in allocation_exclusions)"
    ),
    "n_capped": "Practices whose funding counted in the comparison is capped at a bound",
    "n_kept": "Outliers and special services counted as they are, but listed",
    "median_funding_per_nwp_gbp": (
        "Median funding per need-weighted patient of the ordinary practices (£), the "
        "reference of the outlier bounds"
    ),
    "n_sensitivity_alternatives": "Alternative models in the sensitivity analysis",
    "max_practices_changing_category": (
        "Most practices changing funding category under any alternative model"
    ),
    "n_credible_alternatives": (
        "Alternative models declared credible (they keep the need covariates); eligibility "
        "that changes under one is uncertain"
    ),
    "max_practices_changing_eligibility_credible": (
        "Most practices changing eligibility under any credible alternative model"
    ),
    "max_practices_changing_eligibility_benchmark": (
        "Most practices changing eligibility under any benchmark model (not credible: "
        "they change what need is)"
    ),
}
INTEGER_MEASURES = frozenset(
    {
        "n_practices",
        "n_funded",
        "registered_patients",
        "registered_patients_funded",
        "bootstrap_replicates",
        "n_eligibility_uncertain",
        "n_excluded",
        "n_capped",
        "n_kept",
        "n_sensitivity_alternatives",
        "max_practices_changing_category",
        "n_credible_alternatives",
        "max_practices_changing_eligibility_credible",
        "max_practices_changing_eligibility_benchmark",
    }
)


class HeadlineTableError(ValueError):
    """A published headline table that lacks a measure or has one it does not know."""


@dataclass(frozen=True)
class AllocationHeadline:
    """The numbers a reader wants first; None where the run did not produce one."""

    budget_gbp: float | None
    allocated_gbp: float
    unallocated_gbp: float
    n_practices: int
    n_funded: int
    registered_patients: int
    registered_patients_funded: int
    smallest_allocation_gbp: float
    largest_allocation_gbp: float
    median_allocation_gbp: float
    icb_average_funding_per_nwp_gbp: float
    deprivation_gap_before: float | None
    deprivation_gap_after: float | None
    bootstrap_replicates: int | None
    uncertain_low: float
    uncertain_high: float
    n_eligibility_uncertain: int | None
    n_excluded: int
    n_capped: int
    n_kept: int
    median_funding_per_nwp_gbp: float | None
    n_sensitivity_alternatives: int | None
    max_practices_changing_category: int | None
    n_credible_alternatives: int | None = None
    max_practices_changing_eligibility_credible: int | None = None
    max_practices_changing_eligibility_benchmark: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """The measures by name, for ``allocation_summary.json``."""
        return asdict(self)

    def to_table(self) -> pd.DataFrame:
        """One row per measure: ``measure``, ``value``, ``description``."""
        values = self.as_dict()
        return pd.DataFrame(
            {
                "measure": list(values),
                "value": pd.Series(
                    [float("nan") if v is None else v for v in values.values()], dtype=object
                ),
                "description": [MEASURE_LABELS[name] for name in values],
            }
        )

    @classmethod
    def from_table(
        cls, table: pd.DataFrame, source: str = "allocation_headline.csv"
    ) -> AllocationHeadline:
        """Read the headline back from its published table."""
        for column in ("measure", "value"):
            if column not in table:
                raise HeadlineTableError(f"{source}: missing column {column!r}")
        values = dict(zip(table["measure"].astype(str), table["value"], strict=True))
        names = [f.name for f in fields(cls)]
        missing = [name for name in names if name not in values]
        unknown = sorted(set(values) - set(names))
        if missing or unknown:
            raise HeadlineTableError(
                f"{source}: column measure: missing {missing or 'none'}, "
                f"unknown {unknown or 'none'}"
            )

        def typed(name: str) -> Any:
            value = pd.to_numeric(values[name], errors="coerce")
            if value is None or (isinstance(value, float) and math.isnan(value)):
                return None
            return round(float(value)) if name in INTEGER_MEASURES else float(value)

        return cls(**{name: typed(name) for name in names})


def allocation_headline(
    summary: dict[str, Any],
    table: pd.DataFrame,
    quintiles: pd.DataFrame,
    params: AllocationParams,
    bootstrap_replicates: int | None,
    sensitivity: pd.DataFrame | None = None,
    median_funding_per_nwp_gbp: float | None = None,
) -> AllocationHeadline:
    """The headline numbers of one run.

    Args:
        summary: The policy's summary (`pcfm.allocation.policies.AllocationResult.summary`):
            budget, allocated and unallocated money, practices and the ICB average.
        table: The published allocation table, with the uncertainty decision
            (`pcfm.allocation.certainty`) and each practice's ``status``.
        quintiles: The equity table (`pcfm.allocation.equity.funding_by_imd_quintile`).
        params: The allocation parameters (the uncertain band).
        bootstrap_replicates: Replicates that succeeded; None without a bootstrap.
        sensitivity: The sensitivity table (one row per model, the main one first), if run.
        median_funding_per_nwp_gbp: The median of the outlier rule
            (`pcfm.allocation.exclusions.PracticeStatuses`), if known.
    """
    statuses = table["status"].value_counts()
    funded = table.loc[table["allocation_gbp"] > 0]
    amounts = funded["allocation_gbp"]
    flags = table[UNCERTAIN_COLUMN]
    others = None
    if sensitivity is not None and "n_category_changed" in sensitivity and len(sensitivity):
        others = sensitivity.iloc[1:] if len(sensitivity) > 1 else sensitivity
    budget = summary.get("budget_gbp")
    return AllocationHeadline(
        budget_gbp=None if budget is None else float(budget),
        allocated_gbp=float(summary["allocated_gbp"]),
        unallocated_gbp=float(summary["unallocated_gbp"]),
        n_practices=int(summary["n_practices"]),
        n_funded=int(summary["n_funded"]),
        registered_patients=int(table["registered_list"].sum()),
        registered_patients_funded=int(funded["registered_list"].sum()),
        smallest_allocation_gbp=float(amounts.min()) if len(amounts) else 0.0,
        largest_allocation_gbp=float(amounts.max()) if len(amounts) else 0.0,
        median_allocation_gbp=round(float(amounts.median()), 2) if len(amounts) else 0.0,
        icb_average_funding_per_nwp_gbp=float(summary["icb_average_funding_per_nwp_gbp"]),
        deprivation_gap_before=deprivation_gap(quintiles, "funding_per_nwp_before_gbp"),
        deprivation_gap_after=deprivation_gap(quintiles, "funding_per_nwp_after_gbp"),
        bootstrap_replicates=bootstrap_replicates,
        uncertain_low=params.uncertain_low,
        uncertain_high=params.uncertain_high,
        n_eligibility_uncertain=None if flags.isna().all() else int(flags.fillna(False).sum()),
        n_excluded=int(statuses.get(EXCLUDED, 0)),
        n_capped=int(statuses.get(CAPPED, 0)),
        n_kept=int(statuses.get(KEPT, 0)),
        median_funding_per_nwp_gbp=(
            None
            if median_funding_per_nwp_gbp is None or math.isnan(median_funding_per_nwp_gbp)
            else float(median_funding_per_nwp_gbp)
        ),
        n_sensitivity_alternatives=None if others is None else len(others),
        max_practices_changing_category=(
            None if others is None else int(others["n_category_changed"].max())
        ),
        **_eligibility_changes(others),
    )


def _eligibility_changes(others: pd.DataFrame | None) -> dict[str, int | None]:
    """The credible alternatives and the most practices changing eligibility under a credible
    and under a benchmark alternative (None without the columns; 0 when there is none)."""
    if others is None or "credible" not in others or "n_eligibility_changed" not in others:
        return {}
    credible = others["credible"].astype(str).str.lower().isin(["true", "1"])
    changed = others["n_eligibility_changed"].astype(int)
    return {
        "n_credible_alternatives": int(credible.sum()),
        "max_practices_changing_eligibility_credible": (
            int(changed[credible].max()) if credible.any() else 0
        ),
        "max_practices_changing_eligibility_benchmark": (
            int(changed[~credible].max()) if (~credible).any() else 0
        ),
    }
