"""QOF disease registers: the adapter, the map to contract conditions, and the intercept shift
that calibrates synthetic patients to a practice's prevalence (on small inputs; on LLR's real
practices in ``test_01_qof_llr.py``).

Known truths come from the published files themselves, read here independently with plain
pandas, and from ``../shared/data/public/SOURCES.md`` (row counts and its LLR coverage check,
made when the files were collected). Tests on the real files are marked ``public_data`` and
skip, with the reason, where that folder is absent; broken copies are written to ``tmp_path``.
"""

from __future__ import annotations

import gzip
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pcfm.data.contract import CAMBRIDGE_WEIGHTS
from pcfm.inputs.public import (
    PublicFileError,
    PublicFileLayoutError,
    qof_prevalence_files,
    read_qof_prevalence,
)
from pcfm.inputs.public.qof import (
    KNOWN_YEARS,
    OUTPUT_COLUMNS,
    list_type_ages,
    qof_year_of,
    read_qof_prevalence_file,
)
from pcfm.inputs.public.qof_conditions import (
    CONDITIONS_NOT_IN_QOF,
    QOF_CONDITION_MAP,
    QOF_GROUPS_NOT_USED,
    practice_prevalence,
    qof_condition_map,
)
from pcfm.inputs.synthetic import SynthInputError, generate_icb_for_practices
from pcfm.inputs.synthetic.morbidity import solve_intercept_shifts

pytestmark = pytest.mark.unit
real_files = pytest.mark.public_data

#: SOURCES.md: rows of each year's file (header excluded), and its LLR coverage check (practices
#: of CCGs 03W, 04C and 04V in each year's file).
ROWS = {"2016-17": 155_232, "2017-18": 149_100, "2018-19": 144_333, "2019-20": 141_120,
        "2020-21": 137_991}  # fmt: skip
LLR_PRACTICES = {"2016-17": 139, "2017-18": 137, "2018-19": 136, "2019-20": 133, "2020-21": 133}
LLR_CCGS = ("03W", "04C", "04V")
#: The practice reference file of each year (its CCG code column), as in SOURCES.md.
REFERENCE_FILES = {
    "2016-17": ("ORGANISATION_REFERENCE_1617.csv.gz", "CCG_CODE"),
    "2017-18": ("ORGANISATION_REFERENCE_1718.csv.gz", "CCG_CODE"),
    "2018-19": ("ORGANISATION_REFERENCE_1819_v2.csv.gz", "CCG_CODE"),
    "2019-20": ("MAPPING_NHS_GEOGRAPHIES_1920.csv.gz", "CCG_ODS_CODE"),
    "2020-21": ("MAPPING_NHS_GEOGRAPHIES_2021.csv.gz", "CCG_ODS_CODE"),
}
FILES = {"2016-17": "PREVALENCE_1617.csv.gz", "2017-18": "PREVALENCE_1718.csv.gz",
         "2018-19": "PREVALENCE_1819_v2.csv.gz", "2019-20": "PREVALENCE_1920.csv.gz",
         "2020-21": "PREVALENCE_2021_v2.csv.gz"}  # fmt: skip


@pytest.fixture(scope="module")
def qof_dir(public_data_dir: Path) -> Path:
    return public_data_dir / "qof" / "raw"


def _raw(qof_dir: Path, year: str) -> pd.DataFrame:
    """The published file read with plain pandas, columns renamed by position."""
    raw = pd.read_csv(qof_dir / FILES[year], encoding="utf-8-sig")
    raw.columns = ["practice_code", "group_code", "register", "list_type", "list_size"]
    return raw


def _llr_codes(qof_dir: Path, year: str) -> set[str]:
    name, column = REFERENCE_FILES[year]
    reference = pd.read_csv(qof_dir / name, encoding="utf-8-sig", dtype=str)
    return set(reference.loc[reference[column].isin(LLR_CCGS), "PRACTICE_CODE"])


# --- The adapter on the real files ---------------------------------------------------------


@real_files
def test_01_qof_every_prevalence_year_is_found_and_read(qof_dir: Path) -> None:
    files = qof_prevalence_files(qof_dir.parent.parent)  # found from the public folder's root
    assert {year: path.name for year, path in files.items()} == FILES  # 2018-19: the _v2 file
    for year in FILES:
        frame = read_qof_prevalence(qof_dir, year)
        assert list(frame.columns) == list(OUTPUT_COLUMNS)
        assert len(frame) == ROWS[year]
        assert (frame["qof_year"] == year).all()
        assert (frame["source_file"] == FILES[year]).all()
        assert frame["register"].dtype == "Int64" and frame["list_size"].dtype == "int64"
    latest = read_qof_prevalence(qof_dir)
    assert latest["qof_year"].iloc[0] == "2020-21"
    # SOURCES.md names the 21 groups of 2019-20.
    groups_1920 = set(read_qof_prevalence(qof_dir, "2019-20")["group_code"])
    assert groups_1920 == set(
        [
            "AF",
            "AST",
            "CAN",
            "CHD",
            "CKD",
            "COPD",
            "CVDPP",
            "DEM",
            "DEP",
            "DM",
            "EP",
            "HF",
            "HYP",
            "LD",
            "MH",
            "OB",
            "OST",
            "PAD",
            "PC",
            "RA",
            "STIA",
        ]
    )
    assert tuple(FILES) == KNOWN_YEARS  # every year the reader knows is tested on its file


@real_files
@pytest.mark.parametrize("year", list(FILES))
def test_01_qof_llr_registers_equal_the_published_file(qof_dir: Path, year: str) -> None:
    llr = _llr_codes(qof_dir, year)
    raw = _raw(qof_dir, year)
    raw = raw[raw["practice_code"].isin(llr)].set_index(["practice_code", "group_code"])
    frame = read_qof_prevalence(qof_dir, year)
    frame = frame[frame["practice_code"].isin(llr)].set_index(["practice_code", "group_code"])
    assert frame.index.get_level_values(0).nunique() == LLR_PRACTICES[year]
    assert set(frame.index) == set(raw.index)
    frame = frame.loc[raw.index]
    assert np.array_equal(frame["list_size"].to_numpy(), raw["list_size"].to_numpy())
    registers = frame["register"].astype("float64").to_numpy()
    assert np.array_equal(registers, raw["register"].to_numpy(dtype=float), equal_nan=True)
    assert (frame["list_type"].to_numpy() == raw["list_type"].to_numpy()).all()


@real_files
def test_01_qof_known_llr_practice_and_empty_registers(qof_dir: Path) -> None:
    frame = read_qof_prevalence(qof_dir, "2020-21").set_index(["practice_code", "group_code"])
    # C82001 (LLR, sub-ICB 03W) in QOF 2020-21: 600 patients with AF of 26,416; asthma is
    # counted over the 24,805 patients aged 6 and over from this year.
    assert frame.loc[("C82001", "AF"), ["register", "list_type", "list_size"]].tolist() == [
        600, "TOTAL", 26_416]  # fmt: skip
    assert frame.loc[("C82001", "AST"), ["register", "list_type", "list_size"]].tolist() == [
        1_671, "06OV", 24_805]  # fmt: skip
    assert frame.loc[("C82001", "DM"), "list_type"] == "17OV"
    # 2016-17 publishes 1,304 rows with an empty register: read as missing, not as 0.
    old = read_qof_prevalence(qof_dir, "2016-17")
    assert int(old["register"].isna().sum()) == 1_304
    assert int((old["register"] == 0).sum()) == int(
        (_raw(qof_dir, "2016-17")["register"] == 0).sum()
    )


# --- Broken copies -------------------------------------------------------------------------


@pytest.fixture
def small_2021(tmp_path: Path) -> Path:
    """A few rows in the 2020-21 layout, as published (gzipped, with a byte-order mark)."""
    text = (
        "\ufeffPRACTICE_CODE,GROUP_CODE,REGISTER,PATIENT_LIST_TYPE,PRACTICE_LIST_SIZE\n"
        "C82001,AF,600,TOTAL,26416\n"
        "C82001,AST,1671,06OV,24805\n"
        "C82001,DM,1208,17OV,21123\n"
        "C82002,AF,12,TOTAL,900\n"
    )
    path = tmp_path / "PREVALENCE_2021_v2.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8", newline="") as handle:
        handle.write(text)
    return path


def _rewrite(source: Path, target: Path, old: str, new: str) -> Path:
    with gzip.open(source, "rt", encoding="utf-8-sig") as handle:
        text = handle.read()
    assert old in text
    with gzip.open(target, "wt", encoding="utf-8") as handle:
        handle.write(text.replace(old, new, 1))
    return target


def test_01_qof_small_file_in_the_published_layout_reads(small_2021: Path) -> None:
    frame = read_qof_prevalence_file(small_2021)
    assert frame["register"].tolist() == [600, 1671, 1208, 12]
    assert frame["list_type"].tolist() == ["TOTAL", "06OV", "17OV", "TOTAL"]
    assert (frame["qof_year"] == "2020-21").all()


@pytest.mark.parametrize(
    ("old", "new", "error", "names"),
    [
        ("GROUP_CODE", "GRP_CODE", PublicFileLayoutError, ["GROUP_CODE", "GRP_CODE"]),
        ("PRACTICE_LIST_SIZE", "LIST_SIZE", PublicFileLayoutError, ["PRACTICE_LIST_SIZE"]),
        ("C82001,AST,1671", "C82001,AST,16x1", PublicFileError, ["'REGISTER'", "'16x1'"]),
        ("TOTAL,26416", "TOTAL,26 patients", PublicFileError, ["'PRACTICE_LIST_SIZE'"]),
        ("C82001,AST,1671", "C82001,AST,-3", PublicFileError, ["'REGISTER'", "'-3'"]),
        ("C82001,AST,1671", "C82001,AST,16.5", PublicFileError, ["'REGISTER'", "'16.5'"]),
        ("06OV", "CHILDREN", PublicFileError, ["'PATIENT_LIST_TYPE'", "'CHILDREN'"]),
        ("C82002,AF", "C8200,AF", PublicFileError, ["'PRACTICE_CODE'", "'C8200'"]),
        ("C82002,AF", "C82001,AF", PublicFileError, ["more than once", "C82001 AF"]),
    ],
)
def test_01_qof_broken_copies_name_the_file_and_column(
    small_2021: Path, tmp_path: Path, old: str, new: str, error: type, names: list[str]
) -> None:
    (tmp_path / "broken").mkdir()
    broken = _rewrite(small_2021, tmp_path / "broken" / small_2021.name, old, new)
    with pytest.raises(error) as raised:
        read_qof_prevalence(broken)
    message = str(raised.value)
    assert message.startswith(str(broken))
    for name in names:
        assert name in message


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("PREVALENCE_2324.csv.gz", "QOF year 2023-24 (from the file name) is not one"),
        ("PREVALENCE_latest.csv.gz", "cannot tell the QOF year from the file name"),
        ("PREVALENCE_2022.csv.gz", "cannot tell the QOF year from the file name"),
        ("PREVALENCE_1718.csv.gz", "Is the file misnamed?"),
    ],
)
def test_01_qof_unknown_or_wrong_year_in_the_name_fails(
    small_2021: Path, tmp_path: Path, name: str, message: str
) -> None:
    folder = tmp_path / "renamed"
    folder.mkdir()
    copy = shutil.copy(small_2021, folder / name)
    with pytest.raises(PublicFileError, match=re.escape(message)) as raised:
        read_qof_prevalence_file(copy)
    assert str(copy) in str(raised.value)


def test_01_qof_the_highest_version_wins_and_ties_fail(small_2021: Path, tmp_path: Path) -> None:
    folder = tmp_path / "versions"
    (folder / "old").mkdir(parents=True)
    first = _rewrite(small_2021, folder / "old" / "PREVALENCE_2021.csv.gz", "600", "601")
    shutil.copy(small_2021, folder / "PREVALENCE_2021_v2.csv.gz")
    assert qof_prevalence_files(folder) == {"2020-21": folder / "PREVALENCE_2021_v2.csv.gz"}
    assert read_qof_prevalence(folder)["register"].iloc[0] == 600
    assert qof_year_of(first) == ("2020-21", 1)
    shutil.copy(small_2021, folder / "old" / "PREVALENCE_2021_v2.csv")
    with pytest.raises(PublicFileError, match="two QOF prevalence files for 2020-21"):
        qof_prevalence_files(folder)
    with pytest.raises(PublicFileError, match="no QOF prevalence file for 2019-20"):
        read_qof_prevalence(folder / "PREVALENCE_2021_v2.csv.gz", "2019-20")
    (tmp_path / "empty").mkdir()
    with pytest.raises(PublicFileError, match=r"no QOF prevalence file \(PREVALENCE_\*\) found"):
        read_qof_prevalence(tmp_path / "empty")


def test_01_qof_list_types_give_their_ages() -> None:
    assert list_type_ages("TOTAL") == (0, None)
    assert list_type_ages("18OV") == (18, None)
    assert list_type_ages("06OV") == (6, None)
    assert list_type_ages("30_74") == (30, 74)
    for bad in ("ADULTS", "74_30", "OV18", ""):
        with pytest.raises(ValueError, match="not a QOF patient list type"):
            list_type_ages(bad)


# --- The map to contract conditions --------------------------------------------------------


def test_01_qof_map_declares_every_condition_once() -> None:
    table = qof_condition_map()
    conditions = table.loc[table["condition"] != "", "condition"]
    assert sorted(conditions) == sorted(CAMBRIDGE_WEIGHTS)
    mapped = table[table["how"].isin(["matched", "partial"])]
    assert len(mapped) == 14 and mapped["used"].all()
    assert set(mapped.loc[mapped["how"] == "partial", "qof_group"]) == {"DEP", "CAN"}
    assert dict(zip(mapped["qof_group"], mapped["condition"], strict=True))["DEP"] == (
        "anxiety_depression"
    )
    assert set(table.loc[table["how"] == "not in QOF", "condition"]) == set(CONDITIONS_NOT_IN_QOF)
    assert not table.loc[table["how"].isin(["not in QOF", "not used"]), "used"].any()
    assert table["note"].str.len().gt(0).all()


@real_files
@pytest.mark.parametrize("year", list(FILES))
def test_01_qof_map_covers_the_groups_in_every_file(qof_dir: Path, year: str) -> None:
    raw = _raw(qof_dir, year)
    groups = set(raw["group_code"])
    mapped = {row.qof_group for row in QOF_CONDITION_MAP}
    assert mapped <= groups  # every mapped group is published every year
    assert groups <= mapped | set(QOF_GROUPS_NOT_USED)  # and no group is left undeclared
    list_types = raw.groupby("group_code")["list_type"].unique()
    assert list_types.map(len).eq(1).all()  # one denominator per group and year
    table = qof_condition_map({g: t[0] for g, t in list_types.items()})
    assert not table["note"].str.contains("does not know").any()
    if year == "2020-21":  # the declared denominators are those of 2020-21
        declared = {row.qof_group: row.denominator for row in QOF_CONDITION_MAP}
        assert declared == {g: list_types[g][0] for g in declared}


@real_files
def test_01_qof_practice_prevalence_is_register_over_denominator(qof_dir: Path) -> None:
    llr = sorted(_llr_codes(qof_dir, "2020-21"))
    result = practice_prevalence(qof_dir, [*llr, "Z99999"])
    assert result.qof_year == "2020-21" and result.source_file == FILES["2020-21"]
    assert result.missing_practices == ("Z99999",)
    table = result.table
    assert table["practice_code"].nunique() == LLR_PRACTICES["2020-21"]
    assert set(table["condition"]) == {row.condition for row in QOF_CONDITION_MAP}
    raw = _raw(qof_dir, "2020-21").set_index(["practice_code", "group_code"])
    expected = raw.loc[list(zip(table["practice_code"], table["qof_group"], strict=True))]
    usable = expected["register"] <= expected["list_size"]
    assert usable.sum() == len(table)
    assert np.allclose(table["prevalence"], expected["register"] / expected["list_size"])
    ages = {"TOTAL": 0, "06OV": 6, "17OV": 17, "18OV": 18}
    assert (table["min_age"] == expected["list_type"].map(ages).to_numpy()).all()
    cmap = result.condition_map.set_index("qof_group")
    assert cmap.loc["AST", "denominator"] == "06OV" and cmap.loc["AST", "ages"] == "aged 6 and over"


def test_01_qof_unusable_rows_are_excluded_with_a_reason(tmp_path: Path) -> None:
    path = tmp_path / "PREVALENCE_1617.csv"
    path.write_text(
        "PRACTICE_CODE,INDICATOR_GROUP_CODE,REGISTER,PATIENT_LIST_TYPE,PATIENT_LIST_SIZE\n"
        "A00001,AF,,TOTAL,100\n"
        "A00001,HYP,5,TOTAL,0\n"
        "A00001,DM,120,17OV,100\n"
        "A00001,CHD,0,TOTAL,100\n"
        "A00002,AF,,TOTAL,50\n"
        "A00003,LD,4,TOTAL,80\n"
    )
    result = practice_prevalence(tmp_path, ["A00001", "A00002", "A00003"])
    assert result.table[["practice_code", "condition", "prevalence"]].values.tolist() == [
        ["A00001", "coronary_heart_disease", 0.0]]  # fmt: skip
    reasons = dict(zip(result.excluded["qof_group"], result.excluded["reason"], strict=False))
    assert reasons == {"AF": "register published empty", "DM": "register larger than its "
                       "denominator list", "HYP": "denominator list size 0"}  # fmt: skip
    assert result.missing_practices == ("A00002", "A00003")  # LD is not a condition: not used
    result.write(tmp_path / "provenance")
    written = pd.read_csv(tmp_path / "provenance" / "qof_condition_map.csv", keep_default_na=False)
    assert len(written) == len(result.condition_map)
    assert "qof_year" in (tmp_path / "provenance" / "qof_sources.json").read_text()


# --- The intercept shift -------------------------------------------------------------------


def test_01_qof_intercept_shifts_reach_their_targets_exactly() -> None:
    rng = np.random.default_rng(3)
    n_groups = 7
    size = np.array([1, 2, 50, 5_000, 20_000, 300, 10])
    group = np.repeat(np.arange(n_groups), size)
    logit = rng.normal(-3.0, 2.5, group.size) + np.where(group == 4, 4.0, 0.0)
    target = np.array([0.5, 0.0, 0.002, 0.35, 0.01, np.nan, 1.0])
    shift, before = solve_intercept_shifts(logit, group, target, n_groups)
    probability = 1 / (1 + np.exp(-(logit + shift[group])))
    cases = np.bincount(group, probability, n_groups)
    solved = [0, 2, 3, 4]
    assert np.allclose(cases[solved], (target * size)[solved], rtol=0, atol=1e-6)
    assert shift[1] == -np.inf and shift[6] == np.inf and shift[5] == 0
    assert cases[1] == 0 and cases[6] == size[6]
    assert np.allclose(before, np.bincount(group, 1 / (1 + np.exp(-logit)), n_groups) / size)


# --- The generator: small inputs without public data ---------------------------------------


def _tiny_practices() -> tuple[pd.DataFrame, pd.DataFrame]:
    practices = pd.DataFrame({
        "practice_code": ["A00001", "A00002", "A00003"],
        "practice_name": ["One", "Two", "Three"],
        "pcn_code": ["U1", "U1", "U2"],
        "pcn_name": ["PCN one", "PCN one", "PCN two"],
        "place": ["City", "City", "County"],
        "registered_list": [1, 1, 1],
        "current_funding_gbp": [150_000.0, 120_000.0, 90_000.0],
        "imd_score": [35.0, 12.0, 20.0],
    })  # fmt: skip
    bands = [f"{low}-{low + 4}" for low in range(0, 95, 5)] + ["95+"]
    rows = [
        {"practice_code": code, "sex": sex, "age_band": band, "patients": 100 + 10 * i}
        for code in practices["practice_code"]
        for sex in ("F", "M")
        for i, band in enumerate(bands)
    ]
    return practices, pd.DataFrame(rows)


def test_01_qof_no_prevalence_rows_draws_exactly_the_default() -> None:
    practices, lists = _tiny_practices()
    default = generate_icb_for_practices(practices, lists, seed=5)
    empty = pd.DataFrame(columns=["practice_code", "condition", "prevalence", "min_age"])
    again = generate_icb_for_practices(practices, lists, seed=5, prevalence=empty)
    pd.testing.assert_frame_equal(default.patients, again.patients)
    pd.testing.assert_frame_equal(default.activity, again.activity)
    assert default.morbidity_calibration.empty and again.morbidity_calibration.empty


def test_01_qof_tiny_calibration_meets_its_targets_in_expectation(tmp_path: Path) -> None:
    practices, lists = _tiny_practices()
    prevalence = pd.DataFrame({
        "practice_code": ["A00001", "A00002", "A00001"],
        "condition": ["diabetes", "diabetes", "dementia"],
        "prevalence": [0.20, 0.02, 0.0],
        "min_age": [17, 17, 0],
    })  # fmt: skip
    icb = generate_icb_for_practices(practices, lists, seed=5, prevalence=prevalence)
    calibration = icb.morbidity_calibration.set_index(["practice_code", "condition"])
    assert set(calibration.index) == {("A00001", "diabetes"), ("A00002", "diabetes"),
                                      ("A00001", "dementia")}  # fmt: skip
    patients = icb.patients
    one = patients[patients["practice_code"] == "A00001"]
    assert one["cond_dementia"].sum() == 0
    adults = one[one["age"] >= 17]
    assert calibration.loc[("A00001", "diabetes"), "eligible_patients"] == len(adults)
    drawn = adults["cond_diabetes"].mean()
    assert drawn == pytest.approx(calibration.loc[("A00001", "diabetes"), "drawn_prevalence"])
    assert abs(drawn - 0.20) < 4 * np.sqrt(0.2 * 0.8 / len(adults))
    assert (patients["ltc_count"] == patients.filter(like="cond_").sum(axis=1)).all()
    icb.write(tmp_path)
    assert (tmp_path / "truth" / "morbidity_calibration.csv").exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"drop": "min_age"}, "prevalence: missing column(s) min_age"),
        ({"condition": "gout"}, "prevalence: column condition: 1 rows are not contract"),
        ({"practice_code": "Z99999"}, "prevalence: column practice_code: 1 rows name practices"),
        ({"prevalence": 1.5}, "prevalence: column prevalence: 1 rows are not fractions"),
        ({"min_age": -1}, "prevalence: column min_age: 1 rows are not whole ages"),
        ({"duplicate": True}, "prevalence: column practice_code: 2 rows repeat"),
    ],
)
def test_01_qof_bad_prevalence_tables_are_named(change: dict, message: str) -> None:
    practices, lists = _tiny_practices()
    table = pd.DataFrame({"practice_code": ["A00001", "A00002"], "condition": ["asthma"] * 2,
                          "prevalence": [0.05, 0.07], "min_age": [6, 6]})  # fmt: skip
    if "drop" in change:
        table = table.drop(columns=change["drop"])
    elif "duplicate" in change:
        table["practice_code"] = "A00001"
    else:
        ((column, value),) = change.items()
        table = table.astype({column: object})
        table.loc[0, column] = value
    with pytest.raises(SynthInputError) as raised:
        generate_icb_for_practices(practices, lists, seed=5, prevalence=table)
    assert message in str(raised.value)
