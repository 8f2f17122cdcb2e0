"""Stage 02, workload model: fit need to workload on the cells, validate it, publish the results.

Publishes (aggregates only): the rate ratios, fit statistics, practice supply ratios,
calibration by decile of need and by practice, the validation on held-out patients within
practices against an age-sex-only model, the Carr-Hill 2007 weights and a flat rate (the
ranking of need models), the practice-level comparison with observed workload (how far
delivered workload, which carries supply, is from each method), the recovery of the true need
index when the data have one (synthetic data), and the sensitivity of rate ratios and need
indices to the specification. Hands to the later stages, through the
restricted area (`pcfm.model.store`), the fitted model itself (``workload_model``: stage 03
predicts need and its decomposition from it, without refitting) and each specification's
need table (``need_by_specification``: stage 04's sensitivity of allocations).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
from IPython.display import Markdown
from matplotlib.figure import Figure

from pcfm.base.artefacts import CELLS, CELLS_BY_PATIENT_FOLD, PRACTICES
from pcfm.base.context import RunContext
from pcfm.base.parallel import workers_for
from pcfm.model import ModelSpecificationError, WorkloadModel
from pcfm.model.alternatives import (
    SPECIFIED,
    compare_coefficients,
    compare_need_indices,
    fit_alternatives,
    need_by_specification,
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
from pcfm.model.held_out import HELD_OUT_COLUMNS, validate_held_out_patients
from pcfm.model.store import write_need_by_specification, write_workload_model
from pcfm.model.truth_recovery import (
    read_true_need_index,
    truth_recovery,
    truth_recovery_table,
)

__all__ = [
    "ModelStageResult",
    "notes_markdown",
    "rate_ratio_figure",
    "run_model_stage",
    "supply_pair",
    "truth_recovery_table",
]

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
    held_out: pd.DataFrame
    held_out_figure: Figure
    validation: pd.DataFrame
    validation_figure: Figure
    truth_recovery: pd.DataFrame | None
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


def _validation(
    ctx: RunContext, cells: pd.DataFrame, notes: list[str], workers: int
) -> pd.DataFrame:
    model_params = ctx.params.model
    n_practices = cells["practice_code"].nunique()
    n_folds = min(model_params.cv_folds, n_practices)
    if n_folds < model_params.cv_folds:
        notes.append(
            f"Cross-validation used {n_folds} folds: model.cv_folds is {model_params.cv_folds} "
            f"but there are only {n_practices} practices."
        )
    try:
        metrics, _ = compare_practice_predictions(
            cells, model_params, ctx.params.seed, n_folds, workers=workers
        )
    except ModelSpecificationError as error:
        notes.append(f"Cross-validation not run: {error}")
        return pd.DataFrame(columns=VALIDATION_COLUMNS)
    return metrics


def _held_out_validation(
    ctx: RunContext, fold_cells: pd.DataFrame, notes: list[str], workers: int
) -> pd.DataFrame:
    try:
        metrics, _, not_fitted = validate_held_out_patients(fold_cells, ctx.params.model, workers)
    except ModelSpecificationError as error:
        notes.append(f"Validation on held-out patients not run: {error}")
        return pd.DataFrame(columns=HELD_OUT_COLUMNS)
    notes += [
        f"Validation on held-out patients: '{label}' left out, as it could not be fitted: {reason}"
        for label, reason in not_fitted.items()
    ]
    return metrics


def run_model_stage(ctx: RunContext) -> ModelStageResult:
    """Fit the model and its alternatives, validate the model and publish the results."""
    outputs = ctx.outputs
    cells = outputs.read_restricted(CELLS)
    practices = outputs.read_restricted(PRACTICES)
    fold_cells = outputs.read_restricted(CELLS_BY_PATIENT_FOLD)
    workers = workers_for(len(cells))
    models, not_fitted = fit_alternatives(cells, ctx.params.model, workers)
    notes = [
        f"Sensitivity analysis '{label}' not fitted: {reason}"
        for label, reason in not_fitted.items()
    ]
    model = models[SPECIFIED]
    need_tables = need_by_specification(models, cells, practices)
    write_workload_model(outputs, model)
    write_need_by_specification(outputs, need_tables)

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
    held_out = _held_out_validation(ctx, fold_cells, notes, workers)
    metrics = _validation(ctx, cells, notes, workers)
    comparison = compare_coefficients(models)
    need_indices = compare_need_indices(need_tables, cells)
    truth = read_true_need_index(ctx.data_dir)
    recovery = (
        None
        if truth is None
        else outputs.publish_table(
            truth_recovery(need_indices, truth, cells), "model_truth_recovery"
        )
    )
    pair = supply_pair(list(models))

    figures = {
        "rate_ratios": rate_ratio_figure(coefficients),
        "calibration_by_need_decile": calibration_figure(deciles),
        "calibration_by_practice": practice_calibration_figure(by_practice),
        "validation_held_out": prediction_comparison_figure(
            held_out,
            "deviance_explained",
            "Deviance explained on held-out patients, each predicted with its own practice's "
            "level of workload",
        )
        if not held_out.empty
        else unavailable_figure("The validation on held-out patients was not run."),
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
        held_out=outputs.publish_table(held_out, "model_validation_held_out"),
        held_out_figure=figures["validation_held_out"],
        validation=outputs.publish_table(metrics, "model_validation_by_practice"),
        validation_figure=figures["validation_by_practice"],
        truth_recovery=recovery,
        sensitivity_coefficients=outputs.publish_table(
            comparison, "model_sensitivity_coefficients"
        ),
        sensitivity_display=sensitivity_display(comparison, list(models)),
        sensitivity_figure=figures["sensitivity_deprivation"],
        sensitivity_need_index=outputs.publish_table(need_indices, "model_sensitivity_need_index"),
        supply_need_index_figure=figures["need_index_with_and_without_practice_effects"],
        notes=notes,
    )
