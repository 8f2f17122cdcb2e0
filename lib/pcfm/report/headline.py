"""Headline numbers of the allocation, shared by the allocation report and the board paper.

Everything is computed from what the run published (``publishable/allocation.csv`` and
``allocation_summary.json``), topped up from the restricted practices table only with
practice attributes the allocation table may not carry (IMD score, PCN name, place), so
the reports and the published tables cannot disagree.

Deprivation quintiles here are quintiles *of practices* by their IMD 2019 score
(1 = the fifth of practices with the most deprived patients), as in the Health
Foundation's analyses of funding per need-weighted patient.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from pcfm.allocation.sensitivity import SENSITIVITY_TABLE
from pcfm.base.folder import RunFolder
from pcfm.base.markdown import escape_markdown
from pcfm.base.style import (
    CATEGORY_COLOURS,
    NHS_BLUE,
    NHS_DARK_GREY,
    NHS_MID_GREY,
    new_figure,
    style_figure,
)

#: Practice attributes taken from the restricted practices table when allocation.csv lacks them.
PRACTICE_ATTRIBUTES = ("practice_name", "pcn_code", "pcn_name", "place", "imd_score")

POLICY_NAMES = {
    "needs_weighted_capitation": "needs-weighted capitation",
    "top_up_to_average": "top-up towards the average (as LLR's Health Equity Payment)",
    "level_up_cost": "cost of levelling up",
}


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
}


class ReportInputError(ValueError):
    """A table the report needs is missing from the run or lacks a needed column."""


def read_practice_allocation(folder: RunFolder) -> pd.DataFrame:
    """The published allocation, one row per practice, with practice attributes added."""
    path = folder.publishable / "allocation.csv"
    if not path.exists():
        raise ReportInputError(f"{path}: missing; the report needs the allocation stage's table")
    allocation = pd.read_csv(path, dtype={"practice_code": str})
    needed = {"practice_code", "registered_list", "need_weighted_list", "current_funding_gbp"}
    missing = sorted(needed - set(allocation.columns) - {"allocation_gbp"})
    if missing:
        raise ReportInputError(f"{path}: missing column(s) {', '.join(missing)}")
    if "allocation_gbp" not in allocation:
        allocation["allocation_gbp"] = 0.0
    practices_path = folder.restricted / "practices.parquet"
    absent = [c for c in PRACTICE_ATTRIBUTES if c not in allocation.columns]
    if absent and practices_path.exists():
        practices = pd.read_parquet(practices_path)
        available = [c for c in absent if c in practices.columns]
        if available:
            allocation = allocation.merge(
                practices[["practice_code", *available]], on="practice_code", how="left"
            )
    return allocation


def read_summary(folder: RunFolder) -> dict[str, Any]:
    """``allocation_summary.json`` as a dictionary (empty if the run wrote none)."""
    path = folder.publishable / "allocation_summary.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


@dataclass(frozen=True)
class Headline:
    """The numbers a reader wants first."""

    policy: str
    budget_gbp: float
    allocated_gbp: float
    unallocated_gbp: float
    n_practices: int
    n_funded: int
    smallest_allocation_gbp: float
    largest_allocation_gbp: float
    median_allocation_gbp: float
    registered_patients: int
    deprivation_gap_before: float | None
    deprivation_gap_after: float | None


def imd_quintile_of_practices(imd_score: pd.Series) -> pd.Series:
    """Quintile of practices by IMD score: 1 = the fifth with the highest (most deprived)."""
    ranks = imd_score.rank(method="first", ascending=False)
    return np.ceil(ranks * 5 / ranks.notna().sum()).astype("Int64")


def funding_by_imd_quintile(allocation: pd.DataFrame) -> pd.DataFrame | None:
    """Funding per need-weighted patient by deprivation quintile, before and after.

    Returns None when the run has no practice IMD scores.
    """
    if "imd_score" not in allocation or allocation["imd_score"].isna().all():
        return None
    table = allocation.assign(
        imd_quintile=imd_quintile_of_practices(allocation["imd_score"]),
        funding_after_gbp=allocation["current_funding_gbp"] + allocation["allocation_gbp"],
    )
    grouped = table.groupby("imd_quintile", sort=True).agg(
        practices=("practice_code", "size"),
        registered_list=("registered_list", "sum"),
        need_weighted_list=("need_weighted_list", "sum"),
        current_funding_gbp=("current_funding_gbp", "sum"),
        funding_after_gbp=("funding_after_gbp", "sum"),
        allocation_gbp=("allocation_gbp", "sum"),
    )
    before_icb = table["current_funding_gbp"].sum() / table["need_weighted_list"].sum()
    after_icb = table["funding_after_gbp"].sum() / table["need_weighted_list"].sum()
    grouped["funding_per_nwp_before_gbp"] = (
        grouped["current_funding_gbp"] / grouped["need_weighted_list"]
    )
    grouped["funding_per_nwp_after_gbp"] = (
        grouped["funding_after_gbp"] / grouped["need_weighted_list"]
    )
    grouped["before_vs_icb"] = grouped["funding_per_nwp_before_gbp"] / before_icb - 1
    grouped["after_vs_icb"] = grouped["funding_per_nwp_after_gbp"] / after_icb - 1
    return grouped.reset_index()[
        [
            "imd_quintile",
            "practices",
            "registered_list",
            "allocation_gbp",
            "funding_per_nwp_before_gbp",
            "funding_per_nwp_after_gbp",
            "before_vs_icb",
            "after_vs_icb",
        ]
    ]


def deprivation_gap(quintiles: pd.DataFrame | None, column: str) -> float | None:
    """How much more (+) or less (−) the most deprived quintile gets per need-weighted
    patient than the least deprived, as a fraction of the least deprived's."""
    if quintiles is None or len(quintiles) < 2:
        return None
    most = quintiles.loc[quintiles["imd_quintile"] == quintiles["imd_quintile"].min(), column]
    least = quintiles.loc[quintiles["imd_quintile"] == quintiles["imd_quintile"].max(), column]
    return float(most.iloc[0] / least.iloc[0] - 1)


def headline_numbers(allocation: pd.DataFrame, summary: dict[str, Any]) -> Headline:
    """The headline numbers of one run."""
    funded = allocation.loc[allocation["allocation_gbp"] > 0, "allocation_gbp"]
    quintiles = funding_by_imd_quintile(allocation)
    allocated = float(summary.get("allocated_gbp", allocation["allocation_gbp"].sum()))
    return Headline(
        policy=str(summary.get("policy", "")),
        budget_gbp=float(summary.get("budget_gbp", allocated)),
        allocated_gbp=allocated,
        unallocated_gbp=float(summary.get("unallocated_gbp", 0.0)),
        n_practices=len(allocation),
        n_funded=int((allocation["allocation_gbp"] > 0).sum()),
        smallest_allocation_gbp=float(funded.min()) if len(funded) else 0.0,
        largest_allocation_gbp=float(funded.max()) if len(funded) else 0.0,
        median_allocation_gbp=float(funded.median()) if len(funded) else 0.0,
        registered_patients=int(allocation["registered_list"].sum()),
        deprivation_gap_before=deprivation_gap(quintiles, "funding_per_nwp_before_gbp"),
        deprivation_gap_after=deprivation_gap(quintiles, "funding_per_nwp_after_gbp"),
    )


def _signed_percent(value: float) -> str:
    return f"{abs(value):.1%} {'more' if value >= 0 else 'less'}"


def headline_markdown(headline: Headline, icb_name: str, financial_year: str) -> str:
    """The headline numbers as a few sentences of Markdown."""
    policy = POLICY_NAMES.get(headline.policy, headline.policy)
    lines = [
        f"**{escape_markdown(icb_name)}, {escape_markdown(financial_year)}.** "
        f"A budget of **£{headline.budget_gbp:,.2f}** is shared "
        f"by {policy}. **{headline.n_funded} of {headline.n_practices} practices** "
        f"(covering {headline.registered_patients:,} registered patients) receive an allocation, "
        f"from **£{headline.smallest_allocation_gbp:,.2f}** to "
        f"**£{headline.largest_allocation_gbp:,.2f}** "
        f"(median £{headline.median_allocation_gbp:,.2f}).",
    ]
    if headline.unallocated_gbp:
        lines.append(
            f"£{headline.unallocated_gbp:,.2f} is left unallocated because every eligible "
            "practice's gap to the target is closed."
        )
    if headline.deprivation_gap_before is not None and headline.deprivation_gap_after is not None:
        lines.append(
            "Per need-weighted patient, practices in the most deprived fifth receive "
            f"**{_signed_percent(headline.deprivation_gap_before)}** than those in the least "
            f"deprived fifth before the allocation, and "
            f"**{_signed_percent(headline.deprivation_gap_after)}** after it."
        )
    return "\n\n".join(lines)


def headline_table(headline: Headline) -> pd.DataFrame:
    """The headline numbers as a two-column table."""
    rows = [
        ("Budget", f"£{headline.budget_gbp:,.2f}"),
        ("Allocated", f"£{headline.allocated_gbp:,.2f}"),
        ("Unallocated", f"£{headline.unallocated_gbp:,.2f}"),
        ("Practices funded", f"{headline.n_funded} of {headline.n_practices}"),
        ("Smallest allocation", f"£{headline.smallest_allocation_gbp:,.2f}"),
        ("Largest allocation", f"£{headline.largest_allocation_gbp:,.2f}"),
        ("Median allocation", f"£{headline.median_allocation_gbp:,.2f}"),
    ]
    if headline.deprivation_gap_before is not None:
        rows.append(
            ("Most vs least deprived fifth, before", f"{headline.deprivation_gap_before:+.1%}")
        )
    if headline.deprivation_gap_after is not None:
        rows.append(
            ("Most vs least deprived fifth, after", f"{headline.deprivation_gap_after:+.1%}")
        )
    return pd.DataFrame(rows, columns=["measure", "value"])


def quintile_display_table(quintiles: pd.DataFrame) -> pd.DataFrame:
    """The quintile table with readable headers and formatted money and percentages."""
    return pd.DataFrame(
        {
            "IMD quintile of practices (1 = most deprived)": quintiles["imd_quintile"].astype(int),
            "Practices": quintiles["practices"].astype(int),
            "Registered list": quintiles["registered_list"].map(lambda v: f"{int(v):,}"),
            "Allocation (£)": quintiles["allocation_gbp"].map(lambda v: f"{v:,.0f}"),
            "£ per need-weighted patient, before": quintiles["funding_per_nwp_before_gbp"].map(
                lambda v: f"{v:,.2f}"
            ),
            "£ per need-weighted patient, after": quintiles["funding_per_nwp_after_gbp"].map(
                lambda v: f"{v:,.2f}"
            ),
            "Against ICB average, before": quintiles["before_vs_icb"].map(lambda v: f"{v:+.1%}"),
            "Against ICB average, after": quintiles["after_vs_icb"].map(lambda v: f"{v:+.1%}"),
        }
    )


def gains_by(allocation: pd.DataFrame, column: str) -> pd.DataFrame:
    """Who gains: practices, list, allocation and its share of the total by ``column``."""
    if column not in allocation:
        raise ReportInputError(f"allocation: no column {column!r} to total by")
    grouped = allocation.groupby(column, sort=True).agg(
        practices=("practice_code", "size"),
        practices_funded=("allocation_gbp", lambda s: int((s > 0).sum())),
        registered_list=("registered_list", "sum"),
        allocation_gbp=("allocation_gbp", "sum"),
    )
    total = grouped["allocation_gbp"].sum()
    grouped["per_registered_patient_gbp"] = grouped["allocation_gbp"] / grouped["registered_list"]
    grouped["share_of_allocation"] = grouped["allocation_gbp"] / total if total else 0.0
    return grouped.reset_index()


def gains_display_table(gains: pd.DataFrame, label: str) -> pd.DataFrame:
    """:func:`gains_by` with readable headers and formatted money."""
    first = gains.columns[0]
    return pd.DataFrame(
        {
            label: gains[first].astype(str),
            "Practices": gains["practices"].astype(int),
            "Practices funded": gains["practices_funded"].astype(int),
            "Registered list": gains["registered_list"].map(lambda v: f"{int(v):,}"),
            "Allocation (£)": gains["allocation_gbp"].map(lambda v: f"{v:,.2f}"),
            "£ per registered patient": gains["per_registered_patient_gbp"].map(
                lambda v: f"{v:,.2f}"
            ),
            "Share of allocation": gains["share_of_allocation"].map(lambda v: f"{v:.1%}"),
        }
    )


def uncertain_practices(
    allocation: pd.DataFrame, low: float = 0.1, high: float = 0.9
) -> pd.DataFrame | None:
    """Practices whose eligibility is uncertain (``low < p_eligible < high``); None if the
    run did not estimate it."""
    if "p_eligible" not in allocation or allocation["p_eligible"].isna().all():
        return None
    uncertain = allocation[(allocation["p_eligible"] > low) & (allocation["p_eligible"] < high)]
    columns = [
        c
        for c in ("practice_code", "practice_name", "pcn_code", "place", "category", "eligible")
        if c in uncertain
    ]
    shown = uncertain[columns].copy()
    shown["p_eligible"] = uncertain["p_eligible"].map(lambda v: f"{v:.0%}")
    shown["allocation_gbp"] = uncertain["allocation_gbp"].map(lambda v: f"{v:,.2f}")
    return shown.sort_values("practice_code").reset_index(drop=True)


def practice_display_table(allocation: pd.DataFrame) -> pd.DataFrame:
    """The per-practice table of the allocation report: the issue-5 columns that exist."""
    wanted = [
        "practice_code",
        "practice_name",
        "pcn_code",
        "place",
        "registered_list",
        "need_index",
        "need_index_low",
        "need_index_high",
        "funding_per_nwp_gbp",
        "funding_ratio",
        "category",
        "p_eligible",
        "allocation_gbp",
    ]
    table = allocation[[c for c in wanted if c in allocation]].copy()
    for column in ("need_index", "need_index_low", "need_index_high", "funding_ratio"):
        if column in table:
            table[column] = table[column].map(lambda v: f"{v:.3f}")
    if "registered_list" in table:
        table["registered_list"] = table["registered_list"].map(lambda v: f"{int(v):,}")
    for column in ("funding_per_nwp_gbp", "allocation_gbp"):
        if column in table:
            table[column] = table[column].map(lambda v: f"{v:,.2f}")
    if "p_eligible" in table:
        table["p_eligible"] = table["p_eligible"].map(lambda v: "" if pd.isna(v) else f"{v:.0%}")
    return table.rename(columns=PRACTICE_HEADERS)


def read_sensitivity(folder: RunFolder) -> pd.DataFrame | None:
    """The published sensitivity table (one row per alternative model; none when switched off).

    Its columns are fixed (`pcfm.allocation.sensitivity.SENSITIVITY_COLUMNS`); None only for
    a run folder without the table.
    """
    path = folder.publishable / f"{SENSITIVITY_TABLE}.csv"
    return pd.read_csv(path) if path.exists() else None


def sensitivity_display_table(sensitivity: pd.DataFrame | None) -> pd.DataFrame:
    """How many practices change category (and eligibility) under each alternative model."""
    if sensitivity is None or sensitivity.empty:
        return pd.DataFrame({"note": ["The run did not publish a sensitivity analysis."]})
    shown = pd.DataFrame({"Alternative model": sensitivity["alternative"].astype(str)})
    shown["Practices changing category"] = sensitivity["n_category_changed"].astype(int)
    if "n_eligibility_changed" in sensitivity:
        shown["Practices changing eligibility"] = sensitivity["n_eligibility_changed"].astype(int)
    if "max_abs_change_gbp" in sensitivity:
        shown["Largest change of a practice's allocation (£)"] = sensitivity[
            "max_abs_change_gbp"
        ].map(lambda v: f"{v:,.2f}")
    return shown


def sensitivity_sentence(sensitivity: pd.DataFrame | None) -> str:
    """One sentence on how much the categories depend on the modelling choices."""
    if sensitivity is None or sensitivity.empty:
        return "The run did not publish a sensitivity analysis of the model."
    others = sensitivity.iloc[1:] if len(sensitivity) > 1 else sensitivity
    most = int(others["n_category_changed"].max())
    return (
        f"Under {len(others)} alternative model(s), at most {most} practice(s) change funding "
        "category."
    )


def funding_by_imd_figure(quintiles: pd.DataFrame) -> Figure:
    """Bars of funding per need-weighted patient by deprivation quintile, before and after."""
    figure, axes = new_figure(aspect=0.5)
    x = np.arange(len(quintiles))
    width = 0.38
    axes.bar(x - width / 2, quintiles["funding_per_nwp_before_gbp"], width, label="Before",
             color=NHS_MID_GREY)  # fmt: skip
    axes.bar(x + width / 2, quintiles["funding_per_nwp_after_gbp"], width, label="After",
             color=NHS_BLUE)  # fmt: skip
    axes.set_xticks(x, [f"{q}" for q in quintiles["imd_quintile"]])
    axes.set_xlabel("IMD quintile of practices (1 = most deprived)")
    axes.set_ylabel("£ per need-weighted patient")
    axes.legend(ncols=2, loc="lower left", bbox_to_anchor=(0.0, 1.0))
    return style_figure(figure)


def allocation_per_patient_figure(allocation: pd.DataFrame) -> Figure:
    """Each practice's allocation per registered patient, ranked, coloured by category."""
    figure, axes = new_figure(aspect=0.5)
    per_patient = allocation["allocation_gbp"] / allocation["registered_list"]
    order = np.argsort(-per_patient.to_numpy(), kind="stable")
    if "category" in allocation:
        categories = allocation["category"].to_numpy()[order].astype(int)
        colours = [CATEGORY_COLOURS[min(c, len(CATEGORY_COLOURS)) - 1] for c in categories]
    else:
        colours = [NHS_BLUE] * len(order)
    axes.bar(np.arange(len(order)), per_patient.to_numpy()[order], color=colours, width=0.85,
             edgecolor=NHS_DARK_GREY, linewidth=0.3)  # fmt: skip
    axes.set_xticks([])
    axes.set_xlabel("Practices, largest allocation per registered patient first")
    axes.set_ylabel("£ per registered patient")
    if "category" in allocation:
        from matplotlib.patches import Patch

        present = sorted(set(categories))
        axes.legend(
            handles=[
                Patch(
                    color=CATEGORY_COLOURS[min(c, len(CATEGORY_COLOURS)) - 1], label=f"Category {c}"
                )
                for c in present
            ],
            title="Funding category (1 = most under-funded)",
            ncols=min(4, len(present)),
            loc="lower left",
            bbox_to_anchor=(0.0, 1.0),
        )
    return style_figure(figure)


def write_figure(figure: Figure, folder: RunFolder, name: str) -> Path:
    """Publish a report figure as PNG and SVG beside the other figures."""
    from pcfm.base.outputs import Outputs
    from pcfm.params.disclosure import DisclosureParams

    Outputs(folder, DisclosureParams()).publish_figure(figure, name)
    return folder.figures / f"{name}.png"
