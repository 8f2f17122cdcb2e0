"""Special services: practices without a registered list of the ordinary kind.

Special allocation schemes (patients removed for violence), services for homeless people and
for asylum seekers, and walk-in centres are paid for what they are, not per registered
patient, so their funding per need-weighted patient says nothing about fairness and they must
not set the ICB average. They are found by the words in their published name, by the
payments file's practice type, and from the ICB's own list (``data.public.special_services``);
the allocation then treats them by ``allocation.outliers.special_services``.
"""

from __future__ import annotations

import re

import pandas as pd

#: Words in a practice's published name that mark a special service, and the kind.
NAME_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"SPECIAL ALLOCATION|\bSAS\b|VIOLENT", "special allocation scheme"),
    (r"ASYLUM", "asylum seekers"),
    (r"HOMELESS|INCLUSION|\bASSIST\b|SAFE ?HAVEN", "homeless / inclusion health"),
)
#: Practice type of an ordinary practice in NHS Payments to General Practice.
ORDINARY_PRACTICE_TYPE = "GP practice"


def special_service_of(
    practices: pd.DataFrame,
    practice_type: pd.Series | None,
    stated: dict[str, str],
    ordinary: list[str],
) -> pd.Series:
    """The kind of special service each practice is ('' for an ordinary practice).

    Args:
        practices: practice_code, practice_name.
        practice_type: Practice code → practice type as published in the payments file.
        stated: The ICB's own list (practice code → kind); wins over the name.
        ordinary: Codes the ICB says are ordinary although their name matches.
    """
    kind = pd.Series("", index=practices.index, dtype="string")
    names = practices["practice_name"].fillna("").str.upper()
    for pattern, what in reversed(NAME_PATTERNS):
        kind[names.str.contains(pattern, flags=re.IGNORECASE, regex=True)] = what
    if practice_type is not None:
        types = practice_type.to_dict()  # a plain lookup: an empty Series would map to floats
        published = pd.Series(
            [types.get(code) for code in practices["practice_code"]],
            index=practices.index,
            dtype="string",
        )
        other = (published.notna() & (published.str.strip() != ORDINARY_PRACTICE_TYPE)).astype(bool)
        kind[other & (kind == "")] = published[other & (kind == "")].str.lower()
    kind[practices["practice_code"].isin(ordinary)] = ""
    for code, what in stated.items():
        kind[practices["practice_code"] == code] = what
    return kind
