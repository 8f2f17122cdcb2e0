"""Outliers and special services (pcfm.allocation.exclusions): worked by hand, and invariants.

The six-practice ICB below is worked by hand. Funding per need-weighted patient (nwp):

    practice  nwl    funding    per nwp
    A         1000   100,000    100
    B         2000   180,000     90
    C         1500   165,000    110
    D          500    60,000    120
    E          800    16,000     20   <- 20 / 105 = 0.19 of the median, below 0.5
    F          400   120,000    300   <- 300 / 105 = 2.86 of the median, above 2

The median of the six is (100 + 110) / 2 = £105. Excluding E and F, the ICB average is
(100,000 + 180,000 + 165,000 + 60,000) / (1000 + 2000 + 1500 + 500) = 505,000 / 5,000 = £101.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pcfm.allocation.bootstrap import bootstrap_need
from pcfm.allocation.equity import funding_by_imd_quintile
from pcfm.allocation.exclusions import (
    EXCLUSION_COLUMNS,
    ExclusionInputError,
    decide_statuses,
)
from pcfm.allocation.funding import FundingInputError, compare_funding
from pcfm.allocation.policies import allocate
from pcfm.allocation.sensitivity import AlternativeKind, allocation_sensitivity
from pcfm.need.decomposition import predictor_from_rate_ratios
from pcfm.need.weights import practice_need
from pcfm.params import ParameterError, params_from_dict
from pcfm.params.allocation import AllocationParams

pytestmark = pytest.mark.unit

CODES = list("ABCDEF")
NWL = [1000.0, 2000.0, 1500.0, 500.0, 800.0, 400.0]
FUNDING = [100_000.0, 180_000.0, 165_000.0, 60_000.0, 16_000.0, 120_000.0]


def _icb(special=None, imd=None):
    need = pd.DataFrame(
        {
            "practice_code": CODES,
            "registered_list": [int(x) for x in NWL],
            "need_weighted_list": NWL,
            "need_index": [1.0] * 6,
        }
    )
    practices = pd.DataFrame(
        {
            "practice_code": CODES,
            "practice_name": [f"Practice {c}" for c in CODES],
            "pcn_code": ["P1", "P1", "P1", "P2", "P2", "P2"],
            "pcn_name": ["PCN 1", "PCN 1", "PCN 1", "PCN 2", "PCN 2", "PCN 2"],
            "place": ["City"] * 6,
            "registered_list": [int(x) for x in NWL],
            "current_funding_gbp": FUNDING,
            "imd_score": imd if imd is not None else [10.0, 20.0, 30.0, 40.0, 50.0, 60.0],
        }
    )
    if special is not None:
        practices["special_service"] = special
    return need, practices


def _params(**outliers):
    base = {"policy": "top_up_to_average", "budget_gbp": 11_500}
    return AllocationParams(**base, outliers=outliers)


def _by_code(table, column):
    return dict(zip(table["practice_code"], table[column], strict=True))


def test_an_excluded_practice_gets_nothing_and_is_not_in_the_average():
    need, practices = _icb()
    params = _params()  # defaults: rule exclude, low 0.5, high 2
    comparison = compare_funding(need, practices, params)
    assert _by_code(comparison, "status") == {
        "A": "ordinary",
        "B": "ordinary",
        "C": "ordinary",
        "D": "ordinary",
        "E": "excluded",
        "F": "excluded",
    }
    # The average of A-D by hand: £101; ratios against it.
    assert comparison["target_per_nwp_gbp"].iloc[0] == pytest.approx(101.0)
    np.testing.assert_allclose(
        comparison["funding_ratio"], np.array([100, 90, 110, 120, 20, 300]) / 101.0
    )
    # Categories among A-D only (B 1, A 2, C 3, D 4); none for E and F.
    assert comparison["category"].iloc[:4].tolist() == [2, 1, 3, 4]
    assert comparison["category"].iloc[4:].isna().all()
    # The most under-funded half of A-D: B and A; gaps 101 x 1000 - 100,000 = £1,000 and
    # 101 x 2000 - 180,000 = £22,000; E, though the least funded, is not eligible.
    np.testing.assert_allclose(comparison["gap_gbp"], [1_000, 22_000, 0, 0, 0, 0])
    assert comparison["eligible"].tolist() == [True, True, False, False, False, False]
    result = allocate(comparison, params)
    # £11,500 shared by the gaps: 1,000 / 23,000 and 22,000 / 23,000 of it.
    assert _by_code(result.table, "allocation_gbp") == {
        "A": 500.0,
        "B": 11_000.0,
        "C": 0.0,
        "D": 0.0,
        "E": 0.0,
        "F": 0.0,
    }
    assert result.table["allocation_pence"].sum() == 1_150_000
    assert result.summary["icb_average_funding_per_nwp_gbp"] == pytest.approx(101.0)


def test_the_reason_names_the_figure_and_the_bound():
    need, practices = _icb()
    statuses = decide_statuses(need, practices, _params().outliers)
    assert statuses.median_funding_per_nwp_gbp == pytest.approx(105.0)
    table = statuses.exclusions_table()
    assert list(table.columns) == list(EXCLUSION_COLUMNS)
    assert table["practice_code"].tolist() == ["E", "F"]
    reasons = _by_code(table, "reason")
    assert reasons["E"] == (
        "funding £20.00 per need-weighted patient is 0.19 of the ICB median £105.00 (below 0.5)"
    )
    assert reasons["F"] == (
        "funding £300.00 per need-weighted patient is 2.86 of the ICB median £105.00 (above 2)"
    )
    assert _by_code(table, "rule") == {"E": "outliers: exclude", "F": "outliers: exclude"}
    np.testing.assert_allclose(table["ratio_to_median"], [20 / 105, 300 / 105])


def test_a_ratio_next_to_the_bound_is_not_printed_as_the_bound():
    need, practices = _icb()
    # E at 0.4999 of the median: two decimals would print "0.50 ... (below 0.5)".
    practices.loc[4, "current_funding_gbp"] = 0.4999 * 105 * 800
    reason = decide_statuses(need, practices, _params().outliers).table["reason"].iloc[4]
    assert "is 0.4999 of the ICB median" in reason


def test_the_money_adds_up_to_the_penny_with_exclusions_under_every_policy():
    need, practices = _icb()
    for policy in ("top_up_to_average", "needs_weighted_capitation"):
        params = AllocationParams(policy=policy, budget_gbp=12_345.67)
        result = allocate(compare_funding(need, practices, params), params)
        pence = result.table["allocation_pence"]
        assert pence.sum() + round(result.summary["unallocated_gbp"] * 100) == 1_234_567
        assert (pence[result.table["status"] == "excluded"] == 0).all()
    # Capitation shares the whole budget by need-weighted list among A-D (5,000): A 1000/5000.
    params = AllocationParams(policy="needs_weighted_capitation", budget_gbp=10_000)
    result = allocate(compare_funding(need, practices, params), params)
    assert _by_code(result.table, "allocation_gbp") == {
        "A": 2_000.0,
        "B": 4_000.0,
        "C": 3_000.0,
        "D": 1_000.0,
        "E": 0.0,
        "F": 0.0,
    }


def test_the_cap_counts_the_bound():
    need, practices = _icb()
    params = _params(rule="cap")
    comparison = compare_funding(need, practices, params)
    # E counted at 0.5 x 105 x 800 = £42,000; F at 2 x 105 x 400 = £84,000.
    assert _by_code(comparison, "status")["E"] == "capped"
    assert _by_code(comparison, "status")["F"] == "capped"
    counted = _by_code(comparison, "counted_funding_gbp")
    assert counted["E"] == pytest.approx(42_000) and counted["F"] == pytest.approx(84_000)
    assert _by_code(comparison, "current_funding_gbp")["E"] == 16_000  # actual, unchanged
    # The average over all six with the counted funding, by hand.
    average = (505_000 + 42_000 + 84_000) / 6_200
    assert comparison["target_per_nwp_gbp"].iloc[0] == pytest.approx(average)
    assert _by_code(comparison, "funding_ratio")["E"] == pytest.approx(52.5 / average)
    # E is in the comparison, most under-funded, and its gap is to its counted funding.
    assert _by_code(comparison, "category")["E"] == 1
    assert _by_code(comparison, "gap_gbp")["E"] == pytest.approx(average * 800 - 42_000)
    reason = decide_statuses(need, practices, params.outliers).exclusions_table()
    assert (
        reason["reason"]
        .iloc[0]
        .endswith("(below 0.5); counted as £52.50 per need-weighted patient (0.5 × the median)")
    )
    result = allocate(comparison, params)
    assert result.table["allocation_pence"].sum() == 1_150_000
    assert result.summary["icb_average_funding_per_nwp_gbp"] == pytest.approx(average)


def test_keep_changes_nothing_but_lists():
    need, practices = _icb()
    kept = _params(rule="keep")
    # Bounds so wide that no practice is outside them: the comparison as it was before.
    wide = _params(rule="exclude", low=0.01, high=100)
    with_keep = allocate(compare_funding(need, practices, kept), kept).table
    without = allocate(compare_funding(need, practices, wide), wide).table
    for column in ("funding_ratio", "category", "gap_gbp", "eligible", "allocation_pence"):
        pd.testing.assert_series_equal(with_keep[column], without[column])
    assert _by_code(with_keep, "status") == {c: "ordinary" for c in "ABCD"} | {
        "E": "kept",
        "F": "kept",
    }
    assert (without["status"] == "ordinary").all()
    listed = decide_statuses(need, practices, kept.outliers).exclusions_table()
    assert listed["practice_code"].tolist() == ["E", "F"]
    assert listed["reason"].str.endswith("; counted as it is").all()


def test_special_services_are_excluded_by_default_and_not_in_the_median():
    # F is a special service; without it the median of A-E is £100, so E (0.20) is still out.
    need, practices = _icb(special=["", None, " ", "", "", "homeless / inclusion health"])
    statuses = decide_statuses(need, practices, _params().outliers)
    assert statuses.median_funding_per_nwp_gbp == pytest.approx(100.0)
    table = statuses.exclusions_table().set_index("practice_code")
    assert table.loc["F", "status"] == "excluded"
    assert table.loc["F", "rule"] == "special_services: exclude"
    assert table.loc["F", "special_service"] == "homeless / inclusion health"
    assert table.loc["F", "reason"].startswith(
        "special service (homeless / inclusion health): funding £300.00 per need-weighted "
        "patient is 3.00 of the ICB median £100.00 (above 2)"
    )
    assert table.loc["E", "reason"].startswith("funding £20.00 per need-weighted patient is 0.20")
    # Blank, missing and whitespace-only values are ordinary practices.
    assert set(table.index) == {"E", "F"}


def test_a_special_service_within_the_bounds_is_excluded_too_unless_kept_or_capped():
    need, practices = _icb(special=["asylum seekers", "", "", "", "", ""])
    params = _params(rule="keep")
    by_default = decide_statuses(need, practices, params.outliers).table.set_index("practice_code")
    assert by_default.loc["A", "status"] == "excluded"  # A's funding is ordinary: £100
    capped = decide_statuses(need, practices, _params(rule="keep", special_services="cap").outliers)
    row = capped.table.set_index("practice_code").loc["A"]
    assert row["status"] == "kept" and row["counted_funding_gbp"] == 100_000
    assert "within 0.5 to 2; counted as it is" in row["reason"]


def test_special_services_capped_at_the_bound():
    need, practices = _icb(special=["", "", "", "", "", "special allocation scheme"])
    params = _params(rule="keep", special_services="cap")
    comparison = compare_funding(need, practices, params)
    row = comparison.set_index("practice_code").loc["F"]
    # The median of A-E is £100; F counted at 2 x 100 x 400 = £80,000.
    assert row["status"] == "capped" and row["counted_funding_gbp"] == pytest.approx(80_000)
    assert _by_code(comparison, "status")["E"] == "kept"  # an outlier under rule keep


def test_practices_excluded_by_name_with_their_reason():
    need, practices = _icb()
    params = _params(rule="keep", excluded_practices={"C": "closed on 30 September"})
    statuses = decide_statuses(need, practices, params.outliers)
    # Not in the median either: A, B, D, E, F -> £100.
    assert statuses.median_funding_per_nwp_gbp == pytest.approx(100.0)
    row = statuses.exclusions_table().set_index("practice_code").loc["C"]
    assert row["status"] == "excluded" and row["rule"] == "excluded_practices"
    assert row["reason"] == "excluded by the ICB: closed on 30 September"
    result = allocate(compare_funding(need, practices, params), params)
    assert _by_code(result.table, "allocation_gbp")["C"] == 0.0
    assert pd.isna(_by_code(result.table, "category")["C"])
    # Named exclusion wins over the special-service rule.
    need, practices = _icb(special=["", "", "asylum seekers", "", "", ""])
    statuses = decide_statuses(need, practices, params.outliers)
    assert statuses.table.set_index("practice_code").loc["C", "rule"] == "excluded_practices"


def test_an_unknown_practice_excluded_by_name_is_an_error():
    need, practices = _icb()
    params = _params(excluded_practices={"Z99999": "typo"})
    with pytest.raises(ExclusionInputError, match=r"1 practice code\(s\) not in .*'Z99999'"):
        decide_statuses(need, practices, params.outliers)
    with pytest.raises(FundingInputError, match="Z99999"):
        compare_funding(need, practices, params)


def test_excluding_every_practice_is_a_clear_error():
    need, practices = _icb()
    params = _params(excluded_practices={c: "gone" for c in CODES})
    with pytest.raises(FundingInputError, match="every practice is excluded"):
        compare_funding(need, practices, params)


def test_no_median_to_judge_by_is_a_clear_error_unless_kept():
    need, practices = _icb()
    practices["current_funding_gbp"] = [0.0, 0.0, 0.0, 0.0, 1.0, 2.0]
    with pytest.raises(ExclusionInputError, match=r"median .* is £0.00.*rule.* to keep"):
        decide_statuses(need, practices, _params().outliers)
    kept = decide_statuses(need, practices, _params(rule="keep").outliers)
    assert (kept.table["status"] == "ordinary").all()


def test_exclusion_takes_precedence_over_the_transition_rule_and_the_deprivation_share():
    need, practices = _icb()
    previous = pd.DataFrame({"practice_code": ["E", "A"], "allocation_gbp": [5_000.0, 400.0]})
    params = AllocationParams(
        policy="top_up_to_average",
        budget_gbp=11_500,
        deprivation_share={"fraction": 0.2, "recipients": "all"},
        transition={"previous_allocations_path": "last-year.csv", "max_change_fraction": 0.1},
    )
    result = allocate(compare_funding(need, practices, params), params, previous)
    allocations = _by_code(result.table, "allocation_gbp")
    # E had £5,000 last year; its floor would be £4,500, but it is excluded: 0.
    assert allocations["E"] == 0.0 and allocations["F"] == 0.0
    assert _by_code(result.table, "deprivation_part_gbp")["E"] == 0.0
    assert (
        result.table["allocation_pence"].sum() + round(result.summary["unallocated_gbp"] * 100)
        == 1_150_000
    )
    # A stays within 10% of last year's £400.
    assert 360 <= allocations["A"] <= 440


def test_the_equity_table_is_of_the_comparison():
    need, practices = _icb()
    params = _params()
    result = allocate(compare_funding(need, practices, params), params)
    quintiles = funding_by_imd_quintile(result.table)
    # A-D only (E and F are excluded), by IMD score, most deprived first: D, C, B, A.
    assert quintiles["practices"].sum() == 4
    np.testing.assert_allclose(quintiles["funding_per_nwp_before_gbp"], [120, 110, 90, 100])
    np.testing.assert_allclose(quintiles["before_vs_icb"], np.array([120, 110, 90, 100]) / 101 - 1)
    # Capped practices count at their counted funding: E at £52.50, F at £210.
    capped = _params(rule="cap")
    result = allocate(compare_funding(need, practices, capped), capped)
    quintiles = funding_by_imd_quintile(result.table)
    assert quintiles["practices"].sum() == 6
    assert quintiles["current_funding_gbp"].sum() == pytest.approx(505_000 + 42_000 + 84_000)


@st.composite
def _icbs(draw):
    n = draw(st.integers(3, 12))
    registered = draw(st.lists(st.integers(100, 20_000), min_size=n, max_size=n))
    per_head = draw(st.lists(st.floats(5, 600), min_size=n, max_size=n))
    special = draw(
        st.lists(st.sampled_from(["", "", "", "asylum seekers"]), min_size=n, max_size=n)
    )
    if all(special):
        special[0] = ""
    codes = [f"P{i:03d}" for i in range(n)]
    need = pd.DataFrame(
        {
            "practice_code": codes,
            "registered_list": registered,
            "need_weighted_list": np.asarray(registered, dtype=float),
            "need_index": 1.0,
        }
    )
    practices = pd.DataFrame(
        {
            "practice_code": codes,
            "registered_list": registered,
            "current_funding_gbp": np.round(np.array(per_head) * registered, 2),
            "special_service": special,
        }
    )
    return need, practices


@settings(max_examples=80, deadline=None)
@given(
    _icbs(),
    st.integers(0, 100_000_000).map(lambda pence: pence / 100),
    st.sampled_from(["exclude", "cap", "keep"]),
    st.sampled_from(["exclude", "cap", "keep"]),
    st.sampled_from(["top_up_to_average", "needs_weighted_capitation", "level_up_cost"]),
)
def test_properties_under_every_rule(icb, budget_gbp, rule, special_rule, policy):
    need, practices = icb
    params = AllocationParams(
        policy=policy,
        budget_gbp=budget_gbp,
        outliers={"rule": rule, "special_services": special_rule},
    )
    try:
        comparison = compare_funding(need, practices, params)
    except FundingInputError as error:
        assert "every practice is excluded" in str(error)
        return
    result = allocate(comparison, params)
    table = result.table
    excluded = (table["status"] == "excluded").to_numpy()
    pence = table["allocation_pence"].to_numpy()
    # Excluded practices: nothing, not eligible, no category, no gap.
    assert (pence[excluded] == 0).all()
    assert not table["eligible"].to_numpy()[excluded].any()
    assert table["category"][excluded].isna().all() and table["category"][~excluded].notna().all()
    assert (table["gap_gbp"].to_numpy()[excluded] == 0).all()
    # To the penny.
    if policy != "level_up_cost":
        assert pence.sum() + round(result.summary["unallocated_gbp"] * 100) == round(
            budget_gbp * 100
        )
    # Every counted funding lies within the bounds unless the practice is kept or excluded.
    per_nwp = table["counted_funding_gbp"] / table["need_weighted_list"]
    median = decide_statuses(need, practices, params.outliers).median_funding_per_nwp_gbp
    judged = table["status"].isin(["ordinary", "capped"]) & (
        (practices["special_service"] == "") | (special_rule == "cap")
    )
    assert per_nwp[judged].between(0.5 * median * (1 - 1e-12), 2 * median * (1 + 1e-12)).all()
    # The ICB average is that of the practices counted, with their counted funding.
    counted = ~excluded
    assert result.summary["icb_average_funding_per_nwp_gbp"] == pytest.approx(
        table["counted_funding_gbp"][counted].sum() / table["need_weighted_list"][counted].sum()
    )


def test_parameter_errors_are_clear():
    def error(outliers) -> str:
        with pytest.raises(ParameterError) as caught:
            params_from_dict({"run_name": "x", "allocation": {"outliers": outliers}})
        return str(caught.value)

    assert "low < 1 < high (got low 1.2, high 2.0)" in error({"low": 1.2})
    assert "low < 1 < high (got low 0.5, high 1.0)" in error({"high": 1.0})
    assert "greater than 0" in error({"low": 0})
    message = error({"excluded_practices": {"C82020": None}})
    assert "allocation.outliers" in message and "'C82020' have no reason" in message
    assert "'C82020' have no reason" in error({"excluded_practices": {"C82020": "  "}})
    assert "allocation.outliers.rule: Input should be 'exclude', 'cap' or 'keep'" in error(
        {"rule": "drop"}
    )
    assert "allocation.outliers.special: unknown key" in error({"special": "keep"})
    ok = params_from_dict(
        {"run_name": "x", "allocation": {"outliers": {"excluded_practices": {"C82020": "why"}}}}
    )
    assert ok.allocation.outliers.excluded_practices == {"C82020": "why"}
    assert (ok.allocation.outliers.rule, ok.allocation.outliers.special_services) == (
        "exclude",
        "exclude",
    )


# ------------------------------------------------------ bootstrap and sensitivity


class _FixedModel:
    def __init__(self, predict):
        self.predict_rate = predict


def _simulated_icb(outlier_factor: float):
    from _model_sim import simulate

    sim = simulate(11, n_patients=8_000, n_practices=12, supply_slope=0.0, supply_noise=0.0)
    cells = sim.cells
    registered = cells.groupby("practice_code")["patients"].sum()
    rng = np.random.default_rng(11)
    funding = registered.to_numpy() * 150 * rng.uniform(0.9, 1.1, len(registered))
    funding[0] *= outlier_factor  # e.g. core money in another payment line
    practices = pd.DataFrame(
        {
            "practice_code": registered.index,
            "registered_list": registered.to_numpy(),
            "current_funding_gbp": funding,
        }
    )
    truth = {k: v for k, v in sim.truth.items() if not k.startswith("imd_decile")}
    return cells, practices, predictor_from_rate_ratios(truth)


def _bootstrap_eligible(cells, practices, params, predict, statuses=None):
    """Eligibility of every replicate under a model that ignores the draw: each replicate
    is then the full sample, so it must reproduce the main comparison exactly."""
    from pcfm.params.model import ALL_COVARIATES, ModelParams

    return bootstrap_need(
        cells,
        practices,
        ModelParams(covariates=ALL_COVARIATES),
        params,
        n_replicates=3,
        seed=1,
        fit=lambda sample, p: _FixedModel(predict),
        statuses=statuses,
    ).eligible


@pytest.mark.parametrize(
    ("rule", "factor", "policy", "status"),
    [
        ("exclude", 0.2, "top_up_to_average", "excluded"),
        # Capped at 1.3 x the median, the outlier raises the ICB average far less than at
        # 5 x: fewer practices are below it, i.e. have a gap to level up.
        ("cap", 5.0, "level_up_cost", "capped"),
    ],
)
def test_every_bootstrap_replicate_applies_the_full_sample_statuses(rule, factor, policy, status):
    cells, practices, predict = _simulated_icb(factor)
    params = AllocationParams(policy=policy, outliers={"rule": rule, "high": 1.3})
    need = practice_need(cells, predict(cells), practices)
    statuses = decide_statuses(need, practices, params.outliers)
    assert statuses.status_of(practices["practice_code"]).tolist() == [status] + ["ordinary"] * (
        len(practices) - 1
    )
    expected = compare_funding(need, practices, params, statuses)["eligible"].to_numpy()
    replicates = _bootstrap_eligible(cells, practices, params, predict, statuses)
    assert (replicates == expected).all()
    # Without the decision each replicate would count the outlier's funding as it is and
    # find other practices eligible: the statuses are what makes them agree.
    blind = _bootstrap_eligible(cells, practices, params, predict)
    assert not (blind == expected).all()
    if rule == "exclude":
        assert not replicates[:, 0].any() and blind[:, 0].all()


def test_the_sensitivity_analysis_keeps_the_main_decision():
    need, practices = _icb()
    # Under the alternative, E's need-weighted list is a fifth of the main one's, so its
    # funding per need-weighted patient (£100) is ordinary there; the main decision stands.
    alternative = need.assign(need_weighted_list=[1000.0, 2000.0, 1500.0, 500.0, 160.0, 400.0])
    params = _params()
    result = allocation_sensitivity(
        {"main": need, "other": alternative},
        practices,
        params,
        kinds={"other": AlternativeKind("another need", True)},
    )
    for name in ("main", "other"):
        statuses = _by_code(result.results[name].table, "status")
        assert statuses["E"] == "excluded" and statuses["F"] == "excluded"
    # Left to decide on its own, the alternative would have counted E.
    alone = compare_funding(alternative, practices, params)
    assert _by_code(alone, "status")["E"] == "ordinary"
