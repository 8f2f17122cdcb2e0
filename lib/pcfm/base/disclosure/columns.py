"""Which columns of a published table hold counts of people, and which name a row: the registry.

Disclosure control (`pcfm.base.disclosure.control`) is applied to every published table by
these rules; the output checker (`pcfm.base.disclosure.check`) must recognise the same columns
again in files it did not write, including tables rendered into HTML or Word with
human-readable headers. Both rely on this convention:

* a column is a **count of people** if its normalised name (lower case, spaces and
  hyphens as underscores) is in :data:`CONTROLLED_COUNT_COLUMNS` (``patients``, ``n``,
  ``count``, ``contacts``, ``person_years``…) or :data:`LIST_SIZE_COLUMNS`, or ends in
  ``_patients`` or ``_people``, or starts with ``patients_``, ``patient_count`` or
  ``n_patients``;
* **controlled counts** (everything except list sizes) are published only as ``*``,
  ``0`` or a multiple of the rounding base;
* **list sizes** (a practice's registered list and sums of them) are published openly by
  NHS England, practice by practice, so they are not rounded, but a list from 1 to the
  threshold is still suppressed;
* a column is a **label** of its row (what the row is about: a practice, a place, an age
  band, a check) if its normalised name is in :data:`LABEL_COLUMNS` or ends in ``_code`` or
  ``_name``. Every other column is **derived**: in a row where a count is suppressed, every
  derived cell is suppressed with it (person-years, contacts, rates and means of 1 to the
  threshold people give the count away). A new column is therefore derived unless it is
  named here as a label: a new table is safe by default, at worst over-suppressed.

A stage that publishes a new count of people names its column by this convention (or
adds it here): the writer then controls it and the checker guards it.
"""

from __future__ import annotations

import re

#: Counts of people (and what counts people's time or contacts) suppressed and rounded.
CONTROLLED_COUNT_COLUMNS = frozenset(
    {
        "patients",
        "people",
        "persons",
        "rows",
        "n",
        "count",
        "contacts",
        "registrations",
        "count_of_patients",
        "person_years",
    }
)
#: Registered-list sizes: suppressed when small, otherwise published unrounded.
LIST_SIZE_COLUMNS = frozenset({"registered_list", "registered_patients", "list_size"})
#: Columns that name what a row is about; never suppressed with a small count in the row.
LABEL_COLUMNS = frozenset(
    {
        # who or where
        "practice",
        "pcn",
        "place",
        "place_source",
        "special_service",
        # groups of people
        "age_sex",
        "age_band",
        "sex",
        "imd_quintile",
        "imd_decile",
        "ltc_band",
        "need_decile",
        "fold",
        # what a row of a quality, model or headline table is
        "check",
        "file",
        "column",
        "action",
        "term",
        "specification",
        "method",
        "statistic",
        "measure",
        "item",
        "adjustment",
        "payment_line",
    }
)

_CONTROLLED_PATTERN = re.compile(
    r"^(n_patients.*|patients_.+|patient_count.*|.+_patients|.+_people)$"
)
_LABEL_PATTERN = re.compile(r"^.+_(code|name)$")


def normalise_column_name(name: object) -> str:
    """``'Registered list'`` → ``'registered_list'``, ``'Patients (%)'`` → ``'patients'``:
    how headers are compared."""
    text = re.sub(r"[\s\-]+", "_", str(name).strip().lower())
    return re.sub(r"[^a-z0-9_]", "", text).strip("_")


def is_list_size_column(name: object) -> bool:
    """Whether a column holds registered-list sizes (small ones suppressed, none rounded)."""
    return normalise_column_name(name) in LIST_SIZE_COLUMNS


def is_controlled_count_column(name: object) -> bool:
    """Whether a column holds counts of people that must be suppressed and rounded."""
    normalised = normalise_column_name(name)
    if normalised in LIST_SIZE_COLUMNS:
        return False
    return normalised in CONTROLLED_COUNT_COLUMNS or bool(_CONTROLLED_PATTERN.match(normalised))


def is_count_column(name: object) -> bool:
    """Whether a column holds counts of people of either kind."""
    return is_list_size_column(name) or is_controlled_count_column(name)


def is_label_column(name: object) -> bool:
    """Whether a column names what its row is about (kept when the row's count is suppressed)."""
    normalised = normalise_column_name(name)
    if is_count_column(normalised):
        return False
    return normalised in LABEL_COLUMNS or bool(_LABEL_PATTERN.match(normalised))


def is_derived_column(name: object) -> bool:
    """Whether a column is suppressed in a row whose count is suppressed: all but labels."""
    return not is_label_column(name)
