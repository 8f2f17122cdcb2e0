"""The workload model recovers a known truth: rate ratios, interval coverage, supply bias."""

from __future__ import annotations

import numpy as np
import pytest
from _model_sim import simulate

from pcfm.model import fit_workload_model
from pcfm.params.model import ALL_COVARIATES, ModelParams

pytestmark = pytest.mark.unit

SEEDS = range(100, 120)


def _fit_over_seeds(overdispersion: float, seeds: range) -> list:
    """Coefficient tables (with the truth beside them) of the sterilised fit, one per seed."""
    params = ModelParams(covariates=ALL_COVARIATES, supply_sterilisation="practice_effects")
    tables = []
    for seed in seeds:
        sim = simulate(seed, n_patients=12_000, n_practices=40, overdispersion=overdispersion)
        table = fit_workload_model(sim.cells, params).coefficients
        tables.append(table.assign(truth=table["term"].map(sim.truth)))
    return tables


def _coverage(tables: list) -> float:
    covered = sum(
        int(((t["ci_low"] <= t["truth"]) & (t["truth"] <= t["ci_high"])).sum()) for t in tables
    )
    return covered / sum(len(t) for t in tables)


@pytest.fixture(scope="module")
def overdispersed_fits() -> list:
    return _fit_over_seeds(overdispersion=0.5, seeds=SEEDS)


def test_95_percent_intervals_cover_the_truth_at_about_95_percent_over_seeds(overdispersed_fits):
    # Over 20 seeds × 46 terms the binomial standard error is ≈0.7 points; clustered
    # sandwich errors with 40 clusters run slightly narrow, hence the asymmetric band.
    assert sum(len(t) for t in overdispersed_fits) > 800
    coverage = _coverage(overdispersed_fits)
    assert 0.91 <= coverage <= 0.985, coverage


def test_intervals_without_overdispersion_also_cover():
    coverage = _coverage(_fit_over_seeds(overdispersion=0.0, seeds=range(300, 310)))
    assert 0.90 <= coverage <= 0.99, coverage


def test_estimates_are_unbiased_on_average_over_seeds(overdispersed_fits):
    log_errors = np.array(
        [np.log(t["rate_ratio"]) - np.log(t["truth"]) for t in overdispersed_fits]
    )
    mean_error = log_errors.mean(axis=0)
    standard_error = log_errors.std(axis=0, ddof=1) / np.sqrt(len(log_errors))
    assert np.all(np.abs(mean_error) < 4 * standard_error + 0.01)
    # A wrong model would fail: shifting every estimate by 10% breaks the same check.
    assert not np.all(np.abs(mean_error + 0.1) < 4 * standard_error + 0.01)


def test_supply_sterilisation_recovers_deprivation_while_naive_fit_is_biased_to_one():
    naive_log_rr, sterilised_log_rr = [], []
    for seed in range(200, 206):
        sim = simulate(seed, n_patients=15_000, n_practices=40, supply_slope=0.4)
        for sterilisation, store in (
            ("none", naive_log_rr),
            ("practice_effects", sterilised_log_rr),
        ):
            model = fit_workload_model(
                sim.cells,
                ModelParams(covariates=ALL_COVARIATES, supply_sterilisation=sterilisation),
            )
            rr = model.coefficients.set_index("term")["rate_ratio"]
            store.append(np.log(rr["imd_quintile=1"]))
    truth = np.log(sim.truth["imd_quintile=1"])
    assert np.mean(sterilised_log_rr) == pytest.approx(truth, abs=0.03)
    assert np.mean(naive_log_rr) < truth - 0.1


def test_practice_supply_ratios_recover_the_true_supply():
    sim = simulate(7, n_patients=30_000, n_practices=20, supply_slope=0.4, supply_noise=0.15)
    model = fit_workload_model(
        sim.cells, ModelParams(covariates=ALL_COVARIATES, supply_sterilisation="practice_effects")
    )
    estimated = model.practice_effects.set_index("practice_code")["supply_ratio"]
    true = sim.supply.reindex(estimated.index)
    correlation = np.corrcoef(np.log(estimated), np.log(true))[0, 1]
    assert correlation > 0.95
    np.testing.assert_allclose(np.log(estimated), np.log(true), atol=0.08)


def test_negative_binomial_recovers_the_truth_over_seeds():
    params = ModelParams(
        covariates=ALL_COVARIATES,
        family="negative_binomial",
        supply_sterilisation="practice_effects",
    )
    tables = []
    for seed in range(400, 406):
        sim = simulate(seed, n_patients=10_000, n_practices=30, overdispersion=0.8)
        model = fit_workload_model(sim.cells, params)
        assert model.summary["nb_alpha"] > 0.05
        tables.append(model.coefficients.assign(truth=lambda t, s=sim: t["term"].map(s.truth)))
    # Clustered errors with 30 practices: Poisson and NB both cover ≈0.91-0.93 over many seeds.
    assert _coverage(tables) >= 0.85
    log_errors = np.array([np.log(t["rate_ratio"]) - np.log(t["truth"]) for t in tables])
    assert np.abs(log_errors.mean()) < 0.03
