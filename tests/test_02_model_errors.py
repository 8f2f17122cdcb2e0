"""Bad cells and inestimable specifications give clear errors, not statsmodels tracebacks."""

from __future__ import annotations

import numpy as np
import pytest
from _model_sim import simulate

from pcfm.model import CellsError, ModelSpecificationError, fit_workload_model
from pcfm.params import ParameterError, params_from_dict
from pcfm.params.model import ModelParams

pytestmark = pytest.mark.unit

COVARIATES = ["age_sex", "deprivation", "morbidity", "care_home"]


@pytest.fixture(scope="module")
def cells():
    return simulate(seed=21, n_patients=4_000, n_practices=10).cells


def test_errors_are_value_errors():
    assert issubclass(ModelSpecificationError, ValueError)
    assert issubclass(CellsError, ValueError)


def test_single_level_covariate(cells):
    one_level = cells.assign(care_home=0)
    with pytest.raises(ModelSpecificationError, match=r"'care_home' has a single level \('0'\)"):
        fit_workload_model(one_level, ModelParams(covariates=COVARIATES))


def test_perfect_separation_names_the_level(cells):
    separated = cells.copy()
    separated.loc[separated["ltc_band"] == "4+", "workload"] = 0.0
    with pytest.raises(ModelSpecificationError, match=r"perfect separation.*'ltc_band=4\+'"):
        fit_workload_model(separated, ModelParams(covariates=COVARIATES))


def test_reference_level_without_workload(cells):
    separated = cells.copy()
    separated.loc[separated["imd_quintile"] == 5, "workload"] = 0.0
    with pytest.raises(ModelSpecificationError, match=r"reference level imd_quintile=5"):
        fit_workload_model(separated, ModelParams(covariates=COVARIATES))


@pytest.mark.parametrize("sterilisation", ["none", "practice_effects"])
def test_all_zero_workload(cells, sterilisation):
    with pytest.raises(ModelSpecificationError, match=r"all .* cells have zero workload"):
        fit_workload_model(
            cells.assign(workload=0.0),
            ModelParams(covariates=COVARIATES, supply_sterilisation=sterilisation),
        )


def test_missing_column_is_named(cells):
    with pytest.raises(CellsError, match=r"missing column\(s\) imd_quintile"):
        fit_workload_model(cells.drop(columns="imd_quintile"), ModelParams(covariates=COVARIATES))


def test_negative_workload_names_rows_and_values(cells):
    bad = cells.copy()
    bad.loc[bad.index[:3], "workload"] = [-1.0, -2.0, np.nan]
    with pytest.raises(CellsError, match=r"'workload': 3 of \d+ row\(s\).*-1\.0, -2\.0, nan"):
        fit_workload_model(bad, ModelParams(covariates=COVARIATES))


def test_zero_exposure(cells):
    bad = cells.copy()
    bad.loc[bad.index[0], "exposure"] = 0.0
    with pytest.raises(CellsError, match=r"'exposure': 1 of .* not positive"):
        fit_workload_model(bad, ModelParams(covariates=COVARIATES))


def test_unknown_level_is_named(cells):
    bad = cells.copy()
    bad["imd_quintile"] = bad["imd_quintile"].astype(object)
    bad.loc[bad.index[0], "imd_quintile"] = 7
    with pytest.raises(CellsError, match=r"'imd_quintile'.*not a level.*first values: 7"):
        fit_workload_model(bad, ModelParams(covariates=COVARIATES))


def test_term_constant_within_practices_cannot_be_sterilised(cells):
    first_practice = cells["practice_code"] == cells["practice_code"].iloc[0]
    confounded = cells.assign(care_home=np.where(first_practice, 1, 0))
    with pytest.raises(ModelSpecificationError, match=r"care_home=1.*do not vary within any"):
        fit_workload_model(
            confounded,
            ModelParams(covariates=COVARIATES, supply_sterilisation="practice_effects"),
        )
    fit_workload_model(confounded, ModelParams(covariates=COVARIATES, supply_sterilisation="none"))


def test_zero_workload_practice_is_dropped_from_the_practice_effects_fit(cells):
    first = cells["practice_code"].iloc[0]
    quiet = cells.copy()
    quiet.loc[quiet["practice_code"] == first, "workload"] = 0.0
    model = fit_workload_model(
        quiet, ModelParams(covariates=COVARIATES, supply_sterilisation="practice_effects")
    )
    assert model.summary["practices_dropped"] == [first]
    assert first not in set(model.practice_effects["practice_code"])


def test_prediction_with_an_unseen_level(cells):
    model = fit_workload_model(cells, ModelParams(covariates=["age_sex", "care_home"]))
    fewer = cells[cells["age_sex"] != "M:85+"]
    narrow = fit_workload_model(fewer, ModelParams(covariates=["age_sex", "care_home"]))
    assert len(narrow.terms) == len(model.terms) - 1
    with pytest.raises(ModelSpecificationError, match=r"'age_sex'.*not fitted with.*'M:85\+'"):
        narrow.predict_rate(cells)


def test_model_parameters_are_documented_and_strict():
    for name, field in ModelParams.model_fields.items():
        assert field.description, name
    with pytest.raises(ParameterError, match=r"model.ltc_cap"):
        params_from_dict({"run_name": "x", "model": {"ltc_cap": 9}})
    with pytest.raises(ParameterError, match=r"model.link"):
        params_from_dict({"run_name": "x", "model": {"link": "log"}})


def test_a_single_practice_is_refused(cells):
    one = cells[cells["practice_code"] == cells["practice_code"].iloc[0]]
    with pytest.raises(ModelSpecificationError, match="at least 2"):
        fit_workload_model(one, ModelParams(covariates=["age_sex"]))
