"""Aggregation to covariate cells in DuckDB: totals, a worked example and the Poisson identity.

The Poisson fit on cells must reproduce the patient-level fit, which is what justifies never
taking patient rows into pandas.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from test_01_validate import make_tables, write_tables

from pcfm.data.cells import AGE_BANDS, build_cells
from pcfm.data.contract import CAMBRIDGE_WEIGHTS
from pcfm.data.validate import DataValidationError, validate_folder
from pcfm.inputs.synthetic import generate_synthetic_icb
from pcfm.params import Params, params_from_dict

pytestmark = pytest.mark.integration


def _params(**data: object) -> Params:
    return params_from_dict({"run_name": "test", "data": dict(data)})


def _patient_level(tables: dict[str, pd.DataFrame], params: Params) -> pd.DataFrame:
    """Per-patient workload and exposure computed in pandas, independently of the SQL."""
    data = params.data
    patients = tables["patients"].copy()
    activity = tables["activity"]
    if "contacts" in activity:
        per_patient = activity.groupby("patient_id")["contacts"].sum().astype(float)
    elif data.workload_measure == "count":
        per_patient = activity.groupby("patient_id").size().astype(float)
    elif data.workload_measure == "minutes":
        per_patient = activity.groupby("patient_id")["duration_minutes"].sum()
    else:
        weights = activity["staff_type"].map(data.staff_weights)
        per_patient = weights.groupby(activity["patient_id"]).sum()
    patients["workload"] = patients["patient_id"].map(per_patient).fillna(0.0)
    patients["exposure"] = patients["days_registered"] / data.days_in_year
    areas = tables["areas"].set_index("area_code")
    patients["imd_quintile"] = patients["lsoa_code"].map(areas["imd_quintile"])
    patients["ltc_band"] = patients["ltc_count"].clip(upper=4).astype(str).replace("4", "4+")
    return patients


@pytest.mark.parametrize(
    ("measure", "form", "fmt"),
    [
        ("count", "appointments", "parquet"),
        ("staff_weighted", "appointments", "csv"),
        ("minutes", "appointments", "parquet"),
        ("count", "counts", "csv"),
    ],
)
def test_cell_sums_equal_the_raw_totals(tmp_path, measure, form, fmt):
    tables = make_tables(n_patients=300, n_practices=4, activity=form)
    folder = write_tables(tables, tmp_path, fmt)
    params = _params(workload_measure=measure)
    validate_folder(folder, params.data)
    cells = build_cells(folder, params)
    patients = _patient_level(tables, params)
    assert cells["patients"].sum() == len(patients)
    assert cells["exposure"].sum() == pytest.approx(patients["exposure"].sum(), rel=1e-12)
    assert cells["workload"].sum() == pytest.approx(patients["workload"].sum(), rel=1e-12)
    assert patients["workload"].sum() > 0
    per_practice = cells.groupby("practice_code")[["patients", "workload", "exposure"]].sum()
    expected = patients.groupby("practice_code").agg(
        patients=("patient_id", "size"), workload=("workload", "sum"), exposure=("exposure", "sum")
    )
    pd.testing.assert_frame_equal(per_practice, expected, check_dtype=False, rtol=1e-12)


def test_cells_have_the_shared_columns_types_and_order(tmp_path):
    folder = write_tables(make_tables(n_patients=200), tmp_path, "parquet")
    cells = build_cells(folder, _params())
    assert list(cells.columns) == [
        "practice_code", "age_band", "sex", "age_sex", "imd_quintile", "imd_decile", "ltc_band",
        "cms_band", "newly_registered", "care_home", "interpreter_needed", "workload",
        "exposure", "patients",
    ]  # fmt: skip
    assert set(cells["age_band"]) <= set(AGE_BANDS)
    assert (cells["age_sex"] == cells["sex"] + ":" + cells["age_band"]).all()
    assert set(cells["ltc_band"]) <= {"0", "1", "2", "3", "4+"}
    assert set(cells["cms_band"]) <= {"0", "0-1", "1-2", "2-3", "3+"}
    for column in ("imd_quintile", "imd_decile", "newly_registered", "patients"):
        assert pd.api.types.is_integer_dtype(cells[column]), column
    assert (cells["imd_quintile"] == np.ceil(cells["imd_decile"] / 2)).all()
    keys = [c for c in cells.columns if c not in ("workload", "exposure", "patients")]
    assert not cells.duplicated(keys).any()
    again = build_cells(folder, _params())
    pd.testing.assert_frame_equal(cells, again, check_exact=True)
    order = cells.assign(age_order=cells["age_band"].map(AGE_BANDS.index))
    sort_keys = ["practice_code", "sex", "age_order", "imd_quintile", "imd_decile", "ltc_band"]
    assert order[sort_keys].equals(order.sort_values(sort_keys)[sort_keys])


def test_csv_and_parquet_give_the_same_cells(tmp_path):
    tables = make_tables(n_patients=150)
    from_csv = build_cells(write_tables(tables, tmp_path / "csv", "csv"), _params())
    from_parquet = build_cells(write_tables(tables, tmp_path / "pq", "parquet"), _params())
    pd.testing.assert_frame_equal(from_csv, from_parquet)


def test_worked_example_by_hand(tmp_path):
    """Six patients whose cells are written out by hand: band edges, weights, no activity."""
    conditions = {f"cond_{name}": 0 for name in CAMBRIDGE_WEIGHTS}

    def patient(pid, age, sex, lsoa, days, ltc, **flags):
        row = {
            "patient_id": pid, "practice_code": "A1", "age": age, "sex": sex, "lsoa_code": lsoa,
            "days_registered": days, "newly_registered": 0, "care_home": 0,
            "interpreter_needed": 0, "ltc_count": ltc, **conditions,
        }  # fmt: skip
        row.update(flags)
        return row

    patients = pd.DataFrame(
        [
            # CMS 0.08 + 0.92 = 1.00 exactly: the (0, 1] band.
            patient("p1", 4, "F", "L1", 365, 0, cond_hypertension=1, cond_painful_condition=1),
            # Same cell as p1 but no activity: counts with workload 0.
            patient("p2", 0, "F", "L1", 73, 0, cond_hypertension=1, cond_painful_condition=1),
            # CMS 2.50 + 0.50 = 3.00: the (2, 3] band; age 84 is the last 5-year band.
            patient("p3", 84, "M", "L2", 365, 3, cond_dementia=1, cond_anxiety_depression=1),
            # CMS 3.08: over 3; age 85 opens the 85+ band; 5 conditions is the 4+ band.
            patient("p4", 85, "M", "L2", 365, 5, cond_dementia=1, cond_anxiety_depression=1,
                    cond_hypertension=1),
            # Unknown area: imputed with the practice's median decile (2, 3, 3, 8, 8 → 3).
            patient("p5", 5, "F", "L9", 365, 1, care_home=1),
            patient("p6", 30, "F", "L3", 182, 0),
        ]
    )  # fmt: skip
    activity = pd.DataFrame(
        {
            "patient_id": ["p1", "p1", "p3", "p4", "p4", "p4", "p5", "p6"],
            "staff_type": ["GP", "Nurse", "GP", "Other", "Other", "GP", "Nurse", "GP"],
            "duration_minutes": [10.0, 15.0, 10.0, 5.0, 5.0, 20.0, 10.0, 12.0],
        }
    )
    areas = pd.DataFrame(
        {"area_code": ["L1", "L2", "L3"], "imd_decile": [3, 8, 2], "imd_quintile": [2, 4, 1]}
    )
    practices = pd.DataFrame(
        {
            "practice_code": ["A1"], "practice_name": ["A"], "pcn_code": ["U1"],
            "pcn_name": ["N"], "place": ["City"], "registered_list": [6],
            "current_funding_gbp": [1000.0],
        }
    )  # fmt: skip
    tables = {"patients": patients, "activity": activity, "practices": practices, "areas": areas}
    folder = write_tables(tables, tmp_path)
    params = _params(
        workload_measure="staff_weighted", staff_weights={"GP": 1.0, "Nurse": 0.5, "Other": 0.25}
    )
    quality = validate_folder(folder, params.data)
    assert quality.table["rows"].tolist() == [1]
    cells = build_cells(folder, params)
    expected = pd.DataFrame(
        [
            # practice, band, sex, quintile, decile, ltc, cms, care_home, workload, exposure, n
            ("A1", "0-4", "F", 2, 3, "0", "0-1", 0, 1.5, 1.2, 2),
            ("A1", "5-9", "F", 2, 3, "1", "0", 1, 0.5, 1.0, 1),
            ("A1", "30-34", "F", 1, 2, "0", "0", 0, 1.0, 182 / 365, 1),
            ("A1", "80-84", "M", 4, 8, "3", "2-3", 0, 1.0, 1.0, 1),
            ("A1", "85+", "M", 4, 8, "4+", "3+", 0, 1.5, 1.0, 1),
        ],
        columns=[
            "practice_code", "age_band", "sex", "imd_quintile", "imd_decile", "ltc_band",
            "cms_band", "care_home", "workload", "exposure", "patients",
        ],
    )  # fmt: skip
    got = cells[expected.columns].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False, atol=1e-12)
    minutes = build_cells(folder, _params(workload_measure="minutes"))
    assert minutes["workload"].tolist() == [25.0, 10.0, 12.0, 10.0, 30.0]
    counts = build_cells(folder, _params(workload_measure="count"))
    assert counts["workload"].tolist() == [2.0, 1.0, 1.0, 1.0, 3.0]
    dropped = build_cells(folder, _params(unknown_area_rule="drop"))
    assert dropped["patients"].sum() == 5
    assert "5-9" not in set(dropped["age_band"])
    with pytest.raises(DataValidationError, match="unknown_area_rule: fail"):
        build_cells(folder, _params(unknown_area_rule="fail"))


def test_patients_own_decile_when_there_is_no_lsoa(tmp_path):
    tables = make_tables(n_patients=100, conditions=False)
    patients = tables["patients"]
    patients["imd_decile"] = patients["lsoa_code"].map(
        tables["areas"].set_index("area_code")["imd_decile"]
    )
    tables["patients"] = patients.drop(columns="lsoa_code")
    del tables["areas"]
    folder = write_tables(tables, tmp_path)
    cells = build_cells(folder, _params())
    assert "cms_band" not in cells.columns
    by_decile = cells.groupby("imd_decile")["patients"].sum()
    assert by_decile.to_dict() == patients["imd_decile"].value_counts().to_dict()
    assert (cells["imd_quintile"] == (cells["imd_decile"] + 1) // 2).all()


def test_staff_weighted_with_count_form_is_a_clear_error(tmp_path):
    folder = write_tables(make_tables(activity="counts"), tmp_path)
    with pytest.raises(DataValidationError, match="count form"):
        build_cells(folder, _params(workload_measure="staff_weighted"))
    with pytest.raises(DataValidationError, match="count form"):
        build_cells(folder, _params(workload_measure="minutes"))


def test_staff_type_without_weight_stops_the_aggregation(tmp_path):
    folder = write_tables(make_tables(), tmp_path)
    params = _params(workload_measure="staff_weighted", staff_weights={"GP": 1.0})
    with pytest.raises(DataValidationError) as caught:
        build_cells(folder, params)
    assert "aggregation to cells failed (activity has a staff_type with no weight" in str(
        caught.value
    )


def test_missing_table_is_a_clear_error(tmp_path):
    folder = write_tables(make_tables(), tmp_path)
    (folder / "areas.csv").unlink()
    with pytest.raises(DataValidationError, match="areas: file missing"):
        build_cells(folder, _params())


def _design(frame: pd.DataFrame) -> pd.DataFrame:
    """Dummy coding against the project's reference levels."""
    columns = {
        "sex=M": frame["sex"] == "M",
        **{f"imd_quintile={q}": frame["imd_quintile"] == q for q in (1, 2, 3, 4)},
        **{f"ltc_band={b}": frame["ltc_band"] == b for b in ("1", "2", "3", "4+")},
        "newly_registered=1": frame["newly_registered"] == 1,
    }
    design = pd.DataFrame(columns, index=frame.index).astype(float)
    return sm.add_constant(design)


def test_poisson_on_cells_reproduces_the_patient_level_fit(tmp_path):
    tables = make_tables(n_patients=2000, n_practices=4, seed=7)
    folder = write_tables(tables, tmp_path, "parquet")
    params = _params()
    patients = _patient_level(tables, params)
    cells = build_cells(folder, params)

    def fit(frame: pd.DataFrame) -> pd.Series:
        model = sm.GLM(
            frame["workload"].to_numpy(),
            _design(frame),
            family=sm.families.Poisson(),
            offset=np.log(frame["exposure"].to_numpy()),
        )
        return model.fit(tol=1e-14, maxiter=100).params

    patient_fit, cell_fit = fit(patients), fit(cells)
    assert len(cells) < len(patients)
    np.testing.assert_allclose(cell_fit.to_numpy(), patient_fit.to_numpy(), rtol=0, atol=1e-8)
    assert abs(patient_fit["ltc_band=4+"]) > 0.1  # the generator's morbidity effect is found


def test_synthetic_icb_validates_and_aggregates(tmp_path):
    icb = generate_synthetic_icb(seed=3, n_patients=3000, n_practices=5)
    icb.write(tmp_path)
    params = _params()
    validate_folder(tmp_path, params.data)
    cells = build_cells(tmp_path, params)
    assert cells["patients"].sum() == 3000
    assert cells["practice_code"].nunique() == 5
    assert math.isfinite(cells["workload"].sum())
    assert cells["exposure"].between(0, cells["patients"], inclusive="right").all()


def test_cells_never_hold_patient_ids(tmp_path):
    folder = write_tables(make_tables(), tmp_path)
    cells = build_cells(Path(folder), _params())
    assert not cells.astype(str).apply(lambda col: col.str.startswith("P0")).any().any()
