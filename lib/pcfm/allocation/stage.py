"""Stage 04, allocation: compare funding with need, share the budget, say how sure we are."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from pcfm.allocation.bootstrap import bootstrap_need
from pcfm.allocation.certainty import mark_uncertain_eligibility
from pcfm.allocation.equity import funding_by_imd_quintile
from pcfm.allocation.exclusions import EXCLUSIONS_TABLE, decide_statuses
from pcfm.allocation.figures import funding_by_deprivation_figure, need_index_interval_figure
from pcfm.allocation.funding import compare_funding
from pcfm.allocation.headline import AllocationHeadline, allocation_headline
from pcfm.allocation.policies import allocate, read_previous_allocations
from pcfm.allocation.sensitivity import (
    SENSITIVITY_TABLE,
    allocation_sensitivity,
    no_sensitivity_table,
)
from pcfm.allocation.tables import (
    ALLOCATION_COLUMNS,
    allocation_summary,
    allocation_table,
    category_table,
    practices_for_report,
    summary_table,
    totals_by,
    uncertain_eligibility_table,
)
from pcfm.allocation.truth_recovery import (
    ELIGIBILITY_TRUTH_TABLE,
    eligibility_against_truth,
    truth_recovery_display,
)
from pcfm.base.artefacts import CELLS, PRACTICE_NEED, PRACTICES
from pcfm.base.context import RunContext
from pcfm.base.parallel import workers_for
from pcfm.base.progress_file import counted_step
from pcfm.model import read_need_by_specification
from pcfm.model.truth_recovery import read_true_need_index


@dataclass(frozen=True)
class AllocationStageResult:
    """What notebook 04 shows."""

    allocation: pd.DataFrame
    summary: dict[str, Any]
    categories: pd.DataFrame
    by_place: pd.DataFrame
    by_pcn: pd.DataFrame
    by_imd_quintile: pd.DataFrame
    uncertain: pd.DataFrame
    exclusions: pd.DataFrame
    headline: AllocationHeadline
    sensitivity: pd.DataFrame
    funding_figure: Figure
    need_interval_figure: Figure
    #: Eligibility under each specification against the truth; None on data without one.
    truth_recovery: pd.DataFrame | None = None

    @property
    def summary_table(self) -> pd.DataFrame:
        """The summary as rows of figure and value."""
        return summary_table(self.summary)

    @property
    def sensitivity_display(self) -> pd.DataFrame:
        """The sensitivity table as the documents show it: long lists of codes counted."""
        column = "practices_changing_eligibility"
        if column not in self.sensitivity:
            return self.sensitivity
        return self.sensitivity.assign(
            **{column: self.sensitivity[column].map(practices_for_report)}
        )

    @property
    def truth_recovery_display(self) -> pd.DataFrame | None:
        """The eligibility-against-truth table as the documents show it (None: no truth)."""
        return truth_recovery_display(self.truth_recovery)

    @property
    def allocation_display(self) -> pd.DataFrame:
        """The issue's columns of the allocation table and each practice's status (the rest
        are in the CSV)."""
        return self.allocation[[*ALLOCATION_COLUMNS, "status"]]


def run_allocation_stage(ctx: RunContext) -> AllocationStageResult:
    """Compare funding with need, allocate the budget, bootstrap it and publish the tables."""
    outputs = ctx.outputs
    params = ctx.params
    need = outputs.read_restricted(PRACTICE_NEED)
    practices = outputs.read_restricted(PRACTICES)
    cells = outputs.read_restricted(CELLS)

    previous_path = params.resolve(params.allocation.transition.previous_allocations_path)
    previous = read_previous_allocations(previous_path) if previous_path else None
    # The one decision on outliers and special services, on the full sample: the
    # comparison, every bootstrap replicate and every sensitivity alternative apply it.
    statuses = decide_statuses(need, practices, params.allocation.outliers)
    comparison = compare_funding(need, practices, params.allocation, statuses)
    result = allocate(comparison, params.allocation, previous)

    replicates = params.allocation.bootstrap_replicates
    bootstrap = None
    if replicates:
        with counted_step(ctx.folder.root, "bootstrap replicates") as on_progress:
            bootstrap = bootstrap_need(
                cells,
                practices,
                params.model,
                params.allocation,
                replicates,
                params.seed,
                statuses=statuses,
                workers=workers_for(len(cells)),
                on_progress=on_progress,
            )
    changes = None
    credible_eligible = None
    tables = read_need_by_specification(outputs)
    if params.allocation.sensitivity:
        analysis = allocation_sensitivity(
            tables, practices, params.allocation, previous, statuses=statuses
        )
        changes = analysis.changes
        credible_eligible = analysis.eligible[analysis.credible]
    table = allocation_table(result, bootstrap.table if bootstrap else None, decomposition=need)
    # The one decision on robust or uncertain eligibility: the bootstrap band
    # (allocation.uncertain_low/high) and the credible alternatives.
    table = mark_uncertain_eligibility(table, params.allocation, credible_eligible)

    allocation = outputs.publish_table(table, "allocation")
    categories = outputs.publish_table(category_table(result.table), "allocation_categories")
    by_place = outputs.publish_table(totals_by(result.table, "place"), "allocation_by_place")
    pcn = [c for c in ("pcn_code", "pcn_name") if c in result.table]
    by_pcn = outputs.publish_table(totals_by(result.table, pcn), "allocation_by_pcn")
    quintiles = funding_by_imd_quintile(table)
    by_imd_quintile = outputs.publish_table(quintiles, "allocation_by_imd_quintile")
    uncertain = outputs.publish_table(
        uncertain_eligibility_table(table, params.allocation), "allocation_uncertain_eligibility"
    )
    # Always published, with no rows when every practice is ordinary.
    exclusions = outputs.publish_table(statuses.exclusions_table(), EXCLUSIONS_TABLE)

    if changes is not None:
        sensitivity = outputs.publish_table(changes, SENSITIVITY_TABLE)
    else:
        # The same columns with no rows, so the table's schema never depends on the switch.
        outputs.publish_table(no_sensitivity_table(), SENSITIVITY_TABLE)
        sensitivity = pd.DataFrame(
            {"note": ["sensitivity analysis switched off (allocation.sensitivity)"]}
        )

    # Headline numbers: one object, published as a table and in the summary JSON.
    headline = allocation_headline(
        result.summary,
        table,
        quintiles,
        params.allocation,
        bootstrap.n_replicates if bootstrap is not None else None,
        changes,
        statuses.median_funding_per_nwp_gbp,
    )
    outputs.publish_table(headline.to_table(), "allocation_headline")
    summary = allocation_summary(result) | headline.as_dict()
    if bootstrap is not None:
        summary |= {
            "bootstrap_failed_refits": bootstrap.n_failed,
            "bootstrap_seed": bootstrap.seed,
            "bootstrap_resample": bootstrap.resample,
            "bootstrap_method": bootstrap.method,
            "bootstrap_checked_replicates": bootstrap.n_checked,
            "bootstrap_check_max_need_index_difference": bootstrap.max_check_difference,
            "bootstrap_check_tolerance": params.allocation.bootstrap_check_tolerance,
        }
    outputs.publish_json(summary, "allocation_summary")

    truth = read_true_need_index(ctx.data_dir)
    truth_recovery = (
        None
        if truth is None
        else outputs.publish_table(
            eligibility_against_truth(
                tables, truth, cells, practices, params.allocation, statuses, previous
            ),
            ELIGIBILITY_TRUTH_TABLE,
        )
    )

    figure = funding_by_deprivation_figure(table)
    outputs.publish_figure(figure, "funding_before_after")
    interval_figure = need_index_interval_figure(table)
    outputs.publish_figure(interval_figure, "need_index_intervals")
    return AllocationStageResult(
        allocation,
        summary,
        categories,
        by_place,
        by_pcn,
        by_imd_quintile,
        uncertain,
        exclusions,
        headline,
        sensitivity,
        figure,
        interval_figure,
        truth_recovery,
    )
