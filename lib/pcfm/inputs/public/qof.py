"""NHS England (NHS Digital) Quality and Outcomes Framework: practice disease registers.

The QOF "raw data" of each year holds ``PREVALENCE_<yyyy>.csv``: one row per practice and
indicator group (AF, AST, CHD, DM, …) with the number of patients on the group's register
and the practice's list in the register's denominator population (``PATIENT_LIST_TYPE``:
``TOTAL`` for all ages, ``18OV`` for 18 and over, ``06OV``, ``50OV``, ``30_74`` …).

The publisher renames columns between years (``INDICATOR_GROUP_CODE`` became ``GROUP_CODE``
in 2019-20, ``PATIENT_LIST_SIZE`` became ``PRACTICE_LIST_SIZE`` in 2020-21), adds and drops
groups (CVDPP went after 2019-20, NDH came in 2020-21) and changes denominators (the asthma
register counts patients aged 6 and over from 2020-21). :data:`LAYOUTS` lists every layout
seen with the years it was seen in. The QOF year is taken from the file name
(``PREVALENCE_2021_v2`` → 2020-21), and a file of a year no layout lists, or in a layout not
known, fails with :class:`PublicFileLayoutError` naming the file: the groups and denominators
of a new year must be checked (see :mod:`pcfm.inputs.public.qof_conditions`) before it is
used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pcfm.inputs.public.common import (
    PublicFileError,
    PublicFileLayoutError,
    describe_bad_values,
    find_files,
    layout_key,
    read_columns,
    read_header,
    resolve_columns,
    to_number,
)

#: File names of the practice-level register files, as published in the QOF raw data.
FILE_PATTERNS = ("PREVALENCE_*", "prevalence_*")
#: Columns of the tidy output, in order.
OUTPUT_COLUMNS = (
    "qof_year",
    "practice_code",
    "group_code",
    "register",
    "list_type",
    "list_size",
    "source_file",
)


@dataclass(frozen=True)
class QofLayout:
    """One published column layout of ``PREVALENCE_<yyyy>.csv``.

    Attributes:
        name: Short name of the layout.
        years: QOF years whose files were seen in this layout (``"2020-21"`` …).
        columns: Output column → published column name (case and spacing are ignored when
            matching).
    """

    name: str
    years: tuple[str, ...]
    columns: dict[str, str]


#: Every layout seen, newest first. A layout matches a file when all its columns are present.
LAYOUTS: tuple[QofLayout, ...] = (
    QofLayout(
        name="GROUP_CODE, PRACTICE_LIST_SIZE",
        years=("2020-21",),
        columns={
            "practice_code": "PRACTICE_CODE",
            "group_code": "GROUP_CODE",
            "register": "REGISTER",
            "list_type": "PATIENT_LIST_TYPE",
            "list_size": "PRACTICE_LIST_SIZE",
        },
    ),
    QofLayout(
        name="GROUP_CODE, PATIENT_LIST_SIZE",
        years=("2019-20",),
        columns={
            "practice_code": "PRACTICE_CODE",
            "group_code": "GROUP_CODE",
            "register": "REGISTER",
            "list_type": "PATIENT_LIST_TYPE",
            "list_size": "PATIENT_LIST_SIZE",
        },
    ),
    QofLayout(
        name="INDICATOR_GROUP_CODE, PATIENT_LIST_SIZE",
        years=("2016-17", "2017-18", "2018-19"),
        columns={
            "practice_code": "PRACTICE_CODE",
            "group_code": "INDICATOR_GROUP_CODE",
            "register": "REGISTER",
            "list_type": "PATIENT_LIST_TYPE",
            "list_size": "PATIENT_LIST_SIZE",
        },
    ),
)
#: Every QOF year some layout was seen in.
KNOWN_YEARS: tuple[str, ...] = tuple(sorted(year for layout in LAYOUTS for year in layout.years))

_YEAR_IN_NAME = re.compile(r"^prevalence_(\d{2})(\d{2})(?:_v(\d+))?\.", re.IGNORECASE)
_LIST_TYPE_OVER = re.compile(r"^(\d{1,3})OV$")
_LIST_TYPE_RANGE = re.compile(r"^(\d{1,3})_(\d{1,3})$")


def qof_year_of(path: Path) -> tuple[str, int]:
    """The QOF year and file version from a file name (``PREVALENCE_2021_v2`` → 2020-21, 2).

    Raises:
        PublicFileError: if the name is not ``PREVALENCE_<yy><yy>[_v<n>]`` with two consecutive
            years.
    """
    match = _YEAR_IN_NAME.match(Path(path).name)
    if match:
        first, second, version = match.groups()
        if (int(first) + 1) % 100 == int(second):
            return f"20{first}-{second}", int(version) if version else 1
    raise PublicFileError(
        f"{path}: cannot tell the QOF year from the file name (expected e.g. "
        "PREVALENCE_2021_v2.csv for QOF 2020-21, with the year as YYYY of two consecutive years)"
    )


def list_type_ages(list_type: str) -> tuple[int, int | None]:
    """The ages of a QOF denominator population: ``'TOTAL'`` → (0, None), ``'18OV'`` → (18, None),
    ``'30_74'`` → (30, 74) (lowest age, highest age or None).

    Raises:
        ValueError: for a list type of none of these forms.
    """
    text = str(list_type).strip().upper()
    if text == "TOTAL":
        return 0, None
    if match := _LIST_TYPE_OVER.match(text):
        return int(match.group(1)), None
    if match := _LIST_TYPE_RANGE.match(text):
        low, high = int(match.group(1)), int(match.group(2))
        if low <= high:
            return low, high
    raise ValueError(f"not a QOF patient list type: {list_type!r}")


def describe_list_type(list_type: str) -> str:
    """``'18OV'`` → ``'aged 18 and over'``; ``'TOTAL'`` → ``'all ages'``."""
    low, high = list_type_ages(list_type)
    if high is not None:
        return f"aged {low} to {high}"
    return "all ages" if low == 0 else f"aged {low} and over"


def match_layout(path: Path, header: list[str], year: str) -> QofLayout:
    """The known layout whose columns the file holds, for a year that layout was seen in.

    Raises:
        PublicFileLayoutError: naming the file, the missing columns of the closest known layout
            and the columns found; or the year, if no layout was seen in it.
    """
    present = {layout_key(name) for name in header}

    def missing(layout: QofLayout) -> list[str]:
        return [name for name in layout.columns.values() if layout_key(name) not in present]

    matching = [layout for layout in LAYOUTS if not missing(layout)]
    if not matching:
        closest = min(LAYOUTS, key=lambda layout: len(missing(layout)))
        raise PublicFileLayoutError(
            f"{path}: column layout not known (QOF prevalence). Closest known layout "
            f"{closest.name!r} (years {', '.join(closest.years)}) expects columns "
            f"{list(closest.columns.values())}; missing {missing(closest)}; found {header}. If "
            "the publisher renamed a column, add the new layout to "
            "pcfm.inputs.public.qof.LAYOUTS."
        )
    for layout in matching:
        if year in layout.years:
            return layout
    if year not in KNOWN_YEARS:
        raise PublicFileLayoutError(
            f"{path}: QOF year {year} (from the file name) is not one the reader knows (known: "
            f"{', '.join(KNOWN_YEARS)}). Check the year's indicator groups and patient list "
            "types against pcfm.inputs.public.qof_conditions.QOF_CONDITION_MAP, then add the "
            "year to its layout in pcfm.inputs.public.qof.LAYOUTS."
        )
    expected = next(layout for layout in LAYOUTS if year in layout.years)
    raise PublicFileLayoutError(
        f"{path}: named for QOF {year}, whose files have the layout {expected.name!r} (columns "
        f"{list(expected.columns.values())}), but its columns are those of "
        f"{matching[0].name!r} (years {', '.join(matching[0].years)}); found {header}. Is the "
        "file misnamed?"
    )


def read_qof_prevalence_file(path: str | Path) -> pd.DataFrame:
    """Read one ``PREVALENCE_<yyyy>.csv`` into the tidy columns of :data:`OUTPUT_COLUMNS`.

    ``register`` is missing (``<NA>``) where the file leaves it empty: in 2016-17 to 2018-19 a few
    dozen practices (ones that did not take part in QOF, or closed during the year) have rows
    with a list size and an empty register.

    Raises:
        PublicFileLayoutError: for an unknown layout or a year no layout was seen in.
        PublicFileError: naming the file and column, for a value that is not a number, a
            negative or fractional count, a practice code or list type not as published, or a
            practice and group given twice.
    """
    path = Path(path)
    year, _version = qof_year_of(path)
    header = read_header(path)
    layout = match_layout(path, header, year)
    spelling = resolve_columns(header, list(layout.columns.values()))
    raw = read_columns(path, [spelling[name] for name in layout.columns.values()])
    raw.columns = list(layout.columns)
    label = {output: spelling[published] for output, published in layout.columns.items()}

    frame = pd.DataFrame(index=raw.index)
    frame["qof_year"] = pd.Series(year, index=raw.index, dtype="string")
    frame["practice_code"] = raw["practice_code"].str.strip().str.upper()
    frame["group_code"] = raw["group_code"].str.strip().str.upper()
    frame["register"] = to_number(
        raw, "register", path, allow_missing=True, label=label["register"]
    )
    frame["list_type"] = raw["list_type"].str.strip().str.upper()
    frame["list_size"] = to_number(raw, "list_size", path, label=label["list_size"])
    frame["source_file"] = pd.Series(path.name, index=raw.index, dtype="string")

    def fail(column: str, what: str, bad: pd.Series) -> None:
        if bad.any():
            raise PublicFileError(
                f"{path}: column {label[column]!r} {what} in "
                f"{describe_bad_values(raw.loc[bad, column].fillna('<empty>'))}"
            )

    code = frame["practice_code"]
    fail("practice_code", "is not a 6-character practice code",
         code.isna() | ~code.str.fullmatch(r"[A-Z0-9]{6}").fillna(False))  # fmt: skip
    group = frame["group_code"]
    fail("group_code", "is not an indicator group code",
         group.isna() | ~group.str.fullmatch(r"[A-Z0-9]{1,10}").fillna(False))  # fmt: skip
    for column in ("register", "list_size"):
        value = frame[column]
        fail(column, "is not a count (a whole number, 0 or more)",
             value.notna() & ((value < 0) | (value % 1 != 0)))  # fmt: skip
    list_types = frame["list_type"].fillna("")
    known = {text: _is_list_type(text) for text in list_types.unique()}
    fail("list_type", "is not a patient list type (TOTAL, 18OV, 30_74, …)",
         ~list_types.map(known).astype(bool))  # fmt: skip
    frame["register"] = frame["register"].astype("Int64")
    frame["list_size"] = frame["list_size"].astype("int64")
    twice = frame.duplicated(["practice_code", "group_code"], keep=False)
    if twice.any():
        pairs = frame.loc[twice, "practice_code"] + " " + frame.loc[twice, "group_code"]
        raise PublicFileError(
            f"{path}: practice and indicator group given more than once in "
            f"{describe_bad_values(pairs)}"
        )
    return frame[list(OUTPUT_COLUMNS)].reset_index(drop=True)


def _is_list_type(text: str) -> bool:
    try:
        list_type_ages(text)
    except ValueError:
        return False
    return True


def qof_prevalence_files(path: str | Path) -> dict[str, Path]:
    """QOF year → file, for the ``PREVALENCE_<yyyy>`` files at ``path`` (a file or a folder).

    Where a year has several versions (``PREVALENCE_1819_v2``), the highest version is used.

    Raises:
        PublicFileError: if there is no such file, a name holds no QOF year, or two files for the
            same year and version cannot be ranked.
    """
    chosen: dict[str, tuple[int, Path]] = {}
    for file in find_files(Path(path), FILE_PATTERNS, "QOF prevalence file (PREVALENCE_*)"):
        year, version = qof_year_of(file)
        if year in chosen and chosen[year][0] == version:
            raise PublicFileError(
                f"two QOF prevalence files for {year}, version {version}: {chosen[year][1]} and "
                f"{file}; keep one"
            )
        if year not in chosen or version > chosen[year][0]:
            chosen[year] = (version, file)
    return {year: chosen[year][1] for year in sorted(chosen)}


def read_qof_prevalence(path: str | Path, year: str | None = None) -> pd.DataFrame:
    """One year's QOF practice registers at ``path``, as a tidy table.

    Args:
        path: A ``PREVALENCE_<yyyy>.csv`` file (CSV or gzipped CSV) or a folder holding them
            (searched recursively).
        year: QOF year, e.g. ``"2020-21"``; the latest in ``path`` if None.

    Returns:
        Columns of :data:`OUTPUT_COLUMNS`: ``qof_year``, ``practice_code``, ``group_code``
        (AF, AST, …), ``register`` (patients on the register, nullable integer: missing where
        published empty),
        ``list_type`` (the denominator population, e.g. ``TOTAL`` or ``18OV``), ``list_size``
        (the practice's patients in that population) and ``source_file``.

    Raises:
        PublicFileError: for a year asked for but absent (naming the years present), or a file
            that is not as published (see :func:`read_qof_prevalence_file`).
    """
    files = qof_prevalence_files(path)
    if year is None:
        year = list(files)[-1]
    if year not in files:
        raise PublicFileError(
            f"{path}: no QOF prevalence file for {year}; years available: {', '.join(files)}"
        )
    return read_qof_prevalence_file(files[year])


def qof_years(path: str | Path) -> list[str]:
    """The QOF years for which ``path`` holds a ``PREVALENCE_<yyyy>`` file."""
    return list(qof_prevalence_files(path))
