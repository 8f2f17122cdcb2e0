"""Hand-offs of stages 02 → 03 → 04: the stored model, not a refit, is stage 03's only source.

Stages 01–04 run as functions on a small synthetic ICB (no notebooks), so each test reads
the artefacts exactly as the next stage would.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pcfm.allocation.stage import run_allocation_stage
from pcfm.base.artefacts import CELLS, PRACTICE_NEED, PRACTICES, WORKLOAD_MODEL
from pcfm.base.context import RunContext
from pcfm.data.stage import run_data_stage
from pcfm.inputs.synthetic import write_synthetic_icb
from pcfm.model import (
    PracticeResampler,
    fit_workload_model,
    read_need_by_specification,
    read_workload_model,
)
from pcfm.model.alternatives import SPECIFIED
from pcfm.model.stage import run_model_stage
from pcfm.model.store import StoredModelError, model_from_json, model_to_json
from pcfm.need.stage import run_need_stage

pytestmark = pytest.mark.integration

PARAMS = """\
run_name: handoffs
seed: 5
data:
  source: synthetic
  synthetic:
    n_patients: 6000
    n_practices: 10
model:
  covariates: [age_sex, deprivation, morbidity, newly_registered]
  supply_sterilisation: practice_effects
allocation:
  budget_gbp: 50000
  bootstrap_replicates: 3
"""


def _context(folder: Path, text: str = PARAMS) -> RunContext:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "params.yml").write_text(text, encoding="utf-8")
    ctx = RunContext.open(folder / "params.yml", folder / "run")
    ctx.folder.create()
    write_synthetic_icb(ctx.folder.input_data, seed=5, n_patients=6000, n_practices=10)
    return ctx


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory):
    ctx = _context(tmp_path_factory.mktemp("handoffs"))
    run_data_stage(ctx)
    model_result = run_model_stage(ctx)
    need_result = run_need_stage(ctx)
    return ctx, model_result, need_result


def test_the_loaded_model_reproduces_stage_02s_predictions_exactly(staged) -> None:
    ctx, model_result, _ = staged
    cells = ctx.outputs.read_restricted(CELLS)
    fitted = model_result.model
    loaded = read_workload_model(ctx.outputs)
    assert np.array_equal(loaded.predict_rate(cells), fitted.predict_rate(cells))
    assert np.array_equal(loaded.fitted_workload(cells), fitted.fitted_workload(cells))
    assert np.array_equal(loaded.covariance, fitted.covariance)
    assert loaded.model_params == fitted.model_params
    assert loaded.terms == fitted.terms
    pd.testing.assert_frame_equal(loaded.coefficients, fitted.coefficients)
    pd.testing.assert_frame_equal(loaded.practice_effects, fitted.practice_effects)
    assert loaded.summary == fitted.summary
    # With a factor switched off (the decomposition's predictions) too.
    off = cells.assign(imd_quintile=5, ltc_band="0")
    assert np.array_equal(loaded.predict_rate(off), fitted.predict_rate(off))


def test_the_artefact_is_byte_stable_and_versioned(staged, tmp_path: Path) -> None:
    ctx, _, _ = staged
    path = ctx.outputs.restricted_path(WORKLOAD_MODEL)
    content = ctx.outputs.read_restricted_json(WORKLOAD_MODEL)
    again = model_to_json(model_from_json(content))
    assert again == content
    before = path.read_bytes()
    ctx.outputs.write_restricted_json(again, WORKLOAD_MODEL)
    assert path.read_bytes() == before
    with pytest.raises(StoredModelError, match="version"):
        model_from_json({**content, "version": content["version"] + 1})
    with pytest.raises(StoredModelError, match="terms"):
        model_from_json({**content, "terms": content["terms"][:-1]})


def test_an_age_spline_model_round_trips_and_resamples(tmp_path: Path) -> None:
    text = PARAMS.replace("  supply_sterilisation: practice_effects\n", "  age_form: spline\n")
    ctx = _context(tmp_path, text)
    run_data_stage(ctx)
    cells = ctx.outputs.read_restricted(CELLS)
    params = ctx.params.model
    assert params.age_form == "spline"
    model = fit_workload_model(cells, params)
    loaded = model_from_json(model_to_json(model))
    assert loaded.encoder.age_spline == model.encoder.age_spline
    assert np.array_equal(loaded.predict_rate(cells), model.predict_rate(cells))
    resampler = PracticeResampler.for_cells(cells, params)
    assert "age" in resampler.combinations.columns
    np.testing.assert_allclose(
        resampler.combination_rates(loaded)[resampler.combination_of_cell],
        loaded.predict_rate(cells),
        rtol=1e-13,
    )


def test_stage_03_predicts_from_the_artefact_alone(staged) -> None:
    # Set every slope to 0 in the stored model: if stage 03 refitted, it would get the real
    # need indices back; from the artefact every practice's need index is exactly 1 and
    # every contribution of the decomposition 0.
    ctx, _, need_result = staged
    outputs = ctx.outputs
    original = outputs.read_restricted_json(WORKLOAD_MODEL)
    assert not np.allclose(need_result.need["need_index"], 1.0)
    flat = {**original, "coef": [0.0] * len(original["coef"])}
    try:
        outputs.write_restricted_json(flat, WORKLOAD_MODEL)
        result = run_need_stage(ctx)
        np.testing.assert_allclose(result.need["need_index"], 1.0, rtol=1e-14)
        contributions = result.need.filter(like="contribution_")
        np.testing.assert_allclose(contributions.to_numpy(), 0.0, atol=1e-14)
    finally:
        outputs.write_restricted_json(original, WORKLOAD_MODEL)
        run_need_stage(ctx)


def test_as_specified_in_the_sensitivity_table_is_need_index_exactly(staged) -> None:
    ctx, _, _ = staged
    outputs = ctx.outputs
    published = outputs.read_published("need_index").set_index("practice_code")["need_index"]
    sensitivity = outputs.read_published("model_sensitivity_need_index")
    as_specified = sensitivity.set_index("practice_code")[SPECIFIED]
    assert as_specified.index.tolist() == published.index.tolist()
    assert as_specified.tolist() == published.tolist()  # as printed, digit for digit
    handed = read_need_by_specification(outputs)
    assert next(iter(handed)) == SPECIFIED
    stage_03 = outputs.read_restricted(PRACTICE_NEED)
    assert handed[SPECIFIED]["need_index"].tolist() == stage_03["need_index"].tolist()
    assert list(handed) == [
        c for c in sensitivity.columns if c not in ("practice_code", "person_years")
    ]


def test_stage_04_publishes_the_sensitivity_from_the_handed_need_tables(staged) -> None:
    ctx, _, _ = staged
    result = run_allocation_stage(ctx)
    table = ctx.outputs.read_published("allocation_sensitivity")
    assert table["alternative"].tolist() == list(read_need_by_specification(ctx.outputs))
    assert table.iloc[0]["n_category_changed"] == 0
    assert len(result.allocation) == len(ctx.outputs.read_restricted(PRACTICES))


def test_the_switched_off_sensitivity_keeps_the_tables_columns(tmp_path: Path) -> None:
    ctx = _context(
        tmp_path,
        PARAMS.replace(
            "  bootstrap_replicates: 3\n", "  bootstrap_replicates: 0\n  sensitivity: false\n"
        ),
    )
    run_data_stage(ctx)
    run_model_stage(ctx)
    run_need_stage(ctx)
    run_allocation_stage(ctx)
    switched_off = ctx.outputs.read_published("allocation_sensitivity")
    assert switched_off.empty
    assert list(switched_off.columns) == [
        "alternative",
        "assumes",
        "credible",
        "n_eligibility_changed",
        "n_became_eligible",
        "n_became_ineligible",
        "practices_changing_eligibility",
        "n_category_changed",
        "allocated_gbp",
        "max_abs_change_gbp",
        "total_abs_change_gbp",
    ]
