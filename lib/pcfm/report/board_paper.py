"""The board paper: two to four pages for the ICB board, every number from the run.

Purpose, recommendation, cost, who gains by place and PCN, the effect on equity, and
the risks including how certain each practice's eligibility is. The prose is written
here, as sentences around the run's numbers, so that the notebook stays a list of
displays and a changed policy or budget changes the paper without editing it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from pcfm.params import Params
from pcfm.pipeline.folder import RunFolder
from pcfm.report.headline import (
    POLICY_NAMES,
    Headline,
    funding_by_imd_quintile,
    gains_by,
    gains_display_table,
    headline_numbers,
    quintile_display_table,
    read_practice_allocation,
    read_sensitivity,
    read_summary,
    sensitivity_sentence,
    uncertain_practices,
)
from pcfm.report.markdown import escape_markdown


@dataclass(frozen=True)
class BoardPaper:
    """The sections of the board paper: Markdown prose and display tables."""

    headline: Headline
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
    risks: str
    uncertain: pd.DataFrame


def _note(message: str) -> pd.DataFrame:
    return pd.DataFrame({"note": [message]})


def _percent_words(value: float) -> str:
    return f"{abs(value):.1%} {'more' if value >= 0 else 'less'}"


def executive_summary(
    headline: Headline,
    by_place: pd.DataFrame,
    uncertain: pd.DataFrame | None,
    equity: str,
) -> str:
    """The paper in four bullets: decision, cost, who gains, equity and certainty."""
    policy = POLICY_NAMES.get(headline.policy, headline.policy)
    bullets = [
        f"**Decision.** Approve £{headline.allocated_gbp:,.2f} for {headline.n_funded} of "
        f"{headline.n_practices} practices, shared by {policy}.",
        f"**Cost.** £{headline.allocated_gbp:,.2f} of a £{headline.budget_gbp:,.2f} budget; "
        f"practice allocations from £{headline.smallest_allocation_gbp:,.2f} to "
        f"£{headline.largest_allocation_gbp:,.2f}.",
    ]
    if "Place" in by_place and len(by_place):
        shares = ", ".join(
            f"{escape_markdown(place)} {share}"
            for place, share in zip(by_place["Place"], by_place["Share of allocation"], strict=True)
        )
        bullets.append(f"**Who gains.** Share of the allocation by place: {shares}.")
    bullets.append(f"**Equity.** {equity.replace(' (see the table below)', '')}")
    if uncertain is None:
        bullets.append("**Certainty.** The uncertainty of eligibility was not estimated.")
    else:
        bullets.append(
            f"**Certainty.** {len(uncertain)} practice(s) have uncertain eligibility."
            if len(uncertain)
            else "**Certainty.** No practice's eligibility is in doubt."
        )
    return "\n".join(f"- {bullet}" for bullet in bullets)


def build_board_paper(folder: RunFolder, params: Params) -> BoardPaper:
    """Read the run's published allocation and write the board paper's sections."""
    allocation = read_practice_allocation(folder)
    summary = read_summary(folder)
    headline = headline_numbers(allocation, summary)
    report = params.report
    policy = POLICY_NAMES.get(headline.policy, headline.policy)
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
        f"The board is asked to **approve the allocation of £{headline.allocated_gbp:,.2f}** "
        f"to {headline.n_funded} practices by {policy}, as listed in the allocation report, "
        "and to note the uncertainty of eligibility set out under risks."
    )
    cost = (
        f"The allocation costs **£{headline.allocated_gbp:,.2f}** of a budget of "
        f"£{headline.budget_gbp:,.2f}"
        + (
            f"; £{headline.unallocated_gbp:,.2f} remains unallocated."
            if headline.unallocated_gbp
            else ", which it uses in full, to the penny."
        )
        + f" Allocations range from £{headline.smallest_allocation_gbp:,.2f} to "
        f"£{headline.largest_allocation_gbp:,.2f} per practice (median "
        f"£{headline.median_allocation_gbp:,.2f}); the money is paid without spending rules."
    )
    by_place = (
        gains_display_table(gains_by(allocation, "place"), "Place")
        if "place" in allocation
        else _note("The practices table has no place.")
    )
    by_pcn_column = "pcn_name" if "pcn_name" in allocation else "pcn_code"
    by_pcn = (
        gains_display_table(gains_by(allocation, by_pcn_column), "Primary care network")
        if by_pcn_column in allocation
        else _note("The practices table has no primary care network.")
    )
    quintiles = funding_by_imd_quintile(allocation)
    if headline.deprivation_gap_before is not None and headline.deprivation_gap_after is not None:
        equity = (
            "Per need-weighted patient, the fifth of practices serving the most deprived "
            f"populations receive {_percent_words(headline.deprivation_gap_before)} than the "
            f"least deprived fifth today, and {_percent_words(headline.deprivation_gap_after)} "
            "after the allocation (see the table below)."
        )
    else:
        equity = "The run has no practice deprivation scores, so the effect on equity by "
        equity += "deprivation cannot be shown."
    uncertain = uncertain_practices(allocation, report.uncertain_low, report.uncertain_high)
    replicates = params.allocation.bootstrap_replicates
    if uncertain is None:
        certainty = (
            "The uncertainty of each practice's eligibility was not estimated in this run "
            "(no bootstrap); eligibility at the boundary may change with small changes in data."
        )
    elif len(uncertain) == 0:
        certainty = (
            f"Re-estimating the model {replicates} times on resampled practices left every "
            f"practice's eligibility the same in at least {report.uncertain_high:.0%} of "
            "replicates: no practice's eligibility is in doubt."
        )
    else:
        certainty = (
            f"Re-estimating the model {replicates} times on resampled practices, "
            f"**{len(uncertain)} practice(s)** were in the funded group in between "
            f"{report.uncertain_low:.0%} and {report.uncertain_high:.0%} of replicates: their "
            "eligibility is uncertain (listed below)."
        )
    risks = "\n".join(
        [
            f"- **Uncertainty of eligibility.** {certainty}",
            f"- **Modelling choices.** {sensitivity_sentence(read_sensitivity(folder))} "
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
    return BoardPaper(
        headline=headline,
        front_sheet=front_sheet,
        recommendation_box=recommendation_box,
        executive_summary=executive_summary(headline, by_place, uncertain, equity),
        purpose=purpose,
        recommendation=recommendation,
        cost=cost,
        gains_by_place=by_place,
        gains_by_pcn=by_pcn,
        equity=equity,
        equity_table=(
            quintile_display_table(quintiles)
            if quintiles is not None
            else _note("The run has no practice IMD scores.")
        ),
        risks=risks,
        uncertain=(
            uncertain
            if uncertain is not None and len(uncertain)
            else _note(
                "No practice's eligibility is uncertain."
                if uncertain is not None
                else "The uncertainty of eligibility was not estimated in this run."
            )
        ),
    )
