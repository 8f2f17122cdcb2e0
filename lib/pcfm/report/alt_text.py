"""Alt text of the report's figures, written from the run's published numbers.

A figure's alt text says what it shows and what it finds, so a reader who cannot see it
learns the same thing ("the most deprived fifth receives 9.5% less per need-weighted
patient than the least deprived"). Every number comes from a published table and is
formatted by the documents' own rules (`pcfm.report.formats`); nothing is computed here.
"""

from __future__ import annotations

import pandas as pd

from pcfm.allocation.headline import AllocationHeadline
from pcfm.report.formats import gbp, index, more_or_less


def _gap_words(gap: float) -> str:
    if round(gap, 3) == 0:
        return "the same per need-weighted patient as the least deprived"
    return f"{more_or_less(gap)} per need-weighted patient than the least deprived"


def funding_by_imd_alt(headline: AllocationHeadline) -> str:
    """The bar chart of funding per need-weighted patient by IMD quintile, and its finding."""
    shown = (
        "Bar chart of pounds per need-weighted patient in each IMD quintile of practices "
        "(1 = most deprived), before (grey, hatched) and after (blue) the allocation."
    )
    before, after = headline.deprivation_gap_before, headline.deprivation_gap_after
    if before is None or after is None:
        return shown
    return (
        f"{shown} Before the allocation the most deprived fifth of practices receives "
        f"{_gap_words(before)}; after it, {_gap_words(after)}."
    )


def allocation_per_patient_alt(headline: AllocationHeadline) -> str:
    """The ranked bars of allocation per registered patient, and how the money is spread."""
    shown = (
        "Bar chart of each practice's allocation in pounds per registered patient, largest "
        "first, each bar coloured by its funding category (1 = most under-funded)."
    )
    if not headline.n_funded:
        return f"{shown} No practice is funded."
    return (
        f"{shown} {headline.n_funded} of {headline.n_practices} practices are funded; their "
        f"allocations range from {gbp(headline.smallest_allocation_gbp)} to "
        f"{gbp(headline.largest_allocation_gbp)}, and the others receive nothing."
    )


def funding_before_after_alt(headline: AllocationHeadline) -> str:
    """The scatter of each practice's funding per need-weighted patient against deprivation."""
    shown = (
        "Scatter plot of each practice's pounds per need-weighted patient against the IMD "
        "score of its population, before (grey squares) and after (blue circles) the "
        "allocation, with a fitted line through each and a dashed line at the ICB average."
    )
    before, after = headline.deprivation_gap_before, headline.deprivation_gap_after
    if before is None or after is None:
        return shown
    return (
        f"{shown} By quintile, the most deprived fifth of practices receives "
        f"{_gap_words(before)} before the allocation; after it, {_gap_words(after)}."
    )


def need_index_alt(need: pd.DataFrame) -> str:
    """The scatter of each practice's need index against deprivation, with its range."""
    shown = (
        "Scatter plot of each practice's need index against the IMD 2019 score of its "
        "population, with a horizontal line at the ICB average of 1."
    )
    if need.empty or "need_index" not in need:
        return shown
    ordered = need.sort_values(["need_index", "practice_code"])
    low, high = ordered.iloc[0], ordered.iloc[-1]
    return (
        f"{shown} Need indices range from {index(low['need_index'])} "
        f"({low['practice_code']}) to {index(high['need_index'])} ({high['practice_code']})."
    )
