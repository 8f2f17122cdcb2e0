"""The stages of a run, declared once.

The runner (`pcfm.pipeline.run`) executes the notebooks in this order, the README's
method table is checked against it, and tests check that each stage's number lines up
across ``lib/pcfm/``, ``notebooks/``, ``methodology/`` and ``tests/`` and that a run
publishes exactly what the stages declare.

A stage's ``needs`` and ``writes_restricted`` are the artefacts of the run's restricted
area it reads and writes, declared once in `pcfm.base.artefacts` (``restricted/<name>`` with
``.parquet`` or ``.json``) and imported by their writers and readers; ``publishes`` are its tables
in ``publishable/`` (each also a sheet of the workbook), ``published_json`` its JSON
files there, and ``figures`` its figures (``publishable/figures/``, PNG and SVG).
``sensitivity`` says what the stage handles, for a reader deciding who may run it.
"""

from __future__ import annotations

from dataclasses import dataclass

from pcfm.base.artefacts import (
    CELLS,
    CELLS_BY_PATIENT_FOLD,
    NEED_BY_SPECIFICATION,
    PRACTICE_NEED,
    PRACTICES,
    WORKLOAD_MODEL,
    Restricted,
)

#: What a stage's inputs are, for people deciding who may run it.
PATIENT_LEVEL = "patient-level rows (restricted)"
SMALL_CELLS = "aggregate cells with small counts (restricted)"
PUBLISHED = "published tables only"


@dataclass(frozen=True)
class Stage:
    """One stage: its package, notebooks, methodology chapter and hand-offs."""

    number: int
    name: str
    package: str
    notebooks: tuple[str, ...]
    chapter: str | None
    summary: str
    sensitivity: str
    needs: tuple[Restricted, ...] = ()
    writes_restricted: tuple[Restricted, ...] = ()
    publishes: tuple[str, ...] = ()
    published_json: tuple[str, ...] = ()
    figures: tuple[str, ...] = ()
    #: Outputs above that only some parameter settings produce.
    optional: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """``'01 data'``: how the README and the logs name the stage."""
        return f"{self.number:02d} {self.name}"


STAGES: tuple[Stage, ...] = (
    Stage(
        number=1,
        name="data",
        package="pcfm.data",
        notebooks=("01_data.ipynb",),
        chapter="methodology/01-data.qmd",
        summary="validates the four input tables and aggregates them to cells",
        sensitivity=PATIENT_LEVEL,
        writes_restricted=(CELLS, CELLS_BY_PATIENT_FOLD, PRACTICES),
        publishes=(
            "data_summary_by_place",
            "data_summary_by_imd_quintile",
            "data_quality",
            "data_sources",
            "data_practice_places",
            "data_practice_adjustments",
            "data_funding_lines",
        ),
    ),
    Stage(
        number=2,
        name="workload model",
        package="pcfm.model",
        notebooks=("02_workload_model.ipynb",),
        chapter="methodology/02-workload-model.qmd",
        summary="fits the need-to-workload count regression and checks it",
        sensitivity=SMALL_CELLS,
        needs=(CELLS, CELLS_BY_PATIENT_FOLD, PRACTICES),
        writes_restricted=(WORKLOAD_MODEL, NEED_BY_SPECIFICATION),
        publishes=(
            "model_coefficients",
            "model_fit_statistics",
            "model_practice_supply",
            "model_calibration_by_need_decile",
            "model_calibration_by_practice",
            "model_validation_held_out",
            "model_validation_by_practice",
            "model_truth_recovery",
            "model_sensitivity_coefficients",
            "model_sensitivity_need_index",
        ),
        figures=(
            "rate_ratios",
            "calibration_by_need_decile",
            "calibration_by_practice",
            "validation_held_out",
            "validation_by_practice",
            "sensitivity_deprivation",
            "need_index_with_and_without_practice_effects",
        ),
        # model_practice_supply only with model.supply_sterilisation: practice_effects;
        # model_truth_recovery only when the data folder has a truth (truth/, synthetic data)
        optional=("model_practice_supply", "model_truth_recovery"),
    ),
    Stage(
        number=3,
        name="need weights",
        package="pcfm.need",
        notebooks=("03_need_weights.ipynb",),
        chapter="methodology/03-need-weights.qmd",
        summary="need weights, need-weighted lists and need indices, and why they differ",
        sensitivity=SMALL_CELLS,
        needs=(CELLS, PRACTICES, WORKLOAD_MODEL),
        writes_restricted=(PRACTICE_NEED,),
        publishes=(
            "need_index",
            "need_weights_age_sex",
            "need_weights_deprivation",
            "need_weights_morbidity",
        ),
        figures=("need_index_by_imd", "need_index_decomposition"),
    ),
    Stage(
        number=4,
        name="allocation",
        package="pcfm.allocation",
        notebooks=("04_allocation.ipynb",),
        chapter="methodology/04-allocation.qmd",
        summary="compares funding with need and shares the budget by the stated policy",
        sensitivity=SMALL_CELLS,
        needs=(PRACTICE_NEED, PRACTICES, CELLS, NEED_BY_SPECIFICATION),
        publishes=(
            "allocation",
            "allocation_categories",
            "allocation_by_place",
            "allocation_by_pcn",
            "allocation_by_imd_quintile",
            "allocation_uncertain_eligibility",
            "allocation_exclusions",
            "allocation_headline",
            "allocation_sensitivity",
            "allocation_truth_recovery",
        ),
        published_json=("allocation_summary",),
        figures=("funding_before_after", "need_index_intervals"),
        # only when the data folder has a truth (truth/, synthetic data)
        optional=("allocation_truth_recovery",),
    ),
    Stage(
        number=6,
        name="report",
        package="pcfm.report",
        notebooks=(
            "06_appendices.ipynb",
            "06_allocation_report.ipynb",
            "06_board_paper.ipynb",
        ),
        chapter=None,
        summary="formats the published tables into the methodology, allocation report, "
        "board paper and practice statements",
        sensitivity=PUBLISHED,
        figures=("report_funding_by_imd_quintile", "report_allocation_per_patient"),
    ),
)

#: Executed once per practice after the stages (`pcfm.report.statements`).
STATEMENT_NOTEBOOK = "06_practice_statement.ipynb"


def stage_notebooks() -> tuple[str, ...]:
    """Every stage's notebooks, in the order a run executes them."""
    return tuple(name for stage in STAGES for name in stage.notebooks)
