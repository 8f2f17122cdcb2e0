"""Allocation policies: share a budget between practices, to the penny.

Every policy is the same computation with different inputs (methodology, chapter 4):
each practice ``i`` has a *claim* ``a_i`` and bounds ``lo_i <= x_i <= hi_i``; the
budget ``B`` is shared as ``x_i = clip(t * a_i, lo_i, hi_i)`` with the one scale ``t``
that makes the shares add up to ``B`` — or, when every practice is at its upper bound
before the budget runs out, ``x_i = hi_i`` and the rest of the budget is reported as
unallocated.

* ``needs_weighted_capitation``: claim = need-weighted list, no upper bound.
* ``top_up_to_average``: claim = gap to the ICB average funding per need-weighted
  patient, upper bound = the gap (and the optional cap); ineligible practices have
  claim and bound 0. Without a cap every funded practice gets the same fraction of its
  gap, so a more under-funded practice never gets less per pound of gap.
* ``level_up_cost``: no budget; each practice's allocation is its gap to the target.

A practice the run excluded from the comparison (status ``excluded``,
`pcfm.allocation.exclusions`) has claim, bounds and deprivation share 0 under every policy,
whatever last year's allocation was: it gets nothing, and the budget is shared among the
others.

Optional, with a budget: a *deprivation share* (a fixed fraction of the budget shared in
proportion to each recipient's deprivation, before the policy shares the rest) and a
*transition rule* (each practice named in last year's file stays within the allowed
change of last year's allocation; the rule takes precedence over the gap and over
eligibility, which is its purpose — it softens the year-on-year change).

Amounts are whole units (pence, or pounds if ``rounding`` is ``pounds``) by the
largest-remainder rule, so the allocations add up exactly to the amount allocated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pcfm.allocation.exclusions import EXCLUDED
from pcfm.allocation.rounding import largest_remainder
from pcfm.params.allocation import AllocationParams

PENCE_PER_POUND = 100


class AllocationInputError(ValueError):
    """A comparison table, previous allocations or parameters that cannot be allocated."""


@dataclass(frozen=True)
class AllocationResult:
    """The allocation of one policy.

    Attributes:
        table: One row per practice: the comparison columns, ``allocation_pence`` (int),
            ``allocation_gbp``, ``deprivation_part_gbp``, ``previous_allocation_gbp``
            and ``funding_per_nwp_after_gbp``.
        summary: ``policy``, ``budget_gbp``, ``allocated_gbp``, ``unallocated_gbp``,
            ``n_practices``, ``n_funded`` and further figures used in the report.
    """

    table: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)


def _first(values, n: int = 5) -> str:
    return ", ".join(repr(v) for v in list(values)[:n])


def read_previous_allocations(path: Path) -> pd.DataFrame:
    """Read last year's allocations (``practice_code``, ``allocation_gbp``) from a CSV file.

    Raises:
        AllocationInputError: naming the file, the column and the first bad values.
    """
    try:
        table = pd.read_csv(path, dtype={"practice_code": str})
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise AllocationInputError(f"{path}: cannot read previous allocations ({error})") from None
    return check_previous_allocations(table, str(path))


def check_previous_allocations(table: pd.DataFrame, source: str) -> pd.DataFrame:
    """Validate a table of last year's allocations and return it with clean types."""
    missing = [c for c in ("practice_code", "allocation_gbp") if c not in table.columns]
    if missing:
        raise AllocationInputError(f"{source}: missing column(s) {', '.join(missing)}")
    codes = table["practice_code"].astype(str)
    duplicated = codes[codes.duplicated()]
    if len(duplicated):
        raise AllocationInputError(
            f"{source}: column practice_code has {len(duplicated)} duplicated value(s) "
            f"({_first(duplicated.unique())})"
        )
    amounts = pd.to_numeric(table["allocation_gbp"], errors="coerce")
    bad = ~np.isfinite(amounts.to_numpy(dtype=float)) | (amounts.to_numpy(dtype=float) < 0)
    if bad.any():
        raise AllocationInputError(
            f"{source}: column allocation_gbp must be a non-negative number; {int(bad.sum())} "
            f"row(s) are not (practices {_first(codes[bad])}; values "
            f"{_first(table['allocation_gbp'][bad])})"
        )
    return pd.DataFrame({"practice_code": codes, "allocation_gbp": amounts.astype(float)})


def fill_to_budget(
    claims: np.ndarray, lower: np.ndarray, upper: np.ndarray, budget: float
) -> np.ndarray:
    """Share ``budget`` as ``clip(t * claims, lower, upper)`` with one scale ``t``.

    Args:
        claims: Non-negative claims (the shares' proportions before bounds).
        lower: Lower bounds; their sum must not exceed the budget.
        upper: Upper bounds (may be ``inf``), each at least its lower bound.
        budget: The amount to share.

    Returns:
        The shares. They add up to ``budget``, or, if that is smaller, to what the practices
        can take: their upper bounds, or their lower bounds for those with no claim.

    Raises:
        AllocationInputError: if the lower bounds alone exceed the budget.
    """
    claims = np.asarray(claims, dtype=float)
    lower = np.asarray(lower, dtype=float)
    upper = np.asarray(upper, dtype=float)
    if lower.sum() > budget * (1 + 1e-12) + 1e-9:
        raise AllocationInputError(
            f"the transition rule's floors add up to {lower.sum():,.2f} units, more than the "
            f"{budget:,.2f} to share; widen the allowed change or raise the budget"
        )
    positive = claims > 0
    most = np.where(positive, upper, lower)  # shares once t is large enough
    if most.sum() <= budget:
        return most
    # f(t) = sum(clip(t a, lo, hi)) is piecewise linear and non-decreasing in t, with kinks
    # where t a_i meets lo_i or hi_i; find the kinks either side of the budget.
    with np.errstate(divide="ignore", invalid="ignore"):
        kinks = np.concatenate(
            [lower[positive] / claims[positive], upper[positive] / claims[positive]]
        )
    kinks = np.unique(kinks[np.isfinite(kinks)])
    kinks = np.concatenate([[0.0], kinks])

    def total_at(t: float) -> float:
        return float(np.clip(t * claims, lower, upper).sum())

    totals = np.array([total_at(t) for t in kinks])
    above = np.flatnonzero(totals >= budget)
    if len(above) == 0:
        # Beyond the last kink only the shares without an upper bound still grow.
        slope = claims[positive & np.isinf(upper)].sum()
        t = kinks[-1] + (budget - totals[-1]) / slope
        shares = np.clip(t * claims, lower, upper)
        return _absorb_residue(shares, lower, upper, budget)
    j = int(above[0])
    if j == 0:
        return np.clip(0.0 * claims, lower, upper)
    t_low, t_high = kinks[j - 1], kinks[j]
    f_low, f_high = totals[j - 1], totals[j]
    t = (
        t_high
        if f_high == f_low
        else t_low + (budget - f_low) * (t_high - t_low) / (f_high - f_low)
    )
    shares = np.clip(t * claims, lower, upper)
    return _absorb_residue(shares, lower, upper, budget)


def _absorb_residue(
    shares: np.ndarray, lower: np.ndarray, upper: np.ndarray, budget: float
) -> np.ndarray:
    """Spread the float residue of the sum over the shares strictly between their bounds."""
    free = (shares > lower) & (shares < upper)
    residue = budget - shares.sum()
    if free.any() and residue:
        shares[free] += residue * shares[free] / shares[free].sum()
    return shares


def _units(allocation_params: AllocationParams) -> int:
    """Pence in one rounding unit."""
    return PENCE_PER_POUND if allocation_params.rounding == "pounds" else 1


def _deprivation_basis(table: pd.DataFrame, allocation_params: AllocationParams) -> np.ndarray:
    share = allocation_params.deprivation_share
    registered = table["registered_list"].to_numpy(dtype=float)
    if share.basis == "imd_score":
        if "imd_score" not in table or table["imd_score"].isna().any():
            missing = (
                table["practice_code"]
                if "imd_score" not in table
                else table.loc[table["imd_score"].isna(), "practice_code"]
            )
            raise AllocationInputError(
                "deprivation_share.basis is imd_score but practices.imd_score is missing for "
                f"{len(missing)} practice(s) ({_first(missing)})"
            )
        basis = registered * table["imd_score"].to_numpy(dtype=float)
    else:
        if "contribution_deprivation" not in table:
            raise AllocationInputError(
                "deprivation_share.basis is need_deprivation but the comparison has no "
                "contribution_deprivation column (decompose the need index first)"
            )
        basis = registered * np.maximum(0.0, table["contribution_deprivation"].to_numpy(float))
    if share.recipients == "eligible":
        basis = np.where(table["eligible"].to_numpy(dtype=bool), basis, 0.0)
    return np.where(_included(table), basis, 0.0)


def _included(table: pd.DataFrame) -> np.ndarray:
    """Whether each practice counts in the comparison (every status but excluded)."""
    return table["status"].to_numpy(dtype=object) != EXCLUDED


def _transition_bounds(
    table: pd.DataFrame,
    previous: pd.DataFrame | None,
    allocation_params: AllocationParams,
    unit_pence: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Lower and upper bounds in units from last year's allocations (none where absent)."""
    n = len(table)
    lower = np.zeros(n)
    upper = np.full(n, np.inf)
    previous_gbp = np.full(n, np.nan)
    if previous is None:
        return lower, upper, previous_gbp, 0
    previous = check_previous_allocations(previous, "previous allocations")
    by_code = previous.set_index("practice_code")["allocation_gbp"]
    previous_gbp = table["practice_code"].map(by_code).to_numpy(dtype=float)
    known = np.isfinite(previous_gbp)
    rule = allocation_params.transition
    allowed = np.maximum(rule.max_change_fraction * previous_gbp, rule.max_change_gbp)
    to_units = PENCE_PER_POUND / unit_pence
    low = np.maximum(0.0, previous_gbp - allowed) * to_units
    high = (previous_gbp + allowed) * to_units
    lower[known] = np.ceil(np.round(low[known], 6))
    upper[known] = np.floor(np.round(high[known], 6))
    unmatched = len(set(by_code.index) - set(table["practice_code"]))
    return lower, upper, previous_gbp, unmatched


def allocate(
    comparison: pd.DataFrame,
    allocation_params: AllocationParams,
    previous_allocations: pd.DataFrame | None = None,
) -> AllocationResult:
    """Share the budget (or cost the levelling-up) by the policy in the parameters.

    Args:
        comparison: Output of :func:`pcfm.allocation.funding.compare_funding`.
        allocation_params: Policy, budget, rounding, deprivation share, transition rule.
        previous_allocations: Last year's allocations (``practice_code``,
            ``allocation_gbp``) for the transition rule; required when
            ``transition.previous_allocations_path`` is set (read it with
            :func:`read_previous_allocations`).

    Returns:
        The allocation table and its summary.

    Raises:
        AllocationInputError: on missing columns, a transition rule that cannot be met within
            the budget, or previous allocations given to ``level_up_cost``.
    """
    required = [
        "practice_code",
        "need_weighted_list",
        "gap_gbp",
        "eligible",
        "status",
        "counted_funding_gbp",
    ]
    missing = [c for c in required if c not in comparison.columns]
    if missing:
        raise AllocationInputError(
            f"comparison: missing column(s) {', '.join(missing)} (build it with compare_funding)"
        )
    if previous_allocations is None and allocation_params.transition.previous_allocations_path:
        raise AllocationInputError(
            "transition.previous_allocations_path is set but no previous allocations were "
            "passed; read them with read_previous_allocations(params.resolve(path))"
        )
    table = comparison.sort_values("practice_code", kind="stable").reset_index(drop=True)
    if allocation_params.policy == "level_up_cost":
        if previous_allocations is not None:
            raise AllocationInputError("level_up_cost has no budget, so no transition rule")
        return _level_up(table, allocation_params)

    unit_pence = _units(allocation_params)
    to_units = PENCE_PER_POUND / unit_pence
    budget_units = round(allocation_params.budget_gbp * to_units)
    codes = table["practice_code"].astype(str).to_numpy()
    eligible = table["eligible"].to_numpy(dtype=bool)
    included = _included(table)

    # 1. The deprivation slice, fixed before the policy shares the rest.
    deprivation_units = np.zeros(len(table), dtype=np.int64)
    slice_units = math.floor(allocation_params.deprivation_share.fraction * budget_units + 0.5)
    if slice_units:
        basis = _deprivation_basis(table, allocation_params)
        if basis.sum() > 0:
            deprivation_units = largest_remainder(basis, slice_units, tie_break=codes)

    # 2. The policy's claims and upper bounds, in units.
    if allocation_params.policy == "needs_weighted_capitation":
        claims = np.where(included, table["need_weighted_list"].to_numpy(dtype=float), 0.0)
        formula_upper = np.where(included, np.inf, 0.0)
    else:  # top_up_to_average
        gap_units = np.floor(np.round(table["gap_gbp"].to_numpy(float) * to_units, 6))
        formula_upper = np.where(eligible, gap_units, 0.0)
        if allocation_params.top_up_cap_gbp is not None:
            cap_units = math.floor(round(allocation_params.top_up_cap_gbp * to_units, 6))
            formula_upper = np.minimum(formula_upper, cap_units)
        claims = np.where(eligible, gap_units, 0.0)
    remaining_units = budget_units - int(deprivation_units.sum())

    # 3. The transition rule bounds the total (deprivation part + policy part).
    t_lower, t_upper, previous_gbp, unmatched = _transition_bounds(
        table, previous_allocations, allocation_params, unit_pence
    )
    # Exclusion takes precedence over the transition rule: an excluded practice gets 0.
    t_lower = np.where(included, t_lower, 0.0)
    t_upper = np.where(included, t_upper, 0.0)
    lower = np.maximum(0.0, t_lower - deprivation_units)
    upper = np.maximum(lower, np.minimum(formula_upper, t_upper - deprivation_units))

    shares = fill_to_budget(claims, lower, upper, remaining_units)
    allocated_policy_units = min(remaining_units, round(shares.sum()))
    if shares.sum() > 0:
        policy_units = largest_remainder(shares, allocated_policy_units, tie_break=codes)
    else:
        policy_units = np.zeros(len(table), dtype=np.int64)
    units = policy_units + deprivation_units

    before_transition = None
    if previous_allocations is not None:
        unbounded = fill_to_budget(claims, np.zeros(len(table)), formula_upper, remaining_units)
        before_transition = (unbounded + deprivation_units) * unit_pence / PENCE_PER_POUND

    return _result(
        table,
        units * unit_pence,
        deprivation_units * unit_pence,
        allocation_params,
        previous_gbp=previous_gbp,
        before_transition_gbp=before_transition,
        extra={"transition_unmatched_codes": unmatched} if previous_allocations is not None else {},
    )


def _level_up(table: pd.DataFrame, allocation_params: AllocationParams) -> AllocationResult:
    """The cost of bringing every practice up to the target: each gap, to the unit."""
    unit_pence = _units(allocation_params)
    gap_units = table["gap_gbp"].to_numpy(float) * PENCE_PER_POUND / unit_pence
    total_units = round(gap_units.sum())
    codes = table["practice_code"].astype(str).to_numpy()
    units = (
        largest_remainder(gap_units, total_units, tie_break=codes)
        if total_units
        else np.zeros(len(table), dtype=np.int64)
    )
    return _result(
        table,
        units * unit_pence,
        np.zeros(len(table), dtype=np.int64),
        allocation_params,
        previous_gbp=np.full(len(table), np.nan),
        before_transition_gbp=None,
        extra={},
    )


def _result(
    table: pd.DataFrame,
    allocation_pence: np.ndarray,
    deprivation_pence: np.ndarray,
    allocation_params: AllocationParams,
    previous_gbp: np.ndarray,
    before_transition_gbp: np.ndarray | None,
    extra: dict[str, Any],
) -> AllocationResult:
    out = table.copy()
    out["allocation_pence"] = allocation_pence.astype(np.int64)
    out["allocation_gbp"] = out["allocation_pence"] / PENCE_PER_POUND
    out["deprivation_part_gbp"] = deprivation_pence.astype(np.int64) / PENCE_PER_POUND
    out["previous_allocation_gbp"] = previous_gbp
    if before_transition_gbp is not None:
        out["allocation_before_transition_gbp"] = before_transition_gbp
    out["funding_per_nwp_after_gbp"] = (out["current_funding_gbp"] + out["allocation_gbp"]) / out[
        "need_weighted_list"
    ]

    allocated_pence = int(out["allocation_pence"].sum())
    level_up = allocation_params.policy == "level_up_cost"
    included = _included(out)
    counted = out["counted_funding_gbp"].to_numpy(dtype=float)
    weighted = out["need_weighted_list"].to_numpy(dtype=float)
    budget_pence = None if level_up else round(allocation_params.budget_gbp * PENCE_PER_POUND)
    summary: dict[str, Any] = {
        "policy": allocation_params.policy,
        "budget_gbp": None if level_up else budget_pence / PENCE_PER_POUND,
        "allocated_gbp": allocated_pence / PENCE_PER_POUND,
        "unallocated_gbp": 0.0 if level_up else (budget_pence - allocated_pence) / PENCE_PER_POUND,
        "n_practices": len(out),
        "n_funded": int((out["allocation_pence"] > 0).sum()),
        "n_eligible": int(out["eligible"].sum()),
        "rounding": allocation_params.rounding,
        # The comparison's average: counted funding of the practices it counts.
        "icb_average_funding_per_nwp_gbp": float(
            counted[included].sum() / weighted[included].sum()
        ),
        "target_funding_per_nwp_gbp": float(out["target_per_nwp_gbp"].iloc[0])
        if "target_per_nwp_gbp" in out and len(out)
        else None,
        "total_gap_gbp": float(out["gap_gbp"].sum()),
        "deprivation_share_gbp": int(deprivation_pence.sum()) / PENCE_PER_POUND,
    }
    if level_up:
        summary["level_up_cost_gbp"] = summary["allocated_gbp"]
        summary["level_up_target"] = allocation_params.level_up_target
    summary.update(extra)
    return AllocationResult(table=out, summary=summary)
