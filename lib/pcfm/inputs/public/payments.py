"""NHS England "NHS Payments to General Practice, England": practice-level CSVs by year.

The publisher renames columns from year to year (registered and weighted patients are a
"last known figure" in some years and an annual average in others; CCG became sub-ICB;
PCN columns arrived in 2019-20; footnote digits stick to names). :data:`LAYOUTS` lists every
layout seen, with the years it was seen in; a file is read by the layout whose columns it
holds, so a new year in a known layout reads, and a new layout fails with
:class:`PublicFileLayoutError` naming the file and the columns expected and found.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pcfm.inputs.public.common import (
    PublicFileError,
    PublicFileLayoutError,
    clean_column_name,
    describe_bad_values,
    find_files,
    layout_key,
    read_columns,
    read_header,
    resolve_columns,
    to_number,
)

#: File names of the practice-level payments files: as published by NHS England
#: (``nhspaymentsgp-22-23-prac-csv.csv``) and as the Health Equity Evidence Centre stores its
#: header-harmonised copies (``14-15.csv``).
FILE_PATTERNS = ("nhspaymentsgp-*", "[0-9][0-9]-[0-9][0-9].csv*", "[0-9][0-9]-[0-9][0-9].parquet")
#: Columns of the tidy output, in order.
OUTPUT_COLUMNS = (
    "financial_year",
    "practice_code",
    "practice_name",
    "sub_icb_code",
    "pcn_code",
    "registered_list",
    "weighted_list",
    "global_sum_gbp",
    "mpig_gbp",
    "pms_balance_gbp",
    "total_payments_gbp",
    "list_basis",
    "source_file",
)
LAST_KNOWN = "last known quarter"
ANNUAL_AVERAGE = "annual average"


@dataclass(frozen=True)
class PaymentsLayout:
    """One published column layout: which source column feeds each output column.

    Attributes:
        name: Short name of the layout.
        years: Financial years whose files were seen in this layout.
        columns: Output column → published column name (case and spacing are ignored when
            matching); ``pcn_code`` may be absent (files before 2019-20 have no PCN).
        list_basis: Whether the patient counts are the last known quarter or an annual average.
    """

    name: str
    years: tuple[str, ...]
    columns: dict[str, str]
    list_basis: str


_COMMON = {
    "practice_code": "Practice Code",
    "practice_name": "Practice Name",
    "global_sum_gbp": "Global Sum",
    "mpig_gbp": "MPIG Correction factor",
    "pms_balance_gbp": "Balance of PMS Expenditure",
    "total_payments_gbp": "Total NHS Payments to General Practice",
}
_LAST_KNOWN_LISTS = {
    "registered_list": "Number of Registered Patients (Last Known Figure)",
    "weighted_list": "Number of Weighted Patients (Last Known Figure)",
}

#: Every layout seen, newest first. A layout matches a file when all its columns are present.
LAYOUTS: tuple[PaymentsLayout, ...] = (
    PaymentsLayout(
        name="sub-ICB, PCN, average lists",
        years=("2022-23",),
        columns={
            **_COMMON,
            "sub_icb_code": "Sub ICB Code",
            "pcn_code": "PCN Code",
            "registered_list": "Average Number of Registered Patients",
            "weighted_list": "Average Number of Weighted Patients",
        },
        list_basis=ANNUAL_AVERAGE,
    ),
    PaymentsLayout(
        name="CCG, PCN, last known lists",
        years=("2020-21", "2021-22"),
        columns={
            **_COMMON,
            "sub_icb_code": "CCG Code",
            "pcn_code": "PCN Code",
            **_LAST_KNOWN_LISTS,
        },
        list_basis=LAST_KNOWN,
    ),
    PaymentsLayout(
        name="CCG, PCN, average lists with footnote marks",
        years=("2019-20",),
        columns={
            **_COMMON,
            "sub_icb_code": "CCG Code",
            "pcn_code": "PCN Code",
            "registered_list": "Average number of registered patients1",
            "weighted_list": "Average number of weighted patients1",
        },
        list_basis=ANNUAL_AVERAGE,
    ),
    PaymentsLayout(
        name="CCG, average lists",
        years=("2018-19",),
        columns={
            **_COMMON,
            "sub_icb_code": "CCG Code",
            "registered_list": "Average Number of Registered Patients",
            "weighted_list": "Average Number of Weighted Patients",
        },
        list_basis=ANNUAL_AVERAGE,
    ),
    PaymentsLayout(
        name="CCG, last known lists",
        years=("2014-15", "2015-16", "2016-17", "2017-18"),
        columns={**_COMMON, "sub_icb_code": "CCG Code", **_LAST_KNOWN_LISTS},
        list_basis=LAST_KNOWN,
    ),
)

_YEAR_IN_NAME = re.compile(r"(?<!\d)(\d{2})-(\d{2})(?!\d)")
#: Payments files at other levels than the practice (the publisher also releases PCN-level
#: files); skipped when a folder is searched.
_OTHER_LEVEL_IN_NAME = re.compile(r"-(pcn|ccg|icb|sub-?icb|region|national)-", re.IGNORECASE)
_MONEY_AND_LISTS = (
    "registered_list",
    "weighted_list",
    "global_sum_gbp",
    "mpig_gbp",
    "pms_balance_gbp",
    "total_payments_gbp",
)


def financial_year_of(path: Path) -> str:
    """The financial year a payments file is for, from its name (``…-22-23-…`` → ``2022-23``).

    Raises:
        PublicFileError: if the name holds no ``YY-YY`` pair of consecutive years.
    """
    for first, second in _YEAR_IN_NAME.findall(Path(path).name):
        if (int(first) + 1) % 100 == int(second):
            return f"20{first}-{second}"
    raise PublicFileError(
        f"{path}: cannot tell the financial year from the file name (expected e.g. "
        "nhspaymentsgp-22-23-prac-csv.csv, with the year as YY-YY)"
    )


def match_layout(path: Path, header: list[str]) -> PaymentsLayout:
    """The known layout whose columns the file holds.

    Raises:
        PublicFileLayoutError: naming the file, the columns of the closest known layout that are
            missing, and the columns found.
    """
    present = {layout_key(name) for name in header}

    def missing(layout: PaymentsLayout) -> list[str]:
        return [name for name in layout.columns.values() if layout_key(name) not in present]

    for layout in LAYOUTS:
        if not missing(layout):
            return layout
    closest = min(LAYOUTS, key=lambda layout: len(missing(layout)))
    raise PublicFileLayoutError(
        f"{path}: column layout not known (NHS Payments to General Practice). Closest known "
        f"layout {closest.name!r} (years {', '.join(closest.years)}) expects columns "
        f"{list(closest.columns.values())}; missing {missing(closest)}; found {header}. If the "
        "publisher renamed a column, add the new layout to pcfm.inputs.public.payments.LAYOUTS."
    )


def read_payments_file(path: str | Path) -> pd.DataFrame:
    """Read one practice-level payments file into the tidy columns of :data:`OUTPUT_COLUMNS`."""
    path = Path(path)
    year = financial_year_of(path)
    header = read_header(path)
    layout = match_layout(path, header)
    spelling = resolve_columns(header, list(layout.columns.values()))
    raw = read_columns(path, [spelling[name] for name in layout.columns.values()])
    raw.columns = list(layout.columns)
    frame = pd.DataFrame(index=raw.index)
    frame["financial_year"] = pd.Series(year, index=raw.index, dtype="string")
    frame["practice_code"] = raw["practice_code"].str.strip().str.upper()
    frame["practice_name"] = raw["practice_name"].str.strip()
    frame["sub_icb_code"] = raw["sub_icb_code"].str.strip().str.upper()
    if "pcn_code" in raw:
        frame["pcn_code"] = raw["pcn_code"].str.strip().str.upper().replace("", pd.NA)
    else:
        frame["pcn_code"] = pd.Series(pd.NA, index=raw.index, dtype="string")
    for column in _MONEY_AND_LISTS:
        frame[column] = to_number(
            raw,
            column,
            path,
            allow_missing=column == "pms_balance_gbp",
            label=spelling[layout.columns[column]],
        )
    frame["pms_balance_gbp"] = frame["pms_balance_gbp"].fillna(0.0)
    frame["list_basis"] = pd.Series(layout.list_basis, index=raw.index, dtype="string")
    frame["source_file"] = pd.Series(path.name, index=raw.index, dtype="string")

    bad_code = frame["practice_code"].isna() | ~frame["practice_code"].str.fullmatch(
        r"[A-Z0-9]{6}"
    ).fillna(False)
    if bad_code.any():
        raise PublicFileError(
            f"{path}: column {spelling['Practice Code']!r} is not a 6-character practice code in "
            f"{describe_bad_values(raw.loc[bad_code, 'practice_code'].fillna('<empty>'))}"
        )
    duplicated = frame["practice_code"].duplicated(keep=False)
    if duplicated.any():
        raise PublicFileError(
            f"{path}: practice codes appear more than once in "
            f"{describe_bad_values(frame.loc[duplicated, 'practice_code'])}"
        )
    negative = (frame[["registered_list", "weighted_list"]] < 0).any(axis=1)
    if negative.any():
        raise PublicFileError(
            f"{path}: negative registered or weighted patients for practices "
            f"{describe_bad_values(frame.loc[negative, 'practice_code'])}"
        )
    return frame[list(OUTPUT_COLUMNS)].reset_index(drop=True)


def payments_files(path: str | Path, include_harmonised: bool = True) -> dict[str, Path]:
    """Financial year → file, for the payments files at ``path`` (a file or a folder).

    Files at other levels than the practice (``nhspaymentsgp-22-23-pcn-csv.csv``) are skipped.
    Where a year has both an as-published file and a third-party harmonised copy (a file in a
    folder named ``heec_harmonised``), the as-published one is used. Where a year has two
    as-published versions (``-v2``), the later version is used.

    Raises:
        PublicFileError: if two files for the same year cannot be ranked.
    """
    chosen: dict[str, tuple[tuple[int, int], Path]] = {}
    for file in find_files(Path(path), FILE_PATTERNS, "NHS Payments to General Practice file"):
        harmonised = "heec_harmonised" in file.parts
        if (harmonised and not include_harmonised) or _OTHER_LEVEL_IN_NAME.search(file.name):
            continue
        version_match = re.search(r"-v(\d+)\b", file.name)
        rank = (0 if harmonised else 1, int(version_match.group(1)) if version_match else 1)
        year = financial_year_of(file)
        if year in chosen and chosen[year][0] == rank:
            raise PublicFileError(
                f"two payments files for {year}: {chosen[year][1]} and {file}; keep one"
            )
        if year not in chosen or rank > chosen[year][0]:
            chosen[year] = (rank, file)
    return {year: chosen[year][1] for year in sorted(chosen)}


def read_payments(
    path: str | Path, years: list[str] | None = None, include_harmonised: bool = True
) -> pd.DataFrame:
    """Every year's practice-level payments at ``path``, stacked in one tidy table.

    Args:
        path: A payments file or a folder of them (searched recursively).
        years: Financial years to read (e.g. ``["2022-23"]``); all found if None.
        include_harmonised: Also read the Health Equity Evidence Centre's header-harmonised
            copies of years not published in the folder as-is (2014-15 to 2016-17 here).

    Returns:
        Columns of :data:`OUTPUT_COLUMNS`: ``financial_year`` ('2017-18' …), ``practice_code``,
        ``practice_name``, ``sub_icb_code`` (CCG code before July 2022), ``pcn_code`` (missing
        before 2019-20), ``registered_list``, ``weighted_list`` (Carr-Hill weighted patients),
        ``global_sum_gbp``, ``mpig_gbp``, ``pms_balance_gbp`` (the PMS counterpart of the global
        sum), ``total_payments_gbp``, ``list_basis`` and ``source_file``.

    Raises:
        PublicFileLayoutError: for a file in a column layout not in :data:`LAYOUTS`.
        PublicFileError: for a year asked for but absent, or values that are not numbers.
    """
    files = payments_files(path, include_harmonised=include_harmonised)
    if years is not None:
        absent = [year for year in years if year not in files]
        if absent:
            raise PublicFileError(
                f"{path}: no payments file for {', '.join(absent)}; years available: "
                f"{', '.join(files)}"
            )
        files = {year: files[year] for year in years}
    frames = [read_payments_file(file) for file in files.values()]
    return pd.concat(frames, ignore_index=True)


def payments_years(path: str | Path, include_harmonised: bool = True) -> list[str]:
    """The financial years for which ``path`` holds a payments file."""
    return list(payments_files(path, include_harmonised=include_harmonised))


#: The published total the payment lines add up to.
TOTAL_PAYMENTS = "Total NHS Payments to General Practice"
#: Lines and total may differ by rounding in the published pence; more than this is an error.
LINES_TOLERANCE_GBP = 1.0
_FOOTNOTE_DIGITS = re.compile(r"\d+$")
_LAST_BEFORE_LINES = "average payments per weighted patient"


def line_key(name: str) -> str:
    """Compare line names ignoring case, spaces and footnote digits (``Other Payments1``)."""
    return layout_key(_FOOTNOTE_DIGITS.sub("", clean_column_name(name)))


@dataclass(frozen=True)
class PaymentLines:
    """Every payment line of one year's file, by practice.

    Attributes:
        year: Financial year of the file, e.g. ``2022-23``.
        path: The file read.
        lines: The lines as published (footnote digits dropped), in the file's order; they add
            up to :data:`TOTAL_PAYMENTS`.
        amounts: ``practice_code`` and one column per line (pounds; blank = 0).
    """

    year: str
    path: Path
    lines: tuple[str, ...]
    amounts: pd.DataFrame

    def resolve(self, names: list[str], what: str) -> list[str]:
        """This file's spelling of each name (case, spaces, footnote digits ignored).

        Raises:
            PublicFileError: naming the file, the names not among its lines and its lines.
        """
        by_key = {line_key(line): line for line in self.lines}
        unknown = [name for name in names if line_key(name) not in by_key]
        if unknown:
            raise PublicFileError(
                f"{self.path}: {what} names {unknown}, which are not payment lines of "
                f"{self.year}; its lines are {list(self.lines)}"
            )
        return [by_key[line_key(name)] for name in names]


def read_payment_lines(path: str | Path) -> PaymentLines:
    """Read every payment line of a practice-level payments file (the lines between the
    per-patient averages and the published total), checking that they add up to the total.

    Raises:
        PublicFileLayoutError: if the file has no total column or no averages before its lines.
        PublicFileError: for values that are not numbers, or lines that do not add up.
    """
    path = Path(path)
    year = financial_year_of(path)
    header = read_header(path)
    keys = [line_key(name) for name in header]
    total_key = line_key(TOTAL_PAYMENTS)
    if total_key not in keys or not any(key.startswith(_LAST_BEFORE_LINES) for key in keys):
        raise PublicFileLayoutError(
            f"{path}: cannot find the payment lines: expected them between a column "
            f"'Average payments per weighted patient' and the column {TOTAL_PAYMENTS!r}; "
            f"found {header}"
        )
    end = keys.index(total_key)
    start = max(i for i, key in enumerate(keys[:end]) if key.startswith(_LAST_BEFORE_LINES))
    published = header[start + 1 : end]
    lines = tuple(_FOOTNOTE_DIGITS.sub("", name).strip() for name in published)
    repeated = sorted({line for line in lines if lines.count(line) > 1})
    if not lines or repeated:
        raise PublicFileLayoutError(
            f"{path}: payment lines between {header[start]!r} and {header[end]!r} are "
            f"{'none' if not lines else f'repeated: {repeated}'}"
        )
    code = resolve_columns(header, ["Practice Code"])["Practice Code"]
    raw = read_columns(path, [code, *published, header[end]])
    amounts = pd.DataFrame({"practice_code": raw[code].str.strip().str.upper()})
    for name, line in zip(published, lines, strict=True):
        amounts[line] = to_number(raw, name, path, allow_missing=True).fillna(0.0)
    total = to_number(raw, header[end], path)
    difference = (amounts[list(lines)].sum(axis=1) - total).abs()
    wrong = difference > LINES_TOLERANCE_GBP
    if wrong.any():
        raise PublicFileError(
            f"{path}: payment lines do not add up to {header[end]!r} (by more than "
            f"£{LINES_TOLERANCE_GBP:.2f}) for practices "
            f"{describe_bad_values(amounts.loc[wrong, 'practice_code'])}; a funding rule needs "
            "a file whose lines add up"
        )
    return PaymentLines(year, path, lines, amounts)


def read_practice_types(path: str | Path) -> pd.Series:
    """Practice code → published practice type ("GP practice", "Walk in centre", …) of one
    payments file; empty for years that do not publish the column."""
    path = Path(path)
    header = read_header(path)
    try:
        spelling = resolve_columns(header, ["Practice Code", "Practice Type"])
    except KeyError:
        return pd.Series(dtype="string")
    frame = read_columns(path, list(spelling.values()))
    codes = frame[spelling["Practice Code"]].str.strip().str.upper()
    return pd.Series(frame[spelling["Practice Type"]].to_numpy(), index=codes, dtype="string")
