"""Practice → PCN → sub-ICB location → ICB map ("Patients Registered at a GP Practice").

The publisher's file is ``gp-reg-pat-prac-map.csv`` (one per monthly extract). Before July
2022 its geography columns were CCG and STP; both layouts read here, the older one
with CCG as the sub-ICB level and STP as the ICB level.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pcfm.inputs.public.common import (
    PublicFileError,
    PublicFileLayoutError,
    choose_extract_date,
    describe_bad_values,
    find_files,
    layout_key,
    normalise_extract_dates,
    read_columns,
    read_header,
    resolve_columns,
)

#: File names of the map: as published, and as the Parquet re-export names it.
FILE_PATTERNS = ("gp-reg-pat-prac-map*", "gp_prac_pat_map*")
#: Columns of the tidy output, in order.
OUTPUT_COLUMNS = (
    "practice_code",
    "practice_name",
    "pcn_code",
    "pcn_name",
    "sub_icb_code",
    "sub_icb_name",
    "icb_code",
    "icb_name",
)
#: Known layouts: name → output column (plus ``extract_date``) → published column.
LAYOUTS: dict[str, dict[str, str]] = {
    "sub-ICB and ICB (from July 2022)": {
        "extract_date": "EXTRACT_DATE",
        "practice_code": "PRACTICE_CODE",
        "practice_name": "PRACTICE_NAME",
        "pcn_code": "PCN_CODE",
        "pcn_name": "PCN_NAME",
        "sub_icb_code": "SUB_ICB_LOCATION_CODE",
        "sub_icb_name": "SUB_ICB_LOCATION_NAME",
        "icb_code": "ICB_CODE",
        "icb_name": "ICB_NAME",
    },
    "CCG and STP (before July 2022)": {
        "extract_date": "EXTRACT_DATE",
        "practice_code": "PRACTICE_CODE",
        "practice_name": "PRACTICE_NAME",
        "pcn_code": "PCN_CODE",
        "pcn_name": "PCN_NAME",
        "sub_icb_code": "CCG_CODE",
        "sub_icb_name": "CCG_NAME",
        "icb_code": "STP_CODE",
        "icb_name": "STP_NAME",
    },
}


def _layout(path: Path, header: list[str]) -> dict[str, str]:
    present = {layout_key(name) for name in header}
    for columns in LAYOUTS.values():
        if all(layout_key(name) in present for name in columns.values()):
            return columns
    expected = {name: list(columns.values()) for name, columns in LAYOUTS.items()}
    raise PublicFileLayoutError(
        f"{path}: not a practice mapping file (gp-reg-pat-prac-map) as published; expected the "
        f"columns of one of {expected}; found {header}"
    )


def _read_one(path: Path) -> pd.DataFrame:
    header = read_header(path)
    layout = _layout(path, header)
    spelling = resolve_columns(header, list(layout.values()))
    frame = read_columns(path, [spelling[name] for name in layout.values()])
    frame.columns = list(layout)
    frame["extract_date"] = normalise_extract_dates(frame["extract_date"], path, "EXTRACT_DATE")
    for column in OUTPUT_COLUMNS:
        frame[column] = frame[column].str.strip()
    for column in ("practice_code", "pcn_code", "sub_icb_code", "icb_code"):
        frame[column] = frame[column].str.upper()
    return frame


def read_practice_map(path: str | Path, extract_date: str | None = None) -> pd.DataFrame:
    """Which PCN, sub-ICB location and ICB each practice belonged to at one extract.

    Args:
        path: The published ``gp-reg-pat-prac-map.csv`` (or gzipped, or the Parquet re-export),
            or a folder in which to find them; several files (monthly extracts) are stacked.
        extract_date: Extract to keep (``"2025-04-01"`` or ``"01Apr2025"``); latest if None.

    Returns:
        Columns of :data:`OUTPUT_COLUMNS`, one row per practice;
        ``frame.attrs["extract_date"]`` holds the extract used (ISO date). Practices not in a
        PCN have the publisher's code ``U`` and name ``Unallocated``.

    Raises:
        PublicFileError: if the extract is absent (naming those available) or a practice
            appears twice in one extract.
    """
    files = find_files(Path(path), FILE_PATTERNS, "practice mapping file (gp-reg-pat-prac-map)")
    where = ", ".join(str(file) for file in files)
    stacked = pd.concat([_read_one(file) for file in files], ignore_index=True)
    chosen = choose_extract_date(stacked["extract_date"], extract_date, where)
    rows = stacked[stacked["extract_date"] == chosen].drop_duplicates()
    duplicated = rows["practice_code"].duplicated(keep=False)
    if duplicated.any():
        raise PublicFileError(
            f"{where}: extract {chosen} maps the same practice more than once in "
            f"{describe_bad_values(rows.loc[duplicated, 'practice_code'])}"
        )
    missing = rows[["practice_code", "sub_icb_code", "icb_code"]].isna().any(axis=1)
    if missing.any():
        raise PublicFileError(
            f"{where}: extract {chosen} has practices without a code, sub-ICB or ICB in "
            f"{describe_bad_values(rows.loc[missing, 'practice_code'].fillna('<empty>'))}"
        )
    result = rows[list(OUTPUT_COLUMNS)].sort_values("practice_code").reset_index(drop=True)
    result.attrs["extract_date"] = chosen
    return result
