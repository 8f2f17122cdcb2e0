"""Refits on resampled practices through the model's public API (pcfm.model.resample)."""

from __future__ import annotations

import numpy as np
import pytest
from _model_sim import simulate

from pcfm.model import CellsError, PracticeResampler, fit_workload_model
from pcfm.model.resample import model_columns
from pcfm.params.model import ModelParams

pytestmark = pytest.mark.unit

COVARIATES = ["age_sex", "deprivation", "morbidity"]
DRAW = np.array([0, 0, 3, 5, 5, 5, 7, 8, 9, 9])


@pytest.fixture(scope="module")
def cells():
    return simulate(4, n_patients=6_000, n_practices=10).cells


@pytest.mark.parametrize(
    ("family", "supply", "collapsed"),
    [
        ("poisson", "none", True),
        ("negative_binomial", "none", False),
        ("poisson", "practice_effects", False),
    ],
)
def test_every_refit_equals_the_fit_on_the_stacked_drawn_cells(cells, family, supply, collapsed):
    # The shortcut is taken only where it is exact (a Poisson fit with one intercept depends
    # on the cells only through sums per covariate combination); every family's refit must
    # give the fit on the drawn practices' own cells, each draw a practice of its own.
    params = ModelParams(covariates=COVARIATES, family=family, supply_sterilisation=supply)
    resampler = PracticeResampler.for_cells(cells, params)
    assert resampler.collapsed is collapsed
    refit = resampler.refit(DRAW)
    stacked = resampler.stacked_sample(DRAW)
    assert stacked["practice_code"].nunique() == len(DRAW)
    direct = fit_workload_model(stacked, params)
    np.testing.assert_allclose(refit.predict_rate(cells), direct.predict_rate(cells), rtol=1e-7)
    np.testing.assert_allclose(
        resampler.combination_rates(refit)[resampler.combination_of_cell],
        refit.predict_rate(cells),
        rtol=1e-13,
    )


def test_the_model_columns_follow_the_cells(cells):
    params = ModelParams(covariates=["age_sex", "deprivation"])
    assert model_columns(params, cells.columns) == ["age_sex", "imd_quintile"]
    split = cells.drop(columns="age_sex").assign(
        sex=cells["age_sex"].str[0], age_band=cells["age_sex"].str[2:]
    )
    assert model_columns(params, split.columns) == ["age_band", "sex", "imd_quintile"]
    with pytest.raises(CellsError, match="imd_quintile"):
        PracticeResampler.for_cells(cells.drop(columns="imd_quintile"), params)
