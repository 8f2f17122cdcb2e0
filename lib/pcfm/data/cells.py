"""Aggregation of the patient and activity tables to covariate cells, in DuckDB SQL.

A cell is one combination of covariates at one practice, with the sums of workload,
exposure (person-years) and patients. With categorical covariates a Poisson model fitted
to cells with offset log(exposure) has exactly the patient-level estimates, so patient
rows never need to reach pandas: DuckDB streams the files and pandas only sees cells.

Deprivation comes from the patient's area (``lsoa_code`` looked up in ``areas``) or, when
the patients table has no ``lsoa_code``, from the patient's own ``imd_decile``. Patients
whose area is unknown are handled by ``data.unknown_area_rule``.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from pcfm.data.contract import CAMBRIDGE_WEIGHTS
from pcfm.data.quality import DataValidationError, ValidationProblem, require_folder
from pcfm.data.read import (
    DataFolder,
    SourceTable,
    open_folder,
    reader_error_summary,
    sql_literal,
)
from pcfm.params import Params
from pcfm.params.data import DataParams
from pcfm.params.model import ModelParams

__all__ = [
    "ACG_BANDS",
    "AGE_BANDS",
    "CELL_KEYS",
    "CMS_BANDS",
    "LTC_BANDS",
    "activity_form",
    "build_cell_tables",
    "build_cells",
    "cambridge_columns",
    "patient_deprivation_sql",
    "workload_measure_problem",
]

#: Five-year age bands, youngest first; 85 and over is one band.
AGE_BANDS = (*(f"{low}-{low + 4}" for low in range(0, 85, 5)), "85+")
#: Bands of the count of long-term conditions.
LTC_BANDS = ("0", "1", "2", "3", "4+")
#: Bands of the Cambridge Multimorbidity Score: 0 exactly, (0,1], (1,2], (2,3], over 3.
CMS_BANDS = ("0", "0-1", "1-2", "2-3", "3+")
#: Bands of the ACG resource utilisation band (RUB), as strings.
ACG_BANDS = ("0", "1", "2", "3", "4", "5")
#: Covariate columns of every cell, in sort order (cms_band only when condition flags exist,
#: acg_band only when the patients table has acg_rub).
CELL_KEYS = (
    "practice_code",
    "sex",
    "age_band",
    "age_sex",
    "imd_quintile",
    "imd_decile",
    "ltc_band",
    "cms_band",
    "acg_band",
    "newly_registered",
    "care_home",
    "interpreter_needed",
)
_SUMS = ("workload", "exposure", "patients")


def cambridge_columns(patients: SourceTable) -> list[str]:
    """The Cambridge condition-flag columns present in the patients table."""
    return [f"cond_{name}" for name in CAMBRIDGE_WEIGHTS if patients.has(f"cond_{name}")]


def activity_form(activity: SourceTable) -> str:
    """``counts`` if the activity table has a ``contacts`` column, else ``appointments``."""
    return "counts" if activity.has("contacts") else "appointments"


def workload_measure_problem(activity: SourceTable, measure: str) -> ValidationProblem | None:
    """Why ``measure`` cannot be computed from this activity table, or None if it can."""
    if measure == "count":
        return None
    needed = {"staff_weighted": "staff_type", "minutes": "duration_minutes"}[measure]
    if activity_form(activity) == "counts":
        return ValidationProblem(
            activity.file_name,
            "contacts",
            0,
            (),
            f"data.workload_measure is {measure!r}, which needs one row per appointment with "
            f"{needed}, but this activity table is in count form (one contacts count per "
            "patient); use workload_measure 'count' or supply appointments",
        )
    if not activity.has(needed):
        return ValidationProblem(
            activity.file_name,
            needed,
            0,
            (),
            f"column missing, needed because data.workload_measure is {measure!r}",
        )
    return None


def patient_deprivation_sql(
    folder: DataFolder, patients_relation: str = "patients"
) -> tuple[str, str, str, str]:
    """SQL giving each patient the IMD decile and quintile of their area, NULL if unknown.

    Args:
        folder: The opened data folder.
        patients_relation: The relation holding the patients' area columns (the typed
            ``patients`` view, or validation's counts per practice and area).

    Returns:
        ``(from_clause, decile, quintile, source_column)``: a FROM clause over the typed
        views with the patients aliased ``p``, expressions for the decile and quintile
        (NULL for a patient whose area is unknown), and the patients column the area
        comes from (``lsoa_code`` or ``imd_decile``).
    """
    patients = folder.table("patients")
    if patients.has("lsoa_code"):
        return (
            f"{patients_relation} AS p LEFT JOIN areas AS a ON p.lsoa_code = a.area_code",
            "a.imd_decile",
            "CASE WHEN a.imd_decile IS NULL THEN NULL ELSE a.imd_quintile END",
            "lsoa_code",
        )
    return (
        f"{patients_relation} AS p",
        "p.imd_decile",
        "CAST(ceil(p.imd_decile / 2) AS BIGINT)",
        "imd_decile",
    )


def _cms_hundredths_sql(columns: list[str]) -> str:
    # Integer hundredths so the band edges (exactly 1, 2, 3) are compared without rounding error.
    terms = [
        f"{round(CAMBRIDGE_WEIGHTS[column.removeprefix('cond_')] * 100)} * p.{column}"
        for column in columns
    ]
    return " + ".join(terms)


#: Workload is summed as an exact decimal so that cells do not depend on the order in which
#: DuckDB's threads add rows up: reruns give byte-identical cells.
_EXACT = "DECIMAL(18, 9)"


def _workload_sql(activity: SourceTable, data: DataParams) -> str:
    """SQL for the workload of one activity row, as an exact decimal."""
    if activity_form(activity) == "counts":
        return f"CAST(contacts AS {_EXACT})"
    if data.workload_measure == "count":
        return f"CAST(1 AS {_EXACT})"
    if data.workload_measure == "minutes":
        return f"CAST(duration_minutes AS {_EXACT})"
    cases = " ".join(
        f"WHEN {sql_literal(staff)} THEN CAST({sql_literal(repr(float(weight)))} AS {_EXACT})"
        for staff, weight in sorted(data.staff_weights.items())
    )
    unweighted = sql_literal(
        "activity has a staff_type with no weight in data.staff_weights (or blank)"
    )
    return f"CASE staff_type {cases} ELSE error({unweighted}) END"


def _patient_fold_sql(seed: int, n_folds: int) -> str:
    """SQL for a patient's fold, 1…n_folds: the MD5 of the seed and the patient id, modulo.

    A hash, not a random draw, so the fold depends only on the patient and the seed: the same
    patient is in the same fold whatever the order of the rows or the other patients.
    """
    # md5_number is a 128-bit integer h = high · 2^64 + low, and h mod n is taken from its two
    # 64-bit halves, because DuckDB's 128-bit modulo is fifteen times slower than the rest of
    # the cells (8 s for 1.1 M patients): h mod n = ((high mod n)(2^64 mod n) + low mod n) mod n.
    n = int(n_folds)
    hashed = f"md5_number({sql_literal(f'{int(seed)}:')} || r.patient_id)"
    high = f"CAST({hashed} >> 64 AS UBIGINT)"
    low = f"CAST({hashed} & {2**64 - 1} AS UBIGINT)"
    return f"CAST((({high} % {n}) * {2**64 % n} + {low} % {n}) % {n} AS BIGINT) + 1"


def _fold_cells_sql(folder: DataFolder, data: DataParams, model: ModelParams, seed: int) -> str:
    """SQL of the cells split by patient fold, with exact sums (aggregated by `_cell_sums_sql`)."""
    n_folds = model.cv_folds
    patients = folder.table("patients")
    activity = folder.table("activity")
    from_clause, decile, quintile, _ = patient_deprivation_sql(folder)
    conditions = cambridge_columns(patients)
    cms_score = _cms_hundredths_sql(conditions) if conditions else "0"
    rule = data.unknown_area_rule
    if rule == "impute_practice_median":
        resolved_decile = "COALESCE(b.imd_decile, m.median_decile)"
        resolved_quintile = "COALESCE(b.imd_quintile, CAST(ceil(m.median_decile / 2) AS BIGINT))"
    else:
        resolved_decile, resolved_quintile = "b.imd_decile", "b.imd_quintile"
    keep = "WHERE b.imd_decile IS NOT NULL" if rule == "drop" else ""
    cms_band = (
        """CASE WHEN cms_hundredths = 0 THEN '0' WHEN cms_hundredths <= 100 THEN '0-1'
                WHEN cms_hundredths <= 200 THEN '1-2' WHEN cms_hundredths <= 300 THEN '2-3'
                ELSE '3+' END AS cms_band,"""
        if conditions
        else ""
    )
    cms_key = "cms_band," if conditions else ""
    has_acg = patients.has("acg_rub")
    acg_source = "p.acg_rub" if has_acg else "NULL"
    acg_band = "CAST(CAST(r.acg_rub AS BIGINT) AS VARCHAR) AS acg_band," if has_acg else ""
    cms_key += " acg_band," if has_acg else ""
    # Single years of age only when the model fits an age spline: band cells are unchanged.
    age_key = "age," if model.age_form == "spline" else ""
    age_column = "r.age," if age_key else ""
    return f"""
    WITH base AS (
        SELECT CAST(p.patient_id AS VARCHAR) AS patient_id, p.practice_code, p.age, p.sex,
               p.days_registered, p.newly_registered, p.care_home, p.interpreter_needed,
               p.ltc_count, {cms_score} AS cms_hundredths, {acg_source} AS acg_rub,
               {decile} AS imd_decile, {quintile} AS imd_quintile
        FROM {from_clause}
    ),
    practice_median AS (
        SELECT practice_code, quantile_disc(imd_decile, 0.5) AS median_decile
        FROM base WHERE imd_decile IS NOT NULL GROUP BY practice_code
    ),
    resolved AS (
        SELECT b.*, {resolved_decile} AS decile, {resolved_quintile} AS quintile
        FROM base AS b LEFT JOIN practice_median AS m USING (practice_code)
        {keep}
    ),
    workload_per_patient AS (
        SELECT CAST(patient_id AS VARCHAR) AS patient_id,
               SUM({_workload_sql(activity, data)}) AS workload
        FROM activity GROUP BY 1
    ),
    labelled AS (
        SELECT r.practice_code, r.sex, {age_column}
               least(r.age // 5, 17) AS age_order,
               CASE WHEN r.age >= 85 THEN '85+'
                    ELSE CAST(r.age // 5 * 5 AS VARCHAR) || '-'
                         || CAST(r.age // 5 * 5 + 4 AS VARCHAR)
               END AS age_band,
               r.quintile AS imd_quintile, r.decile AS imd_decile,
               CASE WHEN r.ltc_count >= 4 THEN '4+' ELSE CAST(r.ltc_count AS VARCHAR) END
                   AS ltc_band,
               {cms_band}
               {acg_band}
               r.newly_registered, r.care_home, r.interpreter_needed,
               r.days_registered, COALESCE(w.workload, 0) AS workload,
               {_patient_fold_sql(seed, n_folds)} AS patient_fold
        FROM resolved AS r LEFT JOIN workload_per_patient AS w USING (patient_id)
    )
    SELECT practice_code, age_band, {age_key} sex, sex || ':' || age_band AS age_sex,
           imd_quintile, imd_decile, ltc_band, {cms_key}
           newly_registered, care_home, interpreter_needed, age_order, patient_fold,
           SUM(workload) AS workload_exact,
           SUM(days_registered) AS days_registered,
           CAST(COUNT(*) AS BIGINT) AS patients
    FROM labelled
    GROUP BY practice_code, sex, age_order, age_band, {age_key} imd_quintile, imd_decile, ltc_band,
             {cms_key} newly_registered, care_home, interpreter_needed, patient_fold
    """


def _cell_sums_sql(keys: list[str], order: list[str], days_in_year: int) -> str:
    """SQL that sums the fold cells (table ``fold_cells``) over every column not in ``keys``."""
    listed = ", ".join(keys)
    return f"""
    SELECT {listed},
           CAST(SUM(workload_exact) AS DOUBLE) AS workload,
           CAST(SUM(days_registered) AS DOUBLE) / {int(days_in_year)} AS exposure,
           CAST(SUM(patients) AS BIGINT) AS patients
    FROM fold_cells
    GROUP BY {listed}, age_order
    ORDER BY {", ".join(order)}
    """


def _key_columns(folder: DataFolder, model: ModelParams) -> tuple[list[str], list[str]]:
    """The cells' covariate columns in output order, and their sort order."""
    patients = folder.table("patients")
    optional = [
        column
        for column, present in (
            ("cms_band", bool(cambridge_columns(patients))),
            ("acg_band", patients.has("acg_rub")),
        )
        if present
    ]
    age = ["age"] if model.age_form == "spline" else []
    flags = ["newly_registered", "care_home", "interpreter_needed"]
    keys = ["practice_code", "age_band", *age, "sex", "age_sex", "imd_quintile", "imd_decile"]
    keys += ["ltc_band", *optional, *flags]
    order = ["practice_code", "sex", "age_order", *age, "imd_quintile", "imd_decile"]
    order += ["ltc_band", *optional, *flags]
    return keys, order


def build_cells(data_dir: Path, params: Params) -> pd.DataFrame:
    """The covariate cells of :func:`build_cell_tables` (without the patient-fold split)."""
    return build_cell_tables(data_dir, params)[0]


def build_cell_tables(data_dir: Path, params: Params) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Aggregate the data folder to covariate cells per practice, whole and split by patient.

    Run :func:`pcfm.data.validate.validate_folder` first: this function trusts the types
    and codes it checks, and only re-checks what it needs to produce correct cells.

    Args:
        data_dir: Folder with the data-contract tables.
        params: Run parameters; ``params.data`` sets the workload measure, staff weights,
            days in the year and the rule for unknown areas; ``params.model.age_form`` whether
            cells keep single years of age.

    Returns:
        One row per practice and covariate combination with columns ``practice_code``,
        ``age_band``, ``age`` (single years, only when ``params.model.age_form`` is
        ``spline``), ``sex``, ``age_sex``, ``imd_quintile``, ``imd_decile``, ``ltc_band``,
        ``cms_band`` (only when the patients table has the Cambridge condition flags),
        ``acg_band`` (ACG resource utilisation band '0'..'5', only when the patients table
        has ``acg_rub``),
        ``newly_registered``, ``care_home``, ``interpreter_needed``, ``workload``,
        ``exposure`` (person-years) and ``patients``; sorted by practice, sex, age band and
        the other covariates. Patients with no activity count with workload 0.

        The second table is the same cells split by ``patient_fold`` (1…``model.cv_folds``,
        after ``interpreter_needed``): each patient is in one fold, fixed by the MD5 hash of
        the run's ``seed`` and the patient id, so the model stage can fit on some patients of
        every practice and predict the others (`pcfm.model.held_out`). Summed over the folds it
        is the first table exactly (sums are exact decimals until the last step).

    Raises:
        DataValidationError: a table is missing or unreadable, the workload measure needs
            appointment rows the activity table lacks, or patients are left with no
            deprivation band under the unknown-area rule.
    """
    data = params.data
    require_folder(Path(data_dir))
    with open_folder(Path(data_dir)) as folder:
        needed = ["patients", "activity"]
        if "patients" in folder.tables and folder.tables["patients"].has("lsoa_code"):
            needed.append("areas")
        problems = [
            ValidationProblem(file, "", 0, (), reason)
            for stem, (file, reason) in folder.unavailable.items()
            if stem in needed
        ]
        if problems:
            raise DataValidationError(problems, data_dir)
        measure_problem = workload_measure_problem(folder.table("activity"), data.workload_measure)
        if measure_problem is not None:
            raise DataValidationError([measure_problem], data_dir)
        keys, order = _key_columns(folder, params.model)
        fold_sql = _fold_cells_sql(folder, data, params.model, params.seed)
        days = int(data.days_in_year)
        try:
            connection = folder.connection
            connection.execute(f"CREATE OR REPLACE TEMP TABLE fold_cells AS {fold_sql}")
            cells = connection.execute(_cell_sums_sql(keys, order, days)).df()
            fold_cells = connection.execute(
                _cell_sums_sql([*keys, "patient_fold"], [*order, "patient_fold"], days)
            ).df()
            connection.execute("DROP TABLE fold_cells")
        except duckdb.Error as error:
            first_line = reader_error_summary(error)
            raise DataValidationError(
                [
                    ValidationProblem(
                        "",
                        "",
                        0,
                        (),
                        f"aggregation to cells failed ({first_line}); "
                        "run pcfm validate on this folder",
                    )
                ],
                data_dir,
            ) from None
        source_column = patient_deprivation_sql(folder)[3]
        patients_file = folder.table("patients").file_name
    _check_no_missing_band(cells, patients_file, source_column, data.unknown_area_rule, data_dir)
    return cells.reset_index(drop=True), fold_cells.reset_index(drop=True)


def _check_no_missing_band(
    cells: pd.DataFrame, file_name: str, column: str, rule: str, data_dir: Path
) -> None:
    missing = cells["imd_decile"].isna()
    if not missing.any():
        return
    n_patients = int(cells.loc[missing, "patients"].sum())
    practices = tuple(sorted(cells.loc[missing, "practice_code"].unique())[:5])
    if rule == "fail":
        message = (
            "patients with an unknown area (unknown_area_rule: fail; examples are practice codes)"
        )
    else:
        message = (
            "patients with an unknown area at practices where no patient has a known area to "
            "take a median IMD decile from (examples are practice codes)"
        )
    raise DataValidationError(
        [ValidationProblem(file_name, column, n_patients, practices, message)], data_dir
    )
