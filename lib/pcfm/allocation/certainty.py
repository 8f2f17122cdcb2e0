"""Whether a practice's eligibility is in doubt: decided once, here, for every document.

The bootstrap (`pcfm.allocation.bootstrap`) gives each practice ``p_eligible``, the share
of replicates in which it is eligible. Eligibility is *uncertain* when that share lies
strictly inside the band ``allocation.uncertain_low`` to ``allocation.uncertain_high``.
Stage 04 writes the decision into the published allocation table (column
``eligibility_uncertain``); the uncertain set, its count in the headline numbers and
``allocation_summary.json``, the board paper and the practice statements all read that
column, so they cannot disagree.
"""

from __future__ import annotations

import pandas as pd

from pcfm.params.allocation import AllocationParams

#: The published column that holds the decision.
UNCERTAIN_COLUMN = "eligibility_uncertain"


def eligibility_uncertain(p_eligible: pd.Series, low: float, high: float) -> pd.Series:
    """``low < p_eligible < high`` as a nullable boolean (missing where ``p`` is missing)."""
    p = pd.to_numeric(p_eligible, errors="coerce")
    flag = ((p > low) & (p < high)).astype("boolean")
    return flag.mask(p.isna(), pd.NA)


def mark_uncertain_eligibility(table: pd.DataFrame, params: AllocationParams) -> pd.DataFrame:
    """The allocation table with :data:`UNCERTAIN_COLUMN` placed after ``p_eligible``."""
    flag = eligibility_uncertain(table["p_eligible"], params.uncertain_low, params.uncertain_high)
    out = table.drop(columns=[UNCERTAIN_COLUMN], errors="ignore")
    out.insert(out.columns.get_loc("p_eligible") + 1, UNCERTAIN_COLUMN, flag.to_numpy())
    return out
