"""Stage 02, workload model: fit need to workload on the cells and publish the rate ratios."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from pcfm.model import WorkloadModel, fit_workload_model
from pcfm.pipeline.context import RunContext


@dataclass(frozen=True)
class ModelStageResult:
    """What notebook 02 shows."""

    model: WorkloadModel
    coefficients: pd.DataFrame
    rate_ratio_figure: Figure


def rate_ratio_figure(coefficients: pd.DataFrame) -> Figure:
    """Rate ratios with 95% intervals on a log axis, one row per term."""
    table = coefficients.iloc[::-1]
    figure = Figure(figsize=(7, max(3.0, 0.22 * len(table) + 1)))
    axes = figure.add_subplot()
    positions = np.arange(len(table))
    axes.errorbar(
        table["rate_ratio"],
        positions,
        xerr=[table["rate_ratio"] - table["ci_low"], table["ci_high"] - table["rate_ratio"]],
        fmt="o",
        color="#005EB8",
        ecolor="#768692",
        capsize=2,
    )
    axes.axvline(1.0, color="#425563", linewidth=0.8)
    axes.set_xscale("log")
    axes.set_yticks(positions, table["term"], fontsize=7)
    axes.set_xlabel("Rate ratio (95% CI), log scale")
    figure.tight_layout()
    return figure


def run_model_stage(ctx: RunContext) -> ModelStageResult:
    """Fit the model, publish its coefficients and store each cell's predicted need."""
    outputs = ctx.outputs
    cells = outputs.read_restricted("cells")
    model = fit_workload_model(cells, ctx.params.model)
    coefficients = outputs.publish_table(model.coefficients, "model_coefficients")
    predicted = cells.assign(predicted_rate=model.predict_rate(cells))
    outputs.write_restricted(predicted, "cells_predicted")
    figure = rate_ratio_figure(coefficients)
    outputs.publish_figure(figure, "rate_ratios")
    return ModelStageResult(model, coefficients, figure)
