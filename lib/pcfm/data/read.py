"""DuckDB access to the data-contract tables in a data folder.

Every input table is opened as a DuckDB view, never loaded into pandas, so patient
and appointment files larger than memory can be validated and aggregated. Each table
gets two views:

* ``raw_<stem>``: the file as it is. CSV files are read with every column as text, so
  a badly typed value becomes a validation finding instead of a reader crash.
* ``<stem>``: the contract columns present in the file, cast to their contract types
  (integers and flags to BIGINT, numbers to DOUBLE, dates to DATE, the rest to text).
  Only meaningful once :func:`pcfm.data.validate.validate_folder` has passed.

Only the small tables (practices, areas) are returned to pandas.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from pcfm.data.contract import AREAS, PRACTICES, TABLES, Column, table_path

__all__ = [
    "DataFolder",
    "DataReadError",
    "SourceTable",
    "open_folder",
    "read_areas",
    "read_practices",
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
        connection: In-memory DuckDB connection holding the views.
        tables: The tables that were found and could be described, by stem.
        unavailable: For tables that are missing or unreadable, ``(file, reason)`` by stem.
    """

    data_dir: Path
    connection: duckdb.DuckDBPyConnection
    tables: dict[str, SourceTable] = field(default_factory=dict)
    unavailable: dict[str, tuple[str, str]] = field(default_factory=dict)

    def table(self, stem: str) -> SourceTable:
        """Return an opened table or raise :class:`DataReadError` saying why it is unavailable."""
        if stem in self.tables:
            return self.tables[stem]
        file, reason = self.unavailable.get(stem, (stem, "was not opened"))
        raise DataReadError(f"{self.data_dir / file}: {reason}")

    def close(self) -> None:
        self.connection.close()

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


def _reader_sql(path: Path) -> str:
    if path.suffix == ".csv":
        return f"read_csv({sql_literal(str(path))}, header = true, all_varchar = true)"
    return f"read_parquet({sql_literal(str(path))})"


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def typed_expression(column: Column, source_type: str) -> str:
    """SQL casting a column as read to its contract type (NULL where it cannot be cast)."""
    name = _quote_identifier(column.name)
    numeric_source = source_type.upper() not in ("VARCHAR", "BLOB")
    if column.dtype in ("integer", "flag"):
        if numeric_source and "INT" in source_type.upper():
            return f"CAST({name} AS BIGINT)"
        return f"CAST(TRY_CAST({name} AS DOUBLE) AS BIGINT)"
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
    """
    data_dir = Path(data_dir)
    connection = duckdb.connect()
    # Cells are sorted at the end, so row order inside DuckDB does not matter; dropping it
    # lets DuckDB stream and spill larger-than-memory inputs.
    connection.execute("SET preserve_insertion_order = false")
    folder = DataFolder(data_dir=data_dir, connection=connection)
    for stem in stems or tuple(TABLES):
        try:
            path = table_path(data_dir, stem)
        except FileNotFoundError:
            folder.unavailable[stem] = (
                stem,
                f"file missing: the data contract needs {stem}.parquet or {stem}.csv",
            )
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
        except (duckdb.Error, OSError) as error:
            folder.unavailable[stem] = (path.name, f"cannot be read ({_first_line(error)})")
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
                f"{folder.tables[stem].path}: cannot be read ({_first_line(error)})"
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
