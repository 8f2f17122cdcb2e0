"""DuckDB access to the data-contract tables in a data folder.

Every input table is opened as a DuckDB view, never loaded into pandas, so patient
and appointment files larger than memory can be validated and aggregated. Each table
gets two views:

* ``raw_<stem>``: the file as it is. CSV files are read with every column as text, so
  a badly typed value becomes a validation finding instead of a reader crash.
* ``<stem>``: the contract columns present in the file, cast to their contract types
  (integers and flags to BIGINT, numbers to DOUBLE, dates to DATE, the rest to text).
  Only meaningful once :func:`pcfm.data.validate.validate_folder` has passed.

CSV files must be UTF-8 (a byte-order mark is allowed), comma-separated, with a header
line naming the columns and ``"`` as the quote character; blank fields are missing values.
The dialect is fixed, not guessed, so one malformed row is reported with its line number
instead of silently changing how the whole file is read.

Only the small tables (practices, areas) are returned to pandas.
"""

from __future__ import annotations

import csv
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from pcfm.data.contract import (
    AREAS,
    PRACTICES,
    TABLES,
    AmbiguousTableError,
    Column,
    table_path,
)

__all__ = [
    "DataFolder",
    "DataReadError",
    "SourceTable",
    "open_folder",
    "read_areas",
    "read_practices",
    "reader_error_summary",
    "sql_literal",
]


class DataReadError(ValueError):
    """A contract table that is missing or cannot be read."""


@dataclass(frozen=True)
class SourceTable:
    """One contract table found in the data folder.

    Attributes:
        stem: Contract table name (``patients``, ``activity``, ...).
        path: File it was read from.
        columns: Column name to the DuckDB type as read (``VARCHAR`` for every CSV column).
    """

    stem: str
    path: Path
    columns: dict[str, str]

    @property
    def file_name(self) -> str:
        """The file name shown in messages (the folder is named once, in the error heading)."""
        return self.path.name

    @property
    def raw_view(self) -> str:
        return f"raw_{self.stem}"

    def has(self, column: str) -> bool:
        return column in self.columns


@dataclass
class DataFolder:
    """A data folder opened as DuckDB views.

    Attributes:
        data_dir: The folder.
        connection: DuckDB connection holding the views.
        tables: The tables that were found and could be described, by stem.
        unavailable: For tables that are missing or unreadable, ``(file, reason)`` by stem.
    """

    data_dir: Path
    connection: duckdb.DuckDBPyConnection
    tables: dict[str, SourceTable] = field(default_factory=dict)
    unavailable: dict[str, tuple[str, str]] = field(default_factory=dict)
    work_dir: Path | None = None

    def table(self, stem: str) -> SourceTable:
        """Return an opened table or raise :class:`DataReadError` saying why it is unavailable."""
        if stem in self.tables:
            return self.tables[stem]
        file, reason = self.unavailable.get(stem, (stem, "was not opened"))
        raise DataReadError(f"{self.data_dir / file}: {reason}")

    def close(self) -> None:
        """Close DuckDB and delete its working folder of spill files."""
        self.connection.close()
        if self.work_dir is not None:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def __enter__(self) -> DataFolder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def sql_literal(value: object) -> str:
    """Quote a Python string or number as a SQL literal (for paths and parameter values)."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _csv_header(path: Path) -> list[str]:
    """The column names on the first line of a CSV file, with clear errors for bad headers."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            first_line = handle.readline()
    except UnicodeDecodeError:
        raise DataReadError("is not UTF-8 text (the data contract needs UTF-8 CSV)") from None
    names = [name.strip() for name in next(csv.reader([first_line]), [])]
    if not names or names == [""]:
        raise DataReadError("has no header line (the first line must name the columns)")
    if len(names) == 1 and ";" in names[0]:
        raise DataReadError("is separated by ';' (the data contract needs comma-separated CSV)")
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise DataReadError(f"has duplicated column names in its header: {', '.join(duplicated)}")
    if "" in names:
        raise DataReadError("has a column with no name in its header")
    return names


def _reader_sql(path: Path) -> str:
    if path.suffix == ".csv":
        # The dialect is fixed rather than sniffed: a sniffer can be misled by one bad row
        # into a wrong header, and every column is read as text so types are checked later.
        columns = ", ".join(f"{sql_literal(name)}: 'VARCHAR'" for name in _csv_header(path))
        return (
            f"read_csv({sql_literal(str(path))}, header = true, auto_detect = false, "
            f"delim = ',', quote = '\"', escape = '\"', columns = {{{columns}}})"
        )
    return f"read_parquet({sql_literal(str(path))})"


def reader_error_summary(error: Exception) -> str:
    """The gist of a reader error: its first line and its explanation, never a row of data."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    explanation = next(
        (
            line
            for line in lines[1:]
            if not line.startswith(("Original Line", "Possible", "LINE", "*", "^"))
            and " = " not in line
        ),
        None,
    )
    first = lines[0].removeprefix("Invalid Input Error: ")
    return f"{first}: {explanation}" if explanation else first


def typed_expression(column: Column, source_type: str) -> str:
    """SQL casting a column as read to its contract type (NULL where it cannot be cast)."""
    name = _quote_identifier(column.name)
    numeric_source = source_type.upper() not in ("VARCHAR", "BLOB")
    if column.dtype in ("integer", "flag"):
        if numeric_source and "INT" in source_type.upper():
            return f"TRY_CAST({name} AS BIGINT)"
        return f"TRY_CAST(TRY_CAST({name} AS DOUBLE) AS BIGINT)"
    if column.dtype == "float":
        return f"TRY_CAST({name} AS DOUBLE)"
    if column.dtype == "date":
        return f"TRY_CAST({name} AS DATE)"
    return f"CAST({name} AS VARCHAR)"


def open_folder(data_dir: Path, stems: tuple[str, ...] | None = None) -> DataFolder:
    """Open the contract tables of ``data_dir`` as DuckDB views.

    Tables that are missing or cannot be read are recorded in ``unavailable`` rather than
    raised, so validation can report every problem at once.

    Args:
        data_dir: Folder with ``<stem>.parquet`` or ``<stem>.csv`` files.
        stems: Tables to open (default: all four of the contract).

    Raises:
        DataReadError: if ``data_dir`` is not a folder.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataReadError(f"{data_dir}: the data folder does not exist or is not a folder")
    # A private working folder for DuckDB's spill files, so that nothing lands in ".tmp" of
    # whatever folder the run started in (maybe the repository); deleted on close.
    work_dir = Path(tempfile.mkdtemp(prefix="pcfm-duckdb-"))
    connection = duckdb.connect(":memory:")
    connection.execute(f"SET temp_directory = {sql_literal(str(work_dir / 'spill'))}")
    # Cells are sorted at the end, so row order inside DuckDB does not matter; dropping it
    # lets DuckDB stream and spill larger-than-memory inputs.
    connection.execute("SET preserve_insertion_order = false")
    # In a notebook kernel DuckDB shows a long query's progress as a Jupyter widget, which
    # the executed notebook keeps and the rendered page loads from a CDN: no progress bar.
    connection.execute("SET enable_progress_bar = false")
    folder = DataFolder(data_dir=data_dir, connection=connection, work_dir=work_dir)
    for stem in stems or tuple(TABLES):
        try:
            path = table_path(data_dir, stem)
        except FileNotFoundError:
            folder.unavailable[stem] = (
                stem,
                f"file missing: the data contract needs {stem}.parquet or {stem}.csv",
            )
            continue
        except AmbiguousTableError as error:
            folder.unavailable[stem] = (stem, str(error))
            continue
        if not path.is_file():
            folder.unavailable[stem] = (path.name, "is not a file")
            continue
        try:
            connection.execute(
                f"CREATE VIEW {_quote_identifier('raw_' + stem)} AS SELECT * FROM "
                f"{_reader_sql(path)}"
            )
            described = connection.execute(
                f"DESCRIBE SELECT * FROM {_quote_identifier('raw_' + stem)}"
            ).fetchall()
        except DataReadError as error:
            folder.unavailable[stem] = (path.name, str(error))
            continue
        except (duckdb.Error, OSError) as error:
            folder.unavailable[stem] = (
                path.name,
                f"cannot be read ({reader_error_summary(error)})",
            )
            continue
        columns = {str(row[0]): str(row[1]) for row in described}
        source = SourceTable(stem=stem, path=path, columns=columns)
        folder.tables[stem] = source
        typed = [
            f"{typed_expression(column, columns[column.name])} AS {_quote_identifier(column.name)}"
            for column in TABLES[stem].columns
            if column.name in columns
        ]
        if typed:
            connection.execute(
                f"CREATE VIEW {_quote_identifier(stem)} AS SELECT {', '.join(typed)} "
                f"FROM {_quote_identifier(source.raw_view)}"
            )
    return folder


def _read_small_table(data_dir: Path, stem: str) -> pd.DataFrame:
    with open_folder(data_dir, stems=(stem,)) as folder:
        folder.table(stem)
        try:
            return folder.connection.execute(f"SELECT * FROM {_quote_identifier(stem)}").df()
        except duckdb.Error as error:
            raise DataReadError(
                f"{folder.tables[stem].path}: cannot be read ({reader_error_summary(error)})"
            ) from None


def read_practices(data_dir: Path) -> pd.DataFrame:
    """The practice table with contract types, sorted by practice code.

    Small (one row per practice), so it is returned to pandas for the funding comparison.
    """
    frame = _read_small_table(data_dir, PRACTICES.stem)
    return frame.sort_values("practice_code", ignore_index=True)


def read_areas(data_dir: Path) -> pd.DataFrame:
    """The area → IMD lookup with contract types, sorted by area code."""
    frame = _read_small_table(data_dir, AREAS.stem)
    return frame.sort_values("area_code", ignore_index=True)
