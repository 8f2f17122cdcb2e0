"""Reading what the stages published: the report's only input.

The documents read ``publishable/*.csv`` and ``*.json`` and nothing else (never the
run's restricted area); a missing table or column is an error naming the file.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from pcfm.allocation.exclusions import CAPPED, EXCLUDED, EXCLUSIONS_TABLE, KEPT
from pcfm.allocation.headline import AllocationHeadline, HeadlineTableError
from pcfm.allocation.sensitivity import SENSITIVITY_TABLE
from pcfm.base.folder import RunFolder


class ReportInputError(ValueError):
    """A table the report needs is missing from the run or lacks a needed column."""


def read_table(
    folder: RunFolder, name: str, columns: tuple[str, ...] = ("practice_code",)
) -> pd.DataFrame:
    """``publishable/<name>.csv``, checked to have ``columns``."""
    path = folder.publishable / f"{name}.csv"
    if not path.exists():
        raise ReportInputError(f"{path}: missing; the report needs the allocation stage's table")
    table = pd.read_csv(path, dtype={"practice_code": str, "pcn_code": str})
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ReportInputError(f"{path}: missing column(s) {', '.join(missing)}")
    return table


def read_allocation(folder: RunFolder) -> pd.DataFrame:
    """The published allocation, one row per practice."""
    return read_table(
        folder,
        "allocation",
        ("practice_code", "registered_list", "allocation_gbp", "eligibility_uncertain"),
    )


def read_summary(folder: RunFolder) -> dict[str, Any]:
    """``allocation_summary.json`` as a dictionary (empty if the run wrote none)."""
    path = folder.publishable / "allocation_summary.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def read_headline(folder: RunFolder) -> AllocationHeadline:
    """The headline numbers from ``publishable/allocation_headline.csv``."""
    table = read_table(folder, "allocation_headline", ("measure", "value"))
    try:
        return AllocationHeadline.from_table(
            table, str(folder.publishable / "allocation_headline.csv")
        )
    except HeadlineTableError as error:
        raise ReportInputError(str(error)) from None


def read_uncertain(folder: RunFolder, headline: AllocationHeadline) -> pd.DataFrame:
    """The published uncertain set, checked against the headline count it must match."""
    uncertain = read_table(folder, "allocation_uncertain_eligibility")
    expected = headline.n_eligibility_uncertain or 0
    if len(uncertain) != expected:
        raise ReportInputError(
            f"{folder.publishable / 'allocation_uncertain_eligibility.csv'}: {len(uncertain)} "
            f"practice(s), but allocation_headline.csv says n_eligibility_uncertain = {expected}"
        )
    return uncertain


def read_exclusions(folder: RunFolder, headline: AllocationHeadline) -> pd.DataFrame:
    """The published practices excluded, capped or kept and listed, checked against the
    headline counts they must match."""
    exclusions = read_table(
        folder, EXCLUSIONS_TABLE, ("practice_code", "practice_name", "status", "reason")
    )
    exclusions["practice_name"] = exclusions["practice_name"].fillna("")
    found = exclusions["status"].value_counts()
    expected = {EXCLUDED: headline.n_excluded, CAPPED: headline.n_capped, KEPT: headline.n_kept}
    for status, count in expected.items():
        if int(found.get(status, 0)) != count:
            raise ReportInputError(
                f"{folder.publishable / f'{EXCLUSIONS_TABLE}.csv'}: {int(found.get(status, 0))} "
                f"practice(s) {status}, but allocation_headline.csv says n_{status} = {count}"
            )
    unknown = sorted(set(exclusions["status"]) - set(expected))
    if unknown:
        raise ReportInputError(
            f"{folder.publishable / f'{EXCLUSIONS_TABLE}.csv'}: unknown status(es) {unknown}"
        )
    return exclusions


def read_sensitivity(folder: RunFolder) -> pd.DataFrame | None:
    """The published sensitivity table (one row per alternative model; none when switched off).

    Its columns are fixed (`pcfm.allocation.sensitivity.SENSITIVITY_COLUMNS`); None only for
    a run folder without the table.
    """
    path = folder.publishable / f"{SENSITIVITY_TABLE}.csv"
    return pd.read_csv(path) if path.exists() else None
