"""The funding comparison: funding per need-weighted patient, categories and eligibility.

Definitions (methodology, chapter 4):

* Funding per need-weighted patient = current funding ÷ need-weighted list.
* The ICB average is total funding ÷ total need-weighted list (a ratio of totals, so
  large and small practices count by their size; it equals total funding ÷ total
  registered list because the need-weighted lists add up to the registered lists).
* Funding ratio = a practice's funding per need-weighted patient ÷ the ICB average;
  below 1 is under-funded for its patients' need.
* Categories: practices ranked by funding ratio, lowest first, cut into
  ``n_categories`` groups of equal numbers (category 1 = most under-funded). Practices
  with equal ratios always share a category (their rank is the lowest of their tie),
  so no practice is split from an identical one by its code or its row.
* Gap = what the practice would need to reach the target funding per need-weighted
  patient, never below zero: ``max(0, target × need_weighted_list − funding)``.
* Eligible: top_up_to_average — among the ``eligible_fraction`` most under-funded
  practices (ties at the boundary all in) and with a gap above zero;
  needs_weighted_capitation — every practice; level_up_cost — every practice with a gap.

Outliers and special services (`pcfm.allocation.exclusions`, decided once): an *excluded*
practice is left out of the ICB average, of the ranking into categories and of
eligibility (no category, gap 0, not eligible); a *capped* practice counts its funding
clipped to the bound (``counted_funding_gbp``) in the average, its ratio, category and
gap. Every figure above uses the counted funding; ``current_funding_gbp`` stays the
actual funding.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from pcfm.allocation.exclusions import (
    EXCLUDED,
    ExclusionInputError,
    PracticeStatuses,
    decide_statuses,
)
from pcfm.need.weights import NEED_COLUMNS
from pcfm.params.allocation import AllocationParams

#: Columns of the practices table carried into the comparison when present.
PRACTICE_COLUMNS = ["practice_name", "pcn_code", "pcn_name", "place"]
OPTIONAL_PRACTICE_COLUMNS = ["carr_hill_weighted_list", "imd_score", "special_service"]


class FundingInputError(ValueError):
    """Need or practice tables that cannot be compared, with the fault named."""


def _first(values, n: int = 5) -> str:
    return ", ".join(repr(v) for v in list(values)[:n])


def _rank_min(values: np.ndarray) -> np.ndarray:
    """1-based rank, lowest value first; tied values all get the lowest rank of their tie."""
    return pd.Series(values).rank(method="min", ascending=True).to_numpy(dtype=np.int64)


def categories_from_ratio(funding_ratio: np.ndarray, n_categories: int) -> np.ndarray:
    """Category 1 (most under-funded) to ``n_categories`` from equal-sized groups by rank."""
    n = len(funding_ratio)
    ranks = _rank_min(np.asarray(funding_ratio, dtype=float))
    return 1 + ((ranks - 1) * n_categories) // max(n, 1)


def eligible_count(n_practices: int, eligible_fraction: float) -> int:
    """How many of the most under-funded practices the top-up is open to (at least one)."""
    return max(1, math.ceil(round(eligible_fraction * n_practices, 9)))


def _check_money(values: pd.Series, column: str, what: str) -> np.ndarray:
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(numbers) | (numbers < 0)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise FundingInputError(
            f"{what}: column {column} must be a non-negative number; {len(rows)} row(s) are "
            f"not (practices {_first(values.index[rows])}; values {_first(values.iloc[rows])})"
        )
    return numbers


def compare_funding(
    need: pd.DataFrame,
    practices: pd.DataFrame,
    allocation_params: AllocationParams,
    statuses: PracticeStatuses | None = None,
) -> pd.DataFrame:
    """Compare each practice's current funding with its need.

    Args:
        need: Output of :func:`pcfm.need.weights.practice_need` (may carry extra columns,
            such as the need decomposition, which are kept).
        practices: The practices table of the data contract.
        allocation_params: Number of categories, policy, eligibility and outlier rules.
        statuses: The run's decision on outliers and special services
            (:func:`pcfm.allocation.exclusions.decide_statuses`); decided here from this
            need table when None. The sensitivity analysis passes the main model's.

    Returns:
        One row per practice, in practice-code order: the need columns, the practice's
        name, PCN and place, ``current_funding_gbp``, ``status``, ``counted_funding_gbp``,
        ``funding_per_nwp_gbp`` (actual funding), ``funding_ratio`` (counted funding),
        ``carr_hill_index`` (NaN where the weighted list is unknown), ``category``
        (nullable; missing for an excluded practice), ``gap_gbp``, ``eligible`` — and
        ``target_per_nwp_gbp``, the funding per need-weighted patient the gap is measured to.

    Raises:
        FundingInputError: on missing columns, unmatched practices, unusable funding or
            outlier rules that cannot be applied.
    """
    missing = [c for c in NEED_COLUMNS if c not in need.columns]
    if missing:
        raise FundingInputError(f"need table: missing column(s) {', '.join(missing)}")
    required = ["practice_code", "current_funding_gbp"]
    missing = [c for c in required if c not in practices.columns]
    if missing:
        raise FundingInputError(f"practices: missing column(s) {', '.join(missing)}")

    need = need.assign(practice_code=need["practice_code"].astype(str))
    info_columns = [c for c in PRACTICE_COLUMNS + OPTIONAL_PRACTICE_COLUMNS if c in practices]
    info = practices[["practice_code", "current_funding_gbp", *info_columns]].copy()
    info["practice_code"] = info["practice_code"].astype(str)
    info = info.drop(columns=[c for c in info_columns if c in need.columns])
    only_need = sorted(set(need["practice_code"]) - set(info["practice_code"]))
    only_practices = sorted(set(info["practice_code"]) - set(need["practice_code"]))
    if only_need or only_practices:
        raise FundingInputError(
            "need table and practices table list different practices: "
            f"{len(only_need)} only in the need table ({_first(only_need)}), "
            f"{len(only_practices)} only in practices ({_first(only_practices)})"
        )
    if need["practice_code"].duplicated().any() or info["practice_code"].duplicated().any():
        raise FundingInputError("need table or practices table: practice_code is not unique")

    table = need.merge(info, on="practice_code", how="inner", validate="one_to_one")
    table = table.sort_values("practice_code", kind="stable").reset_index(drop=True)
    funding = _check_money(
        table.set_index("practice_code")["current_funding_gbp"], "current_funding_gbp", "practices"
    )
    weighted = table["need_weighted_list"].to_numpy(dtype=float)
    if not (np.isfinite(weighted).all() and (weighted > 0).all()):
        bad = table.loc[~(weighted > 0), "practice_code"]
        raise FundingInputError(
            f"need table: need_weighted_list must be positive; {len(bad)} practice(s) are not "
            f"({_first(bad)})"
        )

    table["current_funding_gbp"] = funding
    try:
        if statuses is None:
            statuses = decide_statuses(table, table, allocation_params.outliers)
        status = statuses.status_of(table["practice_code"])
        counted = statuses.counted_funding(table["practice_code"])
    except ExclusionInputError as error:
        raise FundingInputError(str(error)) from None
    included = status != EXCLUDED
    arrays = funding_arrays(counted, weighted, allocation_params, included)
    table["status"] = status
    table["counted_funding_gbp"] = counted
    table["funding_per_nwp_gbp"] = funding / weighted
    table["funding_ratio"] = arrays["funding_ratio"]
    if "carr_hill_weighted_list" in table:
        table["carr_hill_index"] = pd.to_numeric(
            table["carr_hill_weighted_list"], errors="coerce"
        ) / table["registered_list"].astype(float)
    else:
        table["carr_hill_index"] = np.nan
    category = pd.array(arrays["category"], dtype="Int64")
    category[~included] = pd.NA  # an excluded practice is in no category
    table["category"] = category
    table["target_per_nwp_gbp"] = arrays["target_per_nwp_gbp"]
    table["gap_gbp"] = arrays["gap_gbp"]
    table["eligible"] = arrays["eligible"]
    return table


def funding_arrays(
    funding_gbp: np.ndarray,
    need_weighted_list: np.ndarray,
    allocation_params: AllocationParams,
    included: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """The comparison's arithmetic on plain arrays (also used by every bootstrap replicate).

    Args:
        funding_gbp: The funding each practice counts (``counted_funding_gbp``).
        need_weighted_list: Need-weighted lists, in the same order.
        allocation_params: Categories, policy and eligibility rules.
        included: Whether each practice counts in the comparison (False = excluded by the
            run's decision, `pcfm.allocation.exclusions`); all True when None.

    Returns:
        ``funding_ratio``, ``category`` (0 for an excluded practice: no category),
        ``target_per_nwp_gbp`` (repeated per practice), ``gap_gbp`` (0 when excluded) and
        ``eligible`` (False when excluded), in the order of the inputs. The ICB average,
        the ranking and the eligible share are taken over the included practices only.
    """
    funding = np.asarray(funding_gbp, dtype=float)
    weighted = np.asarray(need_weighted_list, dtype=float)
    n = len(funding)
    included = np.ones(n, dtype=bool) if included is None else np.asarray(included, dtype=bool)
    if n and not included.any():
        raise FundingInputError(
            "every practice is excluded from the funding comparison (allocation.outliers); "
            "there is no ICB average to compare with"
        )
    icb_average = funding[included].sum() / weighted[included].sum() if n else 0.0
    ratio = funding / weighted / icb_average if icb_average > 0 else np.ones(n)
    category = np.zeros(n, dtype=np.int64)
    category[included] = categories_from_ratio(ratio[included], allocation_params.n_categories)
    target = funding_target_per_nwp(
        funding[included], weighted[included], category[included], allocation_params
    )
    gap = np.where(included, np.maximum(0.0, target * weighted - funding), 0.0)
    has_gap = gap > 0
    if allocation_params.policy == "needs_weighted_capitation":
        eligible = included.copy()
    elif allocation_params.policy == "level_up_cost":
        eligible = has_gap
    else:
        k = eligible_count(int(included.sum()), allocation_params.eligible_fraction)
        ranks = np.zeros(n, dtype=np.int64)
        ranks[included] = _rank_min(ratio[included])
        eligible = included & (ranks <= k) & has_gap
    return {
        "funding_ratio": ratio,
        "category": category,
        "target_per_nwp_gbp": np.full(n, target),
        "gap_gbp": gap,
        "eligible": eligible,
    }


def funding_target_per_nwp(
    funding_gbp: np.ndarray,
    need_weighted_list: np.ndarray,
    category: np.ndarray,
    allocation_params: AllocationParams,
) -> float:
    """The funding per need-weighted patient that gaps are measured to.

    The ICB average, except for level_up_cost with ``kth_best_group``: the funding per
    need-weighted patient of the k-th best-funded category as a whole (its total funding ÷
    its total need-weighted list).
    """
    if (
        allocation_params.policy == "level_up_cost"
        and allocation_params.level_up_target == "kth_best_group"
    ):
        wanted = allocation_params.n_categories + 1 - allocation_params.level_up_k
        in_group = np.asarray(category) == wanted
        if not in_group.any():
            raise FundingInputError(
                f"level_up_k = {allocation_params.level_up_k}: category {wanted} is empty "
                f"({len(category)} practice(s) in {allocation_params.n_categories} categories)"
            )
        return float(funding_gbp[in_group].sum() / need_weighted_list[in_group].sum())
    return float(funding_gbp.sum() / need_weighted_list.sum())
