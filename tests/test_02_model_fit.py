"""The workload model's fit: exactness against dense statsmodels fits and patient-level data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from _model_sim import simulate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.special import xlogy

from pcfm.model import fit_workload_model
from pcfm.params.model import ALL_COVARIATES, ModelParams

pytestmark = pytest.mark.unit


def _dense_statsmodels(cells: pd.DataFrame, model, practice_dummies: bool):
    """The textbook fit: a dense design with a dummy per practice, clustered by practice."""
    design = pd.DataFrame(model.encoder.matrix(_prepared(cells, model)), columns=model.terms)
    if practice_dummies:
        dummies = pd.get_dummies(cells["practice_code"], dtype=float)
        design = pd.concat([design, dummies.reset_index(drop=True)], axis=1)
    else:
        design.insert(0, "const", 1.0)
    groups = pd.factorize(cells["practice_code"])[0]
    return sm.GLM(
        cells["workload"].to_numpy(),
        design,
        family=sm.families.Poisson(),
        offset=np.log(cells["exposure"].to_numpy()),
    ).fit(cov_type="cluster", cov_kwds={"groups": groups, "use_correction": False}, tol=1e-13)


def _prepared(cells, model):
    from pcfm.model.terms import prepare_cells

    return prepare_cells(cells, model.model_params)


@pytest.mark.parametrize("sterilisation", ["practice_effects", "none"])
def test_absorbed_fit_equals_dense_statsmodels_fit(sterilisation):
    sim = simulate(seed=3, n_patients=6_000, n_practices=12, overdispersion=0.3)
    params = ModelParams(
        covariates=["age_sex", "deprivation", "morbidity", "care_home"],
        supply_sterilisation=sterilisation,
    )
    model = fit_workload_model(sim.cells, params)
    dense = _dense_statsmodels(sim.cells, model, sterilisation == "practice_effects")
    n_terms = len(model.terms)
    dense_coef = dense.params.to_numpy()
    dense_coef = dense_coef[:n_terms] if sterilisation != "none" else dense_coef[1:]
    np.testing.assert_allclose(model.coef, dense_coef, rtol=0, atol=1e-8)
    n_clusters = sim.cells["practice_code"].nunique()
    dense_cov = dense.cov_params().to_numpy()
    dense_cov = dense_cov[:n_terms, :n_terms] if sterilisation != "none" else dense_cov[1:, 1:]
    np.testing.assert_allclose(
        model.covariance, dense_cov * n_clusters / (n_clusters - 1), rtol=1e-6, atol=1e-12
    )


def test_cell_fit_equals_patient_level_fit():
    sim = simulate(seed=11, n_patients=8_000, n_practices=15, overdispersion=0.5)
    for sterilisation in ("none", "practice_effects"):
        params = ModelParams(covariates=ALL_COVARIATES, supply_sterilisation=sterilisation)
        from_cells = fit_workload_model(sim.cells, params)
        from_patients = fit_workload_model(sim.patients, params)
        assert len(sim.cells) < len(sim.patients)
        np.testing.assert_allclose(from_cells.coef, from_patients.coef, rtol=0, atol=1e-8)
        np.testing.assert_allclose(from_cells.std_errors, from_patients.std_errors, rtol=1e-8)
        assert from_cells.log_reference_level == pytest.approx(
            from_patients.log_reference_level, abs=1e-8
        )
    # And independently of this code: statsmodels on the patient rows.
    naive = fit_workload_model(
        sim.cells, ModelParams(covariates=ALL_COVARIATES, supply_sterilisation="none")
    )
    patient_level = _dense_statsmodels(sim.patients, naive, practice_dummies=False)
    np.testing.assert_allclose(naive.coef, patient_level.params.to_numpy()[1:], rtol=0, atol=1e-8)


def test_coefficient_table_columns_terms_and_intervals():
    sim = simulate(seed=5, n_patients=5_000, n_practices=10)
    model = fit_workload_model(sim.cells, ModelParams(covariates=ALL_COVARIATES))
    table = model.coefficients
    assert list(table.columns) == ["term", "rate_ratio", "ci_low", "ci_high", "p_value"]
    assert "age_sex=M:85+" in set(table["term"])
    assert "age_sex=F:30-34" not in set(table["term"])
    assert "imd_quintile=1" in set(table["term"]) and "imd_quintile=5" not in set(table["term"])
    assert {"ltc_band=4+", "newly_registered=1", "care_home=1", "interpreter_needed=1"} <= set(
        table["term"]
    )
    assert (table["ci_low"] < table["rate_ratio"]).all()
    assert (table["rate_ratio"] < table["ci_high"]).all()
    assert table["p_value"].between(0, 1).all()
    se = model.std_errors
    np.testing.assert_allclose(
        # Student's t with G − 1 = 9 degrees of freedom for 10 practices: 2.262157
        np.log(table["ci_high"]) - np.log(table["rate_ratio"]),
        2.262157 * se,
        rtol=1e-6,
    )


def test_predicted_total_equals_observed_and_reference_cell_rate():
    sim = simulate(seed=8, n_patients=6_000, n_practices=12)
    for sterilisation in ("none", "practice_effects"):
        model = fit_workload_model(
            sim.cells, ModelParams(covariates=ALL_COVARIATES, supply_sterilisation=sterilisation)
        )
        predicted = model.predict_workload(sim.cells)
        assert predicted.sum() == pytest.approx(sim.cells["workload"].sum(), rel=1e-9)
        fitted = model.fitted_workload(sim.cells)
        by_practice = (
            sim.cells.assign(fitted=fitted).groupby("practice_code")[["workload", "fitted"]].sum()
        )
        if sterilisation == "practice_effects":
            np.testing.assert_allclose(by_practice["fitted"], by_practice["workload"], rtol=1e-8)
        reference_cell = pd.DataFrame(
            {
                "age_sex": ["F:30-34"],
                "imd_quintile": [5],
                "ltc_band": ["0"],
                "newly_registered": [0],
                "care_home": [0],
                "interpreter_needed": [0],
            }
        )
        assert model.predict_rate(reference_cell)[0] == pytest.approx(
            model.summary["baseline_rate_per_person_year"], rel=1e-12
        )
        m85 = reference_cell.assign(age_sex="M:85+", imd_quintile=1)
        rr = model.coefficients.set_index("term")["rate_ratio"]
        assert model.predict_rate(m85)[0] == pytest.approx(
            model.summary["baseline_rate_per_person_year"]
            * rr["age_sex=M:85+"]
            * rr["imd_quintile=1"],
            rel=1e-12,
        )


def test_age_sex_built_from_band_and_sex_and_ltc_cap_merges_bands():
    sim = simulate(seed=2, n_patients=5_000, n_practices=10)
    cells = sim.cells.drop(columns="age_sex")
    model = fit_workload_model(cells, ModelParams(covariates=["age_sex", "morbidity"], ltc_cap=2))
    terms = set(model.terms)
    assert "age_sex=M:85+" in terms
    assert {"ltc_band=1", "ltc_band=2+"} <= terms and "ltc_band=3" not in terms


def test_summary_statistics_are_consistent():
    sim = simulate(seed=4, n_patients=6_000, n_practices=12, overdispersion=0.4)
    model = fit_workload_model(
        sim.cells, ModelParams(covariates=ALL_COVARIATES, supply_sterilisation="none")
    )
    summary = model.summary
    assert summary["n_cells"] == len(sim.cells)
    assert summary["n_practices"] == 12
    assert 0 < summary["deviance_explained"] < 1
    assert 0 < summary["pseudo_r2_mcfadden"] < 1
    assert summary["workload_total"] == pytest.approx(sim.cells["workload"].sum())
    null_rate = sim.cells["workload"].sum() / sim.cells["exposure"].sum()
    mu0 = null_rate * sim.cells["exposure"]
    y = sim.cells["workload"]
    expected_null = 2 * np.sum(xlogy(y, y / mu0) - (y - mu0))
    assert summary["null_deviance"] == pytest.approx(expected_null, rel=1e-10)
    assert summary["need_deviance_explained"] == summary["deviance_explained"]
    sterilised = fit_workload_model(
        sim.cells, ModelParams(covariates=ALL_COVARIATES, supply_sterilisation="practice_effects")
    ).summary
    assert 0 < sterilised["need_deviance_explained"] < sterilised["deviance_explained"] < 1


def test_negative_binomial_matches_statsmodels_maximum_likelihood():
    sim = simulate(seed=6, n_patients=3_000, n_practices=8, overdispersion=1.0)
    cells = sim.cells
    params = ModelParams(
        covariates=["deprivation", "morbidity"],
        family="negative_binomial",
        supply_sterilisation="none",
    )
    model = fit_workload_model(cells, params)
    design = sm.add_constant(model.encoder.matrix(_prepared(cells, model)))
    reference = sm.NegativeBinomial(
        cells["workload"].to_numpy(), design, exposure=cells["exposure"].to_numpy()
    ).fit(disp=False, maxiter=200, method="newton", tol=1e-12)
    assert reference.mle_retvals["converged"]
    np.testing.assert_allclose(model.coef, reference.params[1:-1], atol=2e-5)
    assert model.summary["nb_alpha"] == pytest.approx(reference.params[-1], rel=1e-3)
    assert model.summary["nb_alpha"] > 0


def test_additive_age_and_sex_terms():
    sim = simulate(seed=12, n_patients=5_000, n_practices=10)
    params = ModelParams(covariates=["age_sex", "deprivation"], age_sex_form="additive")
    model = fit_workload_model(sim.cells.drop(columns=["age_band", "sex"]), params)
    assert model.terms[:2] == ["age_band=0-4", "age_band=5-9"]
    assert "age_band=30-34" not in model.terms and "sex=M" in model.terms
    assert len(model.terms) == 17 + 1 + 4
    predicted = model.predict_workload(sim.cells)
    assert predicted.sum() == pytest.approx(sim.cells["workload"].sum(), rel=1e-9)
    interacted = fit_workload_model(
        sim.cells, params.model_copy(update={"age_sex_form": "interacted"})
    )
    assert interacted.summary["deviance"] < model.summary["deviance"]


_SMALL = simulate(seed=13, n_patients=3_000, n_practices=8)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    split_seed=st.integers(0, 2**31 - 1),
    sterilisation=st.sampled_from(["none", "practice_effects"]),
)
def test_splitting_cells_never_changes_the_fit(split_seed, sterilisation):
    """Any split of cells into rows with the same covariates gives the same model."""
    cells = _SMALL.cells
    rng = np.random.default_rng(split_seed)
    chosen = rng.uniform(size=len(cells)) < 0.5
    share = rng.uniform(0.05, 0.95, size=int(chosen.sum()))
    workload_share = rng.uniform(0, 1, size=int(chosen.sum()))
    first = cells[chosen].assign(
        exposure=cells.loc[chosen, "exposure"] * share,
        workload=cells.loc[chosen, "workload"] * workload_share,
    )
    second = cells[chosen].assign(
        exposure=cells.loc[chosen, "exposure"] * (1 - share),
        workload=cells.loc[chosen, "workload"] * (1 - workload_share),
    )
    split = pd.concat([cells[~chosen], first, second], ignore_index=True)
    params = ModelParams(covariates=ALL_COVARIATES, supply_sterilisation=sterilisation)
    whole, parts = fit_workload_model(cells, params), fit_workload_model(split, params)
    np.testing.assert_allclose(parts.coef, whole.coef, rtol=0, atol=1e-8)
    np.testing.assert_allclose(parts.std_errors, whole.std_errors, rtol=1e-7)
