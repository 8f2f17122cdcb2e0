"""The public-file adapters, on the real published files and on small files in their layouts.

Known truths come from ``../shared/data/public/SOURCES.md`` (its LLR coverage check, made when
the files were collected) and from a second published file where one exists (practice
totals against age-sex bands). Tests on the real files are marked ``public_data`` and skip,
with the reason, where that folder is absent; the others write tiny files in the published
layouts to ``tmp_path``.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pcfm.inputs.public import (
    PAYMENTS_LAYOUTS,
    PublicFileError,
    PublicFileLayoutError,
    payments_years,
    read_lsoa_imd,
    read_payments,
    read_payments_file,
    read_practice_imd,
    read_practice_map,
    read_registered_age_sex,
    registered_extract_dates,
)
from pcfm.inputs.public.common import parse_extract_date
from pcfm.inputs.public.payments import financial_year_of, match_layout
from pcfm.inputs.public.registered import AGE_BANDS

pytestmark = pytest.mark.unit
real_files = pytest.mark.public_data

LLR_SUB_ICBS = ("03W", "04C", "04V")
#: SOURCES.md coverage check: LLR practices with weighted list > 0 by payments year.
LLR_PRACTICES_WITH_WEIGHTED_LIST = {
    "2014-15": 147,
    "2015-16": 145,
    "2016-17": 141,
    "2017-18": 138,
    "2018-19": 136,
    "2019-20": 134,
    "2020-21": 132,
    "2021-22": 132,
    "2022-23": 132,
}


# --- Real files, read once per module ------------------------------------------------------


@pytest.fixture(scope="module")
def payments(public_data_dir: Path) -> pd.DataFrame:
    return read_payments(public_data_dir / "payments")


@pytest.fixture(scope="module")
def registered_april(public_data_dir: Path) -> pd.DataFrame:
    return read_registered_age_sex(public_data_dir / "registered_patients", "2025-04-01")


@pytest.fixture(scope="module")
def map_april(public_data_dir: Path) -> pd.DataFrame:
    return read_practice_map(public_data_dir / "registered_patients", "01Apr2025")


@pytest.fixture(scope="module")
def map_december(public_data_dir: Path) -> pd.DataFrame:
    return read_practice_map(public_data_dir / "registered_patients")


@real_files
def test_every_payments_year_in_the_folder_is_read(
    public_data_dir: Path, payments: pd.DataFrame
) -> None:
    assert payments_years(public_data_dir / "payments") == list(LLR_PRACTICES_WITH_WEIGHTED_LIST)
    assert sorted(payments["financial_year"].unique()) == list(LLR_PRACTICES_WITH_WEIGHTED_LIST)
    llr = payments[payments["sub_icb_code"].isin(LLR_SUB_ICBS) & (payments["weighted_list"] > 0)]
    counts = llr.groupby("financial_year")["practice_code"].nunique().to_dict()
    assert counts == LLR_PRACTICES_WITH_WEIGHTED_LIST


@real_files
def test_payments_2022_23_match_the_llr_coverage_check(payments: pd.DataFrame) -> None:
    year = payments[payments["financial_year"] == "2022-23"]
    llr = year[year["sub_icb_code"].isin(LLR_SUB_ICBS)]
    assert len(llr) == 134
    paid = llr[llr["weighted_list"] > 0]
    assert round(paid["weighted_list"].sum()) == 1_140_063
    assert set(llr.loc[llr["weighted_list"] == 0, "practice_code"]) == {"C82657", "Y03587"}
    assert llr["pcn_code"].notna().all()
    assert (year["list_basis"] == "annual average").all()
    rows_2019 = payments[
        (payments["financial_year"] == "2019-20") & payments["sub_icb_code"].isin(LLR_SUB_ICBS)
    ]
    assert len(rows_2019) == 136


@real_files
@pytest.mark.parametrize("year", list(LLR_PRACTICES_WITH_WEIGHTED_LIST))
def test_payments_values_are_plausible_every_year(payments: pd.DataFrame, year: str) -> None:
    rows = payments[payments["financial_year"] == year]
    assert 6_000 < len(rows) < 8_500
    assert rows["practice_code"].is_unique
    # Weighted lists are scaled so England's total equals its registered total.
    ratio = rows["weighted_list"].sum() / rows["registered_list"].sum()
    assert ratio == pytest.approx(1.0, abs=0.005)
    assert 55e6 < rows["registered_list"].sum() < 65e6
    # Global sum per weighted patient of GMS-like practices: £70-£110 over these years.
    paid = rows[(rows["global_sum_gbp"] > 0) & (rows["weighted_list"] > 1_000)]
    per_weighted = paid["global_sum_gbp"] / paid["weighted_list"]
    assert 70 < per_weighted.median() < 110
    assert (rows["total_payments_gbp"] >= rows["global_sum_gbp"] - 0.01).mean() > 0.99
    has_pcn = rows["pcn_code"].notna().mean()
    assert has_pcn == 0 if year < "2019-20" else has_pcn > 0.9


@real_files
def test_registered_bands_add_up_to_the_practice_totals_file(
    public_data_dir: Path, registered_april: pd.DataFrame
) -> None:
    totals_file = pd.read_parquet(
        public_data_dir / "registered_patients" / "gp_prac_reg_all.parquet",
        columns=["extract_date", "code", "number_of_patients"],
    )
    totals = totals_file[totals_file["extract_date"] == "2025-04-01"].set_index("code")
    by_practice = registered_april.groupby("practice_code")["patients"].sum()
    assert set(by_practice.index) == set(totals.index)
    assert (by_practice == totals.loc[by_practice.index, "number_of_patients"]).all()
    assert registered_april.attrs["extract_date"] == "2025-04-01"
    per_practice = registered_april.groupby("practice_code").size()
    assert (per_practice == 2 * len(AGE_BANDS)).all()
    assert set(registered_april["age_band"]) == set(AGE_BANDS)
    assert set(registered_april["sex"]) == {"F", "M"}


@real_files
def test_qk1_list_sizes_match_the_coverage_check(
    public_data_dir: Path,
    registered_april: pd.DataFrame,
    map_april: pd.DataFrame,
    map_december: pd.DataFrame,
) -> None:
    qk1_april = set(map_april.loc[map_april["icb_code"] == "QK1", "practice_code"])
    assert len(qk1_april) == 128
    assert set(map_april.loc[map_april["icb_code"] == "QK1", "sub_icb_code"]) == set(LLR_SUB_ICBS)
    april = registered_april[registered_april["practice_code"].isin(qk1_april)]
    assert april["patients"].sum() == 1_234_426

    december = read_registered_age_sex(public_data_dir / "registered_patients")
    assert december.attrs["extract_date"] == "2025-12-01"
    qk1_december = set(map_december.loc[map_december["icb_code"] == "QK1", "practice_code"])
    assert len(qk1_december) == 130
    assert qk1_december - qk1_april == {"C82040", "C82076"}
    total = december.loc[december["practice_code"].isin(qk1_december), "patients"].sum()
    assert total == 1_252_602


@real_files
def test_practice_map_columns_and_extracts(public_data_dir: Path, map_april: pd.DataFrame) -> None:
    assert list(map_april.columns) == [
        "practice_code",
        "practice_name",
        "pcn_code",
        "pcn_name",
        "sub_icb_code",
        "sub_icb_name",
        "icb_code",
        "icb_name",
    ]
    assert map_april["practice_code"].is_unique
    assert map_april.attrs["extract_date"] == "2025-04-01"
    llr = map_april[map_april["icb_code"] == "QK1"]
    assert llr["icb_name"].str.contains("Leicester").all()
    assert 25 <= llr["pcn_code"].nunique() <= 30
    with pytest.raises(PublicFileError, match=r"2025-03-01, 2025-04-01, 2025-05-01"):
        read_practice_map(public_data_dir / "registered_patients", "2024-04-01")


@real_files
def test_absent_registration_extract_names_the_available_ones(public_data_dir: Path) -> None:
    folder = public_data_dir / "registered_patients"
    assert registered_extract_dates(folder) == [
        "2025-03-01",
        "2025-04-01",
        "2025-05-01",
        "2025-11-01",
        "2025-12-01",
    ]
    with pytest.raises(PublicFileError, match=r"no extract dated 2025-06-01.*2025-05-01, 2025-11"):
        read_registered_age_sex(folder, "2025-06-01")


@real_files
def test_practice_imd_from_both_fingertips_exports(
    public_data_dir: Path, payments: pd.DataFrame, map_april: pd.DataFrame
) -> None:
    folder = public_data_dir / "deprivation"
    reduced = read_practice_imd(folder / "IMD_raw.csv.gz")
    website = read_practice_imd(folder / "indicator-data.csv.gz")
    assert len(website) == 6_545
    assert reduced["practice_code"].is_unique and website["practice_code"].is_unique
    both = reduced.merge(website, on="practice_code", suffixes=("_reduced", "_website"))
    assert len(both) == 6_545
    agree = np.isclose(both["imd_score_reduced"], both["imd_score_website"], atol=1e-6)
    assert agree.mean() > 0.99  # SOURCES.md: 99.5% identical
    assert reduced["imd_score"].between(0, 100).all()

    llr_paid = payments[
        (payments["financial_year"] == "2022-23")
        & payments["sub_icb_code"].isin(LLR_SUB_ICBS)
        & (payments["weighted_list"] > 0)
    ]["practice_code"]
    qk1_april = map_april.loc[map_april["icb_code"] == "QK1", "practice_code"]
    assert llr_paid.isin(reduced["practice_code"]).sum() == 132
    assert qk1_april.isin(reduced["practice_code"]).sum() == 128
    assert llr_paid.isin(website["practice_code"]).sum() == 132
    assert qk1_april.isin(website["practice_code"]).sum() == 126

    combined = read_practice_imd(folder)
    assert len(combined) == len(set(reduced["practice_code"]) | set(website["practice_code"]))
    assert set(combined["imd_source"]) <= {"IMD_raw.csv.gz", "indicator-data.csv.gz"}


@real_files
def test_lsoa_imd_is_the_areas_table(public_data_dir: Path) -> None:
    areas = read_lsoa_imd(public_data_dir / "deprivation")
    assert list(areas.columns) == ["area_code", "imd_decile", "imd_quintile"]
    assert len(areas) == 32_844  # every LSOA 2011 in England
    assert areas["area_code"].is_unique and areas["area_code"].str.startswith("E01").all()
    deciles = areas["imd_decile"].value_counts()
    assert set(deciles.index) == set(range(1, 11))
    assert (deciles.max() - deciles.min()) <= 1  # deciles of a ranking are equal-sized
    assert (areas["imd_quintile"] == np.ceil(areas["imd_decile"] / 2)).all()
    city_of_london_001a = areas.set_index("area_code").loc["E01000001"]
    assert city_of_london_001a["imd_decile"] == 9  # rank 29,199 of 32,844


# --- Small files in the published layouts --------------------------------------------------


def _write_csv(path: Path, header: list[str], rows: list[list[object]], bom: bool = False) -> Path:
    frame = pd.DataFrame(rows, columns=header)
    text = frame.to_csv(index=False, lineterminator="\r\n")
    data = (("\ufeff" if bom else "") + text).encode("utf-8")
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


def _layout_row(columns: dict[str, str], code: str, weighted: float) -> dict[str, object]:
    values = {
        "practice_code": code,
        "practice_name": f"Practice {code}",
        "sub_icb_code": "04C",
        "pcn_code": "U00001",
        "registered_list": "1,000",
        "weighted_list": weighted,
        "global_sum_gbp": 95_000.5,
        "mpig_gbp": 10.25,
        "pms_balance_gbp": 0,
        "total_payments_gbp": 150_000,
    }
    return {columns[key]: values[key] for key in columns}


@pytest.mark.parametrize(
    "layout", PAYMENTS_LAYOUTS, ids=[layout.name for layout in PAYMENTS_LAYOUTS]
)
def test_each_known_payments_layout_reads_to_the_same_tidy_table(tmp_path: Path, layout) -> None:
    year = layout.years[-1]
    name = f"nhspaymentsgp-{year[2:]}-prac-csv.csv.gz"
    header = ["NHS England (Region) code", *layout.columns.values(), "Other Payments"]
    rows = []
    for code, weighted in (("C82001", 1_100.5), ("Y01234", 900.0)):
        row = _layout_row(layout.columns, code, weighted)
        rows.append(["Y60", *row.values(), 1.0])
    path = _write_csv(tmp_path / name, header, rows, bom=True)
    assert match_layout(path, header) is layout
    tidy = read_payments_file(path)
    assert tidy["financial_year"].tolist() == [year, year]
    assert tidy["practice_code"].tolist() == ["C82001", "Y01234"]
    assert tidy["registered_list"].tolist() == [1_000.0, 1_000.0]  # thousands separator read
    assert tidy["weighted_list"].tolist() == [1_100.5, 900.0]
    assert tidy["global_sum_gbp"].tolist() == [95_000.5, 95_000.5]
    assert tidy["mpig_gbp"].tolist() == [10.25, 10.25]
    assert tidy["list_basis"].iloc[0] == layout.list_basis
    assert tidy["pcn_code"].isna().all() == ("pcn_code" not in layout.columns)


def test_a_renamed_payments_column_fails_naming_file_and_columns(tmp_path: Path) -> None:
    layout = PAYMENTS_LAYOUTS[0]
    renamed = {**layout.columns, "weighted_list": "Average Number of Carr-Hill Patients"}
    row = _layout_row(renamed, "C82001", 1_000.0)
    path = _write_csv(
        tmp_path / "nhspaymentsgp-23-24-prac-csv.csv", list(row), [list(row.values())]
    )
    with pytest.raises(PublicFileLayoutError) as raised:
        read_payments(tmp_path)
    message = str(raised.value)
    assert str(path) in message
    assert "missing ['Average Number of Weighted Patients']" in message
    assert "Average Number of Carr-Hill Patients" in message  # the column found
    assert isinstance(raised.value, ValueError)


def test_payments_file_names_give_the_financial_year(tmp_path: Path) -> None:
    assert financial_year_of(Path("nhspaymentsgp-17-18-csv.csv")) == "2017-18"
    assert financial_year_of(Path("nhspaymentsgp-21-22-prac-csv-v2.csv.gz")) == "2021-22"
    assert financial_year_of(Path("heec_harmonised/14-15.csv.gz")) == "2014-15"
    assert financial_year_of(Path("nhspaymentsgp-99-00-prac-csv.csv")) == "2099-00"
    with pytest.raises(PublicFileError, match="financial year"):
        financial_year_of(Path("nhspaymentsgp-latest.csv"))


def test_payments_text_in_a_number_column_is_named(tmp_path: Path) -> None:
    layout = PAYMENTS_LAYOUTS[0]
    good = _layout_row(layout.columns, "C82001", 1_000.0)
    bad = {**_layout_row(layout.columns, "C82002", 1_000.0), "Global Sum": "n/a"}
    path = _write_csv(
        tmp_path / "nhspaymentsgp-22-23-prac-csv.csv",
        list(good),
        [list(good.values()), list(bad.values())],
    )
    with pytest.raises(
        PublicFileError, match=r"'Global Sum' is not numeric in 1 row\(s\), first: 'n/a'"
    ):
        read_payments_file(path)


def test_harmonised_copies_give_way_to_the_published_file(tmp_path: Path) -> None:
    layout = PAYMENTS_LAYOUTS[-1]
    row = _layout_row(layout.columns, "C82001", 1_000.0)
    (tmp_path / "heec_harmonised").mkdir()
    _write_csv(tmp_path / "heec_harmonised" / "17-18.csv", list(row), [list(row.values())])
    published = {**row, "Number of Weighted Patients (Last Known Figure)": 2_000.0}
    _write_csv(
        tmp_path / "nhspaymentsgp-17-18-csv.csv", list(published), [list(published.values())]
    )
    tidy = read_payments(tmp_path)
    assert tidy["weighted_list"].tolist() == [2_000.0]
    assert tidy["source_file"].tolist() == ["nhspaymentsgp-17-18-csv.csv"]
    assert read_payments(tmp_path / "heec_harmonised")["weighted_list"].tolist() == [1_000.0]


def test_payments_files_at_other_levels_are_skipped(tmp_path: Path) -> None:
    layout = PAYMENTS_LAYOUTS[0]
    row = _layout_row(layout.columns, "C82001", 1_000.0)
    _write_csv(tmp_path / "nhspaymentsgp-22-23-prac-csv.csv", list(row), [list(row.values())])
    _write_csv(tmp_path / "nhspaymentsgp-22-23-pcn-csv.csv", ["PCN Code", "Total"], [["U1", 1]])
    assert payments_years(tmp_path) == ["2022-23"]
    assert read_payments(tmp_path)["practice_code"].tolist() == ["C82001"]


@pytest.mark.parametrize(
    ("text", "iso"),
    [("01Apr2025", "2025-04-01"), ("01APR2025", "2025-04-01"), ("2025-12-01", "2025-12-01"),
     ("01-Mar-2025", "2025-03-01")],
)  # fmt: skip
def test_extract_dates_in_published_forms(text: str, iso: str) -> None:
    assert parse_extract_date(text) == iso


def _quin_age_rows(code: str, female: int, male: int, total: int) -> list[list[object]]:
    rows: list[list[object]] = [
        ["GP_PRAC_PAT_LIST", "01APR2025", "GP", code, "E1", "LE1 1AA", "ALL", "ALL", total]
    ]
    for sex, count in (("FEMALE", female), ("MALE", male)):
        rows.append(
            ["GP_PRAC_PAT_LIST", "01APR2025", "GP", code, "E1", "LE1 1AA", sex, "0_4", count]
        )
        rows.append(["GP_PRAC_PAT_LIST", "01APR2025", "GP", code, "E1", "LE1 1AA", sex, "95+", 1])
    return rows


QUIN_AGE_HEADER = ["PUBLICATION", "EXTRACT_DATE", "ORG_TYPE", "ORG_CODE", "ONS_CODE", "POSTCODE",
                   "SEX", "AGE_GROUP_5", "NUMBER_OF_PATIENTS"]  # fmt: skip


def test_registered_csv_as_published_reads_practice_rows(tmp_path: Path) -> None:
    rows = _quin_age_rows("C82001", 10, 12, 24)
    rows.append(["GP_PRAC_PAT_LIST", "01APR2025", "ICB", "QK1", "E54", "", "ALL", "ALL", 99])
    _write_csv(tmp_path / "gp-reg-pat-prac-quin-age.csv", QUIN_AGE_HEADER, rows)
    tidy = read_registered_age_sex(tmp_path)
    assert tidy.attrs["extract_date"] == "2025-04-01"
    assert len(tidy) == 2 * len(AGE_BANDS)  # every band, zero where not published
    indexed = tidy.set_index(["sex", "age_band"])["patients"]
    assert indexed[("F", "0-4")] == 10 and indexed[("M", "0-4")] == 12
    assert indexed[("F", "95+")] == 1 and indexed[("F", "50-54")] == 0
    assert tidy["patients"].sum() == 24


def test_registered_bands_that_do_not_add_up_fail(tmp_path: Path) -> None:
    rows = _quin_age_rows("C82001", 10, 12, 24) + _quin_age_rows("C82002", 5, 5, 99)
    _write_csv(tmp_path / "gp-reg-pat-prac-quin-age.csv", QUIN_AGE_HEADER, rows)
    with pytest.raises(PublicFileError, match=r"do not add up .* 1 row\(s\), first: 'C82002'"):
        read_registered_age_sex(tmp_path)


def test_registered_file_without_the_published_columns_fails(tmp_path: Path) -> None:
    header = [name if name != "AGE_GROUP_5" else "AGE_BAND" for name in QUIN_AGE_HEADER]
    _write_csv(tmp_path / "gp-reg-pat-prac-quin-age.csv", header, _quin_age_rows("C82001", 1, 1, 4))
    with pytest.raises(PublicFileLayoutError, match=r"missing column\(s\) \['AGE_GROUP_5'\]"):
        read_registered_age_sex(tmp_path)


def test_missing_folder_and_missing_files_are_clear(tmp_path: Path) -> None:
    with pytest.raises(PublicFileError, match="no such file or folder"):
        read_payments(tmp_path / "absent")
    with pytest.raises(PublicFileError, match=r"no NHS Payments .* nhspaymentsgp-\*"):
        read_payments(tmp_path)


def test_lsoa_imd_from_file_7_keeps_the_score(tmp_path: Path) -> None:
    header = [
        "LSOA code (2011)",
        "LSOA name (2011)",
        "Index of Multiple Deprivation (IMD) Score",
        "Index of Multiple Deprivation (IMD) Rank (where 1 is most deprived)",
        "Index of Multiple Deprivation (IMD) Decile (where 1 is most deprived 10% of LSOAs)",
    ]
    rows = [["E01000001", "A", 6.2, "29,199", 9], ["E01000005", "B", 32.8, "8,678", 3]]
    _write_csv(
        tmp_path / "File_7_-_All_IoD2019_Scores__Ranks__Deciles_and_Population_Denominators_3.csv",
        header,
        rows,
    )
    areas = read_lsoa_imd(tmp_path)
    assert areas.to_dict("list") == {
        "area_code": ["E01000001", "E01000005"],
        "imd_score": [6.2, 32.8],
        "imd_decile": [9, 3],
        "imd_quintile": [5, 2],
    }
