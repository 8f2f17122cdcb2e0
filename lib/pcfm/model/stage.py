"""Stage 02, workload model: fit need to workload on the cells, validate it, publish the results.

Publishes (aggregates only): the rate ratios, fit statistics, practice supply ratios,
calibration by decile of need and by practice, the practice-level cross-validated comparison
with an age-sex-only model, the Carr-Hill 2007 weights and a flat rate, and the sensitivity of
rate ratios and need indices to the specification. Writes to the restricted area each cell's
predicted need under the specification (``cells_predicted``) and under every alternative
(``cells_predicted_alternatives``, one ``predicted_rate: <label>`` column per specification)
for the need-weights and allocation stages.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
from IPython.display import Markdown
from matplotlib.figure import Figure

from pcfm.base.context import RunContext
from pcfm.model import ModelSpecificationError, WorkloadModel, fit_workload_model
from pcfm.model.alternatives import (
    SPECIFIED,
    alternative_specifications,
    compare_coefficients,
    compare_need_indices,
)
from pcfm.model.diagnostics import (
    calibration_by_decile,
    calibration_by_practice,
    compare_practice_predictions,
    fit_statistics_table,
)
from pcfm.model.figures import (
    calibration_figure,
    need_index_comparison_figure,
    practice_calibration_figure,
    prediction_comparison_figure,
    rate_ratio_figure,
    sensitivity_figure,
    unavailable_figure,
)
from pcfm.params.model import ModelParams

__all__ = [
    "ALTERNATIVE_RATE_PREFIX",
    "ModelStageResult",
    "notes_markdown",
    "rate_ratio_figure",
    "run_model_stage",
    "supply_pair",
]

#: Prefix of the per-specification prediction columns in ``cells_predicted_alternatives``.
ALTERNATIVE_RATE_PREFIX = "predicted_rate: "
#: Columns of the decile calibration shown in the report (the published CSV has them all).
CALIBRATION_DISPLAY_COLUMNS = [
    "need_decile",
    "person_years",
    "observed_rate",
    "fitted_rate",
    "predicted_need_rate",
    "observed_to_fitted",
]
VALIDATION_COLUMNS = [
    "method",
    "r_squared",
    "mean_absolute_percentage_error",
    "poisson_deviance",
    "correlation",
]


@dataclass(frozen=True)
class ModelStageResult:
    """What notebook 02 shows."""

    model: WorkloadModel
    alternatives: dict[str, WorkloadModel]
    coefficients: pd.DataFrame
    rate_ratio_figure: Figure
    fit_statistics: pd.DataFrame
    practice_supply: pd.DataFrame
    calibration_deciles: pd.DataFrame
    calibration_figure: Figure
    calibration_practices: pd.DataFrame
    practice_calibration_figure: Figure
    validation: pd.DataFrame
    validation_figure: Figure
    sensitivity_coefficients: pd.DataFrame
    sensitivity_display: pd.DataFrame
    sensitivity_figure: Figure
    sensitivity_need_index: pd.DataFrame
    supply_need_index_figure: Figure
    notes: list[str] = field(default_factory=list)


def supply_pair(labels: list[str]) -> tuple[str, str] | None:
    """Labels of the fits without and with practice effects, if both were fitted."""
    for label in labels:
        if label.startswith("supply sterilisation: "):
            other = label.removeprefix("supply sterilisation: ")
            return (label, SPECIFIED) if other == "none" else (SPECIFIED, label)
    return None


def notes_markdown(notes: list[str]) -> Markdown:
    """The stage's notes (alternatives not fitted, folds reduced) as a Markdown list."""
    if not notes:
        return Markdown("Every sensitivity analysis and the cross-validation ran as specified.")
    return Markdown("\n".join(f"- {note}" for note in notes))


def sensitivity_display(comparison: pd.DataFrame, labels: list[str]) -> pd.DataFrame:
    """Rate ratios by term (rows) and specification (columns), without the age-sex terms.

    Values are text with three decimals; "–" marks a term absent from a specification.
    """
    wide = comparison.pivot(index="term", columns="specification", values="rate_ratio")
    terms = [t for t in dict.fromkeys(comparison["term"]) if not t.startswith(("age_", "sex="))]
    table = wide.reindex(index=terms, columns=labels)
    shown = table.map(lambda value: "–" if pd.isna(value) else f"{value:.3f}")
    return shown.rename_axis(columns=None).reset_index()


def _fit_alternatives(
    cells: pd.DataFrame, model_params: ModelParams, notes: list[str]
) -> dict[str, WorkloadModel]:
    """The specification (errors stop the run) and every alternative that can be estimated."""
    models: dict[str, WorkloadModel] = {}
    for label, spec in alternative_specifications(model_params, set(cells.columns)).items():
        if label == SPECIFIED:
            models[label] = fit_workload_model(cells, spec)
            continue
        try:
            models[label] = fit_workload_model(cells, spec)
        except ModelSpecificationError as error:
            notes.append(f"Sensitivity analysis '{label}' not fitted: {error}")
    return models


def _validation(ctx: RunContext, cells: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    model_params = ctx.params.model
    n_practices = cells["practice_code"].nunique()
    n_folds = min(model_params.cv_folds, n_practices)
    if n_folds < model_params.cv_folds:
        notes.append(
            f"Cross-validation used {n_folds} folds: model.cv_folds is {model_params.cv_folds} "
            f"but there are only {n_practices} practices."
        )
    try:
        metrics, _ = compare_practice_predictions(cells, model_params, ctx.params.seed, n_folds)
    except ModelSpecificationError as error:
        notes.append(f"Cross-validation not run: {error}")
        return pd.DataFrame(columns=VALIDATION_COLUMNS)
    return metrics


def run_model_stage(ctx: RunContext) -> ModelStageResult:
    """Fit the model and its alternatives, validate the model and publish the results."""
    outputs = ctx.outputs
    cells = outputs.read_restricted("cells")
    notes: list[str] = []
    models = _fit_alternatives(cells, ctx.params.model, notes)
    model = models[SPECIFIED]

    outputs.write_restricted(
        cells.assign(predicted_rate=model.predict_rate(cells)), "cells_predicted"
    )
    outputs.write_restricted(
        cells.assign(
            **{
                f"{ALTERNATIVE_RATE_PREFIX}{label}": fitted.predict_rate(cells)
                for label, fitted in models.items()
            }
        ),
        "cells_predicted_alternatives",
    )

    coefficients = outputs.publish_table(model.coefficients, "model_coefficients")
    statistics = outputs.publish_table(fit_statistics_table(model), "model_fit_statistics")
    if model.practice_effects.empty:
        practice_supply = pd.DataFrame(
            {
                "note": [
                    "Fitted without practice effects (model.supply_sterilisation: none), so "
                    "there are no supply ratios; see the sensitivity analysis for the fit "
                    "with them."
                ]
            }
        )
    else:
        practice_supply = outputs.publish_table(model.practice_effects, "model_practice_supply")
    deciles = calibration_by_decile(model, cells)
    by_practice = calibration_by_practice(model, cells)
    metrics = _validation(ctx, cells, notes)
    comparison = compare_coefficients(models)
    need_indices = compare_need_indices(models, cells)
    pair = supply_pair(list(models))

    figures = {
        "rate_ratios": rate_ratio_figure(coefficients),
        "calibration_by_need_decile": calibration_figure(deciles),
        "calibration_by_practice": practice_calibration_figure(by_practice),
        "validation_by_practice": prediction_comparison_figure(metrics)
        if not metrics.empty
        else unavailable_figure("Cross-validation was not run."),
        "sensitivity_deprivation": sensitivity_figure(comparison),
        "need_index_with_and_without_practice_effects": need_index_comparison_figure(
            need_indices,
            *pair,
            x_label="Need index without practice effects",
            y_label="Need index with practice effects (supply sterilised)",
        )
        if pair is not None
        else unavailable_figure(
            "The fit with the other supply-sterilisation setting could not be estimated."
        ),
    }
    for name, figure in figures.items():
        outputs.publish_figure(figure, name)

    return ModelStageResult(
        model=model,
        alternatives=models,
        coefficients=coefficients,
        rate_ratio_figure=figures["rate_ratios"],
        fit_statistics=statistics,
        practice_supply=practice_supply,
        calibration_deciles=outputs.publish_table(deciles, "model_calibration_by_need_decile")[
            CALIBRATION_DISPLAY_COLUMNS
        ],
        calibration_figure=figures["calibration_by_need_decile"],
        calibration_practices=outputs.publish_table(by_practice, "model_calibration_by_practice"),
        practice_calibration_figure=figures["calibration_by_practice"],
        validation=outputs.publish_table(metrics, "model_validation_by_practice"),
        validation_figure=figures["validation_by_practice"],
        sensitivity_coefficients=outputs.publish_table(
            comparison, "model_sensitivity_coefficients"
        ),
        sensitivity_display=sensitivity_display(comparison, list(models)),
        sensitivity_figure=figures["sensitivity_deprivation"],
        sensitivity_need_index=outputs.publish_table(need_indices, "model_sensitivity_need_index"),
        supply_need_index_figure=figures["need_index_with_and_without_practice_effects"],
        notes=notes,
    )
