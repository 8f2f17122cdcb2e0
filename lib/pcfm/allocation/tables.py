"""The published allocation tables: per practice, per PCN and per place, and the summary."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pcfm.allocation.certainty import (
    CERTAINTY_COLUMN,
    FLIPS_COLUMN,
    UNCERTAIN_COLUMN,
    uncertain_because,
)
from pcfm.allocation.policies import AllocationResult
from pcfm.need.decomposition import DECOMPOSITION_COLUMNS
from pcfm.params.allocation import AllocationParams

#: The first columns of ``publishable/allocation.csv``, in this order (issue 5).
ALLOCATION_COLUMNS = [
    "practice_code",
    "practice_name",
    "pcn_code",
    "place",
    "registered_list",
    "need_weighted_list",
    "need_index",
    "need_index_low",
    "need_index_high",
    "current_funding_gbp",
    "funding_per_nwp_gbp",
    "funding_ratio",
    "category",
    "eligible",
    "p_eligible",
    "allocation_gbp",
]
#: Columns after the decomposition, when present: the rest of the working.
EXTRA_COLUMNS = [
    "status",
    "pcn_name",
    "carr_hill_index",
    "imd_score",
    "counted_funding_gbp",
    "gap_gbp",
    "deprivation_part_gbp",
    "previous_allocation_gbp",
    "allocation_before_transition_gbp",
    "funding_per_nwp_after_gbp",
    "allocation_per_registered_patient_gbp",
    "need_vs_icb_average",
    "funding_vs_icb_average",
]
#: Keys of ``publishable/allocation_summary.json`` that every policy has (issue 5).
SUMMARY_KEYS = [
    "policy",
    "budget_gbp",
    "allocated_gbp",
    "unallocated_gbp",
    "n_practices",
    "n_funded",
]


def allocation_table(
    result: AllocationResult,
    bootstrap: pd.DataFrame | None = None,
    decomposition: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per practice with the columns of ``allocation.csv`` in the published order.

    Args:
        result: The allocation.
        bootstrap: Per practice ``need_index_low``, ``need_index_high``, ``p_eligible``
            (from :func:`pcfm.allocation.bootstrap.bootstrap_need`); empty columns if None.
        decomposition: Per practice ``contribution_*`` columns (from
            :func:`pcfm.need.decomposition.decompose_need_index`); left out if None.

    Returns:
        The table: :data:`ALLOCATION_COLUMNS`, then the decomposition, then
        :data:`EXTRA_COLUMNS` that are present.
    """
    table = result.table.copy()
    for column in ("practice_name", "pcn_code", "place"):
        if column not in table:
            table[column] = ""
    uncertainty = ["need_index_low", "need_index_high", "p_eligible"]
    if bootstrap is not None:
        table = table.drop(columns=[c for c in uncertainty if c in table]).merge(
            bootstrap[["practice_code", *uncertainty]], on="practice_code", how="left"
        )
    else:
        for column in uncertainty:
            if column not in table:
                table[column] = np.nan
    decomposition_columns: list[str] = []
    if decomposition is not None:
        decomposition_columns = [c for c in DECOMPOSITION_COLUMNS if c in decomposition]
        table = table.drop(columns=[c for c in decomposition_columns if c in table]).merge(
            decomposition[["practice_code", *decomposition_columns]],
            on="practice_code",
            how="left",
        )
    table["allocation_per_registered_patient_gbp"] = (
        table["allocation_gbp"] / table["registered_list"]
    )
    # Above (+) or below (-) the ICB average, as fractions: what a statement says in words.
    table["need_vs_icb_average"] = table["need_index"] - 1
    table["funding_vs_icb_average"] = table["funding_ratio"] - 1
    extras = [c for c in EXTRA_COLUMNS if c in table]
    return table[ALLOCATION_COLUMNS + decomposition_columns + extras].reset_index(drop=True)


def allocation_summary(result: AllocationResult) -> dict[str, Any]:
    """The summary for ``allocation_summary.json``: the issue's keys first, then the rest."""
    summary = {key: result.summary[key] for key in SUMMARY_KEYS}
    summary.update({k: v for k, v in result.summary.items() if k not in summary})
    return summary


#: Sums of list sizes (whole people) and of money (pence) in published totals.
LIST_COLUMNS = frozenset({"registered_list"})
MONEY_TOTAL_COLUMNS = frozenset({"current_funding_gbp", "allocation_gbp"})


def round_totals(totals: pd.DataFrame) -> pd.DataFrame:
    """The one rounding rule of published totals: money to the penny, lists to whole people.

    Ratios (per patient, shares) are computed from the unrounded sums before this is
    applied, so a published ratio is the ratio of the exact totals.
    """
    out = totals.copy()
    for column in out.columns:
        if column in LIST_COLUMNS:
            out[column] = out[column].round().astype(np.int64)
        elif column in MONEY_TOTAL_COLUMNS:
            out[column] = out[column].round(2)
    return out


def totals_by(table: pd.DataFrame, by: str | list[str]) -> pd.DataFrame:
    """Totals by PCN or place: lists, funding, allocation, and funding per need-weighted patient.

    Args:
        table: The allocation table (one row per practice).
        by: Column(s) to total by, e.g. ``"place"`` or ``["pcn_code", "pcn_name"]``.

    Returns:
        One row per group: ``practices``, ``practices_funded``, ``registered_list``,
        ``need_weighted_list``, ``current_funding_gbp``, ``allocation_gbp``,
        ``funding_per_nwp_gbp`` before and ``funding_per_nwp_after_gbp`` after the
        allocation, ``allocation_per_registered_patient_gbp`` and ``share_of_allocation``
        (fraction of the total allocated), rounded by :func:`round_totals`.
        ``registered_list`` is a count of people: publish it through disclosure control.
    """
    columns = [by] if isinstance(by, str) else list(by)
    missing = [c for c in columns if c not in table]
    if missing:
        raise KeyError(f"allocation table: no column(s) {', '.join(missing)} to total by")
    work = table[columns].copy()
    work["practices"] = 1
    work["practices_funded"] = (table["allocation_gbp"] > 0).astype(int)
    for column in (
        "registered_list",
        "need_weighted_list",
        "current_funding_gbp",
        "allocation_gbp",
    ):
        work[column] = table[column].astype(float)
    totals = work.groupby(columns, sort=True, dropna=False).sum().reset_index()
    totals["funding_per_nwp_gbp"] = totals["current_funding_gbp"] / totals["need_weighted_list"]
    totals["funding_per_nwp_after_gbp"] = (
        totals["current_funding_gbp"] + totals["allocation_gbp"]
    ) / totals["need_weighted_list"]
    totals["allocation_per_registered_patient_gbp"] = (
        totals["allocation_gbp"] / totals["registered_list"]
    )
    allocated = totals["allocation_gbp"].sum()
    totals["share_of_allocation"] = totals["allocation_gbp"] / allocated if allocated else 0.0
    return round_totals(totals)


def category_table(table: pd.DataFrame) -> pd.DataFrame:
    """The funding categories: practices, range of funding ratio and allocation in each.

    Category 1 is the most under-funded. Practices with equal funding ratios share a
    category, so categories can differ in size by more than one. Practices excluded from the
    comparison are in no category; funding per need-weighted patient is of the funding the
    comparison counts (capped practices at their bound), as the funding ratio is.
    """
    work = table.assign(
        funded=(table["allocation_gbp"] > 0).astype(int),
        eligible_practices=table["eligible"].astype(int),
        practices=1,
    )
    grouped = work.groupby("category", sort=True)
    categories = pd.DataFrame(
        {
            "practices": grouped["practices"].sum(),
            "eligible_practices": grouped["eligible_practices"].sum(),
            "practices_funded": grouped["funded"].sum(),
            "funding_ratio_min": grouped["funding_ratio"].min(),
            "funding_ratio_max": grouped["funding_ratio"].max(),
            "funding_per_nwp_gbp": grouped["counted_funding_gbp"].sum()
            / grouped["need_weighted_list"].sum(),
            "allocation_gbp": grouped["allocation_gbp"].sum().round(2),
        }
    )
    return categories.reset_index()


def summary_table(summary: dict[str, Any]) -> pd.DataFrame:
    """The summary as a two-column table (figure, value) for display."""

    def shown(value: Any) -> str:
        if value is None:
            return "—"
        if isinstance(value, float):
            return f"{value:,.2f}"
        if isinstance(value, int) and not isinstance(value, bool):
            return f"{value:,}"
        return str(value)

    return pd.DataFrame(
        {"figure": list(summary), "value": [shown(value) for value in summary.values()]}
    )


#: Columns of the published table of practices whose eligibility is uncertain.
UNCERTAIN_COLUMNS = [
    "practice_code",
    "practice_name",
    "pcn_code",
    "place",
    "need_index",
    "need_index_low",
    "need_index_high",
    "funding_ratio",
    "category",
    "eligible",
    "p_eligible",
    CERTAINTY_COLUMN,
    "uncertain_because",
    FLIPS_COLUMN,
    "allocation_gbp",
]


def uncertain_eligibility_table(table: pd.DataFrame, params: AllocationParams) -> pd.DataFrame:
    """The practices stage 04 marked as of uncertain eligibility, most likely funded first,
    with what would flip each: ``uncertain_because`` (the bootstrap, a credible alternative
    or both), its bootstrap probability ``p_eligible`` and the credible alternatives under
    which its eligibility flips (``eligibility_flips_under``).

    The decision is the table's ``eligibility_uncertain`` column
    (`pcfm.allocation.certainty`); empty (with the columns) when the run has no bootstrap.
    """
    flags = table[UNCERTAIN_COLUMN].fillna(False).astype(bool)
    work = table.assign(uncertain_because=uncertain_because(table, params))
    uncertain = work.loc[flags, UNCERTAIN_COLUMNS]
    return uncertain.sort_values(
        ["p_eligible", "practice_code"], ascending=[False, True]
    ).reset_index(drop=True)


#: Practices a report table lists by code in one cell; more are counted (the CSV has all).
LISTED_IN_REPORT = 8


def practices_for_report(codes: str) -> str:
    """A ``"; "``-separated list of practice codes as a report's table cell shows it: the
    codes when there are a few, otherwise how many, pointing to the CSV."""
    listed = [code for code in str(codes).split("; ") if code and code != "nan"]
    if len(listed) <= LISTED_IN_REPORT:
        return "; ".join(listed) or "none"
    return f"{len(listed)} practices (listed in the CSV)"
