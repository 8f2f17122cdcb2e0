"""One practice's statement: why it gets what it gets, in words a practice manager uses.

Executed once per practice (`notebooks/06_practice_statement.ipynb`) in a few kernels,
each reused for practice after practice (`pcfm.report.statements`), so it keeps no state
between calls and imports little: the standard library, the parameter schema
(`pcfm.params`, pydantic and YAML) and IPython's display; no pandas. It reads only what
the run has already published (``publishable/allocation.csv`` and
``allocation_summary.json``) and the run's ``params.yml`` through
:func:`pcfm.params.load_params`; columns that a run does not write (the bootstrap's
interval and probability, the decomposition) are left out of the statement rather than
guessed. Whether the practice's eligibility is uncertain is stage 04's decision (column
``eligibility_uncertain``), only put into words here; so is whether it was excluded from
the comparison or capped (column ``status``, with the reason from
``allocation_exclusions.csv``).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pcfm.base.markdown import escape_markdown
from pcfm.params import ParameterError, Params, load_params
from pcfm.report.formats import gbp, more_or_less, percent

#: Contribution columns of the need-index decomposition and how a practice reads them.
CONTRIBUTION_LABELS = {
    "contribution_age_sex": "Age and sex of your patients",
    "contribution_deprivation": "Deprivation of the areas they live in",
    "contribution_morbidity": "Long-term conditions (morbidity)",
    "contribution_other": "Other factors (new registrations, care homes, interpreters)",
}

POLICY_WORDS = {
    "needs_weighted_capitation": (
        "the whole budget is shared in proportion to each practice's need-weighted list"
    ),
    "top_up_to_average": (
        "the most under-funded practices are topped up towards the ICB average funding per "
        "need-weighted patient"
    ),
    "level_up_cost": (
        "no budget is shared; the figure is what it would cost to bring the practice up to "
        "the target funding per need-weighted patient"
    ),
}


class StatementError(ValueError):
    """A practice statement cannot be written (unknown practice, missing table)."""


@dataclass(frozen=True)
class StatementInputs:
    """What every statement of one run reads: the allocation rows, summary and parameters."""

    rows: dict[str, dict[str, str]]
    summary: dict[str, Any]
    params: Params
    #: Rows of ``allocation_exclusions.csv`` by practice code (the practices not ordinary).
    exclusions: dict[str, dict[str, str]] = field(default_factory=dict)


def read_statement_inputs(run_dir: str | Path) -> StatementInputs:
    """Read the run's published allocation, its summary and its parameters."""
    run_dir = Path(run_dir)
    allocation_path = run_dir / "publishable" / "allocation.csv"
    if not allocation_path.exists():
        raise StatementError(f"{allocation_path}: missing; run the allocation stage first")
    with allocation_path.open(encoding="utf-8", newline="") as handle:
        rows = {row["practice_code"]: row for row in csv.DictReader(handle)}
    exclusions_path = run_dir / "publishable" / "allocation_exclusions.csv"
    exclusions: dict[str, dict[str, str]] = {}
    if exclusions_path.exists():
        with exclusions_path.open(encoding="utf-8", newline="") as handle:
            exclusions = {row["practice_code"]: row for row in csv.DictReader(handle)}
    summary_path = run_dir / "publishable" / "allocation_summary.json"
    summary = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.exists() else {}
    try:
        params = load_params(run_dir / "params.yml")
    except ParameterError as error:
        raise StatementError(str(error)) from None
    return StatementInputs(rows, summary, params, exclusions)


def _number(row: dict[str, str], column: str) -> float | None:
    text = row.get(column, "")
    if text in ("", "*", "nan", "NaN", "None"):
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _flag(row: dict[str, str], column: str) -> bool | None:
    text = row.get(column, "").strip().lower()
    if text in {"true", "1", "yes"}:
        return True
    if text in {"false", "0", "no"}:
        return False
    return None


def certainty_words(
    p_eligible: float,
    uncertain: bool,
    low: float,
    high: float,
    eligible: bool | None = None,
    flips_under: str = "",
) -> str:
    """How sure the run is that the practice is (or is not) in the funded group.

    ``uncertain`` is stage 04's decision (`pcfm.allocation.certainty`): robust when the
    re-estimates agree with the run's eligibility (``p_eligible >= high`` if eligible,
    ``<= low`` if not) and no credible alternative model (``flips_under``) changes it. The
    words say "uncertain" exactly then. A decision that disagrees with the rule is an
    error: the published inputs contradict. Without ``eligible`` the bootstrap band alone
    is checked (``low < p_eligible < high``).
    """
    if eligible is None:
        agree = not (low < p_eligible < high)
    else:
        agree = p_eligible >= high if eligible else p_eligible <= low
    expected = not agree or bool(flips_under.strip())
    if uncertain != expected:
        raise StatementError(
            f"allocation.csv: eligibility_uncertain is {uncertain} but p_eligible "
            f"{p_eligible} (band {low} to {high}) and the credible alternatives under which "
            f"eligibility changes ({flips_under.strip() or 'none'}) say {expected}"
        )
    if uncertain:
        reasons = []
        if not agree:
            reasons.append(
                f"the re-estimates do not agree with it in at least {percent(high, 0)} of cases"
            )
        if flips_under.strip():
            reasons.append(f"it changes under the alternative model(s) {flips_under.strip()}")
        return "uncertain: " + " and ".join(reasons)
    robust = " and no credible alternative model changes it" if eligible is not None else ""
    if p_eligible >= high:
        return f"robust: that is at least {percent(high, 0)} of the re-estimates{robust}"
    return f"robust: that is at most {percent(low, 0)} of the re-estimates{robust}"


def statement_markdown(inputs: StatementInputs, practice_code: str) -> str:
    """The statement of one practice as Markdown (headings, a short list, two tables)."""
    row = inputs.rows.get(practice_code)
    if row is None:
        known = ", ".join(sorted(inputs.rows)[:5])
        raise StatementError(
            f"allocation.csv: practice_code {practice_code!r} not found "
            f"({len(inputs.rows)} practices; first: {known})"
        )
    summary = inputs.summary
    allocation_params = inputs.params.allocation
    report_params = inputs.params.report
    name = row.get("practice_name") or practice_code
    registered = _number(row, "registered_list")
    need_weighted = _number(row, "need_weighted_list")
    need_index = _number(row, "need_index") or 1.0
    funding = _number(row, "current_funding_gbp")
    per_nwp = _number(row, "funding_per_nwp_gbp")
    allocation = _number(row, "allocation_gbp") or 0.0
    icb_average = summary.get("icb_average_funding_per_nwp_gbp")
    policy = summary.get("policy", allocation_params.policy)
    budget = summary.get("budget_gbp")
    n_categories = allocation_params.n_categories

    lines = [f"## {escape_markdown(name)} ({escape_markdown(practice_code)})", ""]
    where = ", ".join(
        x for x in (row.get("pcn_name") or row.get("pcn_code"), row.get("place")) if x
    )
    if where:
        year = escape_markdown(report_params.financial_year)
        lines += [f"*{escape_markdown(where)}. Financial year {year}.*", ""]
    budget_words = f" from the ICB's budget of {gbp(float(budget), pence=False)}" if budget else ""
    lines += [
        f"**In short: your practice is allocated {gbp(allocation)}{budget_words}.** "
        f"Under this year's policy {POLICY_WORDS.get(policy, policy)}.",
        "",
        "### Your patients' need",
        "",
    ]
    need_vs_icb = _number(row, "need_vs_icb_average")
    lines.append(
        f"Your practice has **{registered:,.0f} registered patients**. Given their age, sex, "
        "the deprivation of where they live and the other factors in the model, they are "
        f"expected to need **{more_or_less(need_vs_icb, 0)}** practice time than "
        f"the average patient in the ICB: your **need index is {need_index:.3f}** "
        f"(ICB average = 1), so your need-weighted list is **{need_weighted:,.0f}**."
        if registered is not None and need_weighted is not None and need_vs_icb is not None
        else f"Your need index is {need_index:.3f} (ICB average = 1)."
    )
    low, high = _number(row, "need_index_low"), _number(row, "need_index_high")
    if low is not None and high is not None:
        lines.append(
            f"Allowing for the uncertainty of the model, the index lies between {low:.3f} and "
            f"{high:.3f} (95% interval)."
        )
    lines.append("")
    contributions = [
        (label, _number(row, column))
        for column, label in CONTRIBUTION_LABELS.items()
        if _number(row, column) is not None
    ]
    if contributions:
        lines += [
            "Why your index is what it is: it starts at 1 (the ICB average) and each factor "
            "adds or takes away:",
            "",
            "| Factor | Adds to your need index |",
            "|:---|---:|",
            "| ICB average | 1.000 |",
            *[f"| {label} | {value:+.3f} |" for label, value in contributions],
            f"| **Your need index** | **{need_index:.3f}** |",
            "",
        ]
    lines += ["### Your funding against your need", ""]
    # The statuses of pcfm.allocation.exclusions (not imported: it needs pandas).
    status = row.get("status", "") or "ordinary"
    listed = inputs.exclusions.get(practice_code)
    if status != "ordinary" and listed is None:
        raise StatementError(
            f"allocation.csv: practice {practice_code} has status {status!r} but is not in "
            "allocation_exclusions.csv"
        )
    reason = escape_markdown(listed["reason"]) if listed else ""
    excluded = status == "excluded"
    funding_vs_icb = _number(row, "funding_vs_icb_average")
    if per_nwp is not None and icb_average and funding_vs_icb is not None:
        above = "above" if funding_vs_icb >= 0 else "below"
        actual = (
            f"Your current funding of {gbp(funding or 0.0, pence=False)} is "
            f"**{gbp(per_nwp)} per need-weighted patient**"
        )
        if status == "capped":
            lines.append(
                f"{actual}. For the comparison with other practices it is capped: {reason}. "
                f"Counted that way it is {percent(abs(funding_vs_icb))} {above} the ICB "
                f"average of {gbp(float(icb_average))}."
            )
        else:
            lines.append(
                f"{actual}, {percent(abs(funding_vs_icb))} {above} the ICB average of "
                f"{gbp(float(icb_average))}."
            )
    if excluded:
        lines.append(
            f"**Your practice is left out of the funding comparison and of this allocation**: "
            f"{reason}. Its funding is not counted in the ICB average, it is in no funding "
            "category and it is not eligible."
        )
    elif status == "kept":
        lines.append(
            f"Your practice is listed, but compared with the other practices as it is: {reason}."
        )
    category = "" if excluded else row.get("category", "")
    if category:
        lines.append(
            f"That puts your practice in **funding category {category} of {n_categories}** "
            "(1 = the most under-funded for its patients' need)."
        )
    eligible = "" if excluded else row.get("eligible", "")
    p_eligible = _number(row, "p_eligible")
    if eligible:
        funded = eligible.strip().lower() in {"true", "1", "yes"}
        lines.append(
            f"Under the policy your practice **{'is' if funded else 'is not'} eligible** for "
            "this allocation."
        )
    uncertain = _flag(row, "eligibility_uncertain")
    # An excluded practice is eligible in no replicate: there is nothing to be unsure of.
    if p_eligible is not None and uncertain is not None and not excluded:
        replicates = summary.get("bootstrap_replicates", "")
        words = certainty_words(
            p_eligible,
            uncertain,
            allocation_params.uncertain_low,
            allocation_params.uncertain_high,
            funded if eligible else None,
            row.get("eligibility_flips_under", "") or "",
        )
        resampled = (
            "data with each practice's patients resampled"
            if summary.get("bootstrap_resample") == "patients_within_practices"
            else "resampled practices"
        )
        lines.append(
            f"When the model was re-estimated {replicates} times on {resampled}, your "
            f"practice was in the funded group {p_eligible:.0%} of the time, so its "
            f"eligibility is {words}."
        )
    elif eligible:
        lines.append("The uncertainty of eligibility was not estimated in this run.")
    after = _number(row, "funding_per_nwp_after_gbp")
    if after is not None and not excluded:
        lines.append(
            f"With the allocation, your funding is {gbp(after)} per need-weighted patient."
        )
    lines += [
        "",
        "| Measure | Your practice | ICB |",
        "|:---|---:|---:|",
        f"| Need index | {need_index:.3f} | 1.000 |",
    ]
    if per_nwp is not None and icb_average:
        lines.append(
            f"| Funding per need-weighted patient | {gbp(per_nwp)} | {gbp(float(icb_average))} |"
        )
    lines += [
        f"| Allocation | {gbp(allocation)} | {gbp(float(summary.get('allocated_gbp', 0.0)))} |",
        "",
        "*How these figures are calculated is set out in the methodology report; every "
        "number comes from the same run of the model.*",
    ]
    return "\n".join(lines)


def practice_statement(run_dir: str | Path, practice_code: str) -> Any:
    """The statement of one practice, displayed as Markdown in its notebook."""
    from IPython.display import Markdown

    return Markdown(statement_markdown(read_statement_inputs(run_dir), practice_code))
