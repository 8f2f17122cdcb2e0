"""Shared reading helpers for the public-file adapters: errors, file discovery, parsing.

Published files come as CSV (sometimes with a byte-order mark), gzipped CSV, or the
Parquet re-exports some loaders make. Every adapter reads through these helpers so a
file that is not what we expect fails the same way everywhere: with the file, the
column, how many rows are wrong and the first few offending values.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

#: File name endings the adapters read.
READABLE_SUFFIXES = (".csv", ".csv.gz", ".parquet")
#: Offending values shown in an error message.
SHOWN_VALUES = 5


class PublicFileError(ValueError):
    """A public file that is missing, or whose contents cannot be used as published."""


class PublicFileLayoutError(PublicFileError):
    """A public file whose columns match no layout the adapter knows."""


def clean_column_name(name: str) -> str:
    """Strip the byte-order mark and surrounding spaces a published header may carry."""
    return str(name).replace("\ufeff", "").strip()


def layout_key(name: str) -> str:
    """Compare column names ignoring case and runs of spaces (``'CCG NAME'`` = ``'CCG Name'``)."""
    return re.sub(r"\s+", " ", clean_column_name(name)).casefold()


def is_readable(path: Path) -> bool:
    """Whether ``path`` has an ending the adapters read."""
    name = path.name.lower()
    return any(name.endswith(suffix) for suffix in READABLE_SUFFIXES)


def find_files(path: Path, patterns: Sequence[str], what: str) -> list[Path]:
    """Files under ``path`` (a file or a folder, searched recursively) matching ``patterns``.

    Args:
        path: A file (returned as is) or a folder.
        patterns: Glob patterns on the file name, e.g. ``"nhspaymentsgp-*"``.
        what: What the files are, for the error message.

    Raises:
        PublicFileError: if ``path`` does not exist or the folder holds no matching file.
    """
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise PublicFileError(f"{path}: no such file or folder (looking for {what})")
    found = sorted(
        {
            candidate
            for pattern in patterns
            for candidate in path.rglob(pattern)
            if candidate.is_file() and is_readable(candidate)
        }
    )
    if not found:
        names = ", ".join(patterns)
        raise PublicFileError(f"{path}: no {what} found (file names looked for: {names})")
    return found


def read_header(path: Path) -> list[str]:
    """The column names of a CSV, gzipped CSV or Parquet file, cleaned of BOM and spaces."""
    path = Path(path)
    try:
        if path.name.lower().endswith(".parquet"):
            names = pq.read_schema(path).names
        else:
            names = pd.read_csv(path, nrows=0, encoding="utf-8-sig").columns.tolist()
    except (OSError, ValueError) as error:
        raise PublicFileError(f"{path}: cannot read the file's header ({error})") from None
    return [clean_column_name(name) for name in names]


def read_columns(
    path: Path,
    columns: Iterable[str],
    filters: list[tuple[str, str, object]] | None = None,
) -> pd.DataFrame:
    """Read only ``columns`` (cleaned names as :func:`read_header` gives them), as text.

    Everything is read as strings so that parsing, and its error messages, happen in
    :func:`to_number` and friends rather than deep inside pandas.

    Args:
        path: CSV, gzipped CSV or Parquet file.
        columns: Column names to read.
        filters: Optional Parquet row filters (pyarrow syntax), applied at read time to keep
            memory small; ignored for CSV, so callers must filter the result as well.
    """
    path = Path(path)
    wanted = list(dict.fromkeys(columns))
    try:
        if path.name.lower().endswith(".parquet"):
            raw_names = pq.read_schema(path).names
            by_clean = {clean_column_name(name): name for name in raw_names}
            frame = pd.read_parquet(
                path, columns=[by_clean[name] for name in wanted], filters=filters
            )
            frame.columns = wanted
            return frame.astype("string")
        frame = pd.read_csv(
            path,
            encoding="utf-8-sig",
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            usecols=lambda name: clean_column_name(name) in wanted,
        )
    except (OSError, ValueError, KeyError) as error:
        raise PublicFileError(f"{path}: cannot read columns {wanted} ({error})") from None
    frame.columns = [clean_column_name(name) for name in frame.columns]
    return frame[wanted].astype("string")


def distinct_values(path: Path, column: str) -> list[str]:
    """The distinct non-empty values of one column (cleaned name), cheaply for Parquet."""
    path = Path(path)
    if path.name.lower().endswith(".parquet"):
        by_clean = {clean_column_name(name): name for name in pq.read_schema(path).names}
        try:
            values = pq.read_table(path, columns=[by_clean[column]]).column(0).unique()
        except (OSError, ValueError, KeyError) as error:
            raise PublicFileError(f"{path}: cannot read column {column!r} ({error})") from None
        return [str(value) for value in values.to_pylist() if value not in (None, "")]
    series = read_columns(path, [column])[column]
    return [str(value) for value in series.dropna().unique() if value != ""]


def describe_bad_values(values: pd.Series) -> str:
    """``'3 row(s), first: 'a', 'b', 'c''``: how many values are wrong and which."""
    unique = list(dict.fromkeys(values.astype(str).tolist()))
    shown = ", ".join(repr(value) for value in unique[:SHOWN_VALUES])
    return f"{len(values)} row(s), first: {shown}"


def to_number(
    frame: pd.DataFrame,
    column: str,
    path: Path,
    *,
    allow_missing: bool = False,
    label: str | None = None,
) -> pd.Series:
    """Parse a published numeric column (thousands separators allowed) to float.

    ``label`` is the column's published name, for the error message, if ``column`` differs.

    Raises:
        PublicFileError: naming the file, the column and the offending values.
    """
    text = frame[column].astype("string").str.strip().str.replace(",", "", regex=False)
    numbers = pd.to_numeric(text, errors="coerce").astype("float64")
    bad = numbers.isna() & text.notna() & (text != "")
    if not allow_missing:
        bad |= text.isna() | (text == "")
    if bad.any():
        raise PublicFileError(
            f"{path}: column {label or column!r} is not numeric in "
            f"{describe_bad_values(frame.loc[bad, column].fillna('<empty>'))}"
        )
    return numbers


def parse_extract_date(value: str) -> str:
    """Turn an extract date as published (``01Apr2025``, ``01-APR-2025``, ``2025-04-01``) to ISO.

    Raises:
        ValueError: if the text is none of those forms.
    """
    text = str(value).strip()
    for form in ("%Y-%m-%d", "%d%b%Y", "%d-%b-%Y", "%d/%m/%Y", "%d %b %Y"):
        try:
            return (
                datetime.strptime(text.title() if "%b" in form else text, form).date().isoformat()
            )
        except ValueError:
            continue
    raise ValueError(f"not a date: {value!r}")


def normalise_extract_dates(values: pd.Series, path: Path, column: str) -> pd.Series:
    """Parse every distinct extract date of a file to ISO ``YYYY-MM-DD`` text."""
    mapping: dict[str, str] = {}
    bad: list[str] = []
    for value in values.dropna().unique():
        try:
            mapping[value] = parse_extract_date(value)
        except ValueError:
            bad.append(value)
    if bad or values.isna().any():
        shown = bad or ["<empty>"]
        raise PublicFileError(
            f"{path}: column {column!r} holds values that are not extract dates: "
            f"{describe_bad_values(pd.Series(shown))}"
        )
    return values.map(mapping).astype("string")


def choose_extract_date(available: Iterable[str], asked: str | None, what: str) -> str:
    """The extract asked for (any accepted date form), or the latest available one.

    Raises:
        PublicFileError: naming the extract dates available if the asked one is absent.
    """
    dates = sorted(set(available))
    if not dates:
        raise PublicFileError(f"{what}: no extracts found")
    if asked is None:
        return dates[-1]
    try:
        wanted = parse_extract_date(asked) if not isinstance(asked, date) else asked.isoformat()
    except ValueError:
        raise PublicFileError(
            f"{what}: extract date {asked!r} is not a date; available: {', '.join(dates)}"
        ) from None
    if wanted not in dates:
        raise PublicFileError(
            f"{what}: no extract dated {wanted}; available extract dates: {', '.join(dates)}"
        )
    return wanted


def require_columns(path: Path, header: Sequence[str], expected: Sequence[str], what: str) -> None:
    """Fail with the expected and found columns unless every expected column is present."""
    present = {layout_key(name) for name in header}
    missing = [name for name in expected if layout_key(name) not in present]
    if missing:
        raise PublicFileLayoutError(
            f"{path}: not a {what} file as published: missing column(s) {missing}; "
            f"expected {list(expected)}; found {list(header)}"
        )


def resolve_columns(header: Sequence[str], wanted: Sequence[str]) -> dict[str, str]:
    """Map each wanted name to the header's own spelling (case and spaces may differ)."""
    by_key = {layout_key(name): name for name in header}
    return {name: by_key[layout_key(name)] for name in wanted}


def most_common(values: pd.Series) -> object:
    """The most common value; ties go to the first in sort order, so the choice is stable."""
    return values.value_counts().sort_index().idxmax()
