"""Published allocation tables, totals, sensitivity and figures (pcfm.allocation)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from pcfm.allocation.certainty import mark_uncertain_eligibility
from pcfm.allocation.figures import funding_by_deprivation_figure, need_index_interval_figure
from pcfm.allocation.funding import compare_funding
from pcfm.allocation.policies import allocate
from pcfm.allocation.sensitivity import (
    SENSITIVITY_COLUMNS,
    AlternativeKind,
    allocation_sensitivity,
    no_sensitivity_table,
)
from pcfm.allocation.tables import (
    ALLOCATION_COLUMNS,
    allocation_summary,
    allocation_table,
    category_table,
    totals_by,
    uncertain_eligibility_table,
)
from pcfm.model import need_by_specification
from pcfm.need.decomposition import decompose_need_index, predictor_from_rate_ratios
from pcfm.need.figures import decomposition_figure
from pcfm.need.weights import practice_need
from pcfm.params.allocation import AllocationParams

pytestmark = pytest.mark.unit

ISSUE_COLUMNS = [
    "practice_code",
    "practice_name",
    "pcn_code",
    "place",
    "registered_list",
    "need_weighted_list",
    "need_index",
    "need_index_low",
    "need_index_high",
    "current_funding_gbp",
    "funding_per_nwp_gbp",
    "funding_ratio",
    "category",
    "eligible",
    "p_eligible",
    "allocation_gbp",
]


@pytest.fixture()
def icb():
    cells = pd.DataFrame(
        {
            "practice_code": list("AABBCCDD"),
            "age_sex": ["F:30-34", "M:85+"] * 4,
            "imd_quintile": [1, 1, 5, 5, 2, 3, 1, 5],
            "exposure": [100, 10, 80, 30, 90, 5, 50, 50.0],
        }
    )
    practices = pd.DataFrame(
        {
            "practice_code": list("ABCD"),
            "practice_name": ["Alpha", "Beta", "Gamma", "Delta"],
            "pcn_code": ["P1", "P1", "P2", "P2"],
            "pcn_name": ["North", "North", "South", "South"],
            "place": ["City", "City", "County", "County"],
            "registered_list": [110, 110, 95, 100],
            "current_funding_gbp": [15_000, 17_000, 12_000, 16_000.0],
            "imd_score": [40.0, 10.0, 30.0, 25.0],
            "carr_hill_weighted_list": [120.0, 100.0, 90.0, 110.0],
        }
    )
    predict = predictor_from_rate_ratios({"age_sex=M:85+": 3.0, "imd_quintile=1": 1.4})
    return cells, practices, predict


def _result(icb, **params):
    cells, practices, predict = icb
    allocation_params = AllocationParams(**params)
    need = practice_need(cells, predict(cells), practices)
    return allocate(compare_funding(need, practices, allocation_params), allocation_params)


def test_allocation_table_columns_in_the_issue_order(icb):
    cells, practices, predict = icb
    result = _result(icb, policy="top_up_to_average", budget_gbp=1_000)
    decomposition = decompose_need_index(cells, predict, practices)
    bootstrap = pd.DataFrame(
        {
            "practice_code": list("DCBA"),
            "need_index_low": [0.9, 0.8, 0.7, 0.6],
            "need_index_high": [1.1, 1.2, 1.3, 1.4],
            "p_eligible": [0.1, 0.2, 0.3, 0.4],
        }
    )
    table = allocation_table(result, bootstrap, decomposition)
    assert ALLOCATION_COLUMNS == ISSUE_COLUMNS
    assert table.columns[: len(ISSUE_COLUMNS)].tolist() == ISSUE_COLUMNS
    assert table.columns[len(ISSUE_COLUMNS)].startswith("contribution_")
    assert table["p_eligible"].tolist() == [0.4, 0.3, 0.2, 0.1]  # matched by code, not row
    np.testing.assert_allclose(
        1 + table.filter(like="contribution_").sum(axis=1), table["need_index"]
    )
    np.testing.assert_allclose(table["carr_hill_index"], [120 / 110, 100 / 110, 90 / 95, 1.1])
    without = allocation_table(result)
    assert without.columns.tolist()[: len(ISSUE_COLUMNS)] == ISSUE_COLUMNS
    assert without["need_index_low"].isna().all()


def test_summary_keys(icb):
    summary = allocation_summary(_result(icb, policy="top_up_to_average", budget_gbp=1_000))
    assert list(summary)[:6] == [
        "policy",
        "budget_gbp",
        "allocated_gbp",
        "unallocated_gbp",
        "n_practices",
        "n_funded",
    ]


def test_totals_by_pcn_and_place_add_up(icb):
    result = _result(icb, policy="needs_weighted_capitation", budget_gbp=1_000)
    by_pcn = totals_by(result.table, "pcn_code")
    by_place = totals_by(result.table, "place")
    assert by_pcn["pcn_code"].tolist() == ["P1", "P2"]
    assert by_pcn["practices"].tolist() == [2, 2]
    assert by_pcn["registered_list"].tolist() == [220, 195]
    assert by_pcn["allocation_gbp"].sum() == pytest.approx(1_000)
    assert by_place["current_funding_gbp"].tolist() == [32_000, 28_000]
    np.testing.assert_allclose(
        by_place["funding_per_nwp_after_gbp"],
        (by_place["current_funding_gbp"] + by_place["allocation_gbp"])
        / by_place["need_weighted_list"],
    )


def test_sensitivity_counts_category_changes(icb):
    cells, practices, _ = icb

    class Model:
        def __init__(self, ratios):
            self.predict_rate = predictor_from_rate_ratios(ratios)

    models = {
        "main": Model({"age_sex=M:85+": 3.0, "imd_quintile=1": 1.4}),
        "same": Model({"age_sex=M:85+": 3.0, "imd_quintile=1": 1.4}),
        "no_deprivation": Model({"age_sex=M:85+": 3.0}),
    }
    tables = need_by_specification(models, cells, practices)
    kinds = {
        "same": AlternativeKind("the same need", True),
        "no_deprivation": AlternativeKind("deprivation left out", False),
    }
    result = allocation_sensitivity(
        tables,
        practices,
        AllocationParams(policy="top_up_to_average", budget_gbp=2_000),
        kinds=kinds,
    )
    changes = result.changes.set_index("alternative")
    assert changes.loc["main", "n_category_changed"] == 0
    assert changes.loc["same", "total_abs_change_gbp"] == 0
    # Without the deprivation ratio practice A (quintile 1) needs less, so it looks better
    # funded: its category must rise.
    wide = result.allocations.set_index("practice_code")
    assert wide.loc["A", "category__no_deprivation"] > wide.loc["A", "category__main"]
    assert changes.loc["no_deprivation", "n_category_changed"] >= 1
    assert result.baseline == "main"
    with pytest.raises(ValueError, match="baseline"):
        allocation_sensitivity(tables, practices, AllocationParams(), baseline="nope", kinds=kinds)


def test_figures_draw(icb):
    cells, practices, predict = icb
    result = _result(icb, policy="top_up_to_average", budget_gbp=1_000)
    table = allocation_table(result)
    table[["need_index_low", "need_index_high"]] = [0.9, 1.1]
    assert isinstance(funding_by_deprivation_figure(table), Figure)
    assert isinstance(need_index_interval_figure(table), Figure)
    decomposition = decompose_need_index(cells, predict, practices)
    figure = decomposition_figure(decomposition)
    assert len(figure.axes[0].patches) == 4 * 4  # four factors × four practices


def test_category_table(icb):
    result = _result(icb, policy="top_up_to_average", budget_gbp=1_000)
    categories = category_table(result.table)
    assert categories["category"].tolist() == [1, 2, 3, 4]
    assert categories["practices"].sum() == 4
    assert categories["eligible_practices"].tolist()[2:] == [0, 0]
    assert categories["allocation_gbp"].sum() == pytest.approx(1_000)
    assert (categories["funding_ratio_min"].diff().dropna() > 0).all()


def test_uncertain_eligibility_is_decided_by_the_band_of_the_parameters(icb):
    params = AllocationParams(uncertain_low=0.3, uncertain_high=0.7)
    table = allocation_table(_result(icb, policy="top_up_to_average", budget_gbp=1_000))
    marked = mark_uncertain_eligibility(table, params)
    assert marked["eligibility_uncertain"].isna().all()  # no bootstrap: not decided
    assert uncertain_eligibility_table(marked, params).empty
    assert list(marked.columns).index("eligibility_certainty") == (
        list(marked.columns).index("p_eligible") + 1
    )
    # Two eligible (the most under-funded half), two not; the ends of the band count as
    # agreeing with the run (p >= high for an eligible practice, p <= low for another).
    table["eligible"] = [True, True, False, False]
    table["p_eligible"] = [0.7, 0.69, 0.3, 0.31]
    marked = mark_uncertain_eligibility(table, params)
    assert marked["eligibility_uncertain"].tolist() == [False, True, False, True]
    shown = uncertain_eligibility_table(marked, params)
    assert shown["practice_code"].tolist() == ["B", "D"]  # most likely funded first
    assert shown["uncertain_because"].tolist() == ["bootstrap", "bootstrap"]
    assert "p_eligible" in shown.columns and "registered_list" not in shown.columns
    default = mark_uncertain_eligibility(table, AllocationParams())  # 0.1 to 0.9
    assert default["eligibility_uncertain"].tolist() == [True, True, True, True]


def test_totals_by_place_by_hand_with_one_rounding_rule():
    table = pd.DataFrame(
        {
            "place": ["X", "X", "Y"],
            "registered_list": [1000, 2001, 3000],
            "need_weighted_list": [1000.0, 2000.0, 3001.0],
            "current_funding_gbp": [100_000.004, 200_000.0, 300_000.0],
            "allocation_gbp": [0.01, 10_000.0, 0.0],
        }
    )
    totals = totals_by(table, "place").set_index("place")
    assert totals.loc["X", "registered_list"] == 3001
    assert totals.loc["X", "allocation_gbp"] == 10_000.01
    assert totals.loc["X", "current_funding_gbp"] == 300_000.0  # to the penny
    assert totals.loc["X", "practices_funded"] == 2 and totals.loc["Y", "practices_funded"] == 0
    # per-patient amounts and shares come from the unrounded sums
    assert totals.loc["X", "allocation_per_registered_patient_gbp"] == pytest.approx(
        10_000.01 / 3001
    )
    assert totals.loc["X", "share_of_allocation"] == 1.0
    assert totals.loc["Y", "share_of_allocation"] == 0.0
    with pytest.raises(KeyError, match="pcn_name"):
        totals_by(table, ["place", "pcn_name"])


def test_sensitivity_with_the_project_model_has_the_fixed_schema():
    from _model_sim import simulate

    from pcfm.model import fit_alternatives
    from pcfm.params.model import ModelParams

    cells = simulate(8, n_patients=4_000, n_practices=10).cells
    registered = cells.groupby("practice_code")["patients"].sum()
    practices = pd.DataFrame(
        {
            "practice_code": registered.index,
            "registered_list": registered.to_numpy(),
            "current_funding_gbp": registered.to_numpy() * np.linspace(120, 180, 10),
        }
    )
    models, _ = fit_alternatives(cells, ModelParams(covariates=["age_sex", "deprivation"]))
    table = allocation_sensitivity(
        need_by_specification(models, cells, practices),
        practices,
        AllocationParams(policy="top_up_to_average", budget_gbp=10_000),
    ).changes
    assert list(table.columns) == list(SENSITIVITY_COLUMNS)
    assert table.dtypes.astype(str).tolist() == list(SENSITIVITY_COLUMNS.values())
    first = table.iloc[0]
    assert first["alternative"] == "as specified"
    assert first["n_category_changed"] == 0 and first["total_abs_change_gbp"] == 0
    assert len(table) == len(models) >= 3
    assert (table["allocated_gbp"] == 10_000).all()


def test_the_switched_off_sensitivity_table_has_the_same_columns_and_no_rows():
    empty = no_sensitivity_table()
    assert empty.empty
    assert list(empty.columns) == list(SENSITIVITY_COLUMNS)
    assert empty.dtypes.astype(str).tolist() == list(SENSITIVITY_COLUMNS.values())
