"""Stage 03, need weights: each practice's need-weighted list and need index."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from matplotlib.figure import Figure

from pcfm.need.weights import practice_need
from pcfm.pipeline.context import RunContext


@dataclass(frozen=True)
class NeedStageResult:
    """What notebook 03 shows."""

    need: pd.DataFrame
    need_index_figure: Figure


def need_index_figure(need: pd.DataFrame, practices: pd.DataFrame) -> Figure:
    """Need index of each practice against its IMD score (or list size if IMD is unknown)."""
    table = need.merge(practices, on="practice_code", suffixes=("", "_practice"))
    x_column = "imd_score" if "imd_score" in table else "registered_list"
    figure = Figure(figsize=(6.5, 4))
    axes = figure.add_subplot()
    axes.scatter(table[x_column], table["need_index"], color="#005EB8", s=18)
    axes.axhline(1.0, color="#425563", linewidth=0.8)
    axes.set_xlabel("Practice IMD 2019 score" if x_column == "imd_score" else "Registered list")
    axes.set_ylabel("Need index (ICB = 1)")
    figure.tight_layout()
    return figure


def run_need_stage(ctx: RunContext) -> NeedStageResult:
    """Turn each cell's predicted workload into practice need and publish it."""
    outputs = ctx.outputs
    cells = outputs.read_restricted("cells_predicted")
    practices = outputs.read_restricted("practices")
    need = practice_need(cells, cells["predicted_rate"].to_numpy(), practices)
    outputs.write_restricted(need, "practice_need")
    published = outputs.publish_table(need, "need_index")
    figure = need_index_figure(need, practices)
    outputs.publish_figure(figure, "need_index_by_imd")
    return NeedStageResult(published, figure)
