"""The allocation report (notebook 06): headline numbers first, then every practice.

For finance and primary care teams: the budget, how many practices are funded, the
range of allocations, funding per need-weighted patient by deprivation quintile before
and after, totals by place and PCN, the per-practice table and two charts.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from matplotlib.figure import Figure

from pcfm.base.context import RunContext
from pcfm.report.headline import (
    Headline,
    allocation_per_patient_figure,
    funding_by_imd_figure,
    funding_by_imd_quintile,
    gains_by,
    gains_display_table,
    headline_markdown,
    headline_numbers,
    headline_table,
    practice_display_table,
    quintile_display_table,
    read_practice_allocation,
    read_sensitivity,
    read_summary,
    sensitivity_display_table,
    sensitivity_sentence,
)


@dataclass(frozen=True)
class AllocationReport:
    """What notebook 06 shows, in order."""

    headline: Headline
    headline_text: str
    headline_table: pd.DataFrame
    quintiles: pd.DataFrame
    by_place: pd.DataFrame
    by_pcn: pd.DataFrame
    practices: pd.DataFrame
    sensitivity_text: str
    sensitivity: pd.DataFrame
    quintile_figure: Figure | None
    allocation_figure: Figure


def _empty(message: str) -> pd.DataFrame:
    return pd.DataFrame({"note": [message]})


def run_allocation_report(ctx: RunContext) -> AllocationReport:
    """Build the allocation report's tables and figures from the run's published allocation."""
    allocation = read_practice_allocation(ctx.folder)
    summary = read_summary(ctx.folder)
    headline = headline_numbers(allocation, summary)
    quintiles = funding_by_imd_quintile(allocation)
    quintile_figure = funding_by_imd_figure(quintiles) if quintiles is not None else None
    allocation_figure = allocation_per_patient_figure(allocation)
    outputs = ctx.outputs
    if quintile_figure is not None:
        outputs.publish_figure(quintile_figure, "report_funding_by_imd_quintile")
    outputs.publish_figure(allocation_figure, "report_allocation_per_patient")
    pcn_column = "pcn_name" if "pcn_name" in allocation else "pcn_code"
    report = ctx.params.report
    sensitivity = read_sensitivity(ctx.folder)
    return AllocationReport(
        headline=headline,
        headline_text=headline_markdown(headline, report.icb_name, report.financial_year),
        headline_table=headline_table(headline),
        quintiles=(
            quintile_display_table(quintiles)
            if quintiles is not None
            else _empty("The run has no practice IMD scores.")
        ),
        by_place=(
            gains_display_table(gains_by(allocation, "place"), "Place")
            if "place" in allocation
            else _empty("The practices table has no place.")
        ),
        by_pcn=gains_display_table(gains_by(allocation, pcn_column), "Primary care network"),
        practices=practice_display_table(allocation),
        sensitivity_text=sensitivity_sentence(sensitivity),
        sensitivity=sensitivity_display_table(sensitivity),
        quintile_figure=quintile_figure,
        allocation_figure=allocation_figure,
    )
