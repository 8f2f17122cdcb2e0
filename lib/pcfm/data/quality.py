"""Findings about the input data: fatal problems and the data-quality table.

Fatal problems stop the run with a :class:`DataValidationError` listing every one of
them. Recoverable problems (a patient whose area is not in the lookup) are handled by
a rule chosen in the parameters and counted in :class:`DataQuality`, which the report
publishes. Both carry counts of rows and, for fatal problems, a few offending values —
never whole patient rows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

__all__ = [
    "IDENTIFIER_COLUMNS",
    "QUALITY_COLUMNS",
    "DataQuality",
    "DataValidationError",
    "ValidationProblem",
    "hashed_identifier",
    "require_folder",
]

#: Columns of the data-quality table.
QUALITY_COLUMNS = ("check", "file", "column", "rows", "action")


def _rows(n_rows: int) -> str:
    return f"{n_rows} row" if n_rows == 1 else f"{n_rows} rows"


#: Columns whose values identify a person: a message shows them only as a short hash.
IDENTIFIER_COLUMNS = frozenset({"patient_id"})


def hashed_identifier(value: str) -> str:
    """``'sha256:1a2b3c4d5e'``: enough to find the row by hashing the file's ids, not the id.

    Validation messages reach consoles, logs and CI output, where a patient's id must not.
    """
    return "sha256:" + hashlib.sha256(value.encode("utf-8")).hexdigest()[:10]


@dataclass(frozen=True)
class ValidationProblem:
    """One fatal problem in one column of one input file.

    Attributes:
        file: File name, e.g. ``patients.csv``.
        column: Column concerned ("" for a problem with the whole file).
        n_rows: Rows affected (0 for a problem with the file or a column's presence).
        examples: The first few offending values, as text (identifiers hashed:
            :func:`hashed_identifier`).
        message: What is wrong, e.g. ``out of range 0–115``.
    """

    file: str
    column: str
    n_rows: int
    examples: tuple[str, ...]
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: " if self.file else ""
        if self.column:
            where += f"column {self.column}: "
        count = f"{_rows(self.n_rows)} " if self.n_rows else ""
        shown = f" (first: {', '.join(self.examples)})" if self.examples else ""
        return f"{where}{count}{self.message}{shown}"


class DataValidationError(ValueError):
    """The input data cannot be used; every fatal problem found is listed, one per line."""

    def __init__(self, problems: Sequence[ValidationProblem], data_dir: Path | None = None):
        self.problems: list[ValidationProblem] = list(problems)
        self.data_dir = data_dir
        where = f"{data_dir}: " if data_dir is not None else ""
        heading = f"{where}the input data failed validation ({len(self.problems)} problem(s)):"
        super().__init__("\n".join([heading, *(f"  {p}" for p in self.problems)]))


def require_folder(data_dir: Path) -> None:
    """Raise :class:`DataValidationError` unless ``data_dir`` is an existing folder."""
    if not Path(data_dir).is_dir():
        problem = ValidationProblem(
            str(data_dir), "", 0, (), "the data folder does not exist or is not a folder"
        )
        raise DataValidationError([problem])


@dataclass(frozen=True)
class DataQuality:
    """What validation found that the run can go on with, and what it did about it.

    Attributes:
        table: One row per recoverable problem found: ``check``, ``file``, ``column``,
            ``rows`` (rows affected) and ``action`` (what the parameter rule did). Counts only.
        row_counts: Rows read per input file, by table stem.
        activity_form: ``appointments`` (one row per appointment) or ``counts`` (one
            ``contacts`` count per patient).
    """

    table: pd.DataFrame
    row_counts: dict[str, int] = field(default_factory=dict)
    activity_form: str = "appointments"

    @staticmethod
    def make_table(rows: Iterable[dict[str, object]]) -> pd.DataFrame:
        """The data-quality table with its fixed columns and types, even when empty."""
        frame = pd.DataFrame(list(rows), columns=list(QUALITY_COLUMNS))
        return frame.astype(
            {"check": "str", "file": "str", "column": "str", "rows": "int64", "action": "str"}
        )
