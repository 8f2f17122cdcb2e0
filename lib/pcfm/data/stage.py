"""Stage 01, data: validate the input tables and aggregate them to covariate cells.

Patient-level rows never leave DuckDB; the cells and the practice table go to the
run's restricted area and only disclosure-controlled summaries are published. Practices
too small to publish are left out here, once, for every stage after
(`pcfm.data.small_practices`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from pcfm.base.artefacts import CELLS, CELLS_BY_PATIENT_FOLD, PRACTICES
from pcfm.base.context import RunContext
from pcfm.data.cells import build_cell_tables
from pcfm.data.provenance import check_made_by_rules, read_provenance
from pcfm.data.read import read_practices
from pcfm.data.small_practices import leave_out_small_practices
from pcfm.data.validate import validate_folder

#: Shown in place of the adjustments table when nothing was left out or adjusted.
NO_ADJUSTMENTS = pd.DataFrame(
    {"adjustment": ["none"], "detail": ["No practice was left out or adjusted."]}
)


@dataclass(frozen=True)
class DataStageResult:
    """What notebook 01 shows."""

    summary_by_place: pd.DataFrame
    summary_by_deprivation: pd.DataFrame
    quality: pd.DataFrame
    sources: pd.DataFrame
    places: pd.DataFrame
    adjustments: pd.DataFrame
    funding_lines: pd.DataFrame


def summarise_cells(cells: pd.DataFrame, by: str) -> pd.DataFrame:
    """Patients, person-years and workload per person-year by one grouping column."""
    grouped = cells.groupby(by, observed=True, sort=True)[["patients", "exposure", "workload"]]
    summary = grouped.sum().reset_index()
    summary["workload_per_person_year"] = summary["workload"] / summary["exposure"]
    return summary[[by, "patients", "exposure", "workload_per_person_year"]].rename(
        columns={"exposure": "person_years"}
    )


def run_data_stage(ctx: RunContext) -> DataStageResult:
    """Validate, aggregate to cells, store them restricted and publish the summaries."""
    # Made by the stated rules? Checked before the long work, so a stale folder fails fast.
    check_made_by_rules(ctx.data_dir, ctx.params)
    quality = validate_folder(ctx.data_dir, ctx.params.data)
    cells, cells_by_patient_fold = build_cell_tables(ctx.data_dir, ctx.params)
    small = leave_out_small_practices(
        cells, cells_by_patient_fold, read_practices(ctx.data_dir), ctx.params.disclosure.threshold
    )
    cells, cells_by_patient_fold, practices = (
        small.cells,
        small.cells_by_patient_fold,
        small.practices,
    )
    provenance = read_provenance(ctx.data_dir, ctx.params, practices)
    outputs = ctx.outputs
    outputs.write_restricted(cells, CELLS)
    outputs.write_restricted(cells_by_patient_fold, CELLS_BY_PATIENT_FOLD)
    outputs.write_restricted(practices, PRACTICES)

    with_place = cells.merge(practices[["practice_code", "place"]], on="practice_code")
    by_place = outputs.publish_table(summarise_cells(with_place, "place"), "data_summary_by_place")
    by_deprivation = outputs.publish_table(
        summarise_cells(cells, "imd_quintile"),
        "data_summary_by_imd_quintile",
    )
    quality_table = outputs.publish_table(quality.table, "data_quality")
    sources = outputs.publish_table(provenance.sources, "data_sources")
    places = outputs.publish_table(provenance.places, "data_practice_places")
    adjustments = outputs.publish_table(
        pd.concat(
            [t for t in (provenance.adjustments, small.adjustments) if len(t)]
            or [provenance.adjustments],
            ignore_index=True,
        ),
        "data_practice_adjustments",
    )
    funding_lines = outputs.publish_table(provenance.funding_lines, "data_funding_lines")
    return DataStageResult(
        by_place, by_deprivation, quality_table, sources, places, adjustments, funding_lines
    )
