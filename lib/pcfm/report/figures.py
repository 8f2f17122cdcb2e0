"""The report's figures, drawn from published tables (each plotted value is in a table)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from pcfm.base.style import (
    CATEGORY_COLOURS,
    NHS_BLUE,
    NHS_DARK_GREY,
    NHS_MID_GREY,
    new_figure,
    style_figure,
)


def funding_by_imd_figure(quintiles: pd.DataFrame) -> Figure:
    """Bars of ``allocation_by_imd_quintile``: £ per need-weighted patient, before and after."""
    figure, axes = new_figure(aspect=0.5)
    x = np.arange(len(quintiles))
    width = 0.38
    axes.bar(x - width / 2, quintiles["funding_per_nwp_before_gbp"], width, label="Before",
             color=NHS_MID_GREY, hatch="///", edgecolor="white")  # fmt: skip
    axes.bar(x + width / 2, quintiles["funding_per_nwp_after_gbp"], width, label="After",
             color=NHS_BLUE)  # fmt: skip
    axes.set_xticks(x, [f"{q}" for q in quintiles["imd_quintile"]])
    axes.set_xlabel("IMD quintile of practices (1 = most deprived)")
    axes.set_ylabel("£ per need-weighted patient")
    axes.legend(ncols=2, loc="lower left", bbox_to_anchor=(0.0, 1.0))
    return style_figure(figure)


def _category_colour(category: int) -> str:
    return CATEGORY_COLOURS[min(category, len(CATEGORY_COLOURS)) - 1]


#: Colour of a practice excluded from the comparison (no category; its allocation is 0).
EXCLUDED_COLOUR = NHS_MID_GREY


def allocation_per_patient_figure(allocation: pd.DataFrame) -> Figure:
    """``allocation_per_registered_patient_gbp`` of each practice, ranked, coloured by category
    (grey: excluded from the comparison, so in no category)."""
    figure, axes = new_figure(aspect=0.5)
    per_patient = allocation["allocation_per_registered_patient_gbp"].to_numpy(dtype=float)
    order = np.argsort(-per_patient, kind="stable")
    has_category = "category" in allocation
    if has_category:
        categories = pd.to_numeric(allocation["category"], errors="coerce").to_numpy()[order]
        colours = [EXCLUDED_COLOUR if np.isnan(c) else _category_colour(int(c)) for c in categories]
    else:
        colours = [NHS_BLUE] * len(order)
    axes.bar(np.arange(len(order)), per_patient[order], color=colours, width=0.85,
             edgecolor=NHS_DARK_GREY, linewidth=0.3)  # fmt: skip
    axes.set_xticks([])
    axes.set_xlabel("Practices, largest allocation per registered patient first")
    axes.set_ylabel("£ per registered patient")
    if has_category:
        present = sorted({int(c) for c in categories if not np.isnan(c)})
        handles = [
            Patch(facecolor=_category_colour(c), edgecolor=NHS_DARK_GREY, label=f"Category {c}")
            for c in present
        ]
        if np.isnan(categories).any():
            handles.append(
                Patch(facecolor=EXCLUDED_COLOUR, edgecolor=NHS_DARK_GREY, label="Excluded")
            )
        axes.legend(
            handles=handles,
            title="Funding category (1 = most under-funded)",
            ncols=min(4, len(handles)),
            loc="lower left",
            bbox_to_anchor=(0.0, 1.0),
        )
    return style_figure(figure)
