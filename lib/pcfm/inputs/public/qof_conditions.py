"""QOF disease registers as the prevalence of the data contract's morbidity conditions.

The data contract's patients carry the 20 Cambridge Multimorbidity Score conditions
(``cond_<name>``, :data:`pcfm.data.contract.CAMBRIDGE_WEIGHTS`). Fourteen of them have a QOF
register; :data:`QOF_CONDITION_MAP` says which QOF indicator group stands for which condition,
over which denominator population, and how well the two definitions agree. The other six
conditions have no register and are left to the synthetic generator; QOF groups that are
not conditions of the score (learning disability, obesity, palliative care, …) are not used.

:func:`practice_prevalence` turns one year of registers into each practice's prevalence of
each mapped condition (register ÷ the practice's patients in the denominator population),
which :func:`pcfm.inputs.synthetic.generate_icb_for_practices` takes as ``prevalence`` to give
the synthetic patients of real practices their practices' recorded morbidity.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from pcfm.data.contract import CAMBRIDGE_WEIGHTS
from pcfm.inputs.public.common import PublicFileError
from pcfm.inputs.public.qof import (
    describe_list_type,
    list_type_ages,
    qof_prevalence_files,
    read_qof_prevalence,
)

MATCHED = "matched"
PARTIAL = "partial"
NOT_IN_QOF = "not in QOF"
NOT_USED = "not used"


@dataclass(frozen=True)
class QofCondition:
    """One QOF indicator group standing for one contract condition.

    Attributes:
        qof_group: QOF indicator group code (``GROUP_CODE``) as published.
        condition: Contract condition (a key of ``CAMBRIDGE_WEIGHTS``; column ``cond_<name>``).
        denominator: The register's denominator population (``PATIENT_LIST_TYPE``) in QOF
            2020-21; the list type of the year read is used (and reported) in its place.
        how: ``"matched"`` where the register and the condition of the score describe the
            same patients, ``"partial"`` where they overlap but differ (see ``note``).
        note: What the register counts and how it differs from the condition of the score.
    """

    qof_group: str
    condition: str
    denominator: str
    how: str
    note: str


#: QOF indicator group → contract condition. Register definitions are those of the QOF business
#: rules; the score's definitions are those of Payne et al., CMAJ 2020.
QOF_CONDITION_MAP: tuple[QofCondition, ...] = (
    QofCondition("AF", "atrial_fibrillation", "TOTAL", MATCHED, "Atrial fibrillation."),
    QofCondition(
        "AST",
        "asthma",
        "06OV",
        MATCHED,
        "Asthma with asthma treatment in the last 12 months; aged 6 and over from 2020-21 "
        "(all ages before).",
    ),
    QofCondition(
        "CAN",
        "cancer",
        "TOTAL",
        PARTIAL,
        "Any cancer diagnosed since April 2003 except non-melanoma skin cancer; the score "
        "counts a diagnosis in the last five years, so the register is the wider group.",
    ),
    QofCondition("CHD", "coronary_heart_disease", "TOTAL", MATCHED, "Coronary heart disease."),
    QofCondition(
        "CKD",
        "chronic_kidney_disease",
        "18OV",
        MATCHED,
        "Chronic kidney disease stages 3 to 5, aged 18 and over.",
    ),
    QofCondition("COPD", "copd", "TOTAL", MATCHED, "Chronic obstructive pulmonary disease."),
    QofCondition("DEM", "dementia", "TOTAL", MATCHED, "Dementia."),
    QofCondition(
        "DEP",
        "anxiety_depression",
        "18OV",
        PARTIAL,
        "Depression diagnosed since April 2006 and not resolved, aged 18 and over; the score's "
        "condition is anxiety or depression, so patients with anxiety alone are not on the "
        "register and calibrating to it gives a lower prevalence than the score's definition.",
    ),
    QofCondition("DM", "diabetes", "17OV", MATCHED, "Diabetes mellitus, aged 17 and over."),
    QofCondition(
        "EP",
        "epilepsy",
        "18OV",
        MATCHED,
        "Epilepsy on drug treatment, aged 18 and over.",
    ),
    QofCondition("HF", "heart_failure", "TOTAL", MATCHED, "Heart failure."),
    QofCondition("HYP", "hypertension", "TOTAL", MATCHED, "Established hypertension."),
    QofCondition(
        "MH",
        "psychosis_bipolar",
        "TOTAL",
        MATCHED,
        "Serious mental illness: schizophrenia, bipolar affective disorder and other "
        "psychoses, or on lithium.",
    ),
    QofCondition("STIA", "stroke_tia", "TOTAL", MATCHED, "Stroke or transient ischaemic attack."),
)

#: Contract conditions with no QOF register: they keep the generator's synthetic prevalence.
CONDITIONS_NOT_IN_QOF: dict[str, str] = {
    "painful_condition": "No QOF register.",
    "hearing_loss": "No QOF register.",
    "irritable_bowel": "No QOF register.",
    "constipation": "No QOF register.",
    "connective_tissue_disease": (
        "No QOF register of the whole condition: QOF's RA register (rheumatoid arthritis, aged "
        "16 and over) is one part of it, so calibrating to it would understate the condition."
    ),
    "alcohol_problems": "No QOF register.",
}

#: QOF indicator groups that stand for no condition of the score, with what they count.
QOF_GROUPS_NOT_USED: dict[str, str] = {
    "CVDPP": "Primary prevention of cardiovascular disease, aged 30 to 74 (to 2019-20).",
    "LD": "Learning disability; not a condition of the score.",
    "NDH": "Non-diabetic hyperglycaemia, aged 18 and over (from 2020-21).",
    "OB": "Obesity (BMI 30 or more), aged 18 and over; not a condition of the score.",
    "OST": "Osteoporosis with a fragility fracture, aged 50 and over; not in the score.",
    "PAD": "Peripheral arterial disease; not a condition of the 20-condition score.",
    "PC": "Palliative care; a care status, not a condition.",
    "RA": "Rheumatoid arthritis, aged 16 and over; one part of connective tissue disease.",
}

_MAPPED = {row.condition for row in QOF_CONDITION_MAP}
assert len(_MAPPED) == len(QOF_CONDITION_MAP), "one QOF group per condition"
assert _MAPPED | set(CONDITIONS_NOT_IN_QOF) == set(CAMBRIDGE_WEIGHTS), "every condition declared"
assert not _MAPPED & set(CONDITIONS_NOT_IN_QOF), "a condition is either mapped or not in QOF"

#: Columns of :func:`qof_condition_map`.
CONDITION_MAP_COLUMNS = ("qof_group", "condition", "denominator", "ages", "how", "used", "note")
#: Columns of :attr:`PracticePrevalence.table`; the generator reads the first four.
PREVALENCE_COLUMNS = (
    "practice_code",
    "condition",
    "prevalence",
    "min_age",
    "qof_group",
    "list_type",
    "register",
    "list_size",
)


def qof_condition_map(list_types: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The mapping of QOF groups to contract conditions, one row per condition and unused group.

    Args:
        list_types: QOF group → the list type of the year read (e.g. ``{"AST": "06OV"}``); where
            given, ``denominator`` is the year's list type and ``used`` says whether the year's
            file has the group. None gives the declared 2020-21 denominators, all used.

    Returns:
        Columns of :data:`CONDITION_MAP_COLUMNS`: ``qof_group`` (empty for conditions with no
        register), ``condition`` (empty for unused groups), ``denominator`` (list type),
        ``ages`` (the denominator in words), ``how`` (``matched``, ``partial``, ``not in QOF``,
        ``not used``), ``used`` (whether the prevalence comes from QOF) and ``note``.
    """
    rows = []
    for row in QOF_CONDITION_MAP:
        in_file = list_types is None or row.qof_group in list_types
        denominator = row.denominator if list_types is None else list_types.get(row.qof_group, "")
        rows.append({
            "qof_group": row.qof_group,
            "condition": row.condition,
            "denominator": denominator,
            "ages": describe_list_type(denominator) if denominator else "",
            "how": row.how,
            "used": in_file,
            "note": row.note if in_file else f"{row.note} Not in this year's file.",
        })  # fmt: skip
    for condition, note in CONDITIONS_NOT_IN_QOF.items():
        rows.append({"qof_group": "", "condition": condition, "denominator": "", "ages": "",
                     "how": NOT_IN_QOF, "used": False, "note": note})  # fmt: skip
    unused = dict(QOF_GROUPS_NOT_USED)
    if list_types is not None:
        unused = {group: note for group, note in unused.items() if group in list_types}
        known = {row.qof_group for row in QOF_CONDITION_MAP} | set(QOF_GROUPS_NOT_USED)
        for group in sorted(set(list_types) - known):
            unused[group] = "A QOF group this mapping does not know; not used."
    for group, note in unused.items():
        denominator = "" if list_types is None else list_types[group]
        rows.append({
            "qof_group": group,
            "condition": "",
            "denominator": denominator,
            "ages": describe_list_type(denominator) if denominator else "",
            "how": NOT_USED,
            "used": False,
            "note": note,
        })  # fmt: skip
    return pd.DataFrame(rows, columns=list(CONDITION_MAP_COLUMNS))


@dataclass(frozen=True)
class PracticePrevalence:
    """Each practice's QOF prevalence of the mapped conditions, for the synthetic generator.

    Attributes:
        table: One row per practice and mapped condition with a usable register
            (:data:`PREVALENCE_COLUMNS`): ``prevalence`` = ``register`` ÷ ``list_size``, the
            share of the practice's patients in the denominator population (``list_type``,
            aged ``min_age`` and over) who are on the register. Pass it as ``prevalence`` to
            :func:`pcfm.inputs.synthetic.generate_icb_for_practices`.
        qof_year: The QOF year read, e.g. ``"2020-21"``.
        source_file: Name of the file read.
        condition_map: :func:`qof_condition_map` for the year read.
        missing_practices: Practices asked for that have no usable QOF row (new since the QOF
            year, or no register published): they keep the synthetic prevalence.
        excluded: Rows of asked-for practices that were not used: practice_code, qof_group,
            condition, register, list_size, reason.
    """

    table: pd.DataFrame
    qof_year: str
    source_file: str
    condition_map: pd.DataFrame
    missing_practices: tuple[str, ...]
    excluded: pd.DataFrame = field(default_factory=pd.DataFrame)

    def sources(self) -> dict[str, object]:
        """Provenance for ``public_sources.json``: the year, file and what was calibrated."""
        used = self.condition_map[self.condition_map["used"]]
        return {
            "qof_year": self.qof_year,
            "qof_file": self.source_file,
            "qof_conditions": sorted(used["condition"].tolist()),
            "qof_practices": int(self.table["practice_code"].nunique()),
            "qof_missing_practices": list(self.missing_practices),
            "qof_rows_excluded": len(self.excluded),
        }

    def write(self, provenance_dir: str | Path) -> None:
        """Write ``qof_condition_map.csv``, ``qof_prevalence.csv`` (the table),
        ``qof_excluded.csv`` and ``qof_sources.json`` into ``provenance_dir``: all public
        aggregates."""
        folder = Path(provenance_dir)
        folder.mkdir(parents=True, exist_ok=True)
        self.condition_map.to_csv(
            folder / "qof_condition_map.csv", index=False, lineterminator="\n"
        )
        self.table.to_csv(folder / "qof_prevalence.csv", index=False, lineterminator="\n")
        self.excluded.to_csv(folder / "qof_excluded.csv", index=False, lineterminator="\n")
        (folder / "qof_sources.json").write_text(
            json.dumps(self.sources(), indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )


def practice_prevalence(
    public_dir: str | Path, practice_codes: Iterable[str], year: str | None = None
) -> PracticePrevalence:
    """QOF prevalence of the mapped conditions for the practices ``practice_codes``.

    Args:
        public_dir: Folder holding the QOF ``PREVALENCE_<yyyy>`` files (or one such file).
        practice_codes: Practices wanted (e.g. ``assemble_public_icb(...).practices
            ["practice_code"]``).
        year: QOF year, e.g. ``"2020-21"``; the latest in ``public_dir`` if None.

    A row is not used (and is listed in ``excluded``) where the register is published empty,
    the denominator list is 0, or the register is larger than its denominator list (a few
    practices whose list shrank during the year). A practice with no usable row at all is in
    ``missing_practices``.

    Raises:
        PublicFileError: for a missing or unreadable file (see
            :func:`pcfm.inputs.public.qof.read_qof_prevalence`), or a mapped group whose
            denominator has an upper age (the generator takes only a lowest age).
    """
    files = qof_prevalence_files(public_dir)
    qof_year = year or list(files)[-1]
    qof = read_qof_prevalence(public_dir, qof_year)
    source_file = files[qof_year].name
    # Each group has one list type a year in every file seen; the commonest is reported.
    list_types = qof.groupby("group_code")["list_type"].agg(lambda types: types.mode()[0])
    list_types = {str(group): str(text) for group, text in list_types.items()}
    condition_of = {row.qof_group: row.condition for row in QOF_CONDITION_MAP}
    wanted = pd.Index(pd.unique(pd.Series(list(practice_codes), dtype="string").str.upper()))
    rows = qof[qof["practice_code"].isin(wanted) & qof["group_code"].isin(condition_of)].copy()
    ages = {text: list_type_ages(text) for text in rows["list_type"].unique()}
    bounded = sorted(text for text, (_low, high) in ages.items() if high is not None)
    if bounded:
        raise PublicFileError(
            f"{source_file}: mapped QOF group(s) with a denominator capped in age ({bounded}); "
            "the synthetic generator calibrates only to 'aged N and over' denominators"
        )
    rows["condition"] = rows["group_code"].map(condition_of)
    rows["min_age"] = rows["list_type"].map({text: low for text, (low, _) in ages.items()})
    reasons = pd.Series("", index=rows.index, dtype="string")
    reasons[rows["register"] > rows["list_size"]] = "register larger than its denominator list"
    reasons[rows["list_size"] <= 0] = "denominator list size 0"
    reasons[rows["register"].isna()] = "register published empty"
    bad = reasons != ""
    excluded = rows.loc[bad, ["practice_code", "group_code", "condition", "register", "list_size"]]
    excluded = excluded.rename(columns={"group_code": "qof_group"}).assign(reason=reasons[bad])
    kept = rows.loc[~bad].rename(columns={"group_code": "qof_group"})
    kept["prevalence"] = kept["register"].astype("float64") / kept["list_size"]
    kept["min_age"] = kept["min_age"].astype("int64")
    kept["register"] = kept["register"].astype("int64")
    table = kept[list(PREVALENCE_COLUMNS)].sort_values(["practice_code", "condition"])
    missing = tuple(sorted(set(wanted) - set(table["practice_code"])))
    return PracticePrevalence(
        table=table.reset_index(drop=True),
        qof_year=qof_year,
        source_file=source_file,
        condition_map=qof_condition_map(list_types),
        missing_practices=missing,
        excluded=excluded.sort_values(["practice_code", "qof_group"]).reset_index(drop=True),
    )
