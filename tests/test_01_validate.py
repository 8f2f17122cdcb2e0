"""Validation of the input data folder: one test per kind of failure, each with a broken file.

The fixtures come from :func:`make_tables`, a tiny hand-made generator of the four contract
tables (a few dozen patients), so every broken value is placed exactly and the messages
can be checked for file, column, row count and examples.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pcfm.data.contract import CAMBRIDGE_WEIGHTS, STAFF_TYPES
from pcfm.data.quality import hashed_identifier
from pcfm.data.read import read_areas, read_practices
from pcfm.data.validate import DataValidationError, ValidationProblem, validate_folder
from pcfm.params.data import DataParams

pytestmark = pytest.mark.unit

AREA_DECILES = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 2, 9)


def make_tables(
    n_patients: int = 40,
    n_practices: int = 3,
    seed: int = 1,
    activity: str = "appointments",
    conditions: bool = True,
) -> dict[str, pd.DataFrame]:
    """The four contract tables for a tiny made-up ICB.

    Args:
        n_patients: Patients, spread round-robin over the practices (so none is empty).
        n_practices: Practices.
        seed: Seed of the random draws.
        activity: ``appointments`` (one row per appointment) or ``counts`` (contacts).
        conditions: Whether patients carry the 20 Cambridge condition flags.
    """
    rng = np.random.default_rng(seed)
    practice_codes = [f"A{81000 + i}" for i in range(n_practices)]
    areas = pd.DataFrame(
        {
            "area_code": [f"E0100{i:04d}" for i in range(len(AREA_DECILES))],
            "imd_score": np.round(rng.uniform(2, 60, len(AREA_DECILES)), 2),
            "imd_decile": AREA_DECILES,
            "imd_quintile": [math.ceil(d / 2) for d in AREA_DECILES],
        }
    )
    patients = pd.DataFrame(
        {
            "patient_id": [f"P{i:05d}" for i in range(n_patients)],
            "practice_code": [practice_codes[i % n_practices] for i in range(n_patients)],
            "age": rng.integers(0, 100, n_patients),
            "sex": rng.choice(["F", "M"], n_patients),
            "lsoa_code": rng.choice(areas["area_code"], n_patients),
            "days_registered": np.where(
                rng.random(n_patients) < 0.8, 365, rng.integers(1, 365, n_patients)
            ),
            "newly_registered": rng.integers(0, 2, n_patients),
            "care_home": (rng.random(n_patients) < 0.05).astype(int),
            "interpreter_needed": (rng.random(n_patients) < 0.1).astype(int),
            "ltc_count": rng.poisson(1.2, n_patients),
        }
    )
    if conditions:
        for name in CAMBRIDGE_WEIGHTS:
            patients[f"cond_{name}"] = (rng.random(n_patients) < 0.12).astype(int)
    contacts = rng.poisson(2.0 + 0.8 * patients["ltc_count"].to_numpy())
    if activity == "counts":
        activity_table = pd.DataFrame({"patient_id": patients["patient_id"], "contacts": contacts})
        activity_table = activity_table[activity_table["contacts"] > 0].reset_index(drop=True)
    else:
        ids = np.repeat(patients["patient_id"].to_numpy(), contacts)
        n_appointments = len(ids)
        activity_table = pd.DataFrame(
            {
                "patient_id": ids,
                "appointment_date": (
                    pd.Timestamp("2024-04-01")
                    + pd.to_timedelta(rng.integers(0, 365, n_appointments), unit="D")
                ).strftime("%Y-%m-%d"),
                "staff_type": rng.choice(STAFF_TYPES, n_appointments),
                "mode": rng.choice(["Face-to-face", "Telephone"], n_appointments),
                "duration_minutes": rng.choice([5.0, 10.0, 15.0, 20.0], n_appointments),
            }
        )
    practices = pd.DataFrame(
        {
            "practice_code": practice_codes,
            "practice_name": [f"Practice {i}" for i in range(n_practices)],
            "pcn_code": [f"U{10000 + i // 2}" for i in range(n_practices)],
            "pcn_name": [f"PCN {i // 2}" for i in range(n_practices)],
            "place": ["City" if i % 2 == 0 else "County" for i in range(n_practices)],
            "registered_list": [
                int((patients["practice_code"] == code).sum()) for code in practice_codes
            ],
            "current_funding_gbp": [100_000.0 + 1_000 * i for i in range(n_practices)],
        }
    )
    return {
        "patients": patients,
        "activity": activity_table,
        "practices": practices,
        "areas": areas,
    }


def write_tables(tables: dict[str, pd.DataFrame], folder: Path, fmt: str = "csv") -> Path:
    """Write the tables as ``<stem>.csv`` or ``<stem>.parquet`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for stem, frame in tables.items():
        if fmt == "csv":
            frame.to_csv(folder / f"{stem}.csv", index=False)
        else:
            frame.to_parquet(folder / f"{stem}.parquet", index=False)
    return folder


def _broken(tmp_path: Path, edit, fmt: str = "csv", **table_options) -> str:
    """Write tables changed by ``edit``, validate them and return the error text."""
    tables = make_tables(**table_options)
    edit(tables)
    folder = write_tables(tables, tmp_path / "data", fmt)
    with pytest.raises(DataValidationError) as caught:
        validate_folder(folder, DataParams())
    return str(caught.value)


def _set(frame: pd.DataFrame, column: str, rows: list[int], values: list) -> None:
    frame[column] = frame[column].astype(object)
    for row, value in zip(rows, values, strict=True):
        frame.loc[row, column] = value


# A clean folder -------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_clean_folder_passes_with_empty_quality_table(tmp_path, fmt):
    tables = make_tables()
    folder = write_tables(tables, tmp_path, fmt)
    quality = validate_folder(folder, DataParams())
    assert list(quality.table.columns) == ["check", "file", "column", "rows", "action"]
    assert quality.table.empty
    assert quality.row_counts == {stem: len(frame) for stem, frame in tables.items()}
    assert quality.activity_form == "appointments"


def test_parquet_with_native_types(tmp_path):
    """Integer ids, boolean flags and real dates in Parquet are as good as text."""
    tables = make_tables(n_patients=30)
    number = {pid: i for i, pid in enumerate(tables["patients"]["patient_id"])}
    tables["patients"]["patient_id"] = tables["patients"]["patient_id"].map(number)
    tables["activity"]["patient_id"] = tables["activity"]["patient_id"].map(number)
    tables["patients"]["care_home"] = tables["patients"]["care_home"].astype(bool)
    tables["activity"]["appointment_date"] = pd.to_datetime(tables["activity"]["appointment_date"])
    folder = write_tables(tables, tmp_path, "parquet")
    quality = validate_folder(folder, DataParams())
    assert quality.row_counts["activity"] == len(tables["activity"])
    _set(tables["activity"], "patient_id", [0], [999])
    write_tables(tables, folder, "parquet")
    with pytest.raises(DataValidationError, match="1 row for patients not in the patients table"):
        validate_folder(folder, DataParams())


def test_error_message_has_the_documented_form():
    problem = ValidationProblem(
        "patients.csv", "age", 3, ("130", "-1", "999"), "out of range 0–115"
    )
    assert (
        str(problem) == "patients.csv: column age: 3 rows out of range 0–115 (first: 130, -1, 999)"
    )
    error = DataValidationError([problem, problem], Path("/data"))
    assert isinstance(error, ValueError)
    lines = str(error).splitlines()
    assert len(lines) == 3
    assert "2 problem(s)" in lines[0]


# Files ------------------------------------------------------------------------------------


def test_missing_folder(tmp_path):
    with pytest.raises(DataValidationError, match="nowhere: the data folder does not exist"):
        validate_folder(tmp_path / "nowhere", DataParams())


def test_two_files_for_one_table_is_an_error(tmp_path):
    folder = write_tables(make_tables(), tmp_path)
    pd.read_csv(folder / "patients.csv").head(3).to_parquet(folder / "patients.parquet")
    with pytest.raises(DataValidationError) as caught:
        validate_folder(folder, DataParams())
    assert "patients.parquet and patients.csv are both present: keep only the one" in (
        str(caught.value)
    )


def test_missing_file(tmp_path):
    folder = write_tables(make_tables(), tmp_path)
    (folder / "activity.csv").unlink()
    with pytest.raises(DataValidationError) as caught:
        validate_folder(folder, DataParams())
    assert "activity: file missing: the data contract needs activity.parquet or activity.csv" in (
        str(caught.value)
    )


def test_unreadable_file(tmp_path):
    folder = write_tables(make_tables(), tmp_path)
    (folder / "practices.csv").unlink()
    (folder / "practices.parquet").write_bytes(b"PAR1 this is not really parquet")
    with pytest.raises(DataValidationError) as caught:
        validate_folder(folder, DataParams())
    assert "practices.parquet: cannot be read (" in str(caught.value)
    assert "Traceback" not in str(caught.value)


def test_csv_with_a_ragged_row(tmp_path):
    folder = write_tables(make_tables(), tmp_path)
    with (folder / "practices.csv").open("a") as handle:
        handle.write("B1,Name,U1,PCN,City,10,100.0,extra\n")
    with pytest.raises(DataValidationError) as caught:
        validate_folder(folder, DataParams())
    assert "practices.csv: cannot be read (CSV Error on Line: 5: Expected Number of Columns: 7" in (
        str(caught.value)
    )
    assert "B1,Name" not in str(caught.value)


def test_csv_not_utf8_or_not_comma_separated(tmp_path):
    tables = make_tables()
    folder = write_tables(tables, tmp_path)
    tables["practices"].to_csv(folder / "practices.csv", sep=";", index=False)
    (folder / "areas.csv").write_bytes("area_code,imd_decile\nE01,caf\xe9\n".encode("latin-1"))
    with pytest.raises(DataValidationError) as caught:
        validate_folder(folder, DataParams())
    message = str(caught.value)
    assert "practices.csv: is separated by ';' (the data contract needs comma-separated CSV)" in (
        message
    )
    assert "areas.csv: is not UTF-8 text" in message


def test_csv_with_windows_line_endings_and_byte_order_mark(tmp_path):
    tables = make_tables()
    folder = write_tables(tables, tmp_path)
    text = (folder / "patients.csv").read_text()
    (folder / "patients.csv").write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    quality = validate_folder(folder, DataParams())
    assert quality.row_counts["patients"] == len(tables["patients"])


def test_csv_with_a_bad_type(tmp_path):
    message = _broken(tmp_path, lambda t: _set(t["patients"], "age", [4, 9], ["abc", "4O"]))
    assert "patients.csv: column age: 2 rows not a number (first: abc, 4O)" in message


def test_missing_required_column(tmp_path):
    message = _broken(tmp_path, lambda t: t.update(patients=t["patients"].drop(columns="sex")))
    assert "patients.csv: column sex: required column missing" in message


def test_empty_table(tmp_path):
    message = _broken(tmp_path, lambda t: t.update(activity=t["activity"].iloc[0:0]))
    assert "activity.csv: has no rows" in message


# Ranges, types and codes ------------------------------------------------------------------


def test_age_out_of_range(tmp_path):
    message = _broken(tmp_path, lambda t: _set(t["patients"], "age", [1, 2, 3], [130, -1, 999]))
    assert "patients.csv: column age: 3 rows out of range 0–115 (first: 130, -1, 999)" in message


def test_age_not_a_whole_number(tmp_path):
    message = _broken(tmp_path, lambda t: _set(t["patients"], "age", [5], [40.5]), fmt="parquet")
    assert "patients.parquet: column age: 1 row not a whole number (first: 40.5)" in message


def test_exposure_out_of_range(tmp_path):
    message = _broken(tmp_path, lambda t: _set(t["patients"], "days_registered", [0, 7], [0, 400]))
    assert (
        "patients.csv: column days_registered: 2 rows with exposure outside (0, 1] "
        "(days_registered / 365) (first: 0, 400)"
    ) in message


def test_exposure_allows_366_days_in_a_leap_year(tmp_path):
    tables = make_tables()
    _set(tables["patients"], "days_registered", [0], [366])
    folder = write_tables(tables, tmp_path)
    leap_year = {"start": "2023-04-01", "end": "2024-03-31"}  # 29 February 2024 inside
    tables["activity"]["appointment_date"] = "2023-06-01"
    write_tables(tables, folder)
    data = {"source": "folder", "folder": folder}
    validate_folder(folder, DataParams(**data, reference_period=leap_year, days_in_year=366))
    with pytest.raises(DataValidationError, match="1 row with exposure outside"):
        validate_folder(
            folder,
            DataParams(**data, reference_period={"start": "2023-04-02", "end": "2024-03-31"}),
        )


# Strict types and plausible magnitudes ----------------------------------------------------


def test_a_boolean_age_in_parquet_is_not_read_as_0_and_1(tmp_path):
    def boolean_age(tables):
        tables["patients"]["age"] = tables["patients"]["age"] > 50

    message = _broken(tmp_path, boolean_age, fmt="parquet")
    assert "patients.parquet: column age: 40 rows stored as BOOLEAN, not as whole numbers" in (
        message
    )


def test_a_boolean_count_in_parquet_is_rejected(tmp_path):
    def boolean_contacts(tables):
        tables["activity"]["contacts"] = tables["activity"]["contacts"] > 1

    message = _broken(tmp_path, boolean_contacts, fmt="parquet", activity="counts")
    assert "activity.parquet: column contacts:" in message
    assert "stored as BOOLEAN, not as whole numbers" in message


def test_dates_stored_as_numbers_in_parquet_are_rejected(tmp_path):
    def day_numbers(tables):
        tables["activity"]["appointment_date"] = 19_900

    message = _broken(tmp_path, day_numbers, fmt="parquet")
    assert "activity.parquet: column appointment_date:" in message
    assert "stored as BIGINT, not as dates" in message


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_implausible_funding_is_rejected_before_it_becomes_a_nan(tmp_path, fmt):
    message = _broken(
        tmp_path, lambda t: _set(t["practices"], "current_funding_gbp", [1], [1e308]), fmt=fmt
    )
    assert (
        f"practices.{fmt}: column current_funding_gbp: 1 row out of range 0–500,000,000 "
        "(first: 1e+308)"
    ) in message


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_list_size_beyond_any_practice_is_rejected(tmp_path, fmt):
    message = _broken(
        tmp_path, lambda t: _set(t["practices"], "registered_list", [0], [1e20]), fmt=fmt
    )
    assert f"practices.{fmt}: column registered_list: 1 row out of range 1–500,000" in message


def test_contacts_and_imd_scores_have_bounds(tmp_path):
    def implausible(tables):
        _set(tables["areas"], "imd_score", [0], [1e9])

    message = _broken(tmp_path, implausible)
    assert "areas.csv: column imd_score: 1 row out of range 0–100 (first: 1000000000.0)" in (
        message
    )


# The reference period ---------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_appointments_outside_the_reference_period_are_rejected(tmp_path, fmt):
    def out_of_period(tables):
        dates = pd.to_datetime(tables["activity"]["appointment_date"])
        dates.iloc[[2, 5]] = [pd.Timestamp("1900-01-01"), pd.Timestamp("2099-12-31")]
        tables["activity"]["appointment_date"] = (
            dates if fmt == "parquet" else dates.dt.strftime("%Y-%m-%d")
        )

    message = _broken(tmp_path, out_of_period, fmt=fmt)
    assert (
        f"activity.{fmt}: column appointment_date: 2 rows outside the reference period "
        "2024-04-01 to 2025-03-31 (data.reference_period; cut the extract to the period)"
    ) in message
    assert "1900-01-01" in message and "2099-12-31" in message


def test_the_reference_period_is_a_parameter(tmp_path):
    folder = write_tables(make_tables(), tmp_path)
    validate_folder(folder, DataParams(source="folder", folder=folder))
    later = {"start": "2025-04-01", "end": "2026-03-31"}
    with pytest.raises(DataValidationError, match="outside the reference period 2025-04-01"):
        validate_folder(folder, DataParams(source="folder", folder=folder, reference_period=later))


def test_sex_code_not_allowed(tmp_path):
    message = _broken(tmp_path, lambda t: _set(t["patients"], "sex", [2, 3], ["U", "f"]))
    assert "patients.csv: column sex: 2 rows not one of the allowed codes F, M (first: U, f)" in (
        message
    )


def test_flag_code_not_allowed(tmp_path):
    message = _broken(tmp_path, lambda t: _set(t["patients"], "care_home", [6], [2]))
    assert "patients.csv: column care_home: 1 row not one of the allowed codes 0, 1 (first: 2)" in (
        message
    )


def test_missing_flag_value(tmp_path):
    message = _broken(tmp_path, lambda t: _set(t["patients"], "newly_registered", [6], [None]))
    assert "patients.csv: column newly_registered: 1 row with no value" in message


def test_staff_type_not_allowed(tmp_path):
    message = _broken(tmp_path, lambda t: _set(t["activity"], "staff_type", [0], ["Locum"]))
    assert (
        "activity.csv: column staff_type: 1 row not one of the allowed codes GP, Nurse, Other"
        in (message)
    )
    assert "(first: Locum)" in message


def test_appointment_date_not_a_date(tmp_path):
    message = _broken(
        tmp_path, lambda t: _set(t["activity"], "appointment_date", [3], ["31/02/2024"])
    )
    assert (
        "activity.csv: column appointment_date: 1 row not a date (YYYY-MM-DD) (first: 31/02/2024)"
        in (message)
    )


def test_negative_counts(tmp_path):
    message = _broken(
        tmp_path, lambda t: _set(t["activity"], "contacts", [0, 1], [-1, -3]), activity="counts"
    )
    assert "activity.csv: column contacts: 2 rows out of range 0–5,000 (first: -1, -3)" in message


def test_non_integer_counts(tmp_path):
    message = _broken(
        tmp_path, lambda t: _set(t["activity"], "contacts", [2], [2.5]), activity="counts"
    )
    assert "activity.csv: column contacts: 1 row not a whole number (first: 2.5)" in message


def test_missing_funding(tmp_path):
    message = _broken(tmp_path, lambda t: _set(t["practices"], "current_funding_gbp", [1], [None]))
    assert "practices.csv: column current_funding_gbp: 1 row with no value" in message


def test_negative_funding(tmp_path):
    message = _broken(tmp_path, lambda t: _set(t["practices"], "current_funding_gbp", [2], [-5.0]))
    assert (
        "practices.csv: column current_funding_gbp: 1 row out of range 0–500,000,000 (first: -5.0)"
    ) in message


def test_area_quintile_inconsistent_with_decile(tmp_path):
    message = _broken(tmp_path, lambda t: _set(t["areas"], "imd_quintile", [0], [3]))
    assert (
        "areas.csv: column imd_quintile: 1 row with imd_quintile not matching imd_decile"
    ) in message
    assert "(first: E01000000)" in message


def test_partial_cambridge_conditions(tmp_path):
    message = _broken(
        tmp_path,
        lambda t: t.update(patients=t["patients"].drop(columns=["cond_asthma", "cond_copd"])),
    )
    assert (
        "patients.csv: column cond_asthma: 2 of the 20 Cambridge Multimorbidity Score condition "
        "columns are missing: give all of them or none (first: cond_asthma, cond_copd)"
    ) in message


# Links between tables --------------------------------------------------------------------


def test_duplicate_patient_ids(tmp_path):
    message = _broken(
        tmp_path, lambda t: _set(t["patients"], "patient_id", [1, 2], ["P00000", "P00000"])
    )
    assert (
        "patients.csv: column patient_id: 3 rows with a duplicated patient_id (it must be unique) "
        f"(first: {hashed_identifier('P00000')})"
    ) in message
    assert "P00000" not in message  # a patient's id never reaches a console or a log


def test_activity_for_unknown_patients(tmp_path):
    message = _broken(tmp_path, lambda t: _set(t["activity"], "patient_id", [0, 1], ["X1", "X2"]))
    assert (
        "activity.csv: column patient_id: 2 rows for patients not in the patients table "
        f"(first: {hashed_identifier('X1')}, {hashed_identifier('X2')})"
    ) in message
    assert hashed_identifier("X1") == "sha256:" + hashlib.sha256(b"X1").hexdigest()[:10]


def test_patients_at_practices_missing_from_practice_table(tmp_path):
    message = _broken(tmp_path, lambda t: _set(t["patients"], "practice_code", [0], ["Z99999"]))
    assert (
        "patients.csv: column practice_code: 1 row at practices missing from the practices table "
        "(first: Z99999)"
    ) in message


def test_practice_with_no_patients(tmp_path):
    def add_empty_practice(tables):
        extra = tables["practices"].iloc[[0]].assign(practice_code="B00001")
        tables["practices"] = pd.concat([tables["practices"], extra], ignore_index=True)

    message = _broken(tmp_path, add_empty_practice)
    assert (
        "practices.csv: column practice_code: 1 row with no patients in the patients table "
        "(first: B00001)"
    ) in message


def test_every_problem_is_reported_at_once(tmp_path):
    def break_three_files(tables):
        _set(tables["patients"], "age", [0], [200])
        _set(tables["activity"], "patient_id", [0], ["X1"])
        _set(tables["practices"], "current_funding_gbp", [0], [-1.0])

    message = _broken(tmp_path, break_three_files)
    assert "(3 problem(s))" in message
    assert "patients.csv: column age" in message
    assert "activity.csv: column patient_id" in message
    assert "practices.csv: column current_funding_gbp" in message


# Unknown areas follow the parameter rule ---------------------------------------------------


def _unknown_areas(tables):
    _set(tables["patients"], "lsoa_code", [0, 1, 2], ["E09999999", "E09999998", None])


def test_unknown_area_rule_fail(tmp_path):
    tables = make_tables()
    _unknown_areas(tables)
    folder = write_tables(tables, tmp_path)
    with pytest.raises(DataValidationError) as caught:
        validate_folder(folder, DataParams(unknown_area_rule="fail"))
    assert (
        "patients.csv: column lsoa_code: 3 rows with an lsoa_code missing from the areas lookup "
        "(or blank) (unknown_area_rule: fail) (first: E09999998, E09999999, (blank))"
    ) in str(caught.value)


@pytest.mark.parametrize(
    ("rule", "action"),
    [("drop", "patients dropped"), ("impute_practice_median", "median IMD decile")],
)
def test_unknown_area_is_counted_in_the_quality_table(tmp_path, rule, action):
    tables = make_tables()
    _unknown_areas(tables)
    folder = write_tables(tables, tmp_path)
    quality = validate_folder(folder, DataParams(unknown_area_rule=rule))
    assert len(quality.table) == 1
    row = quality.table.iloc[0]
    assert (row["check"], row["file"], row["column"], row["rows"]) == (
        "unknown area",
        "patients.csv",
        "lsoa_code",
        3,
    )
    assert action in row["action"]
    assert "E09999999" not in quality.table.to_string()


def test_impute_needs_a_practice_with_known_areas(tmp_path):
    tables = make_tables(n_patients=12, n_practices=3)
    first_practice = tables["patients"].index[tables["patients"]["practice_code"] == "A81000"]
    _set(tables["patients"], "lsoa_code", list(first_practice), ["E09999999"] * len(first_practice))
    folder = write_tables(tables, tmp_path)
    with pytest.raises(DataValidationError) as caught:
        validate_folder(folder, DataParams(unknown_area_rule="impute_practice_median"))
    assert "patients.csv: column lsoa_code: 4 rows with an lsoa_code missing" in str(caught.value)
    assert "no median IMD decile can be imputed (examples are practice codes) (first: A81000)" in (
        str(caught.value)
    )


def test_patients_own_imd_decile_without_lsoa(tmp_path):
    tables = make_tables()
    patients = tables["patients"]
    patients["imd_decile"] = patients["lsoa_code"].map(
        tables["areas"].set_index("area_code")["imd_decile"]
    )
    patients = tables["patients"] = patients.drop(columns="lsoa_code")
    del tables["areas"]
    _set(patients, "imd_decile", [0], [None])
    folder = write_tables(tables, tmp_path)
    quality = validate_folder(folder, DataParams())
    assert quality.table[["column", "rows"]].values.tolist() == [["imd_decile", 1]]
    _set(patients, "imd_decile", [1], [11])
    write_tables(tables, folder)
    with pytest.raises(DataValidationError, match="column imd_decile: 1 row out of range 1–10"):
        validate_folder(folder, DataParams())


# The workload measure must be computable from the activity table -----------------------------


def test_staff_weighted_needs_appointments(tmp_path):
    folder = write_tables(make_tables(activity="counts"), tmp_path)
    validate_folder(folder, DataParams(workload_measure="count"))
    with pytest.raises(DataValidationError) as caught:
        validate_folder(folder, DataParams(workload_measure="staff_weighted"))
    assert "activity.csv: column contacts: data.workload_measure is 'staff_weighted'" in str(
        caught.value
    )
    assert "count form" in str(caught.value)


def test_staff_type_without_a_weight(tmp_path):
    folder = write_tables(make_tables(), tmp_path)
    params = DataParams(workload_measure="staff_weighted", staff_weights={"GP": 1.0, "Nurse": 0.5})
    with pytest.raises(DataValidationError) as caught:
        validate_folder(folder, params)
    assert "activity.csv: column staff_type:" in str(caught.value)
    assert "rows with a staff type that has no weight in data.staff_weights (first: Other" in str(
        caught.value
    )


def test_minutes_need_durations(tmp_path):
    tables = make_tables()
    _set(tables["activity"], "duration_minutes", [0], [None])
    folder = write_tables(tables, tmp_path)
    validate_folder(folder, DataParams(workload_measure="count"))
    with pytest.raises(DataValidationError, match="column duration_minutes: 1 row with no value"):
        validate_folder(folder, DataParams(workload_measure="minutes"))


# Small tables to pandas --------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_read_small_tables_with_contract_types(tmp_path, fmt):
    tables = make_tables()
    folder = write_tables(tables, tmp_path, fmt)
    practices = read_practices(folder)
    assert practices["practice_code"].tolist() == sorted(tables["practices"]["practice_code"])
    assert practices["registered_list"].dtype == "int64"
    assert (
        practices["current_funding_gbp"].sum() == tables["practices"]["current_funding_gbp"].sum()
    )
    areas = read_areas(folder)
    assert areas["imd_decile"].tolist() == list(AREA_DECILES)
