"""Which columns of a published table hold counts of people: the one registry.

Disclosure control (`pcfm.base.disclosure.control`) is applied where a stage names its count
columns; the output checker (`pcfm.base.disclosure.check`) must recognise those columns
again in files it did not write, including tables rendered into HTML or Word with
human-readable headers. Both rely on this convention:

* a column is a **count of people** if its normalised name (lower case, spaces and
  hyphens as underscores) is in :data:`CONTROLLED_COUNT_COLUMNS` or
  :data:`LIST_SIZE_COLUMNS`, or ends in ``_patients`` or ``_people``, or starts with
  ``patients_`` or ``n_patients``;
* **controlled counts** (everything except list sizes) are published only as ``*``,
  ``0`` or a multiple of the rounding base;
* **list sizes** (a practice's registered list and sums of them) are published openly by
  NHS England, practice by practice, so they are not rounded, but a list from 1 to the
  threshold is still suppressed.

A stage that publishes a new count of people names its column by this convention (or
adds it here): the writer then controls it and the checker guards it.
"""

from __future__ import annotations

import re

#: Counts of people that are suppressed and rounded when published.
CONTROLLED_COUNT_COLUMNS = frozenset(
    {"patients", "people", "rows", "persons", "count_of_patients", "person_years"}
)
#: Registered-list sizes: suppressed when small, otherwise published unrounded.
LIST_SIZE_COLUMNS = frozenset({"registered_list", "registered_patients", "list_size"})

_CONTROLLED_PATTERN = re.compile(r"^(n_patients.*|patients_.+|.+_patients|.+_people)$")


def normalise_column_name(name: object) -> str:
    """``'Registered list'`` → ``'registered_list'``: how headers are compared."""
    text = re.sub(r"[\s\-]+", "_", str(name).strip().lower())
    return re.sub(r"[^a-z0-9_]", "", text)


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
