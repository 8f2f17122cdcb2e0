"""Eligibility against a known truth (pcfm.allocation.truth_recovery).

The data come from the tests' own simulator (`_model_sim`), independent of the synthetic
ICB, with supply that falls with deprivation: the fit with practice effects should put few
practices on the wrong side of the eligibility line, the fit with one intercept more.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _model_sim import simulate

from pcfm.allocation.exclusions import decide_statuses
from pcfm.allocation.truth_recovery import (
    ELIGIBILITY_TRUTH_COLUMNS,
    eligibility_against_truth,
    need_table_from_index,
    truth_recovery_display,
)
from pcfm.model import fit_workload_model
from pcfm.need.decomposition import predictor_from_rate_ratios
from pcfm.need.weights import practice_need
from pcfm.params.allocation import AllocationParams
from pcfm.params.model import ModelParams

pytestmark = pytest.mark.unit

TOP_UP = AllocationParams(policy="top_up_to_average")
COVARIATES = ["age_sex", "deprivation"]
SEED = 11


@pytest.fixture(scope="module")
def icb():
    sim = simulate(11, n_patients=80_000, n_practices=40, supply_slope=0.5, overdispersion=0.3)
    cells = sim.cells
    truth_ratios = {k: v for k, v in sim.truth.items() if k.startswith(("age_sex", "imd_q"))}
    registered = cells.groupby("practice_code")["patients"].sum()
    rng = np.random.default_rng(SEED)
    practices = pd.DataFrame(
        {
            "practice_code": registered.index.astype(str),
            "registered_list": registered.to_numpy(),
            "current_funding_gbp": registered.to_numpy() * 150 * rng.uniform(0.9, 1.1, 40),
        }
    )
    true_need = practice_need(cells, predictor_from_rate_ratios(truth_ratios)(cells), practices)
    truth = true_need.set_index("practice_code")["need_index"]
    tables = {}
    for label, sterilisation in (
        ("as specified", "practice_effects"),
        ("supply sterilisation: none", "none"),
    ):
        model = fit_workload_model(
            cells, ModelParams(covariates=COVARIATES, supply_sterilisation=sterilisation)
        )
        tables[label] = practice_need(cells, model.predict_rate(cells), practices)
    statuses = decide_statuses(true_need, practices, TOP_UP.outliers)
    return cells, practices, truth, tables, statuses


def test_sterilised_model_misplaces_fewer_practices_than_the_naive_fit(icb):
    cells, practices, truth, tables, statuses = icb
    table = eligibility_against_truth(tables, truth, cells, practices, TOP_UP, statuses)
    wrong = table.set_index("specification")["n_eligibility_wrong"]
    assert list(table.columns) == list(ELIGIBILITY_TRUTH_COLUMNS)
    assert list(table["specification"]) == [
        "as specified",
        "supply sterilisation: none",
        "Carr-Hill 2007 age-sex weights",
        "flat rate per person-year",
    ]
    assert wrong["as specified"] <= 2
    assert wrong["supply sterilisation: none"] >= wrong["as specified"] + 5
    assert (
        table["n_eligibility_wrong"] == table["n_wrongly_eligible"] + table["n_wrongly_ineligible"]
    ).all()
    listed = table["practices_wrongly_classed"].map(lambda s: len(s.split("; ")) if s else 0)
    assert (listed == table["n_eligibility_wrong"]).all()


def test_the_truth_itself_misplaces_no_practice_and_no_money(icb):
    cells, practices, truth, _, statuses = icb
    exact = {"the truth": need_table_from_index(truth, practices)}
    row = eligibility_against_truth(exact, truth, cells, practices, TOP_UP, statuses).iloc[0]
    assert row["n_eligibility_wrong"] == 0
    assert row["n_category_wrong"] == 0
    assert row["total_abs_misallocation_gbp"] == pytest.approx(0.0, abs=1e-6)


def test_need_table_from_index_adds_up_to_the_registered_lists(icb):
    _, practices, truth, _, _ = icb
    table = need_table_from_index(truth * 3.0, practices)  # a common factor cancels
    assert table["need_weighted_list"].sum() == pytest.approx(practices["registered_list"].sum())
    assert np.allclose(table.set_index("practice_code")["need_index"], truth.sort_index())
    with pytest.raises(ValueError, match="no need index for 1 practice"):
        need_table_from_index(truth.iloc[1:], practices)


def test_the_report_lists_a_few_practices_by_code_and_counts_many():
    table = pd.DataFrame(
        {
            "specification": ["a", "b", "c"],
            "practices_wrongly_classed": ["", "P1; P2", "; ".join(f"P{i}" for i in range(9))],
        }
    )
    shown = truth_recovery_display(table)["Practices"].tolist()
    assert shown == ["none", "P1; P2", "9 practices (listed in the CSV)"]
    assert truth_recovery_display(None) is None
