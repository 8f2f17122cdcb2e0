"""The allocation report (notebook 06): headline numbers first, then every practice.

For finance and primary care teams: the budget, how many practices are funded, the
range of allocations, funding per need-weighted patient by deprivation quintile before
and after, totals by place and PCN, the practices excluded from the comparison or capped
(by name, with the reason), the per-practice table and two charts. Every number
is read from a table stage 04 published (`pcfm.report.published`) and only formatted.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from matplotlib.figure import Figure

from pcfm.allocation.headline import AllocationHeadline
from pcfm.base.context import RunContext
from pcfm.report.alt_text import allocation_per_patient_alt, funding_by_imd_alt
from pcfm.report.display import (
    exclusions_display_table,
    headline_table,
    note,
    pcn_label_column,
    practice_display_table,
    quintile_display_table,
    sensitivity_display_table,
    totals_display_table,
)
from pcfm.report.figures import allocation_per_patient_figure, funding_by_imd_figure
from pcfm.report.headline import exclusions_markdown, headline_markdown, sensitivity_sentence
from pcfm.report.published import (
    read_allocation,
    read_exclusions,
    read_headline,
    read_sensitivity,
    read_summary,
    read_table,
)


@dataclass(frozen=True)
class AllocationReport:
    """What notebook 06 shows, in order."""

    headline: AllocationHeadline
    headline_text: str
    headline_table: pd.DataFrame
    quintiles: pd.DataFrame
    by_place: pd.DataFrame
    by_pcn: pd.DataFrame
    practices: pd.DataFrame
    exclusions_text: str
    exclusions: pd.DataFrame
    sensitivity_text: str
    sensitivity: pd.DataFrame
    quintile_figure: Figure | None
    allocation_figure: Figure
    #: The figures' alt text, with this run's finding (`pcfm.report.alt_text`).
    quintile_alt: str = ""
    allocation_alt: str = ""


def run_allocation_report(ctx: RunContext) -> AllocationReport:
    """Format the allocation report's tables and figures from the run's published tables."""
    folder = ctx.folder
    allocation = read_allocation(folder)
    headline = read_headline(folder)
    exclusions = read_exclusions(folder, headline)
    quintiles = read_table(folder, "allocation_by_imd_quintile", ("imd_quintile",))
    by_place = read_table(folder, "allocation_by_place", ("place",))
    by_pcn = read_table(folder, "allocation_by_pcn", ("pcn_code",))
    quintile_figure = funding_by_imd_figure(quintiles) if len(quintiles) else None
    allocation_figure = allocation_per_patient_figure(allocation)
    outputs = ctx.outputs
    if quintile_figure is not None:
        outputs.publish_figure(quintile_figure, "report_funding_by_imd_quintile")
    outputs.publish_figure(allocation_figure, "report_allocation_per_patient")
    report = ctx.params.report
    policy = str(read_summary(folder).get("policy", ctx.params.allocation.policy))
    return AllocationReport(
        headline=headline,
        headline_text=headline_markdown(headline, policy, report.icb_name, report.financial_year),
        headline_table=headline_table(headline),
        quintiles=quintile_display_table(quintiles),
        by_place=(
            totals_display_table(by_place, "Place", "place")
            if len(by_place)
            else note("The practices table has no place.")
        ),
        by_pcn=totals_display_table(by_pcn, "Primary care network", pcn_label_column(by_pcn)),
        practices=practice_display_table(allocation),
        exclusions_text=exclusions_markdown(headline, exclusions, ctx.params.allocation.outliers),
        exclusions=exclusions_display_table(exclusions),
        sensitivity_text=sensitivity_sentence(headline),
        sensitivity=sensitivity_display_table(read_sensitivity(folder)),
        quintile_figure=quintile_figure,
        allocation_figure=allocation_figure,
        quintile_alt=funding_by_imd_alt(headline),
        allocation_alt=allocation_per_patient_alt(headline),
    )
