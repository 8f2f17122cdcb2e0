"""Covariate options of the workload model chosen in the parameter file (issue 4).

ACG resource utilisation band as the morbidity measure, carried from the patients table's
optional ``acg_rub`` column to the cells and into the model; and single-year age through a
spline (``model.age_form: spline``), by sex, with the fitted age-sex curve for the report.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_01_cells import _params, _patient_level
from test_01_validate import make_tables, write_tables

from pcfm.data.cells import build_cells
from pcfm.data.validate import DataValidationError, validate_folder
from pcfm.model import age_sex_curve, fit_workload_model
from pcfm.model.alternatives import alternative_specifications
from pcfm.model.errors import CellsError, ModelSpecificationError
from pcfm.params import params_from_dict
from pcfm.params.model import ModelParams

pytestmark = pytest.mark.unit

ACG_RATE_RATIOS = {"0": 1.0, "1": 1.3, "2": 1.7, "3": 2.4, "4": 3.2, "5": 4.5}
QUINTILE_RATE_RATIOS = {1: 1.4, 2: 1.25, 3: 1.15, 4: 1.06, 5: 1.0}


def _acg_tables(n_patients: int = 400) -> dict[str, pd.DataFrame]:
    tables = make_tables(n_patients=n_patients, n_practices=4)
    rng = np.random.default_rng(7)
    tables["patients"]["acg_rub"] = rng.integers(0, 6, n_patients)
    return tables


def test_cells_carry_the_acg_band_with_correct_sums(tmp_path):
    tables = _acg_tables()
    folder = write_tables(tables, tmp_path)
    params = _params()
    validate_folder(folder, params.data)
    cells = build_cells(folder, params)
    assert "acg_band" in cells.columns
    assert set(cells["acg_band"]) <= {str(band) for band in range(6)}
    assert all(isinstance(value, str) for value in cells["acg_band"])
    patients = _patient_level(tables, params)
    patients["acg_band"] = tables["patients"]["acg_rub"].astype(str).to_numpy()
    expected = patients.groupby("acg_band").agg(
        patients=("patient_id", "size"), workload=("workload", "sum"), exposure=("exposure", "sum")
    )
    got = cells.groupby("acg_band")[["patients", "workload", "exposure"]].sum()
    pd.testing.assert_frame_equal(got, expected, check_dtype=False, rtol=1e-12)


def test_cells_have_no_acg_band_without_acg_rub(tmp_path):
    folder = write_tables(make_tables(n_patients=100), tmp_path)
    cells = build_cells(folder, _params())
    assert "acg_band" not in cells.columns


def test_validation_checks_the_acg_range(tmp_path):
    tables = _acg_tables()
    tables["patients"].loc[3, "acg_rub"] = 7
    folder = write_tables(tables, tmp_path)
    with pytest.raises(DataValidationError, match="acg_rub"):
        validate_folder(folder, _params().data)


def _simulate_acg(seed: int, n_patients: int = 30_000, n_practices: int = 30) -> pd.DataFrame:
    """Patients with a known ACG-band and deprivation effect, summed to cells."""
    rng = np.random.default_rng(seed)
    practice = rng.integers(0, n_practices, n_patients)
    quintile = rng.integers(1, 6, n_patients)
    acg = rng.choice(6, n_patients, p=[0.25, 0.25, 0.2, 0.15, 0.1, 0.05])
    exposure = np.where(rng.uniform(size=n_patients) < 0.9, 1.0, rng.uniform(0.1, 1.0, n_patients))
    rate = 2.5 * np.vectorize(QUINTILE_RATE_RATIOS.get)(quintile)
    rate *= np.array([ACG_RATE_RATIOS[str(k)] for k in range(6)])[acg]
    workload = rng.poisson(exposure * rate).astype(float)
    patients = pd.DataFrame(
        {
            "practice_code": [f"P{p:03d}" for p in practice],
            "imd_quintile": quintile,
            "acg_band": acg.astype(str),
            "exposure": exposure,
            "workload": workload,
        }
    )
    return (
        patients.assign(patients=1)
        .groupby(["practice_code", "imd_quintile", "acg_band"])[
            ["workload", "exposure", "patients"]
        ]
        .sum()
        .reset_index()
    )


def test_model_recovers_known_acg_effects():
    cells = _simulate_acg(seed=11)
    params = ModelParams(covariates=["deprivation", "morbidity"], morbidity_measure="acg_band")
    model = fit_workload_model(cells, params)
    table = model.coefficients.set_index("term")
    acg_terms = [term for term in model.terms if term.startswith("acg_band=")]
    assert acg_terms == [f"acg_band={band}" for band in "12345"]
    for band, truth in ACG_RATE_RATIOS.items():
        if band == "0":
            continue
        row = table.loc[f"acg_band={band}"]
        assert row["rate_ratio"] == pytest.approx(truth, rel=0.06), (band, row.to_dict())


def test_acg_band_without_the_column_is_a_clear_error():
    cells = _simulate_acg(seed=3, n_patients=2_000, n_practices=5).drop(columns="acg_band")
    params = ModelParams(covariates=["deprivation", "morbidity"], morbidity_measure="acg_band")
    with pytest.raises(ModelSpecificationError, match=r"acg_band.*acg_rub"):
        fit_workload_model(cells, params)


def test_alternatives_offer_acg_band_only_when_the_cells_hold_it():
    params = ModelParams(covariates=["age_sex", "deprivation", "morbidity"])
    without = alternative_specifications(
        params, {"age_sex", "imd_quintile", "imd_decile", "ltc_band", "cms_band"}
    )
    assert all(spec.morbidity_measure != "acg_band" for spec in without.values())
    with_acg = alternative_specifications(
        params, {"age_sex", "imd_quintile", "imd_decile", "ltc_band", "cms_band", "acg_band"}
    )
    assert any(spec.morbidity_measure == "acg_band" for spec in with_acg.values())


def _true_log_curve(sex: np.ndarray, age: np.ndarray) -> np.ndarray:
    """A smooth known log age-sex curve: U-shaped, women higher in the child-bearing years."""
    age = np.asarray(age, dtype=float)
    curve = 0.0004 * (age - 25.0) ** 2 + 0.6 * np.exp(-age / 4.0)
    return curve + np.where(np.asarray(sex) == "F", 0.3 * np.exp(-(((age - 30.0) / 12.0) ** 2)), 0)


def _true_rate_ratio(sex: np.ndarray, age: np.ndarray) -> np.ndarray:
    return np.exp(_true_log_curve(sex, age) - _true_log_curve(np.array(["F"]), np.array([32]))[0])


def _simulate_ages(
    seed: int, n_patients: int = 60_000, n_practices: int = 20
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Patients with single-year ages drawn from the known curve, and their cells."""
    rng = np.random.default_rng(seed)
    practice = rng.integers(0, n_practices, n_patients)
    age = np.minimum(rng.gamma(2.2, 18.0, n_patients).astype(int), 105)
    sex = np.where(rng.uniform(size=n_patients) < 0.5, "F", "M")
    quintile = rng.integers(1, 6, n_patients)
    exposure = np.where(rng.uniform(size=n_patients) < 0.9, 1.0, rng.uniform(0.1, 1.0, n_patients))
    rate = 3.0 * _true_rate_ratio(sex, age) * np.vectorize(QUINTILE_RATE_RATIOS.get)(quintile)
    workload = rng.poisson(exposure * rate).astype(float)
    patients = pd.DataFrame(
        {
            "practice_code": [f"P{p:03d}" for p in practice],
            "sex": sex,
            "age": age,
            "imd_quintile": quintile,
            "exposure": exposure,
            "workload": workload,
        }
    )
    cells = (
        patients.assign(patients=1)
        .groupby(["practice_code", "sex", "age", "imd_quintile"])[
            ["workload", "exposure", "patients"]
        ]
        .sum()
        .reset_index()
    )
    return patients, cells


SPLINE = ModelParams(covariates=["age_sex", "deprivation"], age_form="spline", age_spline_df=7)


def test_cells_carry_single_year_age_only_for_the_spline(tmp_path):
    tables = make_tables(n_patients=300, n_practices=3)
    folder = write_tables(tables, tmp_path)
    band_params = _params()
    spline_params = params_from_dict(
        {"run_name": "test", "model": {"age_form": "spline", "age_spline_df": 5}}
    )
    band_cells = build_cells(folder, band_params)
    assert "age" not in band_cells.columns
    cells = build_cells(folder, spline_params)
    assert cells["age"].between(0, 115).all()
    assert (cells["age"] % 1 == 0).all()
    by_age = cells.groupby("age")["patients"].sum()
    expected = tables["patients"].groupby("age").size()
    pd.testing.assert_series_equal(by_age, expected, check_dtype=False, check_names=False)
    assert cells["workload"].sum() == pytest.approx(band_cells["workload"].sum(), rel=1e-12)


def test_spline_recovers_a_smooth_known_age_curve():
    _, cells = _simulate_ages(seed=5)
    model = fit_workload_model(cells, SPLINE)
    spline_terms = [term for term in model.terms if term.startswith("age_spline:")]
    assert spline_terms == [f"age_spline:{s}:{k}" for s in "FM" for k in range(1, 8)]
    assert "sex=M" in model.terms
    curve = age_sex_curve(model, np.arange(1, 91))
    assert curve.loc[(curve["sex"] == "F") & (curve["age"] == 32), "rate_ratio"].item() == (
        pytest.approx(1.0, abs=1e-12)
    )
    truth = _true_rate_ratio(curve["sex"].to_numpy(), curve["age"].to_numpy())
    error = np.abs(np.log(curve["rate_ratio"].to_numpy()) - np.log(truth))
    assert error.max() < 0.12, curve.assign(truth=truth, error=error).nlargest(5, "error")
    assert error.mean() < 0.04


def test_spline_predictions_reproduce_the_fitted_values():
    _, cells = _simulate_ages(seed=6, n_patients=20_000)
    model = fit_workload_model(cells, SPLINE)
    fitted = model.fitted_workload(cells)
    # Poisson score equations: fitted workload adds up to the observed, for each sex too.
    assert fitted.sum() == pytest.approx(cells["workload"].sum(), rel=1e-8)
    for sex in ("F", "M"):
        rows = (cells["sex"] == sex).to_numpy()
        assert fitted[rows].sum() == pytest.approx(cells.loc[rows, "workload"].sum(), rel=1e-6)
    # The stored knots, not the new cells' quantiles, define the basis for prediction.
    subset = cells[cells["age"] > 60].iloc[::-1]
    np.testing.assert_allclose(
        model.predict_rate(subset), model.predict_rate(cells)[subset.index], rtol=1e-12
    )


def test_spline_cell_fit_equals_the_patient_fit():
    patients, cells = _simulate_ages(seed=8, n_patients=8_000, n_practices=8)
    for params in (SPLINE, SPLINE.model_copy(update={"age_sex_form": "additive"})):
        from_cells = fit_workload_model(cells, params)
        from_patients = fit_workload_model(patients, params)
        assert from_cells.terms == from_patients.terms
        np.testing.assert_allclose(from_cells.coef, from_patients.coef, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(
            from_cells.std_errors, from_patients.std_errors, rtol=1e-6, atol=1e-9
        )


def test_additive_spline_has_one_curve_and_missing_age_is_an_error():
    _, cells = _simulate_ages(seed=9, n_patients=5_000, n_practices=6)
    model = fit_workload_model(cells, SPLINE.model_copy(update={"age_sex_form": "additive"}))
    assert [t for t in model.terms if t.startswith("age_spline:")] == [
        f"age_spline:all:{k}" for k in range(1, 8)
    ]
    curve = age_sex_curve(model, np.array([20, 60]))
    ratio = curve.pivot(index="age", columns="sex", values="rate_ratio")
    np.testing.assert_allclose(ratio["M"] / ratio["F"], ratio["M"].iloc[0] / ratio["F"].iloc[0])
    with pytest.raises(CellsError, match="age_form 'spline'"):
        fit_workload_model(cells.drop(columns="age"), SPLINE)
