"""Parameters of the funding comparison and the allocation policy."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, NonNegativeFloat, model_validator

from pcfm.params.base import Section


class DeprivationShareParams(Section):
    """An explicit slice of the budget shared by deprivation (LLR: about 5.9%)."""

    fraction: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description=(
            "Fraction of the budget shared by deprivation before the policy shares the rest "
            "(0 = none; LLR shared about 0.059)."
        ),
    )
    basis: Literal["imd_score", "need_deprivation"] = Field(
        "imd_score",
        description=(
            "What 'a practice's share of deprivation' is: 'imd_score' = registered list times "
            "the practice IMD 2019 score (practices.imd_score); 'need_deprivation' = registered "
            "list times the positive part of the deprivation contribution to its need index."
        ),
    )
    recipients: Literal["eligible", "all"] = Field(
        "eligible",
        description=(
            "Which practices share the deprivation slice: those eligible under the policy, or all."
        ),
    )


class TransitionParams(Section):
    """A limit on how far a practice's allocation may move from last year's."""

    previous_allocations_path: Path | None = Field(
        None,
        description=(
            "CSV of last year's allocations (columns practice_code, allocation_gbp), relative "
            "to the parameter file; no transition rule when empty."
        ),
    )
    max_change_fraction: NonNegativeFloat = Field(
        0.1,
        description=(
            "Largest change allowed, as a fraction of last year's allocation (0.1 = up or down "
            "by 10%)."
        ),
    )
    max_change_gbp: NonNegativeFloat = Field(
        0.0,
        description=(
            "Largest change allowed in pounds whatever last year's allocation was; the allowed "
            "change is the larger of this and max_change_fraction of last year's."
        ),
    )


class AllocationParams(Section):
    """How the discretionary budget is shared between practices."""

    policy: Literal["needs_weighted_capitation", "top_up_to_average", "level_up_cost"] = Field(
        "needs_weighted_capitation",
        description="The allocation policy; each is written up in the methodology.",
    )
    budget_gbp: NonNegativeFloat = Field(
        2_850_000.0, description="Discretionary budget to share, in pounds (LLR: £2.85 m a year)."
    )
    n_categories: int = Field(
        4,
        ge=2,
        le=10,
        description=(
            "Funding categories: practices in equal groups from most to least under-funded."
        ),
    )
    rounding: Literal["pence", "pounds"] = Field(
        "pence", description="Allocations are rounded to this unit by the largest-remainder rule."
    )
    eligible_fraction: float = Field(
        0.5,
        gt=0.0,
        le=1.0,
        description=(
            "top_up_to_average: the share of practices, most under-funded first, that may "
            "receive a top-up (LLR: the most under-funded half)."
        ),
    )
    top_up_cap_gbp: NonNegativeFloat | None = Field(
        None,
        description=(
            "top_up_to_average: the most one practice may receive, in pounds (none if empty)."
        ),
    )
    level_up_target: Literal["icb_average", "kth_best_group"] = Field(
        "icb_average",
        description=(
            "level_up_cost: the funding per need-weighted patient every practice is brought up "
            "to: the ICB average, or that of the k-th best-funded category."
        ),
    )
    level_up_k: int = Field(
        2,
        ge=1,
        le=10,
        description=(
            "level_up_cost with kth_best_group: which category sets the target (1 = best "
            "funded; 2 = second best, as in the '£333 m to level up England' estimate)."
        ),
    )
    deprivation_share: DeprivationShareParams = Field(
        default_factory=DeprivationShareParams,
        description="An explicit slice of the budget shared by deprivation.",
    )
    transition: TransitionParams = Field(
        default_factory=TransitionParams,
        description="Limit on the change from last year's allocation.",
    )
    bootstrap_replicates: int = Field(
        200,
        ge=0,
        le=10_000,
        description=(
            "Bootstrap replicates (practices resampled, model refitted) for the intervals of "
            "the need index and the probability of eligibility; 0 = no bootstrap."
        ),
    )

    sensitivity: bool = Field(
        True,
        description=(
            "Rerun the comparison and the policy under each alternative model specification "
            "(chapter 2's sensitivity analyses) and publish how many practices change "
            "category or eligibility."
        ),
    )

    uncertain_low: float = Field(
        0.1,
        ge=0.0,
        le=1.0,
        description=(
            "A practice's eligibility is uncertain when the share of bootstrap replicates in "
            "which it is eligible lies strictly between uncertain_low and uncertain_high; "
            "stage 04 decides this once and every document reports that decision "
            "(0.1 = eligible in more than 10% of replicates)."
        ),
    )
    uncertain_high: float = Field(
        0.9,
        ge=0.0,
        le=1.0,
        description=(
            "Upper end of the uncertain band of eligibility (see uncertain_low): a practice "
            "eligible in at least this share of replicates is not in doubt."
        ),
    )

    @model_validator(mode="after")
    def _consistent(self) -> AllocationParams:
        if self.uncertain_low >= self.uncertain_high:
            raise ValueError(
                f"uncertain_low ({self.uncertain_low}) must be below uncertain_high "
                f"({self.uncertain_high})"
            )
        if self.level_up_k > self.n_categories:
            raise ValueError(
                f"level_up_k ({self.level_up_k}) is larger than n_categories ({self.n_categories})"
            )
        if self.rounding == "pounds" and self.budget_gbp != round(self.budget_gbp):
            raise ValueError(
                f"budget_gbp ({self.budget_gbp}) must be whole pounds when rounding is 'pounds'"
            )
        if self.policy == "level_up_cost" and self.deprivation_share.fraction > 0:
            raise ValueError(
                "deprivation_share.fraction must be 0 with level_up_cost (it has no budget)"
            )
        return self
