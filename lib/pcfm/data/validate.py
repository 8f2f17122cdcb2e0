"""Validation of the input data folder before any modelling (``pcfm validate --data DIR``).

Every check is one aggregate DuckDB query over the files (the column checks of one table
share a single scan); only when a check fails is a second query run for the first five
offending values. Validation therefore costs a few scans of each file, whatever its size,
and reports every problem at once instead of stopping at the first.

Fatal problems raise :class:`DataValidationError`. The one recoverable problem — a
patient whose area is not in the lookup — follows ``data.unknown_area_rule`` and is
counted in the returned :class:`DataQuality` table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from pcfm.data.cells import (
    activity_form,
    cambridge_columns,
    patient_deprivation_sql,
    workload_measure_problem,
)
from pcfm.data.contract import CAMBRIDGE_WEIGHTS, TABLES, Column
from pcfm.data.quality import (
    IDENTIFIER_COLUMNS,
    DataQuality,
    DataValidationError,
    ValidationProblem,
    hashed_identifier,
    require_folder,
)
from pcfm.data.read import (
    DataFolder,
    SourceTable,
    open_folder,
    reader_error_summary,
    sql_literal,
)
from pcfm.params.data import DataParams

__all__ = ["DataQuality", "DataValidationError", "ValidationProblem", "validate_folder"]

_N_EXAMPLES = 5
_RULE_ACTIONS = {
    "drop": "patients dropped (unknown_area_rule: drop)",
    "impute_practice_median": (
        "given their practice's median IMD decile (unknown_area_rule: impute_practice_median)"
    ),
}


@dataclass(frozen=True)
class _Check:
    """One row-level check: a SQL condition over a table's scan and the message if it holds."""

    column: str
    condition: str
    message: str
    example: str


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _num(name: str) -> str:
    return _q(f"{name}__num")


def _fmt(value: float) -> str:
    """A bound as a reader writes it: ``115``, ``500,000,000``, ``0.5``."""
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"


def _complete_columns(source: SourceTable, data: DataParams) -> set[str]:
    """Columns that must have a value in every row (others may be blank)."""
    table = TABLES[source.stem]
    complete = {c.name for c in table.columns if c.required}
    complete |= {c.name for c in table.columns if c.dtype == "flag" and source.has(c.name)}
    if source.stem == "activity":
        if source.has("contacts"):
            complete.add("contacts")
        needed = {"staff_weighted": "staff_type", "minutes": "duration_minutes"}
        if data.workload_measure in needed:
            complete.add(needed[data.workload_measure])
    return complete


#: DuckDB types of a Parquet column that hold no numbers, though DuckDB casts them to some
#: (a boolean to 0/1, a date or timestamp to nothing useful).
_NOT_NUMERIC_TYPES = ("BOOLEAN", "DATE", "TIME", "TIMESTAMP", "INTERVAL", "UUID")


def _wrong_storage_type(column: Column, source_type: str) -> str | None:
    """Why a column's type as stored cannot hold the contract's values, if it cannot.

    CSV columns are read as text and checked value by value; a Parquet column carries a
    type, and a boolean ``age`` would otherwise be read as 0 and 1 (or a number of days
    as a date). Booleans are fine for flags.
    """
    stored = source_type.upper()
    if column.dtype == "date":
        if stored.startswith(("VARCHAR", "DATE", "TIMESTAMP")):
            return None
        return f"stored as {source_type}, not as dates"
    if column.dtype not in ("integer", "float"):
        return None
    if (
        stored.startswith(_NOT_NUMERIC_TYPES)
        or "[]" in stored
        or stored.startswith(("STRUCT", "MAP", "UNION"))
    ):
        wanted = "whole numbers" if column.dtype == "integer" else "numbers"
        return f"stored as {source_type}, not as {wanted}"
    return None


def _column_checks(
    column: Column, complete: bool, data: DataParams, source_type: str = "VARCHAR"
) -> list[_Check]:
    name, num = _q(column.name), _num(column.name)
    raw = f"CAST({name} AS VARCHAR)"
    checks: list[_Check] = []
    if complete:
        checks.append(_Check(column.name, f"{name} IS NULL", "with no value", "NULL"))
    wrong_type = _wrong_storage_type(column, source_type)
    if wrong_type is not None:
        # every value with a value is wrong: no range check makes sense after this one
        checks.append(_Check(column.name, f"{name} IS NOT NULL", wrong_type, raw))
        return checks
    if column.dtype in ("integer", "flag", "float"):
        checks.append(
            _Check(
                column.name,
                f"{name} IS NOT NULL AND ({num} IS NULL OR NOT isfinite({num}))",
                "not a number",
                raw,
            )
        )
        finite = f"{num} IS NOT NULL AND isfinite({num})"
        if column.dtype in ("integer", "flag"):
            checks.append(
                _Check(
                    column.name, f"{finite} AND {num} <> trunc({num})", "not a whole number", raw
                )
            )
        if column.name == "days_registered":
            checks.append(
                _Check(
                    column.name,
                    f"{finite} AND ({num} <= 0 OR {num} / {data.days_in_year} > 1)",
                    f"with exposure outside (0, 1] (days_registered / {data.days_in_year})",
                    raw,
                )
            )
        elif column.min_value is not None and column.max_value is not None:
            checks.append(
                _Check(
                    column.name,
                    f"{finite} AND ({num} < {column.min_value} OR {num} > {column.max_value})",
                    f"out of range {_fmt(column.min_value)}–{_fmt(column.max_value)}",
                    raw,
                )
            )
        elif column.min_value is not None:
            message = "negative" if column.min_value == 0 else f"below {_fmt(column.min_value)}"
            checks.append(
                _Check(column.name, f"{finite} AND {num} < {column.min_value}", message, raw)
            )
        if column.dtype == "flag" and column.codes:
            codes = ", ".join(str(code) for code in column.codes)
            checks.append(
                _Check(
                    column.name,
                    f"{finite} AND {num} = trunc({num}) AND {num} NOT IN ({codes})",
                    f"not one of the allowed codes {codes}",
                    raw,
                )
            )
    elif column.dtype == "date":
        checks.append(
            _Check(
                column.name,
                f"{name} IS NOT NULL AND TRY_CAST({name} AS DATE) IS NULL",
                "not a date (YYYY-MM-DD)",
                raw,
            )
        )
        period = data.reference_period
        first, last = sql_literal(period.start.isoformat()), sql_literal(period.end.isoformat())
        checks.append(
            _Check(
                column.name,
                f"TRY_CAST({name} AS DATE) NOT BETWEEN CAST({first} AS DATE) "
                f"AND CAST({last} AS DATE)",
                f"outside the reference period {period.start} to {period.end} "
                "(data.reference_period; cut the extract to the period)",
                raw,
            )
        )
    elif column.codes:
        codes = ", ".join(sql_literal(code) for code in column.codes)
        shown = ", ".join(str(code) for code in column.codes)
        checks.append(
            _Check(
                column.name,
                f"{name} IS NOT NULL AND {raw} NOT IN ({codes})",
                f"not one of the allowed codes {shown}",
                raw,
            )
        )
    return checks


def _table_checks(source: SourceTable, data: DataParams) -> list[_Check]:
    complete = _complete_columns(source, data)
    checks: list[_Check] = []
    for column in TABLES[source.stem].columns:
        if source.has(column.name):
            checks.extend(
                _column_checks(column, column.name in complete, data, source.columns[column.name])
            )
    if (
        source.stem == "activity"
        and data.workload_measure == "staff_weighted"
        and source.has("staff_type")
    ):
        weighted = ", ".join(sql_literal(staff) for staff in sorted(data.staff_weights))
        checks.append(
            _Check(
                "staff_type",
                f"staff_type IS NOT NULL AND CAST(staff_type AS VARCHAR) NOT IN ({weighted})",
                "with a staff type that has no weight in data.staff_weights",
                "CAST(staff_type AS VARCHAR)",
            )
        )
    if source.stem == "areas" and source.has("imd_decile") and source.has("imd_quintile"):
        decile, quintile = _num("imd_decile"), _num("imd_quintile")
        checks.append(
            _Check(
                "imd_quintile",
                f"{decile} IS NOT NULL AND {quintile} IS NOT NULL "
                f"AND {quintile} <> ceil({decile} / 2)",
                "with imd_quintile not matching imd_decile (quintile = decile / 2 rounded up)",
                "CAST(area_code AS VARCHAR)",
            )
        )
    return checks


_UNKNOWN_PATIENT = _Check(
    "patient_id",
    "patient_id IS NOT NULL AND known_patient_id IS NULL",
    "for patients not in the patients table",
    "CAST(patient_id AS VARCHAR)",
)


def _scan_sql(source: SourceTable, join_patients: bool = False) -> str:
    """A scan of the raw file with each numeric contract column also read as a DOUBLE.

    With ``join_patients`` (activity only), each row also gets ``known_patient_id``, NULL
    when its patient is not in the patients table: the link check then rides on the same
    scan instead of parsing the largest file a second time.
    """
    selected = []
    for column in TABLES[source.stem].columns:
        if not source.has(column.name):
            continue
        selected.append(_q(column.name))
        if column.dtype in ("integer", "flag", "float"):
            value = (
                "CAST(NULL AS DOUBLE)"  # a list or a struct cannot even be tried as a number
                if _wrong_storage_type(column, source.columns[column.name])
                else f"TRY_CAST({_q(column.name)} AS DOUBLE)"
            )
            selected.append(f"{value} AS {_num(column.name)}")
    if not selected:
        selected = ["1 AS one"]
    if not join_patients:
        return f"(SELECT {', '.join(selected)} FROM {_q(source.raw_view)})"
    known = (
        "(SELECT DISTINCT CAST(patient_id AS VARCHAR) AS known_patient_id FROM raw_patients "
        "WHERE patient_id IS NOT NULL) AS known"
    )
    return (
        f"(SELECT {', '.join(selected)}, known.known_patient_id FROM {_q(source.raw_view)} "
        f"LEFT JOIN {known} ON CAST(patient_id AS VARCHAR) = known.known_patient_id)"
    )


class _Validator:
    """Runs every check on an opened folder and collects what it finds."""

    def __init__(self, folder: DataFolder, data: DataParams):
        self.folder = folder
        self.data = data
        self.connection = folder.connection
        self.problems: list[ValidationProblem] = []
        self.quality_rows: list[dict[str, object]] = []
        self.row_counts: dict[str, int] = {}
        #: Tables that are missing, unreadable or empty: no cross-table check uses them.
        self.unusable: set[str] = set(folder.unavailable)
        #: Whether the patients were counted per practice and area (table patient_groups).
        self.grouped = False

    def problem(
        self, file: str, column: str, n_rows: int, examples: tuple[str, ...], message: str
    ) -> None:
        if column in IDENTIFIER_COLUMNS:
            examples = tuple(e if e == "(blank)" else hashed_identifier(e) for e in examples)
        self.problems.append(ValidationProblem(file, column, n_rows, examples, message))

    def examples(self, sql: str) -> tuple[str, ...]:
        rows = self.connection.execute(sql).fetchall()
        return tuple("(blank)" if row[0] is None else str(row[0]) for row in rows)

    # Files and columns -----------------------------------------------------------------

    def check_presence(self) -> None:
        patients = self.folder.tables.get("patients")
        areas_needed = patients is None or patients.has("lsoa_code")
        for stem, (file, reason) in self.folder.unavailable.items():
            if stem == "areas" and not areas_needed:
                continue
            self.problem(file, "", 0, (), reason)
        for stem, source in self.folder.tables.items():
            for name in TABLES[stem].required_columns:
                if not source.has(name):
                    self.problem(source.file_name, name, 0, (), "required column missing")
        if patients is not None:
            self.check_patient_columns(patients)
        activity = self.folder.tables.get("activity")
        if activity is not None:
            measure = workload_measure_problem(activity, self.data.workload_measure)
            if measure is not None:
                self.problems.append(measure)

    def check_patient_columns(self, patients: SourceTable) -> None:
        if not (patients.has("lsoa_code") or patients.has("imd_decile")):
            self.problem(
                patients.file_name,
                "lsoa_code",
                0,
                (),
                "required column missing (give lsoa_code, or imd_decile if areas are not supplied)",
            )
        present = cambridge_columns(patients)
        if present and len(present) < len(CAMBRIDGE_WEIGHTS):
            missing = tuple(
                f"cond_{name}" for name in CAMBRIDGE_WEIGHTS if not patients.has(f"cond_{name}")
            )
            self.problem(
                patients.file_name,
                missing[0],
                0,
                missing[:_N_EXAMPLES],
                f"{len(missing)} of the {len(CAMBRIDGE_WEIGHTS)} Cambridge Multimorbidity Score "
                "condition columns are missing: give all of them or none",
            )

    def check_rows(self, source: SourceTable) -> None:
        """Every row-level check of one table in one scan; examples only for failures."""
        checks = _table_checks(source, self.data)
        join_patients = (
            source.stem == "activity"
            and source.has("patient_id")
            and self.usable("patients", "patient_id")
        )
        if join_patients:
            checks.append(_UNKNOWN_PATIENT)
        scan = _scan_sql(source, join_patients)
        counts_sql = ", ".join(["count(*)", *(f"count_if({c.condition})" for c in checks)])
        try:
            counts = self.connection.execute(f"SELECT {counts_sql} FROM {scan}").fetchone()
            assert counts is not None
            self.row_counts[source.stem] = int(counts[0])
            if counts[0] == 0:
                self.problem(source.file_name, "", 0, (), "has no rows")
                self.unusable.add(source.stem)
            for check, n_rows in zip(checks, counts[1:], strict=True):
                if n_rows:
                    examples = (
                        ()
                        if check.example == "NULL"
                        else self.examples(
                            f"SELECT {check.example} FROM {scan} WHERE {check.condition} "
                            f"LIMIT {_N_EXAMPLES}"
                        )
                    )
                    self.problem(
                        source.file_name, check.column, int(n_rows), examples, check.message
                    )
        except duckdb.Error as error:
            first_line = reader_error_summary(error)
            self.problem(source.file_name, "", 0, (), f"cannot be read ({first_line})")
            self.unusable.add(source.stem)

    # Across tables ---------------------------------------------------------------------

    def usable(self, stem: str, *columns: str) -> bool:
        """Whether ``stem`` was read, has rows and has ``columns``, so a cross-check can use it."""
        if stem not in self.folder.tables or stem in self.unusable:
            return False
        return all(self.folder.tables[stem].has(column) for column in columns)

    def count_and_examples(
        self,
        file: str,
        column: str,
        from_where: str,
        example: str,
        message: str,
        count: str = "count(*)",
    ) -> int:
        """Count rows of ``FROM ... WHERE ...``; if any, record a problem with examples."""
        n_rows = self.connection.execute(f"SELECT {count} FROM {from_where}").fetchone()
        n = int(n_rows[0] or 0) if n_rows else 0
        if n:
            examples = self.examples(
                f"SELECT DISTINCT {example} AS e FROM {from_where} ORDER BY e NULLS LAST "
                f"LIMIT {_N_EXAMPLES}"
            )
            self.problem(file, column, n, examples, message)
        return n

    def group_patients(self) -> bool:
        """Count patients per practice and area in one scan, for the practice and area checks.

        The practice and area checks then join small tables instead of rescanning a file
        of a million patients each time.
        """
        if not self.usable("patients", "practice_code"):
            return False
        patients = self.folder.tables["patients"]
        area = next((c for c in ("lsoa_code", "imd_decile") if patients.has(c)), None)
        area_column = f", {area}" if area else ""
        self.connection.execute(
            f"CREATE TEMP TABLE patient_groups AS SELECT practice_code{area_column}, "
            "count(*) AS n FROM patients GROUP BY ALL"
        )
        return True

    def check_keys(self) -> None:
        for stem, table in TABLES.items():
            if not table.key or not self.usable(stem, table.key[0]):
                continue
            source = self.folder.tables[stem]
            key = table.key[0]
            duplicated = (
                f"(SELECT CAST({_q(key)} AS VARCHAR) AS k, count(*) AS n "
                f"FROM {_q(source.raw_view)} WHERE {_q(key)} IS NOT NULL "
                "GROUP BY k HAVING count(*) > 1) AS duplicated"
            )
            row = self.connection.execute(f"SELECT sum(n) FROM {duplicated}").fetchone()
            if row is not None and row[0]:
                examples = self.examples(f"SELECT k FROM {duplicated} LIMIT {_N_EXAMPLES}")
                self.problem(
                    source.file_name,
                    key,
                    int(row[0]),
                    examples,
                    f"with a duplicated {key} (it must be unique)",
                )

    def check_links(self) -> None:
        if self.usable("practices", "practice_code") and self.grouped:
            self.count_and_examples(
                self.folder.tables["patients"].file_name,
                "practice_code",
                "patient_groups AS g WHERE g.practice_code IS NOT NULL AND NOT EXISTS (SELECT 1 "
                "FROM raw_practices AS r WHERE CAST(r.practice_code AS VARCHAR) = g.practice_code)",
                "g.practice_code",
                "at practices missing from the practices table",
                count="sum(g.n)",
            )
            self.count_and_examples(
                self.folder.tables["practices"].file_name,
                "practice_code",
                "raw_practices AS r WHERE NOT EXISTS (SELECT 1 FROM patient_groups AS g WHERE "
                "g.practice_code = CAST(r.practice_code AS VARCHAR))",
                "CAST(r.practice_code AS VARCHAR)",
                "with no patients in the patients table",
            )

    def check_areas(self) -> None:
        """Patients whose area is unknown: counted and handled by data.unknown_area_rule."""
        if not self.grouped:
            return
        patients = self.folder.tables["patients"]
        if patients.has("lsoa_code"):
            if not self.usable("areas", "area_code", "imd_decile", "imd_quintile"):
                return
        elif not patients.has("imd_decile"):
            return
        from_clause, decile, _, column = patient_deprivation_sql(self.folder, "patient_groups")
        unknown = f"{from_clause} WHERE {decile} IS NULL"
        row = self.connection.execute(f"SELECT sum(p.n) FROM {unknown}").fetchone()
        n_unknown = int(row[0] or 0) if row else 0
        if not n_unknown:
            return
        rule = self.data.unknown_area_rule
        what = (
            "with an lsoa_code missing from the areas lookup (or blank)"
            if column == "lsoa_code"
            else "with no imd_decile"
        )
        if rule == "fail":
            examples = self.examples(
                f"SELECT DISTINCT CAST(p.{column} AS VARCHAR) AS e FROM {unknown} "
                f"ORDER BY e NULLS LAST LIMIT {_N_EXAMPLES}"
            )
            self.problem(
                patients.file_name, column, n_unknown, examples, f"{what} (unknown_area_rule: fail)"
            )
            return
        self.quality_rows.append(
            {
                "check": "unknown area",
                "file": patients.file_name,
                "column": column,
                "rows": n_unknown,
                "action": _RULE_ACTIONS[rule],
            }
        )
        if rule == "impute_practice_median":
            no_known_area = (
                f"(SELECT p.practice_code, sum(p.n) AS n FROM {from_clause} "
                f"GROUP BY 1 HAVING count({decile}) = 0) AS no_known_area"
            )
            row = self.connection.execute(f"SELECT sum(n) FROM {no_known_area}").fetchone()
            if row is not None and row[0]:
                examples = self.examples(
                    f"SELECT practice_code FROM {no_known_area} ORDER BY 1 LIMIT {_N_EXAMPLES}"
                )
                self.problem(
                    patients.file_name,
                    column,
                    int(row[0]),
                    examples,
                    f"{what} at practices where no patient has a known area, so no median "
                    "IMD decile can be imputed (examples are practice codes)",
                )

    def run(self) -> DataQuality:
        self.check_presence()
        # Patients first: the activity scan checks its patient ids against them.
        for stem in sorted(self.folder.tables, key=lambda stem: stem != "patients"):
            self.check_rows(self.folder.tables[stem])
        try:
            self.check_keys()
            self.grouped = self.group_patients()
            self.check_links()
            self.check_areas()
        except duckdb.Error as error:
            first_line = reader_error_summary(error)
            self.problem("", "", 0, (), f"checks across tables failed ({first_line})")
        if self.problems:
            raise DataValidationError(self.problems, self.folder.data_dir)
        activity = self.folder.tables.get("activity")
        return DataQuality(
            table=DataQuality.make_table(self.quality_rows),
            row_counts=dict(self.row_counts),
            activity_form=activity_form(activity) if activity else "appointments",
        )


def validate_folder(data_dir: Path, data_params: DataParams) -> DataQuality:
    """Check every input table of ``data_dir`` against the data contract.

    Checks: files present and readable; required columns; types (numbers, whole numbers,
    dates; in Parquet, no booleans, dates or lists where numbers belong); ranges (age 0–115,
    exposure = days_registered / days_in_year in (0, 1], list sizes, funding, contacts and
    IMD scores within the contract's bounds, appointment dates within the reference
    period); allowed codes (sex, flags, staff types, modes); unique patient ids, practice
    codes and area codes; activity only for known patients; patients only at known
    practices; no practice without patients; the workload measure computable from the
    activity table; patients with an unknown area
    (handled by ``data_params.unknown_area_rule``).

    Args:
        data_dir: Folder with the data-contract tables (CSV or Parquet).
        data_params: The ``data`` section of the run parameters.

    Returns:
        The recoverable problems found and what was done about them (counts of rows only).

    Raises:
        DataValidationError: listing every fatal problem found, one per line, each naming the
            file, column, number of rows and the first few offending values.
    """
    require_folder(Path(data_dir))
    with open_folder(Path(data_dir)) as folder:
        return _Validator(folder, data_params).run()
