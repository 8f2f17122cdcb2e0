"""Figures of the workload model, each built from a diagnostics table and returned unshown.

Figures use :class:`matplotlib.figure.Figure` directly (no pyplot state), so they are safe in
the pipeline and in notebooks alike. Colours come from the one house palette
(`pcfm.base.style`, every mark 3:1 or more against white); where several series share a
figure they differ by marker shape as well as colour, so colour alone never carries meaning.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from pcfm.base.style import NHS_BLUE, NHS_DARK_GREY, NHS_DARK_PINK, NHS_MID_GREY, PALETTE

#: Marker shapes of series told apart in one figure, in the order of `PALETTE`.
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">")

__all__ = [
    "calibration_figure",
    "need_index_comparison_figure",
    "practice_calibration_figure",
    "prediction_comparison_figure",
    "rate_ratio_figure",
    "sensitivity_figure",
    "unavailable_figure",
]


def rate_ratio_figure(coefficients: pd.DataFrame) -> Figure:
    """Rate ratios with their confidence intervals on a log axis, one row per term."""
    table = coefficients.iloc[::-1]
    figure = Figure(figsize=(7, max(3.0, 0.22 * len(table) + 1)))
    axes = figure.add_subplot()
    positions = np.arange(len(table))
    axes.errorbar(
        table["rate_ratio"], positions,
        xerr=[table["rate_ratio"] - table["ci_low"], table["ci_high"] - table["rate_ratio"]],
        fmt="o", color=NHS_BLUE, ecolor=NHS_MID_GREY, capsize=2,
    )  # fmt: skip
    axes.axvline(1.0, color=NHS_DARK_GREY, linewidth=0.8)
    axes.set_xscale("log")
    axes.set_yticks(positions, table["term"], fontsize=7)
    axes.set_xlabel("Rate ratio (95% CI), log scale")
    figure.tight_layout()
    return figure


def calibration_figure(deciles: pd.DataFrame) -> Figure:
    """Observed against fitted workload per person-year by decile of predicted need."""
    figure = Figure(figsize=(5.5, 5))
    axes = figure.add_subplot()
    axes.plot(
        deciles["fitted_rate"],
        deciles["observed_rate"],
        "o",
        color=NHS_BLUE,
        label="Observed (fitted at own practice's supply)",
    )
    axes.plot(
        deciles["predicted_need_rate"],
        deciles["observed_rate"],
        "s",
        mfc="none",
        color=NHS_DARK_PINK,
        label="Observed against need at reference supply",
    )
    top = float(max(deciles[["fitted_rate", "observed_rate", "predicted_need_rate"]].max())) * 1.05
    axes.plot([0, top], [0, top], color=NHS_DARK_GREY, linewidth=0.8, label="Perfect calibration")
    axes.set_xlim(0, top)
    axes.set_ylim(0, top)
    axes.set_xlabel("Predicted workload per person-year")
    axes.set_ylabel("Observed workload per person-year")
    axes.legend(fontsize=8, loc="upper left")
    figure.tight_layout()
    return figure


def practice_calibration_figure(practices: pd.DataFrame) -> Figure:
    """Each practice's observed workload ÷ predicted need against its deprivation (the share
    of its person-years in IMD quintile 1) or, without that column, its need index.

    Under the inverse care law the ratio falls with deprivation: deprived practices deliver
    less than their patients' need at the ICB-average supply.
    """
    figure = Figure(figsize=(6, 4.5))
    axes = figure.add_subplot()
    by_deprivation = "most_deprived_share" in practices.columns
    x_column = "most_deprived_share" if by_deprivation else "need_index"
    axes.scatter(
        practices[x_column],
        practices["observed_to_need"],
        s=12 + 60 * practices["person_years"] / practices["person_years"].max(),
        color=NHS_BLUE,
        alpha=0.7,
        edgecolor="white",
        linewidth=0.5,
    )
    axes.axhline(1.0, color=NHS_DARK_GREY, linewidth=0.8)
    axes.set_xlabel(
        "Share of the practice's person-years in IMD quintile 1 (most deprived)"
        if by_deprivation
        else "Need index (predicted need per person-year ÷ ICB mean)"
    )
    axes.set_ylabel("Observed workload ÷ predicted need")
    figure.tight_layout()
    return figure


def prediction_comparison_figure(
    metrics: pd.DataFrame,
    column: str = "r_squared",
    x_label: str = (
        "R² of observed practice workload per person-year, practices held out "
        "(observed workload carries each practice's supply)"
    ),
) -> Figure:
    """A bar per method of one validation metric (default: R² against observed workload)."""
    table = metrics.iloc[::-1]
    figure = Figure(figsize=(7, 0.5 * len(table) + 1.4))
    axes = figure.add_subplot()
    positions = np.arange(len(table))
    colours = [
        NHS_BLUE if name.startswith("need model") else NHS_MID_GREY for name in table["method"]
    ]
    axes.barh(positions, table[column], color=colours)
    axes.axvline(0.0, color=NHS_DARK_GREY, linewidth=0.8)
    axes.set_yticks(positions, [_wrap(name) for name in table["method"]], fontsize=7)
    axes.set_xlabel(_wrap(x_label, 70))
    figure.tight_layout()
    return figure


def sensitivity_figure(comparison: pd.DataFrame, prefix: str = "imd_") -> Figure:
    """Rate ratios of the terms starting with ``prefix`` under each specification."""
    table = comparison[comparison["term"].str.startswith(prefix)]
    terms = list(dict.fromkeys(table["term"]))
    specifications = list(dict.fromkeys(table["specification"]))
    figure = Figure(figsize=(7, 0.45 * len(terms) * max(1, len(specifications)) / 2 + 1.5))
    axes = figure.add_subplot()
    height = 0.8 / max(len(specifications), 1)
    for index, label in enumerate(specifications):
        rows = table[table["specification"] == label].set_index("term").reindex(terms)
        positions = np.arange(len(terms)) + index * height
        axes.errorbar(
            rows["rate_ratio"],
            positions,
            xerr=[rows["rate_ratio"] - rows["ci_low"], rows["ci_high"] - rows["rate_ratio"]],
            fmt=MARKERS[index % len(MARKERS)],
            markersize=4,
            capsize=2,
            color=PALETTE[index % len(PALETTE)],
            label=label.replace("_", " "),
        )
    axes.axvline(1.0, color=NHS_DARK_GREY, linewidth=0.8)
    axes.set_yticks(np.arange(len(terms)) + 0.4 - height / 2, map(term_words, terms), fontsize=8)
    axes.invert_yaxis()
    axes.set_xlabel("Rate ratio (95% CI)")
    axes.legend(fontsize=7, loc="best")
    figure.tight_layout()
    return figure


def term_words(term: str) -> str:
    """A model term as words: ``imd_quintile=1`` → "IMD quintile 1"."""
    name, _, level = term.partition("=")
    words = name.replace("_", " ").replace("imd", "IMD")
    return f"{words} {level}".strip()


def need_index_comparison_figure(
    need_indices: pd.DataFrame,
    x: str,
    y: str,
    x_label: str | None = None,
    y_label: str | None = None,
) -> Figure:
    """Practice need indices under two specifications, with the line of no change."""
    figure = Figure(figsize=(5.5, 5))
    axes = figure.add_subplot()
    axes.scatter(need_indices[x], need_indices[y], s=14, color=NHS_BLUE, alpha=0.75)
    low = float(min(need_indices[x].min(), need_indices[y].min())) * 0.97
    high = float(max(need_indices[x].max(), need_indices[y].max())) * 1.03
    axes.plot([low, high], [low, high], color=NHS_DARK_GREY, linewidth=0.8)
    axes.set_xlabel(x_label or f"Need index: {x}")
    axes.set_ylabel(y_label or f"Need index: {y}")
    figure.tight_layout()
    return figure


def _wrap(text: str, width: int = 48) -> str:
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + len(word) + 1 > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    lines.append(line)
    return "\n".join(lines)


def unavailable_figure(message: str) -> Figure:
    """A small figure that says why a figure could not be drawn (keeps the report's layout)."""
    figure = Figure(figsize=(6, 1.2))
    axes = figure.add_subplot()
    axes.axis("off")
    axes.text(
        0.5, 0.5, _wrap(message, 80), ha="center", va="center", fontsize=9, color=NHS_DARK_GREY
    )
    return figure
