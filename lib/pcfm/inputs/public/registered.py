"""NHS England "Patients Registered at a GP Practice": list size by 5-year age band and sex.

The publisher's file is ``gp-reg-pat-prac-quin-age.csv`` (one per monthly extract, with
rows for practices, PCNs, sub-ICB locations, ICBs and regions). Some loaders re-export
it to Parquet with lower-case column names and several extracts stacked; both read here.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pcfm.inputs.public.common import (
    PublicFileError,
    choose_extract_date,
    describe_bad_values,
    distinct_values,
    find_files,
    normalise_extract_dates,
    read_columns,
    read_header,
    require_columns,
    resolve_columns,
    to_number,
)

#: File names of the age-sex file: as published, and as the Parquet re-export names it.
FILE_PATTERNS = ("gp-reg-pat-prac-quin-age*", "gp_prac_reg_quin_age*")
#: Columns read (the published names are the upper-case versions).
COLUMNS = ("extract_date", "org_type", "org_code", "sex", "age_group_5", "number_of_patients")
#: ``ORG_TYPE`` of practice rows.
PRACTICE_ORG_TYPE = "GP"
#: Five-year age bands as published, relabelled ``0_4`` → ``0-4``; the top band is 95+.
AGE_BANDS = (*(f"{low}-{low + 4}" for low in range(0, 95, 5)), "95+")
SEX_CODES = {"FEMALE": "F", "MALE": "M"}


def _files(path: Path) -> list[Path]:
    return find_files(path, FILE_PATTERNS, "registered patients by age and sex file")


def _spelling(path: Path) -> dict[str, str]:
    """The file's own spelling of each column read (published upper case, or lower case)."""
    header = read_header(path)
    wanted = [c.upper() for c in COLUMNS]
    require_columns(path, header, wanted, "registered patients by age-sex")
    spelling = resolve_columns(header, wanted)
    return {name.lower(): spelling[name] for name in wanted}


def _extract_dates(path: Path) -> dict[str, str]:
    """Raw extract-date text in the file → ISO date (reads one column only)."""
    column = _spelling(path)["extract_date"]
    distinct = pd.Series(distinct_values(path, column), dtype="string")
    iso = normalise_extract_dates(distinct, path, column)
    return dict(zip(distinct.tolist(), iso.tolist(), strict=True))


def _read_one(path: Path, raw_dates: list[str]) -> pd.DataFrame:
    spelling = _spelling(path)
    filters = [
        (spelling["org_type"], "==", PRACTICE_ORG_TYPE),
        (spelling["extract_date"], "in", raw_dates),
    ]
    frame = read_columns(path, [spelling[c] for c in COLUMNS], filters=filters)
    frame.columns = list(COLUMNS)
    keep = (frame["org_type"].str.strip() == PRACTICE_ORG_TYPE) & frame["extract_date"].isin(
        raw_dates
    )
    return frame[keep]


def read_registered_age_sex(path: str | Path, extract_date: str | None = None) -> pd.DataFrame:
    """Registered patients per practice by sex and 5-year age band, for one extract.

    Args:
        path: The published CSV (or gzipped CSV, or the Parquet re-export), or a folder in
            which to find them; several files (monthly extracts) are stacked.
        extract_date: Extract to keep, e.g. ``"2025-04-01"`` or ``"01Apr2025"``; the latest
            available if None.

    Returns:
        Columns ``practice_code``, ``sex`` ('F'/'M'), ``age_band`` ('0-4' … '90-94', '95+'),
        ``patients`` (int); practice rows only, every band present for every practice.
        ``frame.attrs["extract_date"]`` holds the extract used (ISO date).

    Raises:
        PublicFileError: if the extract is absent (naming the ones available), a count is not
            a whole number, or a practice's bands do not add up to its published total.
    """
    files = _files(Path(path))
    where = ", ".join(str(file) for file in files)
    dates_by_file = {file: _extract_dates(file) for file in files}
    available = [iso for dates in dates_by_file.values() for iso in dates.values()]
    chosen = choose_extract_date(available, extract_date, where)
    frames = [
        _read_one(file, [raw for raw, iso in dates.items() if iso == chosen])
        for file, dates in dates_by_file.items()
        if chosen in dates.values()
    ]
    rows = pd.concat(frames, ignore_index=True)
    rows["patients"] = to_number(
        rows, "number_of_patients", Path(where), label="NUMBER_OF_PATIENTS"
    )
    fractional = rows["patients"] % 1 != 0
    if fractional.any() or (rows["patients"] < 0).any():
        bad = rows.loc[fractional | (rows["patients"] < 0), "number_of_patients"]
        raise PublicFileError(
            f"{where}: NUMBER_OF_PATIENTS is not a count in {describe_bad_values(bad)}"
        )
    rows["practice_code"] = rows["org_code"].str.strip().str.upper()
    rows["sex_text"] = rows["sex"].str.strip().str.upper()
    rows["band_text"] = rows["age_group_5"].str.strip().str.upper()
    key = ["practice_code", "sex_text", "band_text"]
    duplicated = rows.duplicated(key, keep=False)
    if duplicated.any():
        raise PublicFileError(
            f"{where}: extract {chosen} has more than one row for the same practice, sex and "
            f"age band in {describe_bad_values(rows.loc[duplicated, 'practice_code'])}"
        )

    totals = rows[(rows["sex_text"] == "ALL") & (rows["band_text"] == "ALL")]
    bands = rows[rows["sex_text"].isin(SEX_CODES) & (rows["band_text"] != "ALL")].copy()
    bands["sex"] = bands["sex_text"].map(SEX_CODES)
    bands["age_band"] = bands["band_text"].str.replace("_", "-", regex=False)
    unknown = ~bands["age_band"].isin(AGE_BANDS)
    if unknown.any():
        raise PublicFileError(
            f"{where}: AGE_GROUP_5 has bands not in {AGE_BANDS[0]} … {AGE_BANDS[-1]} in "
            f"{describe_bad_values(bands.loc[unknown, 'age_group_5'])}"
        )
    _check_totals(bands, totals, where, chosen)

    grid = pd.MultiIndex.from_product(
        [sorted(bands["practice_code"].unique()), ("F", "M"), AGE_BANDS],
        names=["practice_code", "sex", "age_band"],
    )
    result = (
        bands.set_index(["practice_code", "sex", "age_band"])["patients"]
        .reindex(grid, fill_value=0)
        .astype("int64")
        .reset_index()
    )
    result["practice_code"] = result["practice_code"].astype("string")
    result["sex"] = result["sex"].astype("string")
    result["age_band"] = result["age_band"].astype("string")
    result.attrs["extract_date"] = chosen
    return result


def _check_totals(bands: pd.DataFrame, totals: pd.DataFrame, where: str, chosen: str) -> None:
    """Every practice's band counts must add up to its published all-ages total."""
    if totals.empty:
        return
    summed = bands.groupby("practice_code")["patients"].sum()
    published = totals.set_index("practice_code")["patients"]
    joined = pd.concat([summed.rename("bands"), published.rename("total")], axis=1).fillna(0)
    wrong = joined[joined["bands"] != joined["total"]]
    if not wrong.empty:
        raise PublicFileError(
            f"{where}: extract {chosen}: age-sex bands do not add up to the practice total in "
            f"{describe_bad_values(pd.Series(wrong.index))}"
        )


def registered_extract_dates(path: str | Path) -> list[str]:
    """The extract dates (ISO) available in the age-sex file(s) at ``path``."""
    return sorted({iso for file in _files(Path(path)) for iso in _extract_dates(file).values()})
