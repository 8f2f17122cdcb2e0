"""The headline numbers in words, shared by the allocation report and the board paper.

Every number comes from the published headline table (`pcfm.allocation.headline`, read
by `pcfm.report.published.read_headline`); this module only writes the sentences.
"""

from __future__ import annotations

import pandas as pd

from pcfm.allocation.exclusions import CAPPED, EXCLUDED, KEPT
from pcfm.allocation.headline import AllocationHeadline
from pcfm.base.markdown import escape_markdown
from pcfm.params.allocation import OutlierParams
from pcfm.report.formats import count, gbp, more_or_less, percent

POLICY_NAMES = {
    "needs_weighted_capitation": "needs-weighted capitation",
    "top_up_to_average": "top-up towards the average (as LLR's Health Equity Payment)",
    "level_up_cost": "cost of levelling up",
}


def policy_name(policy: str) -> str:
    """The policy as a reader names it."""
    return POLICY_NAMES.get(policy, policy)


def headline_markdown(
    headline: AllocationHeadline, policy: str, icb_name: str, financial_year: str
) -> str:
    """The headline numbers as a few sentences of Markdown."""
    budget = (
        f"A budget of **{gbp(headline.budget_gbp)}** is shared by {policy_name(policy)}."
        if headline.budget_gbp is not None
        else f"The {policy_name(policy)} is **{gbp(headline.allocated_gbp)}**."
    )
    lines = [
        f"**{escape_markdown(icb_name)}, {escape_markdown(financial_year)}.** {budget} "
        f"**{headline.n_funded} of {headline.n_practices} practices** receive an allocation "
        f"(they have {count(headline.registered_patients_funded)} of the ICB's "
        f"{count(headline.registered_patients)} registered patients), "
        f"from **{gbp(headline.smallest_allocation_gbp)}** to "
        f"**{gbp(headline.largest_allocation_gbp)}** "
        f"(median {gbp(headline.median_allocation_gbp)}).",
    ]
    if headline.unallocated_gbp:
        lines.append(
            f"{gbp(headline.unallocated_gbp)} is left unallocated because every eligible "
            "practice's gap to the target is closed."
        )
    equity = equity_sentence(headline)
    if equity:
        lines.append(equity)
    return "\n\n".join(lines)


def equity_sentence(headline: AllocationHeadline) -> str | None:
    """The deprivation gap before and after, in words; None without IMD scores."""
    before, after = headline.deprivation_gap_before, headline.deprivation_gap_after
    if before is None or after is None:
        return None
    return (
        "Per need-weighted patient, the fifth of practices serving the most deprived "
        f"populations receive **{more_or_less(before)}** than the least deprived fifth before "
        f"the allocation, and **{more_or_less(after)}** after it."
    )


def certainty_sentence(headline: AllocationHeadline) -> str:
    """How many practices' eligibility is uncertain, with the rule that decides it."""
    if headline.n_eligibility_uncertain is None:
        return (
            "The uncertainty of each practice's eligibility was not estimated in this run "
            "(no bootstrap); eligibility at the boundary may change with small changes in data."
        )
    low, high = percent(headline.uncertain_low, 0), percent(headline.uncertain_high, 0)
    replicates = headline.bootstrap_replicates
    alternatives = (
        f" and under each of the {headline.n_credible_alternatives} credible alternative model(s)"
        if headline.n_credible_alternatives
        else ""
    )
    rule = (
        f"Re-estimating the model {replicates} times on resampled data{alternatives}, a "
        f"practice's eligibility is robust when it is eligible in at least {high} of "
        f"re-estimates (or in at most {low} when it is not eligible)"
        + (" and the same under every credible alternative" if alternatives else "")
    )
    if headline.n_eligibility_uncertain == 0:
        return f"{rule}: every practice's eligibility is robust."
    return (
        f"{rule}: **{headline.n_eligibility_uncertain} practice(s)** have uncertain "
        "eligibility (listed below, with what would change it)."
    )


def sensitivity_sentence(headline: AllocationHeadline) -> str:
    """What the alternative models change: eligibility under credible ones and benchmarks,
    and category."""
    if headline.n_sensitivity_alternatives is None:
        return "The run did not publish a sensitivity analysis of the model."
    category = (
        f"at most {headline.max_practices_changing_category} practice(s) change funding category"
    )
    if headline.n_credible_alternatives is None:
        return f"Under {headline.n_sensitivity_alternatives} alternative model(s), {category}."
    return (
        f"Of {headline.n_sensitivity_alternatives} alternative model(s), "
        f"{headline.n_credible_alternatives} are credible (they keep the need covariates): "
        f"under them at most {headline.max_practices_changing_eligibility_credible} "
        "practice(s) change eligibility; under the benchmarks, which change what need is, "
        f"at most {headline.max_practices_changing_eligibility_benchmark}; {category}."
    )


#: How each status reads in a sentence about the practice.
STATUS_WORDS = {
    EXCLUDED: "excluded from the comparison and the allocation",
    CAPPED: "funding capped in the comparison",
    KEPT: "counted as it is, but listed",
}


def _bound(value: float) -> str:
    return f"{value:g}"


def exclusions_markdown(
    headline: AllocationHeadline, exclusions: pd.DataFrame, rules: OutlierParams
) -> str:
    """Which practices the comparison left out, capped or only listed, by name with the
    reason, from the published ``allocation_exclusions`` table; one sentence when none."""
    median = headline.median_funding_per_nwp_gbp
    reference = (
        f" {_bound(rules.low)} to {_bound(rules.high)} times the median of the ordinary "
        f"practices ({gbp(median)} per need-weighted patient)"
        if median is not None
        else f" {_bound(rules.low)} to {_bound(rules.high)} times the median of the "
        "ordinary practices"
    )
    if exclusions.empty:
        return (
            "**No practice was excluded or capped.** Every practice's funding per "
            f"need-weighted patient lies within{reference}, none is a special service "
            "and the ICB excluded none by name (`allocation.outliers`)."
        )
    parts = [
        f"**{number} practice(s)** {STATUS_WORDS[status]}"
        for status, number in (
            (EXCLUDED, headline.n_excluded),
            (CAPPED, headline.n_capped),
            (KEPT, headline.n_kept),
        )
        if number
    ]
    lines = [
        "Some practices' funding cannot be compared with the others' like for like: special "
        f"services, practices named by the ICB, and practices outside{reference}. "
        f"Under the rules of `allocation.outliers`: {'; '.join(parts)}.",
        "",
    ]
    for row in exclusions.itertuples(index=False):
        name = escape_markdown(str(row.practice_name or row.practice_code))
        amounts = (
            f" Funding {gbp(row.funding_gbp)}, counted as {gbp(row.counted_funding_gbp)}."
            if row.status == CAPPED
            else ""
        )
        lines.append(
            f"- **{name}** ({escape_markdown(str(row.practice_code))}), "
            f"{STATUS_WORDS[row.status]}: {escape_markdown(str(row.reason))}.{amounts}"
        )
    return "\n".join(lines)
