"""The synthetic ICB: deterministic, contract-clean, LLR-shaped, and its truth is recoverable."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from pcfm.data.contract import TABLES
from pcfm.inputs.synthetic import (
    NB_DISPERSION,
    TRUE_BASELINE_CONTACTS_PER_PERSON_YEAR,
    TRUE_RATE_RATIOS,
    SyntheticICB,
    SynthInputError,
    generate_icb_for_practices,
    generate_synthetic_icb,
    true_effects_frame,
    write_synthetic_icb,
)
from pcfm.inputs.synthetic import llr_shape as shape
from pcfm.params.data import DataParams

pytestmark = pytest.mark.unit

PUBLIC_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "public"


@pytest.fixture(scope="module")
def small_icb() -> SyntheticICB:
    return generate_synthetic_icb(seed=11, n_patients=6_000, n_practices=10)


@pytest.fixture(scope="module")
def fit_icb() -> SyntheticICB:
    """Big enough for a Poisson fit to see the deprivation effect, small enough to take seconds."""
    return generate_synthetic_icb(seed=2, n_patients=30_000, n_practices=12)


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _patient_frame(icb: SyntheticICB) -> pd.DataFrame:
    """Patients with their IMD quintile, bands, exposure and contact counts."""
    patients = icb.patients.merge(
        icb.areas[["area_code", "imd_quintile", "imd_decile"]],
        left_on="lsoa_code",
        right_on="area_code",
        how="left",
        validate="many_to_one",
    )
    counts = icb.activity["patient_id"].value_counts()
    patients["contacts"] = patients["patient_id"].map(counts).fillna(0).astype(float)
    patients["exposure"] = patients["days_registered"] / 365
    band = np.minimum(patients["age"].to_numpy() // 5, len(shape.AGE_BANDS) - 1)
    patients["age_band"] = np.array(shape.AGE_BANDS)[band]
    patients["age_sex"] = patients["sex"].astype(str) + ":" + patients["age_band"]
    patients["ltc_band"] = np.where(
        patients["ltc_count"] >= 4, "4+", patients["ltc_count"].astype(str)
    )
    return patients


def _true_need_rate(patients: pd.DataFrame, effects: pd.DataFrame) -> np.ndarray:
    """Expected need per person-year from the published truth table, recomputed by hand."""
    rr = dict(zip(effects["term"], effects["rate_ratio"], strict=True))
    rate = np.full(len(patients), rr["(baseline)"])
    for covariate in ("age_sex", "imd_quintile", "ltc_band"):
        terms = covariate + "=" + patients[covariate].astype(str)
        rate = rate * terms.map(rr).fillna(1.0).to_numpy()
    for flag in ("newly_registered", "care_home", "interpreter_needed"):
        rate = rate * np.where(patients[flag] == 1, rr[f"{flag}=1"], 1.0)
    return rate


# --- Determinism ---------------------------------------------------------------------------


def test_same_seed_gives_identical_frames_and_bytes(tmp_path):
    first = generate_synthetic_icb(seed=5, n_patients=2_000, n_practices=6)
    second = generate_synthetic_icb(seed=5, n_patients=2_000, n_practices=6)
    for name in ("patients", "activity", "practices", "areas", "true_effects", "true_need_index"):
        pd.testing.assert_frame_equal(getattr(first, name), getattr(second, name))
    first.write(tmp_path / "a")
    write_synthetic_icb(tmp_path / "b", seed=5, n_patients=2_000, n_practices=6)
    digest_a, digest_b = _digest(tmp_path / "a"), _digest(tmp_path / "b")
    assert digest_a == digest_b
    assert {"patients.parquet", "activity.parquet", "practices.parquet", "areas.parquet",
            "truth/true_effects.csv", "truth/true_need_index.csv"} <= set(digest_a)  # fmt: skip


def test_different_seeds_differ():
    first = generate_synthetic_icb(seed=5, n_patients=2_000, n_practices=6)
    second = generate_synthetic_icb(seed=6, n_patients=2_000, n_practices=6)
    assert not first.patients["age"].equals(second.patients["age"])
    assert len(first.activity) != len(second.activity)


def test_written_tables_read_back_equal(tmp_path, small_icb):
    small_icb.write(tmp_path)
    patients = pd.read_parquet(tmp_path / "patients.parquet")
    assert len(patients) == len(small_icb.patients)
    assert patients["patient_id"].tolist() == small_icb.patients["patient_id"].tolist()
    activity = pd.read_parquet(tmp_path / "activity.parquet")
    assert activity["staff_type"].astype(str).tolist() == (
        small_icb.activity["staff_type"].astype(str).tolist()
    )
    effects = pd.read_csv(tmp_path / "truth" / "true_effects.csv")
    assert list(effects.columns) == ["term", "rate_ratio"]
    pd.testing.assert_frame_equal(effects, small_icb.true_effects)


# --- The data contract ---------------------------------------------------------------------


@pytest.mark.parametrize("stem", ["patients", "activity", "practices", "areas"])
def test_tables_follow_the_contract(small_icb, stem):
    frame: pd.DataFrame = getattr(small_icb, stem)
    table = TABLES[stem]
    assert set(table.required_columns) <= set(frame.columns)
    assert set(frame.columns) <= {c.name for c in table.columns}
    for column in table.columns:
        if column.name not in frame.columns:
            continue
        values = frame[column.name]
        assert values.notna().all(), f"{stem}.{column.name} has missing values"
        if column.codes:
            assert set(values.astype(object).unique()) <= set(column.codes), column.name
        if column.min_value is not None:
            assert values.min() >= column.min_value, column.name
        if column.max_value is not None:
            assert values.max() <= column.max_value, column.name
    for key in table.key:
        assert frame[key].is_unique, f"{stem}.{key} is not unique"


def test_tables_link_up(small_icb):
    icb = small_icb
    assert set(icb.patients["practice_code"]) == set(icb.practices["practice_code"])
    assert set(icb.patients["lsoa_code"]) <= set(icb.areas["area_code"])
    assert set(icb.activity["patient_id"]) <= set(icb.patients["patient_id"])
    registered = icb.patients["practice_code"].value_counts()
    lists = icb.practices.set_index("practice_code")["registered_list"]
    assert (registered.reindex(lists.index) == lists).all()
    condition_columns = [c for c in icb.patients.columns if c.startswith("cond_")]
    assert len(condition_columns) == 20
    assert (icb.patients[condition_columns].sum(axis=1) == icb.patients["ltc_count"]).all()
    areas = icb.areas
    assert (areas["imd_quintile"] == (areas["imd_decile"] + 1) // 2).all()


def test_appointments_fall_within_each_patients_registration(small_icb):
    activity = small_icb.activity.merge(
        small_icb.patients[["patient_id", "days_registered"]], on="patient_id"
    )
    day = (activity["appointment_date"] - pd.Timestamp("2024-04-01")).dt.days
    assert day.min() >= 0 and day.max() <= 364
    assert (day >= 365 - activity["days_registered"]).all()


def test_appointments_fall_inside_the_default_reference_period(small_icb):
    """The synthetic ICB's year is the parameters' default, so its dates pass validation."""
    period = DataParams().reference_period
    dates = small_icb.activity["appointment_date"].dt.date
    assert dates.min() >= period.start and dates.max() <= period.end
    assert period.days == DataParams().days_in_year == 365


# --- Shape ---------------------------------------------------------------------------------


def test_small_icb_keeps_three_places_and_several_pcns(small_icb):
    practices = small_icb.practices
    assert len(practices) == 10
    assert set(practices["place"]) == set(shape.PLACES)
    assert practices["pcn_code"].nunique() >= 4
    assert practices["registered_list"].sum() == 6_000
    assert practices.groupby("pcn_code")["place"].nunique().max() == 1


@pytest.mark.parametrize("n_practices", [3, 4, 7])
def test_three_places_whenever_there_are_three_practices(n_practices):
    icb = generate_synthetic_icb(seed=3, n_patients=300, n_practices=n_practices)
    practices = icb.practices
    assert set(practices["place"]) == set(shape.PLACES)
    assert practices["registered_list"].sum() == 300
    assert practices.groupby("pcn_code")["place"].nunique().max() == 1


def test_llr_sized_shape_is_llr_like():
    icb = generate_synthetic_icb(seed=1, n_patients=40_000, n_practices=127)
    practices = icb.practices
    assert len(practices) == 127
    assert practices["pcn_code"].nunique() == 26
    assert practices.groupby("place").size().to_dict() == shape.PRACTICES_PER_PLACE
    city = practices["place"] == "City"
    assert practices.loc[city, "imd_score"].mean() > 2 * practices.loc[~city, "imd_score"].mean()

    patients = _patient_frame(icb)
    place = patients["practice_code"].map(practices.set_index("practice_code")["place"])
    quintile1 = (patients["imd_quintile"] == 1).groupby(place).mean()
    assert 0.2 < quintile1["City"] < 0.6  # Leicester: 35% of LSOAs in quintile 1 (IMD 2019)
    assert quintile1["County"] < 0.08  # Leicestershire: 2%
    for name in shape.PLACES:
        profile = np.array([shape.LIST_BY_PLACE_SEX_BAND[name][s] for s in ("F", "M")]).sum(0)
        expected_65_plus = profile[13:].sum() / profile.sum()
        observed_65_plus = (patients.loc[place == name, "age"] >= 65).mean()
        assert abs(observed_65_plus - expected_65_plus) < 0.04, name
    assert 0.48 < (patients["sex"] == "F").mean() < 0.52


def test_rates_and_prevalences_are_plausible(fit_icb):
    patients = _patient_frame(fit_icb)
    rate = patients["contacts"].sum() / patients["exposure"].sum()
    assert 4.5 < rate < 6.0  # CPRD Aurum: 4.92 (2018/19) to 5.66 (2021/22) per person-year
    assert 0.05 < patients["newly_registered"].mean() < 0.13
    assert abs(patients["cond_hypertension"].mean() - 0.14) < 0.03
    assert patients.loc[patients["age"] < 40, "cond_dementia"].mean() < 0.002
    older = patients[patients["age"] >= 50]
    multimorbid = (older["ltc_count"] >= 2).groupby(older["imd_quintile"]).mean()
    assert multimorbid[1] > 1.15 * multimorbid[5]


# --- The truth -----------------------------------------------------------------------------


def test_truth_table_names_terms_against_reference_levels():
    effects = true_effects_frame()
    assert effects["term"].iloc[0] == "(baseline)"
    assert effects["rate_ratio"].iloc[0] == TRUE_BASELINE_CONTACTS_PER_PERSON_YEAR
    terms = set(effects["term"])
    assert "age_sex=F:30-34" not in terms and "age_sex=M:85+" in terms
    assert len([t for t in terms if t.startswith("age_sex=")]) == 35
    assert {f"imd_quintile={q}" for q in range(1, 5)} <= terms and "imd_quintile=5" not in terms
    assert "imd_decile=10" not in terms and "ltc_band=0" not in terms
    assert TRUE_RATE_RATIOS["newly_registered=1"] == pytest.approx(1.4)
    for decile in range(1, 10):
        quintile = (decile + 1) // 2
        expected = TRUE_RATE_RATIOS.get(f"imd_quintile={quintile}", 1.0)
        assert TRUE_RATE_RATIOS[f"imd_decile={decile}"] == expected


def test_need_index_matches_a_recomputation_from_the_truth(small_icb):
    patients = _patient_frame(small_icb)
    need = patients["exposure"] * _true_need_rate(patients, small_icb.true_effects)
    by_practice = (
        need.groupby(patients["practice_code"]).sum()
        / patients.groupby("practice_code")["exposure"].sum()
    )
    expected = by_practice / (need.sum() / patients["exposure"].sum())
    index = small_icb.true_need_index.set_index("practice_code")["need_index"]
    np.testing.assert_allclose(index.reindex(expected.index), expected, rtol=1e-9)
    exposure = patients.groupby("practice_code")["exposure"].sum().reindex(index.index)
    assert np.average(index, weights=exposure) == pytest.approx(1.0)


def test_counts_are_negative_binomial_around_the_true_mean(fit_icb):
    patients = _patient_frame(fit_icb)
    supply = fit_icb.true_supply.set_index("practice_code")["supply_factor"]
    mean = (
        patients["exposure"]
        * _true_need_rate(patients, fit_icb.true_effects)
        * patients["practice_code"].map(supply).to_numpy()
    )
    contacts = patients["contacts"]
    assert contacts.sum() / mean.sum() == pytest.approx(1.0, abs=0.03)
    alpha = (((contacts - mean) ** 2 - contacts).sum()) / (mean**2).sum()
    assert alpha == pytest.approx(NB_DISPERSION, rel=0.15)


def test_supply_is_lower_in_deprived_practices(fit_icb):
    supply = fit_icb.true_supply.merge(fit_icb.practices, on="practice_code")
    assert np.corrcoef(supply["supply_factor"], supply["imd_score"])[0, 1] < -0.7
    assert supply["supply_factor"].min() < 0.95 and supply["supply_factor"].max() > 1.0


def test_funding_per_need_weighted_patient_is_lower_in_deprived_practices():
    icb = generate_synthetic_icb(seed=4, n_patients=40_000, n_practices=40)
    practices = icb.practices.merge(icb.true_need_index, on="practice_code")
    need_weighted = practices["need_index"] * practices["registered_list"]
    per_need_gbp = practices["current_funding_gbp"] / need_weighted
    assert np.corrcoef(per_need_gbp, practices["imd_score"])[0, 1] < -0.5
    most = practices["imd_score"] >= practices["imd_score"].quantile(0.75)
    least = practices["imd_score"] <= practices["imd_score"].quantile(0.25)
    gap = 1 - per_need_gbp[most].mean() / per_need_gbp[least].mean()
    assert 0.04 < gap < 0.25  # Health Foundation: 7% (2018/19) to 9.8% (2025 update)
    per_weighted = practices["current_funding_gbp"] / practices["carr_hill_weighted_list"]
    assert per_weighted.std() / per_weighted.mean() < 0.06  # Carr-Hill shaped, no IMD term


# --- Recovering the truth ------------------------------------------------------------------


def _poisson_fit(cells: pd.DataFrame, with_practices: bool):
    """Poisson GLM on cells with offset log(exposure); robust (HC1) standard errors."""
    columns = ["age_sex", "imd_quintile", "ltc_band"]
    design = pd.get_dummies(cells[columns].astype(str), dtype=float)
    design = design.drop(columns=["age_sex_F:30-34", "imd_quintile_5", "ltc_band_0"])
    if with_practices:
        practices = pd.get_dummies(cells["practice_code"], dtype=float, drop_first=True)
        design = pd.concat([design, practices], axis=1)
    design = pd.concat([design, cells[["newly_registered", "care_home", "interpreter_needed"]]],
                       axis=1).astype(float)  # fmt: skip
    design.insert(0, "const", 1.0)
    model = sm.GLM(cells["contacts"], design, family=sm.families.Poisson(),
                   offset=np.log(cells["exposure"]))  # fmt: skip
    return model.fit(cov_type="HC1")


def test_poisson_with_practice_effects_recovers_deprivation_naive_is_biased(fit_icb):
    patients = _patient_frame(fit_icb)
    keys = ["practice_code", "age_sex", "imd_quintile", "ltc_band", "newly_registered",
            "care_home", "interpreter_needed"]  # fmt: skip
    cells = patients.groupby(keys, as_index=False)[["contacts", "exposure"]].sum()
    truth = np.log(TRUE_RATE_RATIOS["imd_quintile=1"])

    fixed = _poisson_fit(cells, with_practices=True)
    estimate, se = fixed.params["imd_quintile_1"], fixed.bse["imd_quintile_1"]
    assert abs(estimate - truth) < 3 * se
    new = fixed.params["newly_registered"]
    assert abs(new - np.log(1.4)) < 3 * fixed.bse["newly_registered"]
    assert abs(fixed.params["ltc_band_4+"] - np.log(TRUE_RATE_RATIOS["ltc_band=4+"])) < 0.1

    naive = _poisson_fit(cells, with_practices=False)
    naive_estimate, naive_se = naive.params["imd_quintile_1"], naive.bse["imd_quintile_1"]
    assert naive_estimate + 3 * naive_se > 0  # still a (small) deprivation effect ...
    assert naive_estimate < truth - 3 * naive_se  # ... clearly biased toward 1
    assert naive_estimate < estimate


# --- Real practices ------------------------------------------------------------------------


def _real_like_inputs() -> tuple[pd.DataFrame, pd.DataFrame]:
    practices = pd.DataFrame({
        "practice_code": ["A00001", "A00002", "A00003"],
        "practice_name": ["One", "Two", "Three"],
        "pcn_code": ["U1", "U1", None],
        "pcn_name": ["PCN one", "PCN one", None],
        "place": ["City", "City", "County"],
        "registered_list": [1, 1, 1],
        "current_funding_gbp": [150_000.0, None, 90_000.0],
        "imd_score": [35.0, 12.0, None],
    })  # fmt: skip
    bands = [f"{low}-{low + 4}" for low in range(0, 95, 5)] + ["95+"]
    rows = [
        {"practice_code": code, "sex": sex, "age_band": band, "patients": 20 + 3 * i}
        for code in practices["practice_code"]
        for sex in ("F", "M")
        for i, band in enumerate(bands)
    ]
    return practices, pd.DataFrame(rows)


def test_real_practices_keep_their_funding_and_lists():
    practices, lists = _real_like_inputs()
    icb = generate_icb_for_practices(practices, lists, seed=1)
    out = icb.practices.set_index("practice_code")
    assert out["registered_list"].tolist() == [int(lists["patients"].sum() / 3)] * 3
    assert out.loc["A00001", "current_funding_gbp"] == 150_000.0
    assert out.loc["A00003", "current_funding_gbp"] == 90_000.0
    assert out.loc["A00002", "current_funding_gbp"] > 0  # made from the Carr-Hill weights
    assert out.loc["A00001", "imd_score"] == 35.0
    old = icb.patients["age"] >= 85
    folded = lists.loc[lists["age_band"].isin(["85-89", "90-94", "95+"]), "patients"].sum()
    assert old.sum() == folded
    assert set(icb.true_need_index["practice_code"]) == set(practices["practice_code"])
    again = generate_icb_for_practices(practices, lists, seed=1)
    pd.testing.assert_frame_equal(icb.activity, again.activity)


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("sex", "X", "column sex: 1 rows"),
        ("age_band", "adult", "column age_band: 1 rows"),
        ("patients", -3, "column patients: 1 rows"),
        ("practice_code", "Z99999", "column practice_code: 1 rows"),
    ],
)
def test_bad_lists_are_named(column, value, message):
    practices, lists = _real_like_inputs()
    lists = lists.astype({column: object})
    lists.loc[5, column] = value
    with pytest.raises(SynthInputError, match=message) as error:
        generate_icb_for_practices(practices, lists, seed=1)
    assert "list_by_age_sex" in str(error.value) and repr(value) in str(error.value)


def test_bad_sizes_are_rejected():
    with pytest.raises(SynthInputError, match="cannot fill"):
        generate_synthetic_icb(seed=1, n_patients=5, n_practices=10)


# --- The figures written in llr_shape match their public sources ---------------------------


@pytest.mark.public_data
def test_llr_shape_figures_match_the_registration_files():
    folder = PUBLIC_DATA / "registered_patients"
    if not folder.is_dir():
        pytest.skip(f"public data folder {PUBLIC_DATA} is absent")
    mapping = pd.read_parquet(folder / "gp_prac_pat_map.parquet")
    mapping = mapping[(mapping["icb_code"] == "QK1") & (mapping["extract_date"] == "01Dec2025")]
    place = mapping["sub_icb_location_code"].map({"04C": "City", "04V": "County", "03W": "County"})
    place = place.where(mapping["pcn_name"] != "RUTLAND HEALTH PCN", "Rural County")
    place_of = dict(zip(mapping["practice_code"], place, strict=True))
    ages = pd.read_parquet(
        folder / "gp_prac_reg_quin_age.parquet",
        filters=[("extract_date", "==", "2025-12-01"), ("org_type", "==", "GP")],
    )
    ages = ages[ages["org_code"].isin(place_of) & (ages["sex"] != "ALL")]
    ages = ages[ages["age_group_5"] != "ALL"]
    lower = ages["age_group_5"].str.extract(r"^(\d+)", expand=False).astype(int)
    ages = ages.assign(
        place=ages["org_code"].map(place_of),
        sex=ages["sex"].str[0],
        band=np.minimum(lower // 5, 17),
    )
    table = ages.groupby(["place", "sex", "band"])["number_of_patients"].sum()
    for name in shape.PLACES:
        for sex in ("F", "M"):
            assert tuple(table[(name, sex)].astype(int)) == shape.LIST_BY_PLACE_SEX_BAND[name][sex]
