"""Stage 04, allocation: compare funding with need and share the budget by the policy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from pcfm.allocation.funding import compare_funding
from pcfm.allocation.policies import allocate
from pcfm.pipeline.context import RunContext


@dataclass(frozen=True)
class AllocationStageResult:
    """What notebook 04 shows."""

    allocation: pd.DataFrame
    summary: dict[str, Any]
    by_place: pd.DataFrame
    by_pcn: pd.DataFrame
    funding_figure: Figure


def totals_by(allocation: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Registered list, need-weighted list, funding and allocation summed by ``by``."""
    columns = ["registered_list", "need_weighted_list", "current_funding_gbp", "allocation_gbp"]
    totals = allocation.groupby(by, sort=True)[columns].sum().reset_index()
    totals.insert(len(by), "practices", allocation.groupby(by, sort=True).size().to_numpy())
    return totals


def funding_figure(allocation: pd.DataFrame) -> Figure:
    """Funding per need-weighted patient before and after the allocation."""
    after = (allocation["current_funding_gbp"] + allocation["allocation_gbp"]) / allocation[
        "need_weighted_list"
    ]
    figure = Figure(figsize=(6.5, 4))
    axes = figure.add_subplot()
    order = allocation["funding_per_nwp_gbp"].argsort().to_numpy()
    axes.plot(
        range(len(order)),
        allocation["funding_per_nwp_gbp"].to_numpy()[order],
        "o",
        color="#768692",
        markersize=3,
        label="Before",
    )
    axes.plot(
        range(len(order)),
        after.to_numpy()[order],
        "o",
        color="#005EB8",
        markersize=3,
        label="After",
    )
    axes.set_xlabel("Practices, from lowest to highest funding per need-weighted patient before")
    axes.set_ylabel("£ per need-weighted patient")
    axes.legend(frameon=False)
    figure.tight_layout()
    return figure


def run_allocation_stage(ctx: RunContext) -> AllocationStageResult:
    """Compare funding with need, allocate the budget and publish the tables."""
    outputs = ctx.outputs
    need = outputs.read_restricted("practice_need")
    practices = outputs.read_restricted("practices")
    comparison = compare_funding(need, practices, ctx.params.allocation)
    result = allocate(comparison, ctx.params.allocation)
    allocation = outputs.publish_table(result.table, "allocation")
    outputs.publish_json(result.summary, "allocation_summary")
    by_place = outputs.publish_table(totals_by(result.table, ["place"]), "allocation_by_place")
    by_pcn = outputs.publish_table(totals_by(result.table, ["pcn_code"]), "allocation_by_pcn")
    figure = funding_figure(result.table)
    outputs.publish_figure(figure, "funding_before_after")
    return AllocationStageResult(allocation, result.summary, by_place, by_pcn, figure)
