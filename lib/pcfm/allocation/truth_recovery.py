"""Eligibility against the truth: which practices each need model funds wrongly, when known.

The model stage's truth recovery (`pcfm.model.truth_recovery`) says how close each
specification's need index is to the true one. The money follows eligibility, not the index,
so on data with a truth (the synthetic ICB writes ``truth/true_need_index.csv``) this runs the
run's own funding comparison and policy on the true need index and on every specification's,
with the run's decision on outliers and special services, and counts the practices each
specification places on the wrong side of the eligibility line, and the money it moves.
Real data have no truth, and then there is no table.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from pcfm.allocation.exclusions import PracticeStatuses
from pcfm.allocation.sensitivity import AlternativeKind, allocation_sensitivity, kind_of
from pcfm.allocation.tables import practices_for_report
from pcfm.model.diagnostics import CARR_HILL, FLAT_RATE
from pcfm.model.need_index import NEED_COLUMNS, need_index_from_sums
from pcfm.model.truth_recovery import carr_hill_need_index
from pcfm.params.allocation import AllocationParams

__all__ = [
    "ELIGIBILITY_TRUTH_COLUMNS",
    "ELIGIBILITY_TRUTH_TABLE",
    "TRUE_NEED",
    "eligibility_against_truth",
    "need_table_from_index",
    "truth_recovery_display",
]

#: The published table's name and columns.
ELIGIBILITY_TRUTH_TABLE = "allocation_truth_recovery"
ELIGIBILITY_TRUTH_COLUMNS: dict[str, str] = {
    "specification": "str",
    "credible": "bool",
    "n_eligibility_wrong": "int64",
    "n_wrongly_eligible": "int64",
    "n_wrongly_ineligible": "int64",
    "practices_wrongly_classed": "str",
    "n_category_wrong": "int64",
    "max_abs_misallocation_gbp": "float64",
    "total_abs_misallocation_gbp": "float64",
}
#: Label of the allocation on the true need index (the yardstick, not a row of the table).
TRUE_NEED = "true need index"
_YARDSTICK_KINDS = {
    TRUE_NEED: AlternativeKind("the true need index of the synthetic data", True),
    CARR_HILL: AlternativeKind("benchmark: the Carr-Hill 2007 age-sex workload weights", False),
    FLAT_RATE: AlternativeKind("benchmark: every patient needs the same", False),
}


def need_table_from_index(index: pd.Series, practices: pd.DataFrame) -> pd.DataFrame:
    """A need table (:data:`NEED_COLUMNS`) from a need index per practice code.

    The index is rescaled by the one formula (`pcfm.model.need_index.need_index_from_sums`)
    so that the need-weighted lists add up to the registered lists, as every need table does.
    """
    codes = practices["practice_code"].astype(str).to_numpy()
    registered = practices["registered_list"].to_numpy(dtype=float)
    order = np.argsort(codes, kind="stable")
    codes, registered = codes[order], registered[order]
    raw = index.reindex(codes).to_numpy(dtype=float)
    if np.isnan(raw).any():
        missing = codes[np.isnan(raw)]
        raise ValueError(f"no need index for {len(missing)} practice(s), e.g. {missing[0]}")
    weighted, need_index = need_index_from_sums(raw, np.ones(len(codes)), registered)
    return pd.DataFrame(
        {
            "practice_code": codes.astype(object),
            "registered_list": registered,
            "need_weighted_list": weighted,
            "need_index": need_index,
        }
    )[NEED_COLUMNS]


def eligibility_against_truth(
    need_tables: Mapping[str, pd.DataFrame],
    truth: pd.Series,
    cells: pd.DataFrame,
    practices: pd.DataFrame,
    allocation_params: AllocationParams,
    statuses: PracticeStatuses,
    previous_allocations: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per specification, the practices it funds on the wrong side of the truth.

    Args:
        need_tables: Need table per specification, the run's specification first (stage 02's
            ``need_by_specification``).
        truth: True need index by practice code (`pcfm.model.truth_recovery`).
        cells: The cells, for the Carr-Hill 2007 benchmark.
        practices: The practices table.
        allocation_params: The run's policy.
        statuses: The run's decision on outliers and special services, kept for every row.
        previous_allocations: Last year's allocations for the transition rule, if any.

    Returns:
        One row per specification, then Carr-Hill 2007 and a flat rate
        (:data:`ELIGIBILITY_TRUTH_COLUMNS`): whether it is credible, the practices eligible
        under it but not under the truth or the other way round (counts and codes), the
        practices in another funding category, and the largest and total absolute
        difference in allocation from the allocation on the true need index.
    """
    tables = {
        TRUE_NEED: need_table_from_index(truth, practices),
        **need_tables,
        CARR_HILL: need_table_from_index(carr_hill_need_index(cells), practices),
        FLAT_RATE: need_table_from_index(
            pd.Series(1.0, index=practices["practice_code"].astype(str)), practices
        ),
    }
    specified = next(iter(need_tables))
    kinds = {name: kind_of(name, specified, None) for name in need_tables} | _YARDSTICK_KINDS
    analysis = allocation_sensitivity(
        tables,
        practices,
        allocation_params,
        previous_allocations,
        baseline=TRUE_NEED,
        statuses=statuses,
        kinds=kinds,
    )
    changes = analysis.changes[analysis.changes["alternative"] != TRUE_NEED]
    table = pd.DataFrame(
        {
            "specification": changes["alternative"],
            "credible": changes["credible"],
            "n_eligibility_wrong": changes["n_eligibility_changed"],
            "n_wrongly_eligible": changes["n_became_eligible"],
            "n_wrongly_ineligible": changes["n_became_ineligible"],
            "practices_wrongly_classed": changes["practices_changing_eligibility"],
            "n_category_wrong": changes["n_category_changed"],
            "max_abs_misallocation_gbp": changes["max_abs_change_gbp"],
            "total_abs_misallocation_gbp": changes["total_abs_change_gbp"],
        }
    )
    return table.astype(ELIGIBILITY_TRUTH_COLUMNS).reset_index(drop=True)


def truth_recovery_display(table: pd.DataFrame | None) -> pd.DataFrame | None:
    """The published table for the documents: long lists of codes shortened to a count."""
    if table is None:
        return None
    codes = table["practices_wrongly_classed"].map(practices_for_report)
    shown = table.assign(practices_wrongly_classed=codes)
    return shown.rename(columns=_DISPLAY_NAMES)


#: Short headings for the report's narrow columns (the CSV keeps the published names).
_DISPLAY_NAMES = {
    "specification": "Specification",
    "credible": "Credible",
    "n_eligibility_wrong": "Wrong side",
    "n_wrongly_eligible": "Wrongly eligible",
    "n_wrongly_ineligible": "Wrongly not eligible",
    "practices_wrongly_classed": "Practices",
    "n_category_wrong": "Other category",
    "max_abs_misallocation_gbp": "Largest gap (£)",
    "total_abs_misallocation_gbp": "Total gap (£)",
}
