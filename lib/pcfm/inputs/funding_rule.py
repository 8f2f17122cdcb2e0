"""Which lines of NHS Payments to General Practice count as a practice's current funding.

A finance team defends "all the practice's payments, less the money it passes on": the lines
add up to the published total, and the default leaves out drug reimbursements and dispensing
fees, premises, seniority, locum, retainer, appraisal, study-leave and IT reimbursements
(:data:`pcfm.params.public.DEFAULT_PASS_THROUGH_LINES`). Counting only the global sum, as the
first version did, misses core money paid under other lines: De Montfort Surgery (C82020), a
student practice, is paid £1.45 m of its core money as "Other Payments" and looked funded at
a sixth of the average.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from pcfm.inputs.public.payments import TOTAL_PAYMENTS, PaymentLines, line_key
from pcfm.params.public import DEFAULT_PASS_THROUGH_LINES, FundingRuleParams

#: Spellings of the default pass-through lines in other years' files.
OTHER_SPELLINGS: dict[str, tuple[str, ...]] = {
    "Appraisal - Appraiser Costs in Respect of Locums": ("Appraisal Costs",),
}


@dataclass(frozen=True)
class FundingRule:
    """The payment lines counted and left out, as the chosen year's file spells them."""

    year: str
    counted: tuple[str, ...]
    left_out: tuple[str, ...]
    uplift: float
    uplift_basis: str
    #: Whether the rule was written as "every line less the left-out ones".
    all_but_left_out: bool = True

    @property
    def definition(self) -> str:
        """The rule in one sentence, for ``data.funding_definition`` and the report."""
        if not self.all_but_left_out:
            lines = "; ".join(self.counted)
            base = f"The payment lines {lines} of NHS Payments to General Practice {self.year}"
        else:
            base = (
                f"{TOTAL_PAYMENTS} {self.year} less the pass-through lines "
                f"{'; '.join(self.left_out)}"
            )
        uplift = (
            f", uplifted by x{self.uplift:.4g} ({self.uplift_basis})"
            if self.uplift != 1
            else f" ({self.uplift_basis})"
        )
        return base + uplift


def default_pass_through(payment_lines: PaymentLines) -> list[str]:
    """The default pass-through lines as ``payment_lines``' year spells them (absent ones out)."""
    present = {line_key(line): line for line in payment_lines.lines}
    chosen = []
    for name in DEFAULT_PASS_THROUGH_LINES:
        for spelling in (name, *OTHER_SPELLINGS.get(name, ())):
            if line_key(spelling) in present:
                chosen.append(present[line_key(spelling)])
                break
    return chosen


def funding_rule(payment_lines: PaymentLines, params: FundingRuleParams) -> FundingRule:
    """Resolve the parameters' rule against one year's lines.

    The default pass-through list is matched in the year's own spelling (lines a year does not
    have are skipped); a list the user wrote must name lines of that year exactly.

    Raises:
        PublicFileError: naming the file and its lines, for a name that is not one of them.
    """
    if params.lines is not None:
        counted = payment_lines.resolve(params.lines, "funding.lines")
    else:
        if list(params.pass_through) == list(DEFAULT_PASS_THROUGH_LINES):
            passed_on = default_pass_through(payment_lines)
        else:
            passed_on = payment_lines.resolve(params.pass_through, "funding.pass_through")
        counted = [line for line in payment_lines.lines if line not in passed_on]
    return FundingRule(
        year=payment_lines.year,
        counted=tuple(counted),
        left_out=tuple(line for line in payment_lines.lines if line not in counted),
        uplift=float(params.uplift),
        uplift_basis=params.uplift_basis,
        all_but_left_out=params.lines is None,
    )


def counted_funding(rule: FundingRule, amounts: pd.DataFrame) -> pd.Series:
    """Each practice's counted funding in the payments year (before scaling and uplift)."""
    return amounts.set_index("practice_code")[list(rule.counted)].sum(axis=1)


def funding_lines_table(rule: FundingRule, amounts: pd.DataFrame) -> pd.DataFrame:
    """Every payment line with whether it counts and its total over ``amounts``' practices.

    Ends with two rows: the published total and the part counted as current funding (both in
    the payments year's pounds, before any uplift or scaling to the extract's lists).
    """
    lines = [column for column in amounts.columns if column != "practice_code"]
    rows = [
        {
            "payment_line": line,
            "counted": "yes" if line in rule.counted else "no",
            "total_gbp": float(amounts[line].sum()),
            "practices_paid": int((amounts[line] != 0).sum()),
        }
        for line in lines
    ]
    rows.append(
        {
            "payment_line": f"{TOTAL_PAYMENTS} (all lines)",
            "counted": "",
            "total_gbp": float(amounts[lines].to_numpy().sum()),
            "practices_paid": int((amounts[lines] != 0).any(axis=1).sum()),
        }
    )
    rows.append(
        {
            "payment_line": "Counted as current funding",
            "counted": "",
            "total_gbp": float(amounts[list(rule.counted)].to_numpy().sum()),
            "practices_paid": int((amounts[list(rule.counted)] != 0).any(axis=1).sum()),
        }
    )
    return pd.DataFrame(rows)
