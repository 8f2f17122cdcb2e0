"""Bootstrap of need indices and eligibility (pcfm.allocation.bootstrap)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _model_sim import simulate

from pcfm.allocation.bootstrap import (
    BootstrapError,
    _Refit,
    _replicates,
    bootstrap_need,
    practice_combination_exposure,
)
from pcfm.allocation.funding import compare_funding
from pcfm.model import PracticeResampler, fit_workload_model, need_index_from_sums
from pcfm.need.decomposition import predictor_from_rate_ratios
from pcfm.need.weights import practice_need
from pcfm.params.allocation import AllocationParams
from pcfm.params.model import ALL_COVARIATES as ALL_COVARIATE_NAMES
from pcfm.params.model import ModelParams

pytestmark = pytest.mark.unit

ALL_COVARIATES = ModelParams(covariates=ALL_COVARIATE_NAMES)
TOP_UP = AllocationParams(policy="top_up_to_average")


REFERENCES = {
    "age_sex": "F:30-34",
    "imd_quintile": "5",
    "ltc_band": "0",
    "newly_registered": "0",
    "care_home": "0",
    "interpreter_needed": "0",
}


class StandInModel:
    """A Poisson GLM by plain IRLS on dummy-coded cells (independent of pcfm.model)."""

    def __init__(self, cells: pd.DataFrame):
        self.levels = {
            column: sorted(set(cells[column].astype(str)) - {reference})
            for column, reference in REFERENCES.items()
        }
        design = self._design(cells)
        y = cells["workload"].to_numpy(float)
        offset = np.log(cells["exposure"].to_numpy(float))
        coef = np.zeros(design.shape[1])
        coef[0] = np.log(y.sum() / np.exp(offset).sum())
        for _ in range(25):
            mu = np.exp(offset + design @ coef)
            step = np.linalg.solve(design.T @ (design * mu[:, None]), design.T @ (y - mu))
            coef += step
            if np.abs(step).max() < 1e-10:
                break
        self.coef = coef

    def _design(self, cells: pd.DataFrame) -> np.ndarray:
        blocks = [np.ones((len(cells), 1))]
        for column, levels in self.levels.items():
            position = {level: i for i, level in enumerate(levels)}
            codes = cells[column].astype(str).map(position).fillna(-1).to_numpy(dtype=int)
            one_hot = np.vstack([np.eye(len(levels)), np.zeros((1, len(levels)))])
            blocks.append(one_hot[codes])  # -1 (the reference) picks the zero row
        return np.hstack(blocks)

    def predict_rate(self, cells: pd.DataFrame) -> np.ndarray:
        return np.exp(self._design(cells) @ self.coef)


def stand_in_fit(cells: pd.DataFrame, model_params: ModelParams) -> StandInModel:
    return StandInModel(cells)


def _icb(seed: int, n_patients: int = 12_000, n_practices: int = 24):
    sim = simulate(
        seed, n_patients=n_patients, n_practices=n_practices, supply_slope=0.0, supply_noise=0.0
    )
    cells = sim.cells
    registered = cells.groupby("practice_code")["patients"].sum()
    rng = np.random.default_rng(seed)
    practices = pd.DataFrame(
        {
            "practice_code": registered.index,
            "registered_list": registered.to_numpy(),
            "current_funding_gbp": registered.to_numpy()
            * 150
            * rng.uniform(0.8, 1.2, len(registered)),
        }
    )
    return sim, cells, practices


class FixedModel:
    def __init__(self, predict):
        self.predict_rate = predict


def test_a_model_that_ignores_the_draw_gives_the_point_estimate_every_time():
    sim, cells, practices = _icb(3)
    truth = {k: v for k, v in sim.truth.items() if not k.startswith("imd_decile")}
    predict = predictor_from_rate_ratios(truth)
    result = bootstrap_need(
        cells,
        practices,
        ALL_COVARIATES,
        TOP_UP,
        n_replicates=5,
        seed=1,
        fit=lambda sample, params: FixedModel(predict),
    )
    need = practice_need(cells, predict(cells), practices)
    comparison = compare_funding(need, practices, TOP_UP)
    np.testing.assert_allclose(result.table["need_index_low"], need["need_index"], rtol=1e-13)
    np.testing.assert_allclose(result.table["need_index_high"], need["need_index"], rtol=1e-13)
    assert result.table["p_eligible"].tolist() == comparison["eligible"].astype(float).tolist()
    assert result.table["practice_code"].tolist() == need["practice_code"].tolist()


def test_intervals_cover_the_true_need_index():
    # Simulated from a known log-linear model without supply effects: the true need index
    # of each practice is computable. A 95% interval should hold it for most practices.
    sim, cells, practices = _icb(5)
    truth_ratios = {k: v for k, v in sim.truth.items() if not k.startswith("imd_decile")}
    truth = practice_need(cells, predictor_from_rate_ratios(truth_ratios)(cells), practices)
    result = bootstrap_need(cells, practices, ALL_COVARIATES, TOP_UP, 40, seed=7, fit=stand_in_fit)
    inside = (truth["need_index"] >= result.table["need_index_low"]) & (
        truth["need_index"] <= result.table["need_index_high"]
    )
    assert inside.mean() >= 0.75
    width = result.table["need_index_high"] - result.table["need_index_low"]
    assert (width > 0).all() and (width < 0.2).all()
    assert result.table["p_eligible"].between(0, 1).all()


def test_same_seed_same_result_and_other_seed_differs():
    _, cells, practices = _icb(2, n_patients=5_000, n_practices=12)
    first = bootstrap_need(cells, practices, ALL_COVARIATES, TOP_UP, 6, seed=11, fit=stand_in_fit)
    again = bootstrap_need(cells, practices, ALL_COVARIATES, TOP_UP, 6, seed=11, fit=stand_in_fit)
    other = bootstrap_need(cells, practices, ALL_COVARIATES, TOP_UP, 6, seed=12, fit=stand_in_fit)
    pd.testing.assert_frame_equal(first.table, again.table)
    assert not np.allclose(first.need_index, other.need_index)


def test_the_bootstraps_kernel_at_the_full_sample_reproduces_the_need_index():
    # One kernel: the bootstrap's practice sums over covariate combinations, fed to
    # need_index_from_sums, give stage 03's need index for the model fitted on every practice.
    _, cells, practices = _icb(4, n_patients=6_000, n_practices=10)
    params = ModelParams(
        covariates=["age_sex", "deprivation", "morbidity"], supply_sterilisation="practice_effects"
    )
    model = fit_workload_model(cells, params)
    need = practice_need(cells, model.predict_rate(cells), practices)
    resampler = PracticeResampler.for_cells(cells, params)
    exposure = practice_combination_exposure(resampler)
    registered = need["registered_list"].to_numpy(dtype=float)
    weighted, index = need_index_from_sums(
        exposure @ resampler.combination_rates(model),
        np.asarray(exposure.sum(axis=1)).ravel(),
        registered,
    )
    np.testing.assert_allclose(index, need["need_index"], rtol=1e-13)
    np.testing.assert_allclose(weighted, need["need_weighted_list"], rtol=1e-13)
    result = bootstrap_need(
        cells, practices, params, TOP_UP, 2, seed=1, fit=lambda sample, p: model
    )
    np.testing.assert_allclose(result.need_index, np.vstack([index, index]), rtol=0, atol=0)


def test_with_the_project_model_and_practice_effects():
    _, cells, practices = _icb(6, n_patients=6_000, n_practices=12)
    params = ModelParams(
        covariates=["age_sex", "deprivation"], supply_sterilisation="practice_effects"
    )
    result = bootstrap_need(cells, practices, params, TOP_UP, 3, seed=1)
    assert not result.collapsed and result.n_replicates == 3
    assert (result.table["need_index_low"] <= result.table["need_index_high"]).all()


def test_bad_arguments():
    _, cells, practices = _icb(2, n_patients=2_000, n_practices=5)
    with pytest.raises(BootstrapError, match="at least 1"):
        bootstrap_need(cells, practices, ALL_COVARIATES, TOP_UP, 0, seed=1)
    with pytest.raises(ValueError, match="no cells"):
        extra = pd.concat([practices, practices.iloc[[0]].assign(practice_code="ZZZ")])
        bootstrap_need(cells, extra, ALL_COVARIATES, TOP_UP, 1, seed=1, fit=stand_in_fit)


def test_failing_refits_are_counted_then_stop():
    _, cells, practices = _icb(2, n_patients=2_000, n_practices=5)

    def failing(sample, params):
        raise ValueError("sparse level")

    with pytest.raises(BootstrapError, match="bootstrap refits failed"):
        bootstrap_need(cells, practices, ALL_COVARIATES, TOP_UP, 2, seed=1, fit=failing)


# --- Newton refits, resampling patients (issue 12) ---------------------------------------

PRACTICE_EFFECTS = ModelParams(
    covariates=["age_sex", "deprivation", "morbidity"], supply_sterilisation="practice_effects"
)


def test_04_newton_refits_agree_with_full_refits_on_the_tiny_icb():
    # The same draws refitted both ways: Newton from the full-sample fit must give the full
    # refit's need indices within the stated tolerance, and say it checked.
    _, cells, practices = _icb(6, n_patients=6_000, n_practices=12)
    newton_params = AllocationParams(policy="top_up_to_average", bootstrap_check_replicates=3)
    full_params = newton_params.model_copy(update={"bootstrap_refit": "full"})
    newton = bootstrap_need(cells, practices, PRACTICE_EFFECTS, newton_params, 8, seed=3)
    full = bootstrap_need(cells, practices, PRACTICE_EFFECTS, full_params, 8, seed=3)
    assert newton.method == "Newton from the full-sample fit" and full.method == "full refit"
    assert newton.n_checked == 3 and full.n_checked == 0
    tolerance = newton_params.bootstrap_check_tolerance
    assert 0 <= newton.max_check_difference <= tolerance
    assert newton.n_failed == full.n_failed
    np.testing.assert_allclose(newton.need_index, full.need_index, rtol=0, atol=tolerance)
    assert (newton.eligible == full.eligible).all()


def test_04_newton_refits_fall_back_to_full_refits_above_the_tolerance():
    _, cells, practices = _icb(6, n_patients=6_000, n_practices=12)
    strict = AllocationParams(
        policy="top_up_to_average", bootstrap_check_replicates=2, bootstrap_check_tolerance=1e-300
    )
    result = bootstrap_need(cells, practices, PRACTICE_EFFECTS, strict, 4, seed=3)
    full = bootstrap_need(
        cells,
        practices,
        PRACTICE_EFFECTS,
        strict.model_copy(update={"bootstrap_refit": "full"}),
        4,
        seed=3,
    )
    assert result.method.startswith("full refit") and "failed their check" in result.method
    assert result.max_check_difference > 1e-300
    np.testing.assert_array_equal(result.need_index, full.need_index)


def test_04_the_newton_bootstrap_is_reproducible():
    _, cells, practices = _icb(2, n_patients=5_000, n_practices=12)
    params = ModelParams(
        covariates=["age_sex", "deprivation"], supply_sterilisation="practice_effects"
    )
    first = bootstrap_need(cells, practices, params, TOP_UP, 10, seed=11)
    again = bootstrap_need(cells, practices, params, TOP_UP, 10, seed=11)
    other = bootstrap_need(cells, practices, params, TOP_UP, 10, seed=12)
    pd.testing.assert_frame_equal(first.table, again.table, check_exact=True)
    assert first.need_index.tobytes() == again.need_index.tobytes()
    assert first.max_check_difference == again.max_check_difference
    assert not np.allclose(first.need_index, other.need_index)


def test_04_resampling_patients_within_practices_changes_the_intervals_deterministically():
    _, cells, practices = _icb(5, n_patients=8_000, n_practices=12)
    patients = AllocationParams(
        policy="top_up_to_average", bootstrap_resample="patients_within_practices"
    )
    by_practice = bootstrap_need(cells, practices, PRACTICE_EFFECTS, TOP_UP, 20, seed=5)
    first = bootstrap_need(cells, practices, PRACTICE_EFFECTS, patients, 20, seed=5)
    again = bootstrap_need(cells, practices, PRACTICE_EFFECTS, patients, 20, seed=5)
    other = bootstrap_need(cells, practices, PRACTICE_EFFECTS, patients, 20, seed=6)
    assert first.resample == "patients_within_practices" and by_practice.resample == "practices"
    pd.testing.assert_frame_equal(first.table, again.table, check_exact=True)
    assert not np.allclose(first.need_index, other.need_index)
    columns = ["need_index_low", "need_index_high"]
    assert not np.allclose(first.table[columns], by_practice.table[columns])
    width = first.table["need_index_high"] - first.table["need_index_low"]
    assert (width > 0).all()
    # Checked against full refits of the same weighted cells.
    assert first.n_checked > 0 and first.max_check_difference <= 1e-6


def test_04_patient_weights_keep_every_practices_list():
    _, cells, _ = _icb(5, n_patients=4_000, n_practices=6)
    resampler = PracticeResampler.for_cells(cells, PRACTICE_EFFECTS)
    weights = resampler.patient_weights(np.random.default_rng(1))
    patients = cells["patients"].to_numpy(dtype=float)
    drawn = pd.Series(weights * patients).groupby(cells["practice_code"].to_numpy()).sum()
    listed = pd.Series(patients).groupby(cells["practice_code"].to_numpy()).sum()
    np.testing.assert_allclose(drawn.sort_index(), listed.sort_index())
    assert np.allclose(weights * patients, np.rint(weights * patients))  # whole patients
    assert (weights != 1).any()


# --- replicates refitted in worker processes (issue 13) -----------------------------------


class _OddDrawsRefit(_Refit):
    """A stand-in refit whose refits fail for even draws: a known sequence of successes."""

    name = "odd draws"

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        return rng.integers(0, 1000, 3)

    def rates(self, draw: np.ndarray) -> np.ndarray:
        if draw[0] % 2 == 0:
            raise ValueError("even draw")
        return draw.astype(float) / 7.0


def test_04_replicates_in_workers_are_those_of_one_draw_and_refit_at_a_time():
    refit = _OddDrawsRefit()
    rng = np.random.default_rng(9)
    expected, failed = [], 0
    while len(expected) < 25:
        draw = refit.draw(rng)
        try:
            expected.append(refit.rates(draw))
        except ValueError:
            failed += 1
    for workers in (1, 2):
        found = _replicates(refit, 25, seed=9, keep_draws=4, workers=workers)
        assert found.n_failed == failed > 0
        np.testing.assert_array_equal(np.vstack(found.rates), np.vstack(expected))
        np.testing.assert_array_equal(np.vstack(found.draws), np.vstack(expected)[:4] * 7.0)


def test_04_the_bootstrap_in_two_worker_processes_equals_one_process():
    _, cells, practices = _icb(5, n_patients=8_000, n_practices=12)
    patients = AllocationParams(
        policy="top_up_to_average", bootstrap_resample="patients_within_practices"
    )
    for allocation in (TOP_UP, patients):
        one = bootstrap_need(cells, practices, PRACTICE_EFFECTS, allocation, 12, seed=5)
        two = bootstrap_need(cells, practices, PRACTICE_EFFECTS, allocation, 12, seed=5, workers=2)
        pd.testing.assert_frame_equal(two.table, one.table, check_exact=True)
        assert two.need_index.tobytes() == one.need_index.tobytes()
        assert (two.n_checked, two.max_check_difference) == (
            one.n_checked,
            one.max_check_difference,
        )


def test_04_the_bootstrap_reports_its_progress_up_to_every_replicate():
    _, cells, practices = _icb(5, n_patients=8_000, n_practices=12)
    seen: list[tuple[int, int]] = []
    for workers in (1, 2):
        seen.clear()
        bootstrap_need(
            cells,
            practices,
            PRACTICE_EFFECTS,
            TOP_UP,
            20,
            seed=5,
            workers=workers,
            on_progress=lambda done, total: seen.append((done, total)),
        )
        assert seen[-1] == (20, 20) and len(seen) >= 4
        assert [done for done, _ in seen] == sorted(done for done, _ in seen)
