"""Deprivation: practice IMD 2019 scores (OHID Fingertips) and LSOA IMD 2019 deciles (MHCLG).

Fingertips indicator 93553 "Deprivation score (IMD 2019)" gives each practice the IMD
2019 score of its registered population's areas. It is exported in two shapes: the
website's "indicator-data.csv" (columns such as ``Area Code``, ``Time period``) and the
API / fingertipsR shape (``AreaCode``, ``Timeperiod`` or ``Year``); both read here.
"""

from __future__ import annotations

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
    require_columns,
    resolve_columns,
    to_number,
)

#: Fingertips indicator id of the practice deprivation score.
IMD_INDICATOR_ID = "93553"
#: IMD edition read: Fingertips' time period of the IMD 2019 score.
IMD_YEAR = "2019"
#: Practice-score file names, in order of preference when a folder holds several: the later
#: Fingertips export first (it covers more practices), then the website export.
PRACTICE_FILE_PATTERNS = ("IMD_raw*", "indicator-data*")
#: English Indices of Deprivation 2019 by LSOA 2011: File 7 (all scores, ranks and deciles, as
#: published in CSV) or a CSV of File 1 (ranks and deciles; published as a spreadsheet).
LSOA_FILE_PATTERNS = ("File_7*IoD2019*", "File_1*IMD2019*", "IMD2019*")

#: Fingertips shapes: name → (indicator id, area code, period, value, area type or None).
_FINGERTIPS_SHAPES: dict[str, tuple[str, str, str, str, str | None]] = {
    "website export": ("Indicator ID", "Area Code", "Time period", "Value", "Area Type"),
    "API export": ("IndicatorID", "AreaCode", "Timeperiod", "Value", "AreaType"),
    "API export, reduced": ("IndicatorID", "AreaCode", "Year", "Value", None),
}


def _fingertips_shape(path: Path, header: list[str]) -> tuple[str, ...]:
    present = {layout_key(name) for name in header}
    for columns in _FINGERTIPS_SHAPES.values():
        if all(layout_key(name) in present for name in columns if name is not None):
            return columns
    expected = {name: [c for c in cols if c] for name, cols in _FINGERTIPS_SHAPES.items()}
    raise PublicFileLayoutError(
        f"{path}: not a Fingertips indicator export; expected the columns of one of {expected}; "
        f"found {header}"
    )


def read_practice_imd_file(path: str | Path) -> pd.DataFrame:
    """Practice IMD 2019 scores from one Fingertips export (either shape).

    Returns:
        Columns ``practice_code``, ``imd_score`` (float), ``imd_source`` (file name).
    """
    path = Path(path)
    header = read_header(path)
    indicator, area, period, value, area_type = _fingertips_shape(path, header)
    wanted = [name for name in (indicator, area, period, value, area_type) if name]
    spelling = resolve_columns(header, wanted)
    frame = read_columns(path, [spelling[name] for name in wanted])
    frame.columns = wanted
    keep = (frame[indicator].str.strip() == IMD_INDICATOR_ID) & (
        frame[period].str.strip() == IMD_YEAR
    )
    if area_type is not None:
        keep &= frame[area_type].str.strip() == "GP"
    rows = frame[keep].copy()
    rows["practice_code"] = rows[area].str.strip().str.upper()
    rows = rows[rows["practice_code"].str.fullmatch(r"[A-Z][0-9A-Z]{5}").fillna(False)]
    if rows.empty:
        raise PublicFileError(
            f"{path}: no GP-practice rows of indicator {IMD_INDICATOR_ID} for {IMD_YEAR}"
        )
    rows = rows[rows[value].notna()]
    rows["imd_score"] = to_number(rows, value, path)
    if (rows["imd_score"] < 0).any():
        raise PublicFileError(
            f"{path}: negative IMD scores in "
            f"{describe_bad_values(rows.loc[rows['imd_score'] < 0, 'practice_code'])}"
        )
    conflicting = rows.groupby("practice_code")["imd_score"].nunique() > 1
    if conflicting.any():
        raise PublicFileError(
            f"{path}: more than one IMD {IMD_YEAR} score for practices "
            f"{describe_bad_values(pd.Series(conflicting[conflicting].index))}"
        )
    result = rows.drop_duplicates("practice_code")[["practice_code", "imd_score"]]
    result["imd_source"] = pd.Series(path.name, index=result.index, dtype="string")
    return result.sort_values("practice_code").reset_index(drop=True)


def read_practice_imd(path: str | Path) -> pd.DataFrame:
    """Practice IMD 2019 scores: one file, or every Fingertips export in a folder combined.

    In a folder, the files are taken in the order of :data:`PRACTICE_FILE_PATTERNS`: a practice
    gets its score from the first file that has it. (The two exports checked agree on 99.5% of
    practices; the small differences are Fingertips revisions between export dates.)

    Returns:
        Columns ``practice_code``, ``imd_score`` (higher = more deprived), ``imd_source``.
    """
    path = Path(path)
    if path.is_file():
        return read_practice_imd_file(path)
    found = find_files(path, PRACTICE_FILE_PATTERNS, "Fingertips practice IMD file")
    files = [file for pattern in PRACTICE_FILE_PATTERNS for file in found if file.match(pattern)]
    frames = [read_practice_imd_file(file) for file in dict.fromkeys(files)]
    combined = pd.concat(frames, ignore_index=True).drop_duplicates("practice_code")
    return combined.sort_values("practice_code").reset_index(drop=True)


def read_lsoa_imd(path: str | Path) -> pd.DataFrame:
    """The data contract's ``areas`` table from the English Indices of Deprivation 2019.

    Reads File 7 (CSV of all scores, ranks and deciles; gives ``imd_score`` too) or a CSV of
    File 1 (ranks and deciles only; ``imd_score`` is then left out, as the contract allows).
    The decile column is found by its published start, "Index of Multiple Deprivation (IMD)
    Decile", since File 7 adds "(where 1 is most deprived 10% of LSOAs)" to it.
    Quintile = ceil(decile / 2).

    Returns:
        Columns ``area_code`` (LSOA 2011), [``imd_score``,] ``imd_decile`` (1 = most deprived),
        ``imd_quintile``.
    """
    file = find_files(Path(path), LSOA_FILE_PATTERNS, "English Indices of Deprivation 2019 CSV")[0]
    header = read_header(file)
    code_column = "LSOA code (2011)"
    decile_start = layout_key("Index of Multiple Deprivation (IMD) Decile")
    score_name = layout_key("Index of Multiple Deprivation (IMD) Score")
    decile_columns = [name for name in header if layout_key(name).startswith(decile_start)]
    score_columns = [name for name in header if layout_key(name) == score_name]
    require_columns(
        file, header, [code_column], "English Indices of Deprivation 2019 (File 1 or File 7)"
    )
    if not decile_columns:
        raise PublicFileLayoutError(
            f"{file}: no column starting 'Index of Multiple Deprivation (IMD) Decile'; "
            f"found {header}"
        )
    decile_column = decile_columns[0]
    wanted = [resolve_columns(header, [code_column])[code_column], decile_column, *score_columns]
    frame = read_columns(file, wanted)
    decile = to_number(frame, decile_column, file)
    bad = ~decile.isin(range(1, 11))
    if bad.any():
        raise PublicFileError(
            f"{file}: column {decile_column!r} is not a decile 1-10 in "
            f"{describe_bad_values(frame.loc[bad, decile_column])}"
        )
    areas = pd.DataFrame({"area_code": frame[wanted[0]].str.strip()})
    if score_columns:
        areas["imd_score"] = to_number(frame, score_columns[0], file)
    areas["imd_decile"] = decile.astype("int64")
    areas["imd_quintile"] = ((decile + 1) // 2).astype("int64")
    duplicated = areas["area_code"].duplicated(keep=False)
    if duplicated.any():
        raise PublicFileError(
            f"{file}: LSOA codes appear more than once in "
            f"{describe_bad_values(areas.loc[duplicated, 'area_code'])}"
        )
    return areas
