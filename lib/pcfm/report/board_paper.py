"""The board paper: two to four pages for the ICB board, every number from the run.

Purpose, recommendation, cost, who gains by place and PCN, the effect on equity, the
practices left out of the comparison or capped (by name, with the reason), and the risks
including how certain each practice's eligibility is. The prose is written
here, as sentences around the run's numbers, so that the notebook stays a list of
displays and a changed policy or budget changes the paper without editing it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from pcfm.allocation.headline import AllocationHeadline
from pcfm.base.folder import RunFolder
from pcfm.base.markdown import escape_markdown
from pcfm.params import Params
from pcfm.report.display import (
    exclusions_display_table,
    note,
    pcn_label_column,
    quintile_display_table,
    sensitivity_display_table,
    totals_display_table,
    uncertain_display_table,
)
from pcfm.report.formats import gbp
from pcfm.report.headline import (
    certainty_sentence,
    equity_sentence,
    exclusions_markdown,
    policy_name,
    sensitivity_sentence,
)
from pcfm.report.published import (
    read_exclusions,
    read_headline,
    read_sensitivity,
    read_summary,
    read_table,
    read_uncertain,
)


@dataclass(frozen=True)
class BoardPaper:
    """The sections of the board paper: Markdown prose and display tables."""

    headline: AllocationHeadline
    front_sheet: pd.DataFrame
    recommendation_box: str
    executive_summary: str
    purpose: str
    recommendation: str
    cost: str
    gains_by_place: pd.DataFrame
    gains_by_pcn: pd.DataFrame
    equity: str
    equity_table: pd.DataFrame
    exclusions_text: str
    exclusions: pd.DataFrame
    risks: str
    uncertain: pd.DataFrame
    sensitivity_text: str
    sensitivity: pd.DataFrame


def executive_summary(
    headline: AllocationHeadline, policy: str, by_place: pd.DataFrame, equity: str
) -> str:
    """The paper in five bullets: decision, cost, who gains, equity and certainty."""
    bullets = [
        f"**Decision.** Approve {gbp(headline.allocated_gbp)} for {headline.n_funded} of "
        f"{headline.n_practices} practices, shared by {policy_name(policy)}.",
        f"**Cost.** {gbp(headline.allocated_gbp)}"
        + (f" of a {gbp(headline.budget_gbp)} budget" if headline.budget_gbp is not None else "")
        + f"; practice allocations from {gbp(headline.smallest_allocation_gbp)} to "
        f"{gbp(headline.largest_allocation_gbp)}.",
    ]
    if "Place" in by_place and len(by_place):
        shares = ", ".join(
            f"{escape_markdown(place)} {share}"
            for place, share in zip(by_place["Place"], by_place["Share of allocation"], strict=True)
        )
        bullets.append(f"**Who gains.** Share of the allocation by place: {shares}.")
    bullets.append(f"**Equity.** {equity}")
    if headline.n_excluded or headline.n_capped or headline.n_kept:
        counted = [
            f"{number} practice(s) {words}"
            for number, words in (
                (headline.n_excluded, "excluded from the comparison and the allocation"),
                (headline.n_capped, "with their funding capped in the comparison"),
                (headline.n_kept, "counted as they are but listed"),
            )
            if number
        ]
        bullets.append(
            f"**Outliers and special services.** {'; '.join(counted)}; each is named with "
            "its reason below."
        )
    else:
        bullets.append("**Outliers and special services.** No practice was excluded or capped.")
    if headline.n_eligibility_uncertain is None:
        bullets.append("**Certainty.** The uncertainty of eligibility was not estimated.")
    elif headline.n_eligibility_uncertain:
        bullets.append(
            f"**Certainty.** {headline.n_eligibility_uncertain} practice(s) have uncertain "
            "eligibility."
        )
    else:
        bullets.append("**Certainty.** No practice's eligibility is in doubt.")
    return "\n".join(f"- {bullet}" for bullet in bullets)


def build_board_paper(folder: RunFolder, params: Params) -> BoardPaper:
    """Format the board paper's sections from the run's published tables."""
    headline = read_headline(folder)
    policy = str(read_summary(folder).get("policy", params.allocation.policy))
    report = params.report
    purpose = (
        f"This paper asks the board of {escape_markdown(report.icb_name)} to approve the "
        "allocation of the discretionary primary care budget for "
        f"{escape_markdown(report.financial_year)} between its "
        f"{headline.n_practices} general practices by their patients' need, as measured by the "
        "Primary Care Funding Model. The full method, its assumptions and its sensitivity "
        "analyses are published in the accompanying methodology report; each practice receives "
        "a one-page statement of its own figures."
    )
    recommendation = (
        f"The board is asked to **approve the allocation of {gbp(headline.allocated_gbp)}** "
        f"to {headline.n_funded} practices by {policy_name(policy)}, as listed in the "
        "allocation report, and to note the uncertainty of eligibility set out under risks."
    )
    if headline.budget_gbp is None:
        budget_words = "."
    elif headline.unallocated_gbp:
        budget_words = (
            f" of a budget of {gbp(headline.budget_gbp)}; "
            f"{gbp(headline.unallocated_gbp)} remains unallocated."
        )
    else:
        budget_words = (
            f" of a budget of {gbp(headline.budget_gbp)}, which it uses in full, to the penny."
        )
    cost = (
        f"The allocation costs **{gbp(headline.allocated_gbp)}**{budget_words}"
        f" Allocations range from {gbp(headline.smallest_allocation_gbp)} to "
        f"{gbp(headline.largest_allocation_gbp)} per practice (median "
        f"{gbp(headline.median_allocation_gbp)}); the money is paid without spending rules."
    )
    places = read_table(folder, "allocation_by_place", ("place",))
    by_place = (
        totals_display_table(places, "Place", "place")
        if len(places)
        else note("The practices table has no place.")
    )
    pcns = read_table(folder, "allocation_by_pcn", ("pcn_code",))
    by_pcn = totals_display_table(pcns, "Primary care network", pcn_label_column(pcns))
    quintiles = read_table(folder, "allocation_by_imd_quintile", ("imd_quintile",))
    equity = equity_sentence(headline) or (
        "The run has no practice deprivation scores, so the effect on equity by deprivation "
        "cannot be shown."
    )
    exclusions = read_exclusions(folder, headline)
    uncertain = read_uncertain(folder, headline)
    certainty = certainty_sentence(headline)
    risks = "\n".join(
        [
            f"- **Uncertainty of eligibility.** {certainty}",
            f"- **Modelling choices.** {sensitivity_sentence(headline)} "
            "The methodology sets out each alternative.",
            "- **Data quality.** Need is estimated from one year of local activity data; "
            "recording differences between practices feed into the weights. The data quality "
            "checks are reported in the methodology.",
            "- **Observed activity reflects supply.** Where practices are under-staffed, "
            "recorded workload understates need; the methodology states how supply is treated "
            f"(`model.supply_sterilisation: {params.model.supply_sterilisation}`).",
            "- **Acceptance by practices.** Practices previously criticised funding models they "
            "could not see into; every weight, cut-point and parameter is published, and each "
            "practice receives its own statement.",
        ]
    )
    front_sheet = pd.DataFrame(
        {
            "Item": ["Meeting", "Date", "Paper from", "Paper for", "Financial year"],
            "Detail": [
                report.meeting,
                report.date_text,
                report.author,
                "Approval",
                report.financial_year,
            ],
        }
    )
    recommendation_box = (
        '::: {.callout-important title="Recommendation" appearance="simple" icon=false}\n'
        f"{recommendation}\n:::"
    )
    if headline.n_eligibility_uncertain is None:
        uncertain_shown = note("The uncertainty of eligibility was not estimated in this run.")
    elif len(uncertain):
        uncertain_shown = uncertain_display_table(uncertain)
    else:
        uncertain_shown = note("No practice's eligibility is uncertain.")
    return BoardPaper(
        headline=headline,
        front_sheet=front_sheet,
        recommendation_box=recommendation_box,
        executive_summary=executive_summary(headline, policy, by_place, equity),
        purpose=purpose,
        recommendation=recommendation,
        cost=cost,
        gains_by_place=by_place,
        gains_by_pcn=by_pcn,
        equity=equity,
        equity_table=quintile_display_table(quintiles),
        exclusions_text=exclusions_markdown(headline, exclusions, params.allocation.outliers),
        exclusions=exclusions_display_table(exclusions),
        risks=risks,
        uncertain=uncertain_shown,
        sensitivity_text=sensitivity_sentence(headline),
        sensitivity=sensitivity_display_table(read_sensitivity(folder)),
    )
