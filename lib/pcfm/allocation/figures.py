"""Figures of the funding comparison and the allocation."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from pcfm.allocation.exclusions import EXCLUDED
from pcfm.base.style import NHS_BLUE, NHS_DARK_GREY, NHS_MID_GREY


def _deprivation_axis(table: pd.DataFrame) -> tuple[np.ndarray, str]:
    if "imd_score" in table and table["imd_score"].notna().any():
        return table["imd_score"].to_numpy(dtype=float), "Practice IMD 2019 score (more deprived →)"
    return (
        np.arange(len(table), dtype=float),
        "Practices in code order (no IMD score in the practices table)",
    )


def funding_by_deprivation_figure(table: pd.DataFrame) -> Figure:
    """Funding per need-weighted patient against practice IMD, before and after allocation.

    Each practice is a grey dot before and a blue dot after, joined by a line, with the ICB
    average before as a horizontal line; a least-squares line through each set shows the
    gradient with deprivation. As in the comparison, practices excluded from it are left
    out and capped practices are drawn at the funding counted (`pcfm.allocation.exclusions`).
    """
    table = table.loc[table["status"] != EXCLUDED].reset_index(drop=True)
    x, label = _deprivation_axis(table)
    counted = table["counted_funding_gbp"]
    weighted = table["need_weighted_list"]
    before = (counted / weighted).to_numpy(dtype=float)
    after = ((counted + table["allocation_gbp"]) / weighted).to_numpy(dtype=float)
    average = counted.sum() / weighted.sum()
    figure = Figure(figsize=(6.5, 4.2))
    axes = figure.add_subplot()
    for xi, b, a in zip(x, before, after, strict=True):
        if a != b:
            axes.plot([xi, xi], [b, a], color=NHS_MID_GREY, linewidth=0.6, alpha=0.7)
    axes.scatter(x, before, color=NHS_MID_GREY, marker="s", s=14, label="Before allocation")
    axes.scatter(x, after, color=NHS_BLUE, marker="o", s=14, label="After allocation")
    if len(x) >= 2 and np.ptp(x) > 0:
        grid = np.linspace(x.min(), x.max(), 50)
        for values, colour in ((before, NHS_MID_GREY), (after, NHS_BLUE)):
            slope, intercept = np.polyfit(x, values, 1)
            axes.plot(grid, intercept + slope * grid, color=colour, linewidth=1.2)
    axes.axhline(
        average, color=NHS_DARK_GREY, linewidth=0.8, linestyle="--", label="ICB average before"
    )
    axes.set_xlabel(label)
    axes.set_ylabel("£ per need-weighted patient")
    axes.legend(frameon=False, fontsize=8)
    figure.tight_layout()
    return figure


def need_index_interval_figure(table: pd.DataFrame) -> Figure:
    """Need index of each practice with its bootstrap 95% interval, lowest first.

    Without a bootstrap (intervals missing) the indices alone are drawn, and the axis says so.
    """
    ordered = table.sort_values("need_index").reset_index(drop=True)
    figure = Figure(figsize=(6.5, 4.2))
    axes = figure.add_subplot()
    position = np.arange(len(ordered))
    if ordered["need_index_low"].isna().all():
        axes.scatter(position, ordered["need_index"], color=NHS_BLUE, s=10)
        axes.axhline(1.0, color=NHS_DARK_GREY, linewidth=0.8)
        axes.set_xlabel("Practices, lowest need index first (no bootstrap in this run)")
        axes.set_ylabel("Need index")
        figure.tight_layout()
        return figure
    low = ordered["need_index"] - ordered["need_index_low"]
    high = ordered["need_index_high"] - ordered["need_index"]
    eligible = ordered["eligible"].to_numpy(dtype=bool)
    axes.errorbar(
        position,
        ordered["need_index"],
        yerr=[low.clip(lower=0), high.clip(lower=0)],
        fmt="none",
        ecolor=NHS_MID_GREY,
        elinewidth=0.8,
    )
    # eligible or not by shape as well as colour (WCAG 1.4.1: not by colour alone)
    need_index = ordered["need_index"].to_numpy(dtype=float)
    axes.scatter(position[eligible], need_index[eligible], color=NHS_BLUE, marker="o", s=12,
                 label="Eligible")  # fmt: skip
    axes.scatter(position[~eligible], need_index[~eligible], color=NHS_MID_GREY, marker="s",
                 s=12, label="Not eligible")  # fmt: skip
    axes.axhline(1.0, color=NHS_DARK_GREY, linewidth=0.8)
    axes.legend(frameon=False, fontsize=8)
    axes.set_xlabel("Practices, lowest need index first")
    axes.set_ylabel("Need index with 95% bootstrap interval")
    figure.tight_layout()
    return figure
