"""The data contract: what an adopting ICB supplies, one table per file stem.

This module is the single source of truth for the input tables. Validation
(`pcfm.data.validate`), the synthetic generator (`pcfm.inputs.synthetic`), the
aggregation to cells (`pcfm.data.cells`) and the "Data contract" appendix of the
methodology all read these definitions, so the documentation cannot drift from
the code.

Each table lives in the data folder as ``<stem>.parquet`` or ``<stem>.csv``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

#: Values allowed in ``patients.sex``.
SEX_CODES = ("F", "M")
#: Values allowed in the 0/1 flag columns.
FLAG_CODES = (0, 1)
#: Staff types allowed in ``activity.staff_type`` (weights per type are parameters).
STAFF_TYPES = ("GP", "Nurse", "Other")
#: Appointment modes allowed in ``activity.mode``.
APPOINTMENT_MODES = ("Face-to-face", "Telephone", "Video", "Home visit", "Online")
#: Bounds of plausibility for the magnitudes (validation rejects values beyond them, so a
#: typo such as 1e308 fails in stage 01 with the file and column, not later as a NaN):
#: the largest English practices have about 100,000 patients,
MAX_LIST_SIZE = 500_000
#: and a few million pounds a year; funding above this is no practice's.
MAX_FUNDING_GBP = 500_000_000
#: Contacts of one patient in a year (about 14 a day).
MAX_CONTACTS = 5_000
#: IMD 2019 scores run from about 0.5 to 93.
MAX_IMD_SCORE = 100
#: Cambridge Multimorbidity Score general-outcome weights (Payne et al., CMAJ 2020),
#: keyed by the condition-flag column name in ``patients`` (``cond_<name>``).
CAMBRIDGE_WEIGHTS: dict[str, float] = {
    "hypertension": 0.08,
    "anxiety_depression": 0.50,
    "painful_condition": 0.92,
    "hearing_loss": 0.09,
    "irritable_bowel": 0.21,
    "asthma": 0.19,
    "diabetes": 0.75,
    "coronary_heart_disease": 0.49,
    "chronic_kidney_disease": 0.53,
    "atrial_fibrillation": 1.34,
    "constipation": 1.12,
    "stroke_tia": 0.80,
    "copd": 1.46,
    "connective_tissue_disease": 0.43,
    "cancer": 1.53,
    "alcohol_problems": 0.65,
    "heart_failure": 1.18,
    "dementia": 2.50,
    "psychosis_bipolar": 0.64,
    "epilepsy": 0.92,
}


@dataclass(frozen=True)
class Column:
    """One column of an input table.

    Attributes:
        name: Column name as it must appear in the file.
        dtype: Logical type: ``string``, ``integer``, ``float``, ``date`` or ``flag`` (0/1).
        meaning: What the column records, in words an analyst supplying it understands.
        allowed: Allowed values or range, in words (empty if any value of the type is allowed).
        required: Whether the file must contain the column.
        min_value: Smallest allowed value for numbers (inclusive), if any.
        max_value: Largest allowed value for numbers (inclusive), if any.
        codes: The complete set of allowed values, if the column is coded.
    """

    name: str
    dtype: str
    meaning: str
    allowed: str = ""
    required: bool = True
    min_value: float | None = None
    max_value: float | None = None
    codes: tuple = ()


@dataclass(frozen=True)
class Table:
    """One input table of the data contract."""

    stem: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = field(default_factory=tuple)

    def column(self, name: str) -> Column:
        """Return the column called ``name``."""
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"{self.stem} has no column {name!r} in the data contract")

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]


PATIENTS = Table(
    stem="patients",
    description=(
        "One row per patient registered at any time in the reference year, at the practice "
        "they were registered with. Pseudonymised: no names, NHS numbers, dates of birth or "
        "postcodes."
    ),
    key=("patient_id",),
    columns=(
        Column("patient_id", "string", "Pseudonymised patient identifier, unique in the file."),
        Column(
            "practice_code",
            "string",
            "ODS code of the registering practice.",
            "a code in practices.practice_code",
        ),
        Column(
            "age",
            "integer",
            "Age in whole years at the middle of the reference year.",
            "0 to 115",
            min_value=0,
            max_value=115,
        ),
        Column("sex", "string", "Sex as recorded by the practice.", "F or M", codes=SEX_CODES),
        Column(
            "lsoa_code",
            "string",
            "Lower-layer super output area of residence (2011 codes, matching IMD 2019).",
            "a code in areas.area_code; optional if imd_decile is given",
            required=False,
        ),
        Column(
            "imd_decile",
            "integer",
            "IMD decile of the area of residence, 1 = most deprived; used when lsoa_code is "
            "absent.",
            "1 to 10",
            required=False,
            min_value=1,
            max_value=10,
        ),
        Column(
            "days_registered",
            "integer",
            "Days registered with the practice within the reference year; divided by the "
            "days in the year it is the exposure (person-years).",
            "1 to 366",
            min_value=1,
            max_value=366,
        ),
        Column(
            "newly_registered",
            "flag",
            "1 if the patient first registered with the practice during the reference year.",
            "0 or 1",
            codes=FLAG_CODES,
        ),
        Column(
            "care_home",
            "flag",
            "1 if the patient lived in a care home during the year.",
            "0 or 1",
            codes=FLAG_CODES,
        ),
        Column(
            "interpreter_needed",
            "flag",
            "1 if the record shows the patient needs an interpreter.",
            "0 or 1",
            codes=FLAG_CODES,
        ),
        Column(
            "ltc_count",
            "integer",
            "Number of long-term conditions recorded at the start of the year.",
            "0 to 30",
            min_value=0,
            max_value=30,
        ),
        *(
            Column(
                f"cond_{name}",
                "flag",
                f"1 if the patient has {name.replace('_', ' ')} (a Cambridge Multimorbidity "
                "Score condition).",
                "0 or 1",
                required=False,
                codes=FLAG_CODES,
            )
            for name in CAMBRIDGE_WEIGHTS
        ),
        Column(
            "acg_rub",
            "integer",
            "Johns Hopkins ACG resource utilisation band, if the ICB licenses ACG.",
            "0 to 5",
            required=False,
            min_value=0,
            max_value=5,
        ),
    ),
)

ACTIVITY = Table(
    stem="activity",
    description=(
        "Workload delivered by the practice in the reference year. Either one row per "
        "appointment (patient_id, appointment_date, staff_type, mode, duration_minutes) or one "
        "row per patient with a count (patient_id, contacts). Patients with no row had no "
        "contacts."
    ),
    columns=(
        Column(
            "patient_id",
            "string",
            "Pseudonymised patient identifier.",
            "an id in patients.patient_id",
        ),
        Column(
            "appointment_date",
            "date",
            "Date of the appointment (appointment form).",
            "within data.reference_period (else the folder is rejected)",
            required=False,
        ),
        Column(
            "staff_type",
            "string",
            "Type of staff who saw the patient (appointment form).",
            ", ".join(STAFF_TYPES),
            required=False,
            codes=STAFF_TYPES,
        ),
        Column(
            "mode",
            "string",
            "How the appointment took place (appointment form).",
            ", ".join(APPOINTMENT_MODES),
            required=False,
            codes=APPOINTMENT_MODES,
        ),
        Column(
            "duration_minutes",
            "float",
            "Length of the appointment (appointment form).",
            "0 to 240",
            required=False,
            min_value=0,
            max_value=240,
        ),
        Column(
            "contacts",
            "integer",
            "Number of contacts in the year (count form).",
            "0 to 5,000",
            required=False,
            min_value=0,
            max_value=MAX_CONTACTS,
        ),
    ),
)

PRACTICES = Table(
    stem="practices",
    description="One row per practice in the ICB, with its current funding for the year.",
    key=("practice_code",),
    columns=(
        Column("practice_code", "string", "ODS practice code, unique in the file."),
        Column("practice_name", "string", "Practice name as published."),
        Column("pcn_code", "string", "ODS code of the primary care network."),
        Column("pcn_name", "string", "Name of the primary care network."),
        Column("place", "string", "The ICB's place (e.g. Leicester City) the practice is in."),
        Column(
            "place_source",
            "string",
            "How the place was decided (e.g. the ICB's places map, or the default rule), if "
            "known; published with every practice's place.",
            required=False,
        ),
        Column(
            "registered_list",
            "integer",
            "Registered patients (list size) for the year.",
            "1 to 500,000",
            min_value=1,
            max_value=MAX_LIST_SIZE,
        ),
        Column(
            "current_funding_gbp",
            "float",
            "Current funding in pounds for the year; which income lines it includes is "
            "stated in the parameters (data.funding_definition).",
            "0 to 500 million",
            min_value=0,
            max_value=MAX_FUNDING_GBP,
        ),
        Column(
            "carr_hill_weighted_list",
            "float",
            "Carr-Hill weighted list from NHS Payments to General Practice, if known.",
            "0 to 1,000,000",
            required=False,
            min_value=0,
            max_value=2 * MAX_LIST_SIZE,
        ),
        Column(
            "imd_score",
            "float",
            "Practice IMD 2019 score (Fingertips), if known.",
            "0 to 100",
            required=False,
            min_value=0,
            max_value=MAX_IMD_SCORE,
        ),
        Column(
            "special_service",
            "string",
            "What special service the practice is, in words (e.g. 'special allocation scheme', "
            "'homeless / inclusion health', 'asylum seekers'); empty for an ordinary practice. "
            "Special services are treated by allocation.outliers.special_services.",
            "any text; empty or absent = an ordinary practice",
            required=False,
        ),
    ),
)

AREAS = Table(
    stem="areas",
    description="Lookup from area of residence to its Index of Multiple Deprivation 2019.",
    key=("area_code",),
    columns=(
        Column("area_code", "string", "LSOA 2011 code."),
        Column(
            "imd_score",
            "float",
            "IMD 2019 score (higher = more deprived), if known.",
            "0 to 100",
            required=False,
            min_value=0,
            max_value=MAX_IMD_SCORE,
        ),
        Column(
            "imd_decile",
            "integer",
            "IMD 2019 decile within England, 1 = most deprived.",
            "1 to 10",
            min_value=1,
            max_value=10,
        ),
        Column(
            "imd_quintile",
            "integer",
            "IMD 2019 quintile within England, 1 = most deprived.",
            "1 to 5",
            min_value=1,
            max_value=5,
        ),
    ),
)

TABLES: dict[str, Table] = {t.stem: t for t in (PATIENTS, ACTIVITY, PRACTICES, AREAS)}
FILE_SUFFIXES = (".parquet", ".csv")


class AmbiguousTableError(ValueError):
    """Two files for one table (``patients.parquet`` and ``patients.csv``): which is meant?"""


def table_path(data_dir: Path, stem: str) -> Path:
    """Return the file holding table ``stem`` in ``data_dir``.

    Raises:
        FileNotFoundError: naming the folder and the file names looked for.
        AmbiguousTableError: if the table is there in more than one format, which would
            leave one of them silently unread.
    """
    found = [Path(data_dir) / f"{stem}{s}" for s in FILE_SUFFIXES]
    found = [path for path in found if path.exists()]
    if len(found) > 1:
        raise AmbiguousTableError(
            f"{' and '.join(path.name for path in found)} are both present: keep only the "
            f"one that holds the {stem} table"
        )
    if found:
        return found[0]
    names = " or ".join(f"{stem}{s}" for s in FILE_SUFFIXES)
    raise FileNotFoundError(f"{data_dir}: no {names} (the data contract needs a {stem} table)")


#: Where a synthetic ICB's data folder keeps its known truth (`pcfm.model.truth_recovery`).
TRUTH_DIR = "truth"
#: Where `pcfm setup` records how a data folder was made (`pcfm.data.provenance`).
PROVENANCE_DIR = "provenance"
#: Sub-folders of a data folder that a run reads besides the contract's tables; pcfm
#: writes both itself.
READ_SUBFOLDERS = (PROVENANCE_DIR, TRUTH_DIR)


def input_files(data_dir: Path) -> list[Path]:
    """The files of a data folder that a run reads, and only those.

    Hashing the whole folder would hash whatever else lives there (pointed at a wrong
    folder, a run once hashed 125,000 files before saying a table was missing). A table
    missing or given twice is left out here; validation, next, says so.
    """
    found = []
    for stem in TABLES:
        try:
            found.append(table_path(data_dir, stem))
        except (FileNotFoundError, AmbiguousTableError):
            continue
    for name in READ_SUBFOLDERS:
        found += [path for path in (data_dir / name).rglob("*") if path.is_file()]
    return sorted(path for path in found if path.is_file())


def contract_frame() -> pd.DataFrame:
    """The whole contract as one tidy table, for the methodology appendix."""
    rows = [
        {
            "table": table.stem,
            "column": column.name,
            "type": column.dtype,
            "required": "required" if column.required else "optional",
            "allowed values": column.allowed,
            "meaning": column.meaning,
        }
        for table in TABLES.values()
        for column in table.columns
    ]
    return pd.DataFrame(rows)
