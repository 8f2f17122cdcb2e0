"""``pcfm synth --from-public``: joining the public files into the real practices of an ICB.

Two kinds of test: the join on the real files for LLR (QK1), up to the inputs the generator
receives (the generator has its own tests, and a full LLR-sized run takes longer than a test
should); and a whole run, with the real generator, on a tiny public folder written here in the
publishers' file names and layouts.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pcfm.data.contract import PRACTICES
from pcfm.data.validate import validate_folder
from pcfm.inputs.from_public import (
    FUNDING_LINES,
    PRACTICE_COLUMNS,
    assemble_public_icb,
    build_public_icb,
    write_public_icb,
)
from pcfm.inputs.public import PublicFileError, read_payments_file
from pcfm.params import load_params

pytestmark = pytest.mark.integration
real_files = pytest.mark.public_data


@pytest.fixture(scope="module")
def llr_april(public_data_dir: Path):
    return assemble_public_icb(public_data_dir, "QK1", extract_date="2025-04-01")


@real_files
def test_llr_april_2025_join_matches_the_coverage_check(llr_april) -> None:
    # SOURCES.md: the 2025-04 list x 2022-23 weighted list x IMD 2019 join gives 126 practices;
    # Y03584 (LLR SAS provider) and Y05412 (asylum service) have no payments row.
    practices = llr_april.practices
    assert len(practices) == 126
    assert list(practices.columns) == list(PRACTICE_COLUMNS)
    assert practices["practice_code"].is_unique
    assert llr_april.sources["practices_in_icb"] == 128
    assert set(llr_april.dropped["practice_code"]) == {"Y03584", "Y05412"}
    assert llr_april.dropped["reason"].str.contains("Payments to General Practice 2022-23").all()
    assert llr_april.sources["payments_year"] == "2022-23"
    assert llr_april.sources["registration_extract_date"] == "2025-04-01"


@real_files
def test_llr_places_follow_the_stated_rule(llr_april) -> None:
    places = llr_april.practices.groupby("place")["practice_code"].count().to_dict()
    # 51 practices in sub-ICB 04C; Rutland Health PCN has 4; the rest of 03W and 04V.
    assert places == {"Leicester City": 51, "Leicestershire County": 71, "Rutland": 4}
    rutland = llr_april.practices[llr_april.practices["place"] == "Rutland"]
    assert set(rutland["pcn_code"]) == {"U67590"}
    # Rutland practices are the least deprived place, the city the most.
    mean_imd = llr_april.practices.groupby("place")["imd_score"].mean()
    assert mean_imd["Leicester City"] > mean_imd["Leicestershire County"] > mean_imd["Rutland"]


@real_files
def test_llr_funding_and_lists_come_from_the_right_columns(
    public_data_dir: Path, llr_april
) -> None:
    payments = read_payments_file(
        public_data_dir / "payments" / "nhspaymentsgp-22-23-prac-csv.csv.gz"
    ).set_index("practice_code")
    practices = llr_april.practices.set_index("practice_code")
    paid = payments.loc[practices.index]
    scale = practices["registered_list"] / paid["registered_list"]
    # Each practice keeps its Carr-Hill index and its 2022-23 funding per registered patient.
    carr_hill_index = practices["carr_hill_weighted_list"] / practices["registered_list"]
    assert np.allclose(carr_hill_index, paid["weighted_list"] / paid["registered_list"])
    core_funding = paid[list(FUNDING_LINES)].sum(axis=1)
    assert np.allclose(practices["current_funding_gbp"], core_funding * scale)
    assert (practices["current_funding_gbp"] > 0).all()
    # The PMS practice with a zero global sum is funded through its PMS balance.
    pms = paid[(paid["global_sum_gbp"] == 0) & (paid["pms_balance_gbp"] > 0)].index
    assert len(pms) >= 1
    assert np.allclose(
        practices.loc[pms, "current_funding_gbp"], paid.loc[pms, "pms_balance_gbp"] * scale[pms]
    )
    # The registered list is the age-sex list, which the generator fills patient by patient.
    lists = llr_april.list_by_age_sex.groupby("practice_code")["patients"].sum()
    assert (lists.loc[practices.index] == practices["registered_list"]).all()
    assert practices["registered_list"].sum() == 1_234_426 - 107 - 5  # less the two dropped
    alignment = llr_april.practice_sources.set_index("practice_code")
    assert np.allclose(alignment.loc[practices.index, "scale"], scale)
    # Willows Health grew about five-fold between 2022-23 and 2025 (a merger); De Montfort
    # Surgery (a PMS student practice) has its core money in "Other Payments": both flagged.
    assert alignment.loc["Y00137", "scale"] > 4
    assert "list changed x5.1" in alignment.loc["Y00137", "flag"]
    assert "core funding £14.76 per weighted patient" in alignment.loc["C82020", "flag"]
    assert (alignment["flag"] != "").sum() <= 6


@real_files
def test_llr_unscaled_funding_is_the_published_amount(public_data_dir: Path) -> None:
    unscaled = assemble_public_icb(
        public_data_dir, "QK1", extract_date="2025-04-01", scale_to_list=False
    )
    payments = read_payments_file(
        public_data_dir / "payments" / "nhspaymentsgp-22-23-prac-csv.csv.gz"
    ).set_index("practice_code")
    practices = unscaled.practices.set_index("practice_code")
    paid = payments.loc[practices.index]
    assert (practices["carr_hill_weighted_list"] == paid["weighted_list"]).all()
    core_funding = paid[list(FUNDING_LINES)].sum(axis=1)
    assert (practices["current_funding_gbp"] - core_funding).abs().max() < 1e-6
    assert round(practices["carr_hill_weighted_list"].sum()) == round(paid["weighted_list"].sum())


@real_files
def test_llr_december_practices_are_what_the_generator_gets(public_data_dir: Path) -> None:
    inputs = assemble_public_icb(public_data_dir, "QK1", extract_date="2025-12-01")
    practices = inputs.practices
    # December 2025: C82040 (Kegworth) and C82076 (Bottesford) joined QK1; both Leicestershire.
    assert len(practices) == 128
    moved = practices.set_index("practice_code").loc[["C82040", "C82076"], "place"]
    assert set(moved) == {"Leicestershire County"}
    assert set(inputs.list_by_age_sex["practice_code"]) == set(practices["practice_code"])
    lists = inputs.list_by_age_sex.groupby("practice_code")["patients"].sum()
    assert (lists.loc[practices["practice_code"]].to_numpy() > 0).all()


@real_files
def test_unknown_icb_and_payments_year_fail_clearly(public_data_dir: Path) -> None:
    with pytest.raises(PublicFileError, match=r"no practices of ICB 'QZZ'.*QK1"):
        assemble_public_icb(public_data_dir, "QZZ", extract_date="2025-04-01")
    with pytest.raises(PublicFileError, match=r"no NHS Payments .* 2030-31; years available"):
        assemble_public_icb(public_data_dir, "QK1", payments_year="2030-31")


# --- A whole run on a tiny public folder, with the real generator --------------------------

TINY_PRACTICES = {
    # code: (sub-ICB, PCN, female 0-4, male 70-74, weighted list, global sum, PMS balance, IMD)
    "C82001": ("04C", "U00147", 120, 80, 230.0, 21_000.0, 0.0, 35.5),
    "C82010": ("03W", "U67590", 60, 140, 210.0, 0.0, 18_000.0, 8.25),
    "C82020": ("04V", "U33192", 90, 90, 175.0, 16_000.0, 0.0, 12.0),
    "Y09999": ("04V", "U33192", 30, 20, 0.0, 0.0, 0.0, 14.0),  # closed: weighted list 0
    "C82030": ("04C", "U00147", 50, 50, 100.0, 9_000.0, 0.0, None),  # no IMD score
}


def _write_tiny_public_folder(folder: Path) -> None:
    (folder / "registered").mkdir(parents=True)
    (folder / "payments").mkdir()
    (folder / "deprivation").mkdir()
    map_rows, age_rows, pay_rows, imd_rows = [], [], [], []
    for code, row in TINY_PRACTICES.items():
        sub_icb, pcn, female, male, weighted, global_sum, pms, imd = row
        payments_list = (female + male) * (2 if code == "C82020" else 1)
        map_rows.append({
            "PUBLICATION": "GP_PRAC_PAT_LIST", "EXTRACT_DATE": "01APR2025",
            "PRACTICE_CODE": code, "PRACTICE_NAME": f"PRACTICE {code}",
            "PRACTICE_POSTCODE": "LE1 1AA", "PCN_CODE": pcn, "PCN_NAME": f"PCN {pcn}",
            "ONS_SUB_ICB_LOCATION_CODE": "E38", "SUB_ICB_LOCATION_CODE": sub_icb,
            "SUB_ICB_LOCATION_NAME": f"NHS LLR ICB - {sub_icb}", "ONS_ICB_CODE": "E54",
            "ICB_CODE": "QK1", "ICB_NAME": "NHS LLR ICB",
        })  # fmt: skip
        for sex, band, count in (("ALL", "ALL", female + male), ("FEMALE", "0_4", female),
                                 ("MALE", "70_74", male)):  # fmt: skip
            age_rows.append({
                "PUBLICATION": "GP_PRAC_PAT_LIST", "EXTRACT_DATE": "01APR2025", "ORG_TYPE": "GP",
                "ORG_CODE": code, "ONS_CODE": "E38", "POSTCODE": "LE1 1AA", "SEX": sex,
                "AGE_GROUP_5": band, "NUMBER_OF_PATIENTS": count,
            })  # fmt: skip
        pay_rows.append({
            "NHS England (Region) code": "Y60", "Sub ICB Code": sub_icb, "PCN Code": pcn,
            "Practice Code": code, "Practice Name": f"Practice {code}",
            "Average Number of Registered Patients": payments_list,
            "Average Number of Weighted Patients": weighted, "Global Sum": global_sum,
            "MPIG Correction factor": 50.0 if code == "C82001" else 0.0,
            "Balance of PMS Expenditure": pms,
            "Total NHS Payments to General Practice": global_sum + pms + 1_000.0,
        })  # fmt: skip
        if imd is not None:
            imd_rows.append({
                "Indicator ID": 93553, "Indicator Name": "Deprivation score (IMD 2019)",
                "Area Code": code, "Area Name": code, "Area Type": "GP", "Time period": 2019,
                "Value": imd,
            })  # fmt: skip
    imd_rows.append({"Indicator ID": 93553, "Indicator Name": "Deprivation score (IMD 2019)",
                     "Area Code": "E92000001", "Area Name": "England", "Area Type": "England",
                     "Time period": 2019, "Value": 21.7})  # fmt: skip
    pd.DataFrame(map_rows).to_csv(folder / "registered" / "gp-reg-pat-prac-map.csv", index=False)
    pd.DataFrame(age_rows).to_csv(
        folder / "registered" / "gp-reg-pat-prac-quin-age.csv", index=False
    )
    pd.DataFrame(pay_rows).to_csv(
        folder / "payments" / "nhspaymentsgp-22-23-prac-csv.csv", index=False, encoding="utf-8-sig"
    )
    pd.DataFrame(imd_rows).to_csv(folder / "deprivation" / "indicator-data.csv", index=False)


def test_tiny_public_folder_gives_a_valid_data_folder(tmp_path: Path) -> None:
    public = tmp_path / "public"
    _write_tiny_public_folder(public)
    out = tmp_path / "data"
    icb = write_public_icb(public, "qk1", out, seed=11)

    practices = pd.read_parquet(out / "practices.parquet").set_index("practice_code")
    assert sorted(practices.index) == ["C82001", "C82010", "C82020"]
    assert practices.loc["C82001", "current_funding_gbp"] == pytest.approx(21_050.0)
    assert practices.loc["C82010", "current_funding_gbp"] == pytest.approx(18_000.0)
    assert practices.loc["C82010", "place"] == "Rutland"
    assert practices.loc["C82001", "place"] == "Leicester City"
    assert practices.loc["C82020", "place"] == "Leicestershire County"
    # C82020 had twice its 2025 list in the payments year: weighted list and funding halve.
    assert practices.loc["C82020", "carr_hill_weighted_list"] == pytest.approx(87.5)
    assert practices.loc["C82020", "current_funding_gbp"] == pytest.approx(8_000.0)
    assert practices.loc["C82010", "imd_score"] == pytest.approx(8.25)
    assert set(practices.columns) >= set(PRACTICES.required_columns) - {"practice_code"}

    patients = pd.read_parquet(out / "patients.parquet")
    per_practice = patients.groupby("practice_code").size().to_dict()
    assert per_practice == {"C82001": 200, "C82010": 200, "C82020": 180}
    old_men = patients[(patients["sex"] == "M")]
    assert old_men["age"].between(70, 74).all()
    assert len(icb.patients) == 580

    sources = json.loads((out / "provenance" / "public_sources.json").read_text())
    assert sources["practices_in_icb"] == 5 and sources["practices_kept"] == 3
    assert sources["seed"] == 11 and sources["payments_year"] == "2022-23"
    dropped = pd.read_csv(out / "provenance" / "dropped_practices.csv").set_index("practice_code")
    assert dropped.loc["Y09999", "reason"].startswith("weighted list 0")
    assert dropped.loc["C82030", "reason"] == "no Fingertips IMD 2019 practice score"
    alignment = pd.read_csv(out / "provenance" / "practice_sources.csv").set_index("practice_code")
    assert alignment["scale"].to_dict() == {"C82001": 1.0, "C82010": 1.0, "C82020": 0.5}
    assert alignment["flag"].fillna("").str.startswith("list changed x0.50").tolist() == [
        False,
        False,
        True,
    ]

    params = load_params(Path(__file__).resolve().parents[1] / "params" / "llr-public.yml")
    validate_folder(out, params.data)  # raises on any contract breach


def test_same_files_and_seed_give_the_same_practices(tmp_path: Path) -> None:
    public = tmp_path / "public"
    _write_tiny_public_folder(public)
    first = build_public_icb(public, "QK1", seed=3)
    second = build_public_icb(public, "QK1", seed=3)
    pd.testing.assert_frame_equal(first.practices, second.practices)
    pd.testing.assert_frame_equal(first.patients, second.patients)


def test_llr_public_parameters_load() -> None:
    params = load_params(Path(__file__).resolve().parents[1] / "params" / "llr-public.yml")
    assert params.run_name == "llr-public"
    assert params.data.source == "folder"
    assert params.resolve(params.data.folder).parts[-3:] == ("build", "data", "llr-public")
    assert params.allocation.policy == "top_up_to_average"
    assert params.allocation.budget_gbp == 2_850_000
    assert "PMS" in params.data.funding_definition
