"""Published tables as the documents show them: readable headers, formatted numbers.

Each function takes one published table and only selects, renames and formats its
columns (`pcfm.report.formats`); nothing is summed, averaged or derived here.
"""

from __future__ import annotations

import pandas as pd

from pcfm.allocation.headline import AllocationHeadline
from pcfm.report.formats import count, gbp, index, money, percent, signed_percent

#: Readable headers of the per-practice table.
PRACTICE_HEADERS = {
    "practice_code": "Code",
    "practice_name": "Practice",
    "pcn_code": "PCN",
    "place": "Place",
    "registered_list": "Registered list",
    "need_index": "Need index",
    "need_index_low": "Need index, 95% low",
    "need_index_high": "Need index, 95% high",
    "funding_per_nwp_gbp": "£ per need-weighted patient",
    "funding_ratio": "Against ICB average",
    "category": "Category",
    "p_eligible": "Probability eligible",
    "allocation_gbp": "Allocation (£)",
    "status": "Status",
}

#: Readable headers of the table of excluded, capped and listed practices.
EXCLUSION_HEADERS = {
    "practice_code": "Code",
    "practice_name": "Practice",
    "status": "Status",
    "reason": "Reason",
    "funding_gbp": "Funding (£)",
    "counted_funding_gbp": "Funding counted (£)",
}


def note(message: str) -> pd.DataFrame:
    """A one-cell table standing in for a table the run did not produce."""
    return pd.DataFrame({"note": [message]})


def pcn_label_column(by_pcn: pd.DataFrame) -> str:
    """Name PCNs by their name where the run has one, else by code."""
    return "pcn_name" if "pcn_name" in by_pcn and by_pcn["pcn_name"].notna().all() else "pcn_code"


def headline_table(headline: AllocationHeadline) -> pd.DataFrame:
    """The headline numbers as a two-column table."""
    rows = []
    if headline.budget_gbp is not None:
        rows.append(("Budget", gbp(headline.budget_gbp)))
    rows += [
        ("Allocated", gbp(headline.allocated_gbp)),
        ("Unallocated", gbp(headline.unallocated_gbp)),
        ("Practices funded", f"{headline.n_funded} of {headline.n_practices}"),
        ("Registered patients of the funded practices", count(headline.registered_patients_funded)),
        ("Smallest allocation", gbp(headline.smallest_allocation_gbp)),
        ("Largest allocation", gbp(headline.largest_allocation_gbp)),
        ("Median allocation", gbp(headline.median_allocation_gbp)),
    ]
    if headline.deprivation_gap_before is not None:
        rows.append(
            (
                "Most vs least deprived fifth, before",
                signed_percent(headline.deprivation_gap_before),
            )
        )
    if headline.deprivation_gap_after is not None:
        rows.append(
            ("Most vs least deprived fifth, after", signed_percent(headline.deprivation_gap_after))
        )
    if headline.n_eligibility_uncertain is not None:
        rows.append(("Practices of uncertain eligibility", str(headline.n_eligibility_uncertain)))
    rows += [
        ("Practices excluded from the comparison", str(headline.n_excluded)),
        ("Practices with their funding capped", str(headline.n_capped)),
    ]
    if headline.n_kept:
        rows.append(("Outliers counted as they are, listed", str(headline.n_kept)))
    return pd.DataFrame(rows, columns=["measure", "value"])


def quintile_display_table(quintiles: pd.DataFrame) -> pd.DataFrame:
    """``allocation_by_imd_quintile`` with readable headers and formatted numbers."""
    if quintiles.empty:
        return note("The run has no practice IMD scores.")
    return pd.DataFrame(
        {
            "IMD quintile of practices (1 = most deprived)": quintiles["imd_quintile"].astype(int),
            "Practices": quintiles["practices"].astype(int),
            "Registered list": quintiles["registered_list"].map(count),
            "Allocation (£)": quintiles["allocation_gbp"].map(lambda v: f"{v:,.0f}"),
            "£ per need-weighted patient, before": quintiles["funding_per_nwp_before_gbp"].map(
                money
            ),
            "£ per need-weighted patient, after": quintiles["funding_per_nwp_after_gbp"].map(money),
            "Against ICB average, before": quintiles["before_vs_icb"].map(signed_percent),
            "Against ICB average, after": quintiles["after_vs_icb"].map(signed_percent),
        }
    )


def totals_display_table(totals: pd.DataFrame, label: str, by: str) -> pd.DataFrame:
    """``allocation_by_place`` or ``allocation_by_pcn`` for people, grouped by column ``by``."""
    return pd.DataFrame(
        {
            label: totals[by].astype(str),
            "Practices": totals["practices"].astype(int),
            "Practices funded": totals["practices_funded"].astype(int),
            "Registered list": totals["registered_list"].map(count),
            "Allocation (£)": totals["allocation_gbp"].map(money),
            "£ per registered patient": totals["allocation_per_registered_patient_gbp"].map(money),
            "Share of allocation": totals["share_of_allocation"].map(percent),
        }
    )


def what_would_flip(row: pd.Series) -> str:
    """What would change an uncertain practice's eligibility, in words, from the published
    columns ``uncertain_because`` and ``eligibility_flips_under`` (no new numbers: its
    bootstrap probability is the table's own column)."""
    parts = []
    eligible = str(row.get("eligible", "")).strip().lower() == "true"
    because = str(row.get("uncertain_because", "") or "")
    if "bootstrap" in because:
        parts.append("re-estimating the model on resampled data")
    flips = row.get("eligibility_flips_under", "")
    if isinstance(flips, str) and flips.strip():
        parts.append(f"{'not eligible' if eligible else 'eligible'} under {flips.strip()}")
    return "; ".join(parts)


def uncertain_display_table(uncertain: pd.DataFrame) -> pd.DataFrame:
    """``allocation_uncertain_eligibility`` for people, with what would flip each practice."""
    shown = uncertain[
        [
            c
            for c in ("practice_code", "practice_name", "pcn_code", "place", "category", "eligible")
            if c in uncertain
        ]
    ].copy()
    shown["p_eligible"] = uncertain["p_eligible"].map(lambda v: percent(v, 0))
    shown["allocation_gbp"] = uncertain["allocation_gbp"].map(money)
    shown["What would change it"] = [what_would_flip(row) for _, row in uncertain.iterrows()]
    shown["eligible"] = shown["eligible"].map(
        lambda v: "yes" if str(v).strip().lower() == "true" else "no"
    )
    return shown.rename(columns=PRACTICE_HEADERS | {"eligible": "Eligible"})


def exclusions_display_table(exclusions: pd.DataFrame) -> pd.DataFrame:
    """``allocation_exclusions`` for people: each practice by name, its status and reason."""
    if exclusions.empty:
        return note("No practice was excluded, capped or listed as an outlier.")
    shown = exclusions[list(EXCLUSION_HEADERS)].copy()
    shown["practice_name"] = shown["practice_name"].fillna("")
    for column in ("funding_gbp", "counted_funding_gbp"):
        shown[column] = shown[column].map(money)
    return shown.rename(columns=EXCLUSION_HEADERS)


def practice_display_table(allocation: pd.DataFrame) -> pd.DataFrame:
    """The per-practice table of the allocation report: the issue-5 columns that exist."""
    table = allocation[[c for c in PRACTICE_HEADERS if c in allocation]].copy()
    for column in ("need_index", "need_index_low", "need_index_high", "funding_ratio"):
        if column in table:
            table[column] = table[column].map(lambda v: "" if pd.isna(v) else index(v))
    if "registered_list" in table:
        table["registered_list"] = table["registered_list"].map(count)
    if "category" in table:  # none for a practice excluded from the comparison
        table["category"] = table["category"].map(lambda v: "" if pd.isna(v) else count(v))
    for column in ("funding_per_nwp_gbp", "allocation_gbp"):
        if column in table:
            table[column] = table[column].map(money)
    if "p_eligible" in table:
        table["p_eligible"] = table["p_eligible"].map(lambda v: "" if pd.isna(v) else percent(v, 0))
    return table.rename(columns=PRACTICE_HEADERS)


def sensitivity_display_table(sensitivity: pd.DataFrame | None) -> pd.DataFrame:
    """Per alternative model: what it assumes, whether it is credible, how many practices
    change eligibility (and category) and the largest change of an allocation."""
    if sensitivity is None or sensitivity.empty:
        return note("The run did not publish a sensitivity analysis.")
    shown = pd.DataFrame({"Alternative model": sensitivity["alternative"].astype(str)})
    if "assumes" in sensitivity:
        shown["What it assumes"] = sensitivity["assumes"].fillna("").astype(str)
    if "credible" in sensitivity:
        shown["Credible"] = sensitivity["credible"].map(
            lambda v: "yes" if str(v).strip().lower() == "true" else "no (benchmark)"
        )
    if "n_eligibility_changed" in sensitivity:
        shown["Practices changing eligibility"] = sensitivity["n_eligibility_changed"].astype(int)
    shown["Practices changing category"] = sensitivity["n_category_changed"].astype(int)
    if "max_abs_change_gbp" in sensitivity:
        shown["Largest change of a practice's allocation (£)"] = sensitivity[
            "max_abs_change_gbp"
        ].map(money)
    return shown
