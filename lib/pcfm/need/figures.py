"""Figures of need: why practices' need indices differ."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from pcfm.base.style import NHS_BLUE, NHS_DARK_GREY, PALETTE


def decomposition_figure(decomposition: pd.DataFrame, max_practices: int = 40) -> Figure:
    """Stacked bars: each practice's need index minus 1, split by factor."""
    columns = [c for c in decomposition.columns if c.startswith("contribution_")]
    ordered = decomposition.sort_values("need_index").tail(max_practices)
    figure = Figure(figsize=(6.5, max(3.0, 0.16 * len(ordered) + 1.2)))
    axes = figure.add_subplot()
    position = np.arange(len(ordered))
    positive_base = np.zeros(len(ordered))
    negative_base = np.zeros(len(ordered))
    # a hatch per factor as well as a colour, so the factors differ without colour
    hatches = ("", "///", "...", "xxx", "\\\\\\", "+++")
    for column, colour, hatch in zip(columns, PALETTE, hatches, strict=False):
        values = ordered[column].to_numpy(dtype=float)
        base = np.where(values >= 0, positive_base, negative_base)
        axes.barh(
            position,
            values,
            left=base,
            color=colour,
            hatch=hatch,
            edgecolor="white",
            linewidth=0.3,
            label=column.removeprefix("contribution_").replace("_", "–"),
        )
        positive_base += np.maximum(values, 0)
        negative_base += np.minimum(values, 0)
    axes.scatter(
        ordered["need_index"] - 1, position, color="black", s=8, zorder=3, label="need index − 1"
    )
    axes.set_yticks(position, ordered["practice_code"], fontsize=6)
    axes.axvline(0, color=NHS_DARK_GREY, linewidth=0.8)
    axes.set_xlabel("Contribution to the need index (ICB = 1)")
    axes.legend(frameon=False, fontsize=7, loc="lower right")
    figure.tight_layout()
    return figure


def need_index_figure(need: pd.DataFrame, practices: pd.DataFrame) -> Figure:
    """Need index of each practice against its IMD score (or list size if IMD is unknown)."""
    table = need.merge(practices, on="practice_code", suffixes=("", "_practice"))
    x_column = "imd_score" if "imd_score" in table else "registered_list"
    figure = Figure(figsize=(6.5, 4))
    axes = figure.add_subplot()
    axes.scatter(table[x_column], table["need_index"], color=NHS_BLUE, s=18)
    axes.axhline(1.0, color=NHS_DARK_GREY, linewidth=0.8)
    axes.set_xlabel("Practice IMD 2019 score" if x_column == "imd_score" else "Registered list")
    axes.set_ylabel("Need index (ICB = 1)")
    figure.tight_layout()
    return figure
