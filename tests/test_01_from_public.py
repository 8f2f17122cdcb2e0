"""``pcfm synth --from-public``: joining the public files into the real practices of an ICB.

Two kinds of test: the join on the real files for LLR (QK1), up to the inputs the generator
receives (the generator has its own tests, and a full LLR-sized run takes longer than a test
should); and a whole run, with the real generator, on a tiny public folder written here in the
publishers' file names and layouts.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from pcfm.data.contract import PRACTICES
from pcfm.data.validate import validate_folder
from pcfm.inputs.from_public import (
    PRACTICE_COLUMNS,
    PublicFiles,
    PublicICBInputs,
    assemble_public_icb,
    default_rules,
    load_public_files,
    write_public_icb,
)
from pcfm.inputs.public import PublicFileError
from pcfm.params import load_params
from pcfm.params.public import DEFAULT_PASS_THROUGH_LINES, FundingRuleParams, PublicParams

pytestmark = pytest.mark.integration
real_files = pytest.mark.public_data


@pytest.fixture(scope="module")
def public_files(public_data_dir: Path) -> PublicFiles:
    return load_public_files(public_data_dir)


@pytest.fixture(scope="module")
def llr(public_files: PublicFiles) -> PublicICBInputs:
    return assemble_public_icb(public_files, "QK1")


@pytest.fixture(scope="module")
def raw_payments(public_data_dir: Path) -> pd.DataFrame:
    """The 2022-23 payments file read with plain pandas, not the adapter (an independent check)."""
    raw = pd.read_csv(
        public_data_dir / "payments" / "nhspaymentsgp-22-23-prac-csv.csv.gz",
        encoding="utf-8-sig",
    )
    return raw.set_index("Practice Code")


def _counted(raw: pd.DataFrame, codes: list[str]) -> float:
    """Total payments less the default pass-through lines, over ``codes``, from the raw file."""
    rows = raw.loc[codes]
    passed_on = rows[list(DEFAULT_PASS_THROUGH_LINES)].fillna(0).sum(axis=1)
    return float((rows["Total NHS Payments to General Practice"] - passed_on).sum())


def _by_adjustment(adjustments: pd.DataFrame) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for row in adjustments.itertuples(index=False):
        found.setdefault(row.adjustment, set()).add(row.practice_code)
    return found


@real_files
def test_llr_practices_left_out_and_places(llr: PublicICBInputs) -> None:
    practices = llr.practices
    assert list(practices.columns) == list(PRACTICE_COLUMNS)
    assert practices["practice_code"].is_unique
    # December 2025: 130 practices in QK1; the SAS provider and the asylum service are unpaid.
    assert llr.sources["practices_in_icb"] == 130 and len(practices) == 128
    assert set(llr.dropped["practice_code"]) == {"Y03584", "Y05412"}
    assert llr.dropped["detail"].str.contains("Payments to General Practice 2022-23").all()
    # LLR's three places, from the map pcfm ships (reference/places/QK1.csv).
    places = practices.groupby("place")["practice_code"].count().to_dict()
    assert places == {"Leicester City": 51, "Leicestershire County": 73, "Rutland": 4}
    assert set(practices.loc[practices["place"] == "Rutland", "pcn_code"]) == {"U67590"}
    assert practices["place_source"].str.startswith("QK1.csv").all()
    mean_imd = practices.groupby("place")["imd_score"].mean()
    assert mean_imd["Leicester City"] > mean_imd["Leicestershire County"] > mean_imd["Rutland"]


@real_files
def test_llr_mergers_carry_the_predecessors_money(
    llr: PublicICBInputs, raw_payments: pd.DataFrame
) -> None:
    mergers = llr.mergers.set_index("predecessor_code")["successor_code"].to_dict()
    willows = ["C82029", "C82105", "C82122", "C82623", "C82626"]
    assert mergers == {**dict.fromkeys(willows, "Y00137"), "C83653": "C82016"}
    practices = llr.practices.set_index("practice_code")
    for successor, predecessors in (("Y00137", willows), ("C82016", ["C83653"])):
        codes = [successor, *predecessors]
        paid_list = raw_payments.loc[codes, "Average Number of Registered Patients"].sum()
        scale = practices.loc[successor, "registered_list"] / paid_list
        expected = _counted(raw_payments, codes) * scale
        assert practices.loc[successor, "current_funding_gbp"] == pytest.approx(expected)
        weighted = raw_payments.loc[codes, "Average Number of Weighted Patients"].sum() * scale
        assert practices.loc[successor, "carr_hill_weighted_list"] == pytest.approx(weighted)
    # Without its predecessors Willows' list grew x5; with them its scale is ordinary.
    sources = llr.practice_sources.set_index("practice_code")
    assert 0.9 < sources.loc["Y00137", "scale"] < 1.3
    adjustments = llr.adjustments
    merged = adjustments[adjustments["adjustment"] == "merged"]
    assert set(merged["practice_code"]) == set(mergers)
    assert merged["detail"].str.contains("for review").all()


@real_files
def test_llr_funding_counts_every_line_less_pass_through(
    llr: PublicICBInputs, raw_payments: pd.DataFrame
) -> None:
    practices = llr.practices.set_index("practice_code")
    sources = llr.practice_sources.set_index("practice_code")
    ordinary = [code for code in practices.index if not sources.loc[code, "predecessors"]]
    for code in ordinary:
        paid_list = raw_payments.loc[code, "Average Number of Registered Patients"]
        scale = practices.loc[code, "registered_list"] / paid_list
        expected = _counted(raw_payments, [code]) * scale
        assert practices.loc[code, "current_funding_gbp"] == pytest.approx(expected), code
    # De Montfort Surgery's core money sits in "Other Payments"; counted, it is ordinary.
    per_weighted = practices["current_funding_gbp"] / practices["carr_hill_weighted_list"]
    ratio = per_weighted / per_weighted.median()
    assert raw_payments.loc["C82020", "Global Sum"] == 0
    assert 0.8 < ratio["C82020"] < 1.25
    lines = llr.funding_lines.set_index("payment_line")
    counted = lines.loc["Counted as current funding", "total_gbp"]
    codes = list(practices.index) + list(llr.mergers["predecessor_code"])
    assert counted == pytest.approx(_counted(raw_payments, codes))
    assert set(lines.loc[lines["counted"] == "no"].index) == set(DEFAULT_PASS_THROUGH_LINES)


@real_files
def test_llr_lists_pcns_and_special_services_are_reported(llr: PublicICBInputs) -> None:
    adjustments = _by_adjustment(llr.adjustments)
    assert adjustments["PCN of another ICB"] == {"C82040", "C82076"}
    assert adjustments["no PCN"] == {"C82662"}
    assert adjustments["special service"] == {"C82670", "Y00344"}
    # Lists that moved by more than 10% between 2022-23 and December 2025 are all listed.
    sources = llr.practice_sources.set_index("practice_code")
    moved = set(sources.index[(sources["scale"] - 1).abs() > 0.10])
    assert adjustments["list changed"] == moved and len(moved) >= 20
    special = llr.practices.set_index("practice_code")["special_service"]
    assert special["C82670"] == special["Y00344"] == "homeless / inclusion health"
    assert (special.drop(["C82670", "Y00344"]) == "").all()


@real_files
def test_every_icb_in_the_public_files_assembles(public_files: PublicFiles) -> None:
    lines = public_files.payment_lines.amounts.set_index("practice_code")
    icbs = sorted(public_files.practice_map["icb_code"].unique())
    assert len(icbs) == 42
    for icb in icbs:
        inputs = assemble_public_icb(public_files, icb)
        practices = inputs.practices.set_index("practice_code")
        members = public_files.practice_map[public_files.practice_map["icb_code"] == icb]
        reported = _by_adjustment(inputs.adjustments)
        left_out = reported.get("left out", set())
        # Every practice of the ICB is kept or listed as left out, never silently lost.
        assert set(practices.index) | left_out == set(members["practice_code"]), icb
        assert len(practices) >= 0.9 * len(members), icb
        assert practices["place"].notna().all() and (practices["place"] != "").all(), icb
        assert practices["place_source"].notna().all(), icb
        for column in ("registered_list", "current_funding_gbp", "carr_hill_weighted_list"):
            assert (practices[column] > 0).all(), (icb, column)
        assert practices["imd_score"].notna().all(), icb
        # Each practice's PCN is of this ICB, or the practice is reported.
        pcn_icb = public_files.practice_map.groupby("pcn_code")["icb_code"].agg(
            lambda codes: codes.value_counts().sort_index().idxmax()
        )
        odd = practices[[pcn_icb.get(str(code)) != icb for code in practices["pcn_code"]]]
        assert set(odd.index) <= reported.get("no PCN", set()) | reported.get(
            "PCN of another ICB", set()
        ), icb
        # The money adds up to the payments file: counted lines of the kept practices and
        # their predecessors, straight from the file.
        codes = list(practices.index) + list(inputs.mergers["predecessor_code"])
        table = inputs.funding_lines.set_index("payment_line")
        counted_lines = table.index[table["counted"] == "yes"]
        assert table.loc["Counted as current funding", "total_gbp"] == pytest.approx(
            lines.loc[codes, list(counted_lines)].to_numpy().sum()
        ), icb
        assert table.loc[counted_lines, "total_gbp"].sum() == pytest.approx(
            table.loc["Counted as current funding", "total_gbp"]
        ), icb
        # A place holds more than one practice unless the ICB has very few places.
        assert practices["place"].nunique() >= 1, icb


@real_files
def test_north_central_london_gets_its_boroughs_as_places(public_files: PublicFiles) -> None:
    practices = assemble_public_icb(public_files, "QMJ").practices
    counts = practices["place"].value_counts()
    assert {"Barnet", "Camden", "Enfield", "Haringey", "Islington"} <= set(counts.index)
    assert counts[["Barnet", "Camden", "Enfield", "Haringey", "Islington"]].min() >= 20


@real_files
def test_unknown_icb_and_payments_year_fail_clearly(public_data_dir: Path) -> None:
    with pytest.raises(PublicFileError, match=r"no practices of ICB 'QZZ'.*QK1"):
        assemble_public_icb(public_data_dir, "QZZ")
    with pytest.raises(PublicFileError, match=r"no NHS Payments .* 2030-31; years available"):
        load_public_files(public_data_dir, payments_year="2030-31")


@real_files
def test_a_pass_through_line_that_is_not_in_the_file_fails_clearly(public_data_dir: Path) -> None:
    rules = default_rules(public_data_dir, "QK1").model_copy(
        update={"funding": FundingRuleParams(pass_through=["Premises Payments", "Drugs"])}
    )
    with pytest.raises(PublicFileError, match=r"nhspaymentsgp-22-23.*\['Drugs'\].*Global Sum"):
        assemble_public_icb(public_data_dir, "QK1", rules)


# --- A whole run on a tiny public folder, with the real generator --------------------------

TINY_PRACTICES = {
    # code: (sub-ICB, PCN, female 0-4, male 70-74, weighted list, global sum, PMS balance, IMD)
    "C82001": ("04C", "U00147", 120, 80, 230.0, 21_000.0, 0.0, 35.5),
    "C82010": ("03W", "U67590", 60, 140, 210.0, 0.0, 18_000.0, 8.25),
    "C82020": ("04V", "U33192", 90, 90, 175.0, 16_000.0, 0.0, 12.0),
    "Y09999": ("04V", "U33192", 30, 20, 0.0, 0.0, 0.0, 14.0),  # closed: weighted list 0
    "C82030": ("04C", "U00147", 50, 50, 100.0, 9_000.0, 0.0, None),  # no IMD score
}


def _tiny_rules(public: Path, icb: str) -> PublicParams:
    """The default rules, without QOF morbidity (the tiny folder has no QOF files)."""
    return default_rules(public, icb).model_copy(update={"qof_morbidity": False})


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
            "Average Number of Weighted Patients": weighted,
            "Average payments per registered patient": 1.0,
            "Average payments per weighted patient": 1.0, "Global Sum": global_sum,
            "MPIG Correction factor": 50.0 if code == "C82001" else 0.0,
            "Balance of PMS Expenditure": pms, "Premises Payments": 700.0,
            "Reimbursement of Drugs": 300.0, "Other Payments": 1_000.0,
            "Total NHS Payments to General Practice":
                global_sum + pms + 2_000.0 + (50.0 if code == "C82001" else 0.0),
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
    icb, _ = write_public_icb(_tiny_rules(public, "qk1"), out, seed=11)

    practices = pd.read_parquet(out / "practices.parquet").set_index("practice_code")
    assert sorted(practices.index) == ["C82001", "C82010", "C82020"]
    # Every line but the pass-through ones (premises £700, drugs £300): other payments count.
    assert practices.loc["C82001", "current_funding_gbp"] == pytest.approx(22_050.0)
    assert practices.loc["C82010", "current_funding_gbp"] == pytest.approx(19_000.0)
    assert practices.loc["C82010", "place"] == "Rutland"
    assert practices.loc["C82001", "place"] == "Leicester City"
    assert practices.loc["C82020", "place"] == "Leicestershire County"
    assert practices["place_source"].eq("QK1.csv: PCN").all()
    # C82020 had twice its 2025 list in the payments year: weighted list and funding halve.
    assert practices.loc["C82020", "carr_hill_weighted_list"] == pytest.approx(87.5)
    assert practices.loc["C82020", "current_funding_gbp"] == pytest.approx(8_500.0)
    assert practices.loc["C82010", "imd_score"] == pytest.approx(8.25)
    assert set(practices.columns) >= set(PRACTICES.required_columns) - {"practice_code"}

    patients = pd.read_parquet(out / "patients.parquet")
    per_practice = patients.groupby("practice_code").size().to_dict()
    assert per_practice == {"C82001": 200, "C82010": 200, "C82020": 180}
    old_men = patients[(patients["sex"] == "M")]
    assert old_men["age"].between(70, 74).all()
    assert len(icb.patients) == 580

    provenance = out / "provenance"
    sources = json.loads((provenance / "public_sources.json").read_text())
    assert sources["practices_in_icb"] == 5 and sources["practices_kept"] == 3
    assert sources["seed"] == 11 and sources["payments_year"] == "2022-23"
    assert sources["rules"]["icb_code"] == "QK1"
    adjustments = pd.read_csv(provenance / "adjustments.csv").set_index("practice_code")
    assert adjustments.loc["Y09999", "detail"].startswith("weighted list 0")
    assert adjustments.loc["C82030", "detail"] == "no Fingertips IMD 2019 practice score"
    assert adjustments.loc["C82020", "adjustment"] == "list changed"
    lines = pd.read_csv(provenance / "funding_lines.csv", keep_default_na=False)
    lines = lines.set_index("payment_line")
    assert lines.loc["Counted as current funding", "total_gbp"] == pytest.approx(
        22_050 + 19_000 + 17_000
    )
    assert lines.loc[["Premises Payments", "Reimbursement of Drugs"], "counted"].eq("no").all()
    sources_by_practice = pd.read_csv(provenance / "practice_sources.csv")
    assert sources_by_practice.set_index("practice_code")["scale"].to_dict() == {
        "C82001": 1.0,
        "C82010": 1.0,
        "C82020": 0.5,
    }

    params = load_params(Path(__file__).resolve().parents[1] / "params" / "llr-public.yml")
    validate_folder(out, params.data)  # raises on any contract breach


def test_a_failed_rebuild_keeps_the_earlier_folder(tmp_path: Path) -> None:
    public = tmp_path / "public"
    _write_tiny_public_folder(public)
    out = tmp_path / "data"
    write_public_icb(_tiny_rules(public, "QK1"), out, seed=3)
    before = (out / "practices.parquet").read_bytes()
    broken = _tiny_rules(public, "QK1").model_copy(update={"places_csv": tmp_path / "missing.csv"})
    with pytest.raises(PublicFileError, match=r"missing\.csv: no such places file"):
        write_public_icb(broken, out, seed=3)
    assert (out / "practices.parquet").read_bytes() == before


def test_same_files_and_seed_give_the_same_practices(tmp_path: Path) -> None:
    public = tmp_path / "public"
    _write_tiny_public_folder(public)
    first, _ = write_public_icb(_tiny_rules(public, "QK1"), tmp_path / "a", seed=3)
    second, _ = write_public_icb(_tiny_rules(public, "QK1"), tmp_path / "b", seed=3)
    pd.testing.assert_frame_equal(first.practices, second.practices)
    pd.testing.assert_frame_equal(first.patients, second.patients)


def test_llr_public_parameters_load() -> None:
    params = load_params(Path(__file__).resolve().parents[1] / "params" / "llr-public.yml")
    assert params.run_name == "llr-public"
    assert params.data.source == "folder"
    assert params.resolve(params.data.folder).parts[-3:] == ("build", "data", "llr-public")
    assert params.allocation.policy == "top_up_to_average"
    assert params.allocation.budget_gbp == 2_850_000
    assert "less the pass-through lines" in params.data.funding_definition
    assert params.data.public is not None and params.data.public.icb_code == "QK1"
