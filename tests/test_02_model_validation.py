"""The validations a methodology reviewer can trust, on the synthetic ICB with a known truth.

- Held-out patients within practices: each method fitted on some patients of every practice
  predicts the others, with their practice's own level of workload; the need model must beat
  age-sex only, Carr-Hill 2007 and a flat rate.
- Truth recovery: the need index of the supply-sterilised model against the true need index.
- The practice-level comparison with observed workload is labelled for what it measures.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pcfm.data.cells import build_cell_tables
from pcfm.inputs.synthetic import generate_synthetic_icb
from pcfm.model import ModelSpecificationError, fit_workload_model
from pcfm.model.alternatives import (
    SPECIFIED,
    compare_need_indices,
    fit_alternatives,
    need_by_specification,
)
from pcfm.model.diagnostics import (
    AGE_SEX_ONLY,
    CARR_HILL,
    FLAT_RATE,
    NEED_WITHOUT_PRACTICE_EFFECTS,
    compare_practice_predictions,
)
from pcfm.model.figures import prediction_comparison_figure
from pcfm.model.held_out import (
    HELD_OUT_COLUMNS,
    PATIENT_FOLD,
    collapse_folds,
    fold_splits,
    validate_held_out_patients,
)
from pcfm.model.truth_recovery import read_true_need_index, truth_recovery
from pcfm.params import params_from_dict
from pcfm.params.model import ALL_COVARIATES, ModelParams

pytestmark = pytest.mark.integration

STERILISED = ModelParams(covariates=ALL_COVARIATES, supply_sterilisation="practice_effects")


def _params(seed: int = 20250401, folds: int = 5):
    return params_from_dict({"run_name": "t", "seed": seed, "model": {"cv_folds": folds}})


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> tuple[Path, pd.DataFrame, pd.DataFrame]:
    """A synthetic ICB's folder, cells and cells split by patient fold."""
    folder = tmp_path_factory.mktemp("synth")
    generate_synthetic_icb(3, n_patients=40_000, n_practices=30).write(folder)
    cells, fold_cells = build_cell_tables(folder, _params())
    return folder, cells, fold_cells


def test_02_held_out_patients_rank_the_need_model_first(synthetic):
    _, _, fold_cells = synthetic
    metrics, predictions, not_fitted = validate_held_out_patients(fold_cells, STERILISED)
    assert not not_fitted
    assert list(metrics.columns) == HELD_OUT_COLUMNS
    deviance = metrics.set_index("method")["poisson_deviance"]
    need = deviance.iloc[0]
    assert metrics["method"].iloc[0].startswith("need model as specified")
    assert metrics["rank"].iloc[0] == 1
    assert need < deviance[AGE_SEX_ONLY] < deviance[FLAT_RATE]
    assert need < deviance[CARR_HILL]
    assert need <= deviance[NEED_WITHOUT_PRACTICE_EFFECTS]
    r_squared = metrics.set_index("method")["r_squared"]
    assert r_squared.iloc[0] > r_squared[AGE_SEX_ONLY] > r_squared[FLAT_RATE]
    assert r_squared.iloc[0] > r_squared[CARR_HILL]
    # The need model is calibrated on patients it never saw: within 10% in every decile.
    assert metrics["calibration_max_abs_error"].iloc[0] < 0.10
    # Every patient is held out exactly once, and the practice effect is each practice's own:
    # a flat rate per practice predicts each practice's held-out total from its other patients.
    assert (metrics["held_out_patients"] == fold_cells["patients"].sum()).all()
    totals = predictions.groupby("method")[["workload", "predicted"]].sum()
    np.testing.assert_allclose(totals["predicted"], totals["workload"], rtol=0.02)


def test_02_held_out_split_is_by_patient_deterministic_and_seeded(synthetic, tmp_path):
    folder, cells, fold_cells = synthetic
    # Independently of the SQL: each patient's fold is MD5("<seed>:<id>") mod K + 1.
    patients = pd.read_parquet(folder / "patients.parquet")
    fold = [
        int.from_bytes(hashlib.md5(f"20250401:{pid}".encode()).digest(), "little") % 5 + 1
        for pid in patients["patient_id"].astype(str)
    ]
    expected = patients.assign(fold=fold).groupby(["practice_code", "fold"]).size()
    found = fold_cells.groupby(["practice_code", PATIENT_FOLD])["patients"].sum()
    pd.testing.assert_series_equal(found, expected, check_names=False, check_dtype=False)
    # So no patient is in two folds: each fold's training cells and held-out cells together
    # hold every patient exactly once, and summed over folds the split cells are the cells.
    total = int(cells["patients"].sum())
    for k in range(1, 6):
        held = fold_cells[fold_cells[PATIENT_FOLD] == k]
        train = collapse_folds(fold_cells[fold_cells[PATIENT_FOLD] != k])
        assert int(train["patients"].sum()) + int(held["patients"].sum()) == total
        assert 0 < int(held["patients"].sum()) < total
    keys = [c for c in cells.columns if c not in ("workload", "exposure", "patients")]
    merged = collapse_folds(fold_cells).merge(cells, on=keys, suffixes=("_folds", ""))
    assert len(merged) == len(cells)
    np.testing.assert_allclose(merged["workload_folds"], merged["workload"], rtol=1e-12)
    assert (merged["patients_folds"] == merged["patients"]).all()
    # Deterministic: the same seed gives the same split, another seed another.
    again = build_cell_tables(folder, _params())[1]
    pd.testing.assert_frame_equal(again, fold_cells)
    other = build_cell_tables(folder, _params(seed=11))[1]
    other_counts = other.groupby(["practice_code", PATIENT_FOLD])["patients"].sum()
    assert not other_counts.equals(found)


def test_02_truth_recovery_sterilised_model_recovers_need_naive_and_age_sex_do_not(synthetic):
    folder, cells, _ = synthetic
    truth = read_true_need_index(folder)
    assert truth is not None and len(truth) == 30
    models, not_fitted = fit_alternatives(cells, STERILISED)
    assert not not_fitted
    registered = cells.groupby("practice_code")["patients"].sum()
    practices = pd.DataFrame(
        {"practice_code": registered.index, "registered_list": registered.to_numpy()}
    )
    indices = compare_need_indices(need_by_specification(models, cells, practices), cells)
    table = truth_recovery(indices, truth, cells).set_index("specification")
    assert list(table.index[:1]) == [SPECIFIED]
    assert (table["practices"] == 30).all()
    correlation = table["correlation"]
    assert correlation[SPECIFIED] > 0.95
    assert correlation["supply sterilisation: none"] < correlation[SPECIFIED]
    assert correlation["age-sex only"] < correlation[SPECIFIED] - 0.05
    assert correlation[CARR_HILL] < correlation[SPECIFIED] - 0.05
    error = table["mean_absolute_error"]
    assert error[SPECIFIED] < min(
        error["supply sterilisation: none"], error["age-sex only"], error[CARR_HILL]
    )
    assert error[SPECIFIED] < error[FLAT_RATE]
    assert np.isnan(correlation[FLAT_RATE])
    assert (
        table.loc[SPECIFIED, "practices_in_other_quintile"]
        <= table.loc["age-sex only", "practices_in_other_quintile"]
    )


def test_02_no_truth_means_no_truth_recovery(tmp_path):
    assert read_true_need_index(tmp_path) is None


@pytest.mark.parametrize("label", ["tbl-validation", "fig-validation"])
def test_02_observed_workload_comparison_is_labelled_as_supply_not_a_ranking(project_files, label):
    notebook = json.loads((project_files / "notebooks" / "02_workload_model.ipynb").read_text())
    source = next(
        "".join(cell["source"])
        for cell in notebook["cells"]
        if f"#| label: {label}\n" in "".join(cell["source"])
    )
    caption = source.split("-cap:", 1)[1].split("\n", 1)[0]
    assert "observed" in caption and "supply" in caption
    assert "Cross-validated R²" not in caption
    if label == "tbl-validation":
        assert "Not a ranking of need models" in caption
    chapter = (project_files / "methodology" / "02-workload-model.qmd").read_text()
    assert "Observed workload against need" in chapter
    assert "#tbl-validation-held-out" in chapter and "#tbl-truth-recovery" in chapter


def test_02_practice_effects_where_they_cannot_be_used_stop_with_the_parameter_named(tmp_path):
    """The tiny ICB of the e2e tests: its deprived practices hold only deprived patients."""
    generate_synthetic_icb(7, n_patients=3000, n_practices=8).write(tmp_path)
    cells = build_cell_tables(tmp_path, _params(seed=7))[0]
    with pytest.raises(ModelSpecificationError, match="imd_quintile=1") as raised:
        fit_workload_model(cells, ModelParams())  # the default: practice effects
    assert "model.supply_sterilisation: none" in str(raised.value)
    assert "the default" in str(raised.value)
    fit_workload_model(cells, ModelParams(supply_sterilisation="none"))
    # Every practice a single cell: nothing varies within practices.
    single = cells.groupby("practice_code", as_index=False).head(1)
    single = single.assign(age_sex=["F:30-34", "M:0-4"] * 4, imd_quintile=[1, 5] * 4)
    with pytest.raises(ModelSpecificationError, match="every one of the 8 practices has a single"):
        fit_workload_model(single, ModelParams())
    # The held-out validation of the naive model leaves out the fit with practice effects,
    # saying why, and still scores the others.
    fold_cells = build_cell_tables(tmp_path, _params(seed=7))[1]
    naive = ModelParams(supply_sterilisation="none")
    metrics, _, not_fitted = validate_held_out_patients(fold_cells, naive)
    assert list(not_fitted) == ["need model with practice effects"]
    assert "collinear with the practice effects" in not_fitted["need model with practice effects"]
    assert "need model with practice effects" not in set(metrics["method"])
    assert len(metrics) == 4


def test_02_observed_workload_figure_says_it_carries_supply():
    metrics = pd.DataFrame({"method": ["need model (x)", "flat"], "r_squared": [0.4, -0.1]})
    figure = prediction_comparison_figure(metrics)
    assert "supply" in figure.axes[0].get_xlabel()


def test_02_fold_splits_are_the_other_folds_collapsed(synthetic):
    """The training cells found by one grouping equal collapsing the other folds' rows."""
    _, _, fold_cells = synthetic
    keys = [c for c in fold_cells.columns if c not in ("workload", "exposure", "patients")]
    keys.remove(PATIENT_FOLD)
    splits = fold_splits(fold_cells)
    assert [split.fold for split in splits] == [1, 2, 3, 4, 5]
    for split in splits:
        expected = collapse_folds(fold_cells[fold_cells[PATIENT_FOLD] != split.fold])
        found = split.train.astype({c: expected[c].dtype for c in keys})
        expected = expected.sort_values(keys, ignore_index=True)
        found = found.sort_values(keys, ignore_index=True)
        pd.testing.assert_frame_equal(found[keys], expected[keys])
        assert (found["patients"] == expected["patients"]).all()
        assert (found["workload"] == expected["workload"]).all()
        np.testing.assert_allclose(found["exposure"], expected["exposure"], rtol=1e-13)
        assert len(split.held) == int((fold_cells[PATIENT_FOLD] == split.fold).sum())
        # the practices of both sides are coded alike
        codes = np.asarray(pd.factorize(fold_cells["practice_code"])[1], dtype=object)
        assert (codes[split.held_practice] == split.held["practice_code"].to_numpy()).all()
        assert (codes[split.train_practice] == split.train["practice_code"].to_numpy()).all()


def test_02_refits_in_worker_processes_give_the_same_results(synthetic):
    """Two worker processes (`pcfm.base.parallel`) give exactly what one process gives."""
    _, cells, fold_cells = synthetic
    serial = fit_alternatives(cells, STERILISED, workers=1)
    parallel = fit_alternatives(cells, STERILISED, workers=2)
    assert list(parallel[0]) == list(serial[0]) and parallel[1] == serial[1]
    for label, model in serial[0].items():
        pd.testing.assert_frame_equal(parallel[0][label].coefficients, model.coefficients)
        np.testing.assert_array_equal(parallel[0][label].covariance, model.covariance)
    held_serial = validate_held_out_patients(fold_cells, STERILISED, workers=1)
    held_parallel = validate_held_out_patients(fold_cells, STERILISED, workers=2)
    pd.testing.assert_frame_equal(held_parallel[0], held_serial[0], check_exact=True)
    pd.testing.assert_frame_equal(held_parallel[1], held_serial[1], check_exact=True)
    practice_serial = compare_practice_predictions(cells, STERILISED, seed=7, workers=1)
    practice_parallel = compare_practice_predictions(cells, STERILISED, seed=7, workers=2)
    for found, expected in zip(practice_parallel, practice_serial, strict=True):
        pd.testing.assert_frame_equal(found, expected, check_exact=True)
