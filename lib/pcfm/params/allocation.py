"""Parameters of the funding comparison and the allocation policy."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, NonNegativeFloat, field_validator, model_validator

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


#: What a rule does to a practice it applies to (methodology, "Outliers and special services").
OutlierRule = Literal["exclude", "cap", "keep"]


class OutlierParams(Section):
    """Practices whose funding per need-weighted patient cannot be compared like the others.

    Decided once per run, on the full sample (`pcfm.allocation.exclusions`): *exclude* leaves
    the practice out of the ICB average and the allocation (allocation 0, not eligible, no
    category); *cap* counts its funding clipped to the bound; *keep* counts it as it is but
    lists it. Every such practice is published in ``allocation_exclusions.csv`` with the
    reason in words.
    """

    rule: OutlierRule = Field(
        "exclude",
        description=(
            "What happens to an ordinary practice whose funding per need-weighted patient is "
            "below low or above high times the median of the ordinary practices: 'exclude' = "
            "left out of the ICB average and of the allocation (allocation 0, not eligible, no "
            "category), still listed with its reason; 'cap' = the funding counted in the "
            "comparison is clipped to the bound (median × low or × high per need-weighted "
            "patient); 'keep' = counted as it is, but listed."
        ),
    )
    low: float = Field(
        0.5,
        gt=0.0,
        description=(
            "Lower bound on a practice's funding per need-weighted patient as a fraction of the "
            "median of the ordinary practices (0.5 = half the median). Need differences do not "
            "explain half: on the public LLR payments the middle half of practices lies within "
            "5% of the median funding per Carr-Hill weighted patient, and the need index moves "
            "a practice by a few tens of per cent; below half the core money is usually in "
            "another payment line (e.g. a student practice) or the practice is a special "
            "service. It matches the flag of the public-data adapter (a factor of 2)."
        ),
    )
    high: float = Field(
        2.0,
        gt=0.0,
        description=(
            "Upper bound on a practice's funding per need-weighted patient as a multiple of the "
            "median of the ordinary practices (2.0 = double the median): above it the practice "
            "is paid for something other than its list (e.g. an inclusion health service, "
            "4.8 and 12.5 times the median in LLR). The same factor of 2 as low, on the other "
            "side."
        ),
    )
    special_services: OutlierRule = Field(
        "exclude",
        description=(
            "What happens to a practice with a special_service in the practices table (special "
            "allocation scheme, homeless or inclusion health, asylum seekers…): 'exclude' = "
            "left out whatever its funding, because its list is not comparable; 'cap' = its "
            "funding counted clipped to the bounds low and high; 'keep' = counted as it is, "
            "but listed. Special services are not part of the median."
        ),
    )
    excluded_practices: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Practices the ICB excludes by name, as practice_code: reason (the reason is "
            "required and published), e.g. a practice that closed during the year. They are "
            "excluded whatever the rules above say and are not part of the median."
        ),
    )

    @field_validator("excluded_practices", mode="before")
    @classmethod
    def _reasons_as_text(cls, value: Any) -> Any:
        # "C82020:" with nothing after it is YAML for None: report it as a missing reason.
        if isinstance(value, dict):
            return {code: "" if reason is None else reason for code, reason in value.items()}
        return value

    @model_validator(mode="after")
    def _consistent(self) -> OutlierParams:
        if not self.low < 1 < self.high:
            raise ValueError(
                f"the bounds must satisfy low < 1 < high (got low {self.low}, high {self.high}): "
                "the median practice itself must lie inside them"
            )
        blank = [code for code, reason in self.excluded_practices.items() if not reason.strip()]
        if blank:
            raise ValueError(
                f"excluded_practices: practice(s) {', '.join(map(repr, blank))} have no reason; "
                "give each excluded practice the reason that will be published"
            )
        blank_codes = [code for code in self.excluded_practices if not code.strip()]
        if blank_codes:
            raise ValueError("excluded_practices: a practice code is empty")
        return self


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
    outliers: OutlierParams = Field(
        default_factory=OutlierParams,
        description=(
            "Outliers and special services: which practices are left out of the funding "
            "comparison, capped or only listed, decided once and applied everywhere."
        ),
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
    bootstrap_resample: Literal["practices", "patients_within_practices"] = Field(
        "practices",
        description=(
            "What a bootstrap replicate resamples: 'practices' = as many practices as the ICB "
            "has, drawn with replacement, each with all its patients (the ICB's practices as "
            "one draw of the practices such a model could be fitted on); "
            "'patients_within_practices' = every practice kept, its patients drawn with "
            "replacement (on cells: multinomial counts of each practice's patients over its "
            "cells, each cell's workload and person-years scaled by its count; the "
            "uncertainty of a fixed set of practices' patients)."
        ),
    )
    bootstrap_refit: Literal["newton", "full"] = Field(
        "newton",
        description=(
            "How a Poisson model is refitted in each replicate: 'newton' = Newton's method on "
            "the slopes started at the full-sample fit, on the cells weighted by the draw "
            "(a few steps; about twenty times faster with practice effects at LLR scale), "
            "checked against full refits on bootstrap_check_replicates replicates; 'full' = "
            "the fitting routine of stage 02 on the drawn cells. A negative-binomial model is "
            "always refitted in full."
        ),
    )
    bootstrap_check_replicates: int = Field(
        5,
        ge=0,
        le=10_000,
        description=(
            "With bootstrap_refit 'newton': how many replicates (the first ones) are also "
            "refitted in full, to check the Newton refits; 0 = no check."
        ),
    )
    bootstrap_check_tolerance: float = Field(
        1e-6,
        gt=0.0,
        description=(
            "With bootstrap_refit 'newton': the largest absolute difference in any practice's "
            "need index allowed between the Newton and the full refit of a checked replicate; "
            "above it the whole bootstrap is redone with full refits (same seed). Need "
            "indices are published to three decimals, so 1e-6 is far below what a reader sees."
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
            "A practice not eligible in the run has robust eligibility only if it is eligible "
            "in at most this share of bootstrap replicates (and under no credible alternative "
            "model); otherwise its eligibility is uncertain. Stage 04 decides this once "
            "(pcfm.allocation.certainty) and every document reports that decision (0.1 = "
            "eligible in at most 10% of replicates, i.e. not eligible in at least 90%)."
        ),
    )
    uncertain_high: float = Field(
        0.9,
        ge=0.0,
        le=1.0,
        description=(
            "A practice eligible in the run has robust eligibility only if it is eligible in "
            "at least this share of bootstrap replicates and under every credible alternative "
            "model (see uncertain_low); otherwise its eligibility is uncertain."
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
