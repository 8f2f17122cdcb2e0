"""Diagnostics, sensitivity analyses, the Carr-Hill comparator and the model's figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _model_sim import simulate
from matplotlib.figure import Figure

from pcfm.model import fit_workload_model
from pcfm.model.alternatives import (
    SPECIFIED,
    alternative_specifications,
    compare_coefficients,
    compare_need_indices,
    fit_alternatives,
    need_by_specification,
)
from pcfm.model.carr_hill import carr_hill_2007_weight
from pcfm.model.diagnostics import (
    calibration_by_decile,
    calibration_by_practice,
    cross_validate_by_practice,
    fit_statistics_table,
    practice_folds,
    prediction_metrics,
)
from pcfm.model.figures import (
    calibration_figure,
    need_index_comparison_figure,
    practice_calibration_figure,
    prediction_comparison_figure,
    rate_ratio_figure,
    sensitivity_figure,
    unavailable_figure,
)
from pcfm.params.model import ModelParams

pytestmark = pytest.mark.unit

COVARIATES = ["age_sex", "deprivation", "morbidity", "care_home"]


@pytest.fixture(scope="module")
def sim():
    return simulate(seed=31, n_patients=8_000, n_practices=16, age_mix_spread=1.5)


@pytest.fixture(scope="module")
def sterilised(sim):
    params = ModelParams(covariates=COVARIATES, supply_sterilisation="practice_effects")
    return fit_workload_model(sim.cells, params)


def test_calibration_by_decile_partitions_person_years_and_workload(sim, sterilised):
    table = calibration_by_decile(sterilised, sim.cells)
    assert list(table["need_decile"]) == list(range(1, 11))
    assert table["person_years"].sum() == pytest.approx(sim.cells["exposure"].sum())
    assert table["observed_workload"].sum() == pytest.approx(sim.cells["workload"].sum())
    assert table["fitted_workload"].sum() == pytest.approx(sim.cells["workload"].sum())
    share = table["person_years"] / table["person_years"].sum()
    assert share.between(0.07, 0.13).all()
    assert table["predicted_need_rate"].is_monotonic_increasing
    assert table["observed_to_fitted"].between(0.85, 1.15).all()


def test_calibration_by_practice_with_practice_effects(sim, sterilised):
    table = calibration_by_practice(sterilised, sim.cells)
    np.testing.assert_allclose(table["observed_to_fitted"], 1.0, rtol=1e-8)
    supply = sterilised.practice_effects.set_index("practice_code")["supply_ratio"]
    np.testing.assert_allclose(
        table.set_index("practice_code")["observed_to_need"],
        supply.loc[table["practice_code"]],
        rtol=1e-8,
    )
    weighted_mean = np.average(table["need_index"], weights=table["person_years"])
    assert weighted_mean == pytest.approx(1.0, rel=1e-10)
    in_quintile_one = sim.cells["exposure"].where(sim.cells["imd_quintile"] == 1, 0.0)
    share = (
        in_quintile_one.groupby(sim.cells["practice_code"]).sum()
        / sim.cells.groupby("practice_code")["exposure"].sum()
    )
    np.testing.assert_allclose(
        table.set_index("practice_code")["most_deprived_share"], share.loc[table["practice_code"]]
    )


def test_folds_hold_out_whole_practices_evenly_and_reproducibly(sim):
    folds = practice_folds(sim.cells, 5, seed=3)
    assert folds.index.is_unique and len(folds) == 16
    assert sorted(folds.value_counts()) == [3, 3, 3, 3, 4]
    pd.testing.assert_series_equal(folds, practice_folds(sim.cells, 5, seed=3))
    assert not folds.equals(practice_folds(sim.cells, 5, seed=4))


def test_cross_validation_predicts_each_practice_from_a_fit_without_it(sim):
    params = ModelParams(covariates=COVARIATES)
    table = cross_validate_by_practice(sim.cells, params, seed=3, n_folds=4)
    assert len(table) == 16 and table["practice_code"].is_unique
    fold_one = table[table["fold"] == 1]
    held = sim.cells["practice_code"].isin(fold_one["practice_code"])
    by_hand = fit_workload_model(sim.cells[~held], params).predict_workload(sim.cells[held])
    expected = (
        pd.Series(by_hand, index=sim.cells.index[held])
        .groupby(sim.cells.loc[held, "practice_code"])
        .sum()
    )
    np.testing.assert_allclose(
        fold_one.set_index("practice_code")["predicted_workload"],
        expected.loc[fold_one["practice_code"]],
        rtol=1e-10,
    )


def test_prediction_metrics_worked_example():
    table = pd.DataFrame(
        {
            "person_years": [1.0, 1.0, 2.0],
            "observed_workload": [2.0, 4.0, 6.0],
            "predicted_workload": [3.0, 3.0, 6.0],
        }
    )
    metrics = prediction_metrics(table)
    # mean rate 12/4 = 3; rates 2, 4, 3; residual 1 + 1 + 0 = 2; total 1 + 1 + 0 = 2.
    assert metrics["r_squared"] == pytest.approx(0.0)
    assert metrics["mean_absolute_percentage_error"] == pytest.approx((0.5 + 0.25 + 0) / 3)
    expected_deviance = 2 * (2 * np.log(2 / 3) + 1 + 4 * np.log(4 / 3) - 1)
    assert metrics["poisson_deviance"] == pytest.approx(expected_deviance)
    perfect = prediction_metrics(table.assign(predicted_workload=table["observed_workload"]))
    assert perfect["r_squared"] == pytest.approx(1.0) and perfect["poisson_deviance"] == 0


def test_carr_hill_weights_worked_example():
    cells = pd.DataFrame(
        {
            "practice_code": ["A", "A", "B", "B"],
            "age_band": ["10-14", "40-44", "85+", "0-4"],
            "sex": ["M", "F", "F", "M"],
        }
    )
    np.testing.assert_allclose(carr_hill_2007_weight(cells), [1.0, 1.885, 3.090, 2.354])
    score = pd.Series({"A": 0.0, "B": 1.0})
    np.testing.assert_allclose(
        carr_hill_2007_weight(cells, score), [1.0, 1.885, 3.090 * 1.054, 2.354 * 1.054]
    )


def test_alternative_specifications_change_one_thing_each():
    params = ModelParams(
        covariates=["age_sex", "deprivation", "morbidity"], supply_sterilisation="none"
    )
    specs = alternative_specifications(params)
    assert next(iter(specs)) == SPECIFIED and specs[SPECIFIED] == params
    assert specs["family: negative_binomial"].family == "negative_binomial"
    assert specs["supply sterilisation: practice_effects"].supply_sterilisation == (
        "practice_effects"
    )
    assert specs["morbidity: cambridge_score"].morbidity_measure == "cambridge_score"
    assert "morbidity" not in specs["without morbidity"].covariates
    assert specs["age-sex only"].covariates == ["age_sex"]
    assert specs["age and sex additive"].age_sex_form == "additive"
    assert specs["deprivation: decile"].deprivation_band == "decile"
    assert all(
        sum(getattr(spec, name) != getattr(params, name) for name in ModelParams.model_fields) == 1
        for label, spec in specs.items()
        if label != SPECIFIED
    )
    columns = {"age_sex", "imd_quintile", "imd_decile", "ltc_band"}
    without_cms = alternative_specifications(params, columns)
    assert "morbidity: cambridge_score" not in without_cms
    assert "age and sex additive" not in alternative_specifications(params, columns - {"age_sex"})
    assert "age and sex additive" in without_cms


def _practices(cells: pd.DataFrame) -> pd.DataFrame:
    registered = cells.groupby("practice_code")["patients"].sum()
    return pd.DataFrame(
        {"practice_code": registered.index, "registered_list": registered.to_numpy()}
    )


def test_fit_alternatives_and_comparisons(sim):
    models, not_fitted = fit_alternatives(
        sim.cells, ModelParams(covariates=COVARIATES, supply_sterilisation="none")
    )
    assert not not_fitted
    assert next(iter(models)) == SPECIFIED
    coefficients = compare_coefficients(models)
    assert set(coefficients["specification"]) == set(models)
    sterilised = coefficients[
        coefficients["specification"] == "supply sterilisation: practice_effects"
    ].set_index("term")["rate_ratio"]
    naive = coefficients[coefficients["specification"] == SPECIFIED].set_index("term")["rate_ratio"]
    assert sterilised["imd_quintile=1"] > naive["imd_quintile=1"]
    practices = _practices(sim.cells)
    tables = need_by_specification(models, sim.cells, practices)
    indices = compare_need_indices(tables, sim.cells)
    assert len(indices) == 16
    assert list(indices.columns) == ["practice_code", "person_years", *models]
    for label in models:
        # The one kernel: need-weighted lists add up to the registered lists.
        weights = practices["registered_list"]
        assert np.average(indices[label], weights=weights) == pytest.approx(1.0, rel=1e-12)
        assert indices[label].tolist() == tables[label]["need_index"].tolist()
    person_years = sim.cells.groupby("practice_code")["exposure"].sum()
    np.testing.assert_allclose(indices["person_years"], person_years.to_numpy())


def test_an_alternative_that_cannot_be_fitted_is_named_not_fatal(sim):
    # One practice holds every care-home resident: with practice effects the care-home term
    # cannot be separated from that practice's effect, so that alternative is not fitted.
    cells = sim.cells.assign(care_home=(sim.cells["practice_code"] == "P000").astype(int))
    params = ModelParams(covariates=COVARIATES, supply_sterilisation="none")
    models, not_fitted = fit_alternatives(cells, params)
    assert SPECIFIED in models
    assert "supply sterilisation: practice_effects" in not_fitted
    assert "practice effects" in not_fitted["supply sterilisation: practice_effects"]


def test_figures_are_built_from_the_tables(sim, sterilised):
    models = {
        SPECIFIED: sterilised,
        "none": fit_workload_model(
            sim.cells, ModelParams(covariates=COVARIATES, supply_sterilisation="none")
        ),
    }
    metrics = pd.DataFrame({"method": ["need model (x)", "flat"], "r_squared": [0.4, -0.1]})
    figures = [
        rate_ratio_figure(sterilised.coefficients),
        calibration_figure(calibration_by_decile(sterilised, sim.cells)),
        practice_calibration_figure(calibration_by_practice(sterilised, sim.cells)),
        prediction_comparison_figure(metrics),
        sensitivity_figure(compare_coefficients(models)),
        need_index_comparison_figure(
            compare_need_indices(
                need_by_specification(models, sim.cells, _practices(sim.cells)), sim.cells
            ),
            "none",
            SPECIFIED,
        ),
    ]
    for figure in figures:
        assert isinstance(figure, Figure)
        assert figure.axes and figure.axes[0].has_data()


def test_fit_statistics_table_lists_every_statistic_with_its_meaning(sterilised):
    table = fit_statistics_table(sterilised)
    assert list(table.columns) == ["statistic", "value", "meaning"]
    values = table.set_index("statistic")["value"]
    assert values["Supply sterilisation"] == "practice_effects"
    assert values["Practices"] == "16"
    assert float(values["Deviance explained"]) == pytest.approx(
        sterilised.summary["deviance_explained"], rel=1e-3
    )
    assert table["meaning"].str.len().gt(10).all()


def test_unavailable_figure_says_why():
    figure = unavailable_figure("Cross-validation was not run.")
    assert "Cross-validation was not run." in figure.axes[0].texts[0].get_text()
