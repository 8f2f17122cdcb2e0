"""Funding per need-weighted patient by deprivation quintile of practices, before and after.

The equity table of the allocation report and the board paper, and the headline gap.
Quintiles are quintiles *of practices* by their IMD 2019 score (1 = the fifth of practices
with the most deprived patients), as in the Health Foundation's analyses of funding per
need-weighted patient. Like the ICB average, the table is of the funding comparison: the
practices it counts (excluded ones left out, `pcfm.allocation.exclusions`) and the funding
it counts (capped practices at their bound), before and after the allocation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pcfm.allocation.exclusions import EXCLUDED

#: Columns of the published table ``allocation_by_imd_quintile``.
QUINTILE_COLUMNS = [
    "imd_quintile",
    "practices",
    "registered_list",
    "need_weighted_list",
    "current_funding_gbp",
    "allocation_gbp",
    "funding_per_nwp_before_gbp",
    "funding_per_nwp_after_gbp",
    "before_vs_icb",
    "after_vs_icb",
]


def imd_quintile_of_practices(imd_score: pd.Series) -> pd.Series:
    """Quintile of practices by IMD score: 1 = the fifth with the highest (most deprived)."""
    ranks = imd_score.rank(method="first", ascending=False)
    return np.ceil(ranks * 5 / ranks.notna().sum()).astype("Int64")


def funding_by_imd_quintile(table: pd.DataFrame) -> pd.DataFrame:
    """Funding per need-weighted patient by IMD quintile of practices, before and after.

    Args:
        table: The allocation table (one row per practice) with ``imd_score``, ``status``
            and ``counted_funding_gbp``.

    Returns:
        One row per quintile with :data:`QUINTILE_COLUMNS`, over the practices the
        comparison counts; ``current_funding_gbp`` is their counted funding, and
        ``before_vs_icb`` and ``after_vs_icb`` are fractions above (+) or below (−) the ICB
        average. Empty (with the columns) when the run has no practice IMD scores.
    """
    missing = [c for c in ("status", "counted_funding_gbp") if c not in table]
    if missing:
        raise KeyError(f"allocation table: missing column(s) {', '.join(missing)}")
    table = table.loc[table["status"] != EXCLUDED]
    if "imd_score" not in table or table["imd_score"].isna().all():
        return pd.DataFrame(columns=QUINTILE_COLUMNS)
    work = table.assign(
        imd_quintile=imd_quintile_of_practices(table["imd_score"]),
        current_funding_gbp=table["counted_funding_gbp"],
        funding_after_gbp=table["counted_funding_gbp"] + table["allocation_gbp"],
    )
    grouped = work.groupby("imd_quintile", sort=True).agg(
        practices=("practice_code", "size"),
        registered_list=("registered_list", "sum"),
        need_weighted_list=("need_weighted_list", "sum"),
        current_funding_gbp=("current_funding_gbp", "sum"),
        funding_after_gbp=("funding_after_gbp", "sum"),
        allocation_gbp=("allocation_gbp", "sum"),
    )
    before_icb = work["current_funding_gbp"].sum() / work["need_weighted_list"].sum()
    after_icb = work["funding_after_gbp"].sum() / work["need_weighted_list"].sum()
    grouped["funding_per_nwp_before_gbp"] = (
        grouped["current_funding_gbp"] / grouped["need_weighted_list"]
    )
    grouped["funding_per_nwp_after_gbp"] = (
        grouped["funding_after_gbp"] / grouped["need_weighted_list"]
    )
    grouped["before_vs_icb"] = grouped["funding_per_nwp_before_gbp"] / before_icb - 1
    grouped["after_vs_icb"] = grouped["funding_per_nwp_after_gbp"] / after_icb - 1
    grouped["registered_list"] = grouped["registered_list"].round().astype(np.int64)
    grouped["allocation_gbp"] = grouped["allocation_gbp"].round(2)
    grouped["current_funding_gbp"] = grouped["current_funding_gbp"].round(2)
    return grouped.reset_index()[QUINTILE_COLUMNS]


def deprivation_gap(quintiles: pd.DataFrame, column: str) -> float | None:
    """How much more (+) or less (−) the most deprived quintile gets per need-weighted
    patient than the least deprived, as a fraction of the least deprived's; None with
    fewer than two quintiles."""
    if len(quintiles) < 2:
        return None
    ordered = quintiles.sort_values("imd_quintile")
    most, least = ordered[column].iloc[0], ordered[column].iloc[-1]
    return float(most / least - 1)
