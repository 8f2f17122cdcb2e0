"""Allocation policies: worked examples by hand, edge cases and properties (pcfm.allocation)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pcfm.allocation.funding import FundingInputError, compare_funding
from pcfm.allocation.policies import (
    AllocationInputError,
    allocate,
    fill_to_budget,
    read_previous_allocations,
)
from pcfm.params.allocation import AllocationParams

pytestmark = pytest.mark.unit


def _tables(codes, registered, need_weighted, funding, imd=None):
    """A need table and a practices table built by hand."""
    need = pd.DataFrame(
        {
            "practice_code": codes,
            "registered_list": registered,
            "need_weighted_list": np.asarray(need_weighted, dtype=float),
        }
    )
    need["need_index"] = need["need_weighted_list"] / need["registered_list"]
    practices = pd.DataFrame(
        {
            "practice_code": codes,
            "practice_name": [f"Practice {c}" for c in codes],
            "pcn_code": ["P1"] * len(codes),
            "pcn_name": ["PCN 1"] * len(codes),
            "place": ["City"] * len(codes),
            "registered_list": registered,
            "current_funding_gbp": np.asarray(funding, dtype=float),
        }
    )
    if imd is not None:
        practices["imd_score"] = imd
    return need, practices


#: The worked examples and properties here are of the policies' arithmetic on every practice,
#: so no practice is left out or capped: D of EXAMPLE (0.42 of the median) and the random ICBs'
#: unfunded practices would be excluded by default. tests/test_04_exclusions.py tests the rules.
KEEP = {"rule": "keep"}


def _run(need, practices, previous=None, **params):
    params.setdefault("outliers", KEEP)
    allocation_params = AllocationParams(**params)
    comparison = compare_funding(need, practices, allocation_params)
    return allocate(comparison, allocation_params, previous)


# The four-practice ICB used in the worked examples (methodology chapter 4 uses it too):
# need-weighted lists 168, 196, 168, 168 (total 700 = registered total), funding
# £30,000, £20,000, £35,000, £10,000 (total £95,000) -> ICB average £95,000/700 =
# £135.714 per need-weighted patient; funding ratios A 1.316, B 0.752, C 1.535, D 0.439;
# gaps to the average: B 135.714*196 - 20,000 = £6,600, D 135.714*168 - 10,000 = £12,800.
EXAMPLE = _tables(
    list("ABCD"),
    [200, 200, 200, 100],
    [168, 196, 168, 168],
    [30_000, 20_000, 35_000, 10_000],
    imd=[10.0, 20.0, 30.0, 40.0],
)


def _allocations(result):
    return dict(zip(result.table["practice_code"], result.table["allocation_gbp"], strict=True))


def test_comparison_by_hand():
    need, practices = EXAMPLE
    comparison = compare_funding(
        need, practices, AllocationParams(policy="top_up_to_average", outliers=KEEP)
    )
    np.testing.assert_allclose(
        comparison["funding_ratio"],
        np.array([30_000 / 168, 20_000 / 196, 35_000 / 168, 10_000 / 168]) / (95_000 / 700),
    )
    assert comparison["category"].tolist() == [3, 2, 4, 1]
    np.testing.assert_allclose(comparison["gap_gbp"], [0, 6_600, 0, 12_800])
    assert comparison["eligible"].tolist() == [False, True, False, True]


def test_needs_weighted_capitation_by_hand():
    result = _run(*EXAMPLE, policy="needs_weighted_capitation", budget_gbp=10_000)
    # £10,000 x 168/700 = £2,400; x 196/700 = £2,800.
    assert _allocations(result) == {"A": 2400.0, "B": 2800.0, "C": 2400.0, "D": 2400.0}
    assert result.summary["allocated_gbp"] == 10_000.0
    assert result.summary["unallocated_gbp"] == 0.0
    assert result.summary["n_funded"] == 4


def test_top_up_by_hand():
    result = _run(*EXAMPLE, policy="top_up_to_average", budget_gbp=10_000)
    # Gaps £6,600 and £12,800 share £10,000: 6,600 x 10,000/19,400 = £3,402.0618... -> £3,402.06
    # and 12,800 x 10,000/19,400 = £6,597.938... -> £6,597.94; together exactly £10,000.00.
    assert _allocations(result) == {"A": 0.0, "B": 3402.06, "C": 0.0, "D": 6597.94}
    assert result.table["allocation_pence"].sum() == 1_000_000
    assert result.summary == result.summary | {
        "policy": "top_up_to_average",
        "budget_gbp": 10_000.0,
        "allocated_gbp": 10_000.0,
        "unallocated_gbp": 0.0,
        "n_practices": 4,
        "n_funded": 2,
    }


def test_top_up_budget_larger_than_all_gaps_reports_the_rest():
    result = _run(*EXAMPLE, policy="top_up_to_average", budget_gbp=25_000)
    assert _allocations(result) == {"A": 0.0, "B": 6600.0, "C": 0.0, "D": 12800.0}
    assert result.summary["allocated_gbp"] == 19_400.0
    assert result.summary["unallocated_gbp"] == 5_600.0


def test_top_up_with_cap_by_hand():
    # Cap £5,000: D's share 12,800 t reaches the cap at t = 0.39; then B takes the rest,
    # £9,000 - £5,000 = £4,000, which is below its gap of £6,600.
    result = _run(*EXAMPLE, policy="top_up_to_average", budget_gbp=9_000, top_up_cap_gbp=5_000)
    assert _allocations(result) == {"A": 0.0, "B": 4000.0, "C": 0.0, "D": 5000.0}
    # With a budget above the capped gaps (£5,000 + £5,000), £2,000 is left unallocated.
    result = _run(*EXAMPLE, policy="top_up_to_average", budget_gbp=12_000, top_up_cap_gbp=5_000)
    assert result.summary["unallocated_gbp"] == 2_000.0


def test_level_up_to_average_by_hand():
    result = _run(*EXAMPLE, policy="level_up_cost")
    assert _allocations(result) == {"A": 0.0, "B": 6600.0, "C": 0.0, "D": 12800.0}
    assert result.summary["level_up_cost_gbp"] == 19_400.0
    assert result.summary["budget_gbp"] is None


def test_level_up_to_second_best_group_by_hand():
    # Four categories of one practice each: D 1, B 2, A 3, C 4. The second-best-funded is
    # category 3 (A): £30,000/168 = £178.571 per need-weighted patient. Gaps: B 178.571 x 196
    # - 20,000 = £15,000, D 178.571 x 168 - 10,000 = £20,000; A is at the target, C above.
    result = _run(*EXAMPLE, policy="level_up_cost", level_up_target="kth_best_group", level_up_k=2)
    assert _allocations(result) == {"A": 0.0, "B": 15000.0, "C": 0.0, "D": 20000.0}
    assert result.summary["level_up_cost_gbp"] == 35_000.0


def test_deprivation_share_by_hand():
    # 10% of £10,000 = £1,000 by registered x IMD among the eligible (B 200 x 20 = 4,000,
    # D 100 x 40 = 4,000): £500 each. The other £9,000 by gap: B 9,000 x 6,600/19,400 =
    # £3,061.86, D £5,938.14.
    result = _run(
        *EXAMPLE,
        policy="top_up_to_average",
        budget_gbp=10_000,
        deprivation_share={"fraction": 0.1},
    )
    assert _allocations(result) == {"A": 0.0, "B": 3561.86, "C": 0.0, "D": 6438.14}
    assert result.table["deprivation_part_gbp"].tolist() == [0.0, 500.0, 0.0, 500.0]
    assert result.summary["deprivation_share_gbp"] == 1_000.0
    # Shared among all practices: registered x IMD = 2,000, 4,000, 6,000, 4,000 of 16,000.
    result = _run(
        *EXAMPLE,
        policy="needs_weighted_capitation",
        budget_gbp=10_000,
        deprivation_share={"fraction": 0.16, "recipients": "all"},
    )
    assert result.table["deprivation_part_gbp"].tolist() == [200.0, 400.0, 600.0, 400.0]
    assert result.table["allocation_pence"].sum() == 1_000_000


def test_deprivation_share_needs_imd_score():
    need, practices = EXAMPLE
    with pytest.raises(AllocationInputError, match=r"imd_score is missing for 4 practice"):
        _run(
            need,
            practices.drop(columns="imd_score"),
            policy="needs_weighted_capitation",
            deprivation_share={"fraction": 0.1},
        )


def test_transition_by_hand(tmp_path):
    # Last year A and B got £3,000 each; at most 10% change -> both within £2,700-£3,300.
    # Needs-weighted capitation would give A £2,400 and B £2,800: A is lifted to its floor
    # £2,700; B's share 196 t then falls below £2,700 too, so B is held at £2,700; C and D
    # (not in last year's file, so unconstrained) share the remaining £4,600 by need: £2,300.
    path = tmp_path / "previous.csv"
    path.write_text("practice_code,allocation_gbp\nA,3000\nB,3000\n", encoding="utf-8")
    previous = read_previous_allocations(path)
    result = _run(
        *EXAMPLE,
        previous=previous,
        policy="needs_weighted_capitation",
        budget_gbp=10_000,
        transition={"previous_allocations_path": "previous.csv", "max_change_fraction": 0.1},
    )
    assert _allocations(result) == {"A": 2700.0, "B": 2700.0, "C": 2300.0, "D": 2300.0}
    np.testing.assert_allclose(
        result.table["allocation_before_transition_gbp"], [2400, 2800, 2400, 2400]
    )


def test_transition_floor_beyond_budget_is_an_error():
    previous = pd.DataFrame({"practice_code": ["A", "B"], "allocation_gbp": [9_000, 9_000]})
    with pytest.raises(AllocationInputError, match="floors add up to"):
        _run(*EXAMPLE, previous=previous, policy="needs_weighted_capitation", budget_gbp=10_000)


def test_transition_path_without_table_is_an_error():
    with pytest.raises(AllocationInputError, match="read_previous_allocations"):
        _run(*EXAMPLE, transition={"previous_allocations_path": "x.csv"})


def test_bad_previous_allocations_file(tmp_path):
    path = tmp_path / "previous.csv"
    path.write_text("practice_code,allocation_gbp\nA,-5\nB,lots\n", encoding="utf-8")
    with pytest.raises(AllocationInputError) as error:
        read_previous_allocations(path)
    message = str(error.value)
    assert str(path) in message and "allocation_gbp" in message and "2 row(s)" in message


def test_rounding_to_pounds():
    need, practices = _tables(list("ABC"), [10, 10, 10], [10, 10, 10], [5, 5, 5])
    result = _run(
        need, practices, policy="needs_weighted_capitation", budget_gbp=100, rounding="pounds"
    )
    # £100 in three: £33.33 each, the spare pound to the first code of the exact tie.
    assert result.table["allocation_gbp"].tolist() == [34.0, 33.0, 33.0]
    assert result.table["allocation_pence"].sum() == 10_000


def test_ties_at_the_eligibility_boundary_are_all_in():
    # Ratios: A and B tied most under-funded... C and D tied at the boundary of the half.
    need, practices = _tables(list("ABCDEF"), [100] * 6, [100] * 6, [50, 50, 80, 80, 150, 190])
    result = _run(need, practices, policy="top_up_to_average", budget_gbp=1_000)
    # The half is 3 practices; C and D share the third rank, so both are in.
    assert result.table["eligible"].tolist() == [True, True, True, True, False, False]
    # Equal gaps get equal shares.
    allocations = result.table["allocation_gbp"].tolist()
    assert allocations[0] == allocations[1] and allocations[2] == allocations[3]


def test_practice_with_zero_funding():
    need, practices = _tables(list("ABC"), [100, 100, 100], [100, 100, 100], [0, 10_000, 20_000])
    result = _run(need, practices, policy="top_up_to_average", budget_gbp=20_000)
    # Average £100 per need-weighted patient: A's gap is £10,000, the whole of it is paid.
    assert _allocations(result)["A"] == 10_000.0
    assert result.summary["unallocated_gbp"] == 10_000.0


def test_single_practice():
    need, practices = _tables(["A"], [1000], [1000], [50_000])
    top_up = _run(need, practices, policy="top_up_to_average", budget_gbp=1_000)
    assert top_up.summary["allocated_gbp"] == 0.0 and top_up.summary["unallocated_gbp"] == 1_000
    capitation = _run(need, practices, policy="needs_weighted_capitation", budget_gbp=1_000.01)
    assert capitation.table["allocation_pence"].tolist() == [100_001]


def test_all_practices_equally_funded():
    need, practices = _tables(list("ABC"), [100, 200, 300], [150, 200, 250], [150, 200, 250])
    top_up = _run(need, practices, policy="top_up_to_average", budget_gbp=500)
    assert top_up.table["allocation_gbp"].tolist() == [0.0, 0.0, 0.0]
    assert top_up.summary["unallocated_gbp"] == 500.0
    assert top_up.summary["n_eligible"] == 0
    assert _run(need, practices, policy="level_up_cost").summary["level_up_cost_gbp"] == 0.0


def test_zero_budget():
    result = _run(*EXAMPLE, policy="needs_weighted_capitation", budget_gbp=0)
    assert result.table["allocation_pence"].tolist() == [0, 0, 0, 0]


def test_mismatched_practices_are_named():
    need, practices = EXAMPLE
    with pytest.raises(FundingInputError, match=r"1 only in practices \('D'\)"):
        compare_funding(need.iloc[:3], practices, AllocationParams())


def test_negative_funding_is_named():
    need, practices = EXAMPLE
    practices = practices.assign(current_funding_gbp=[1.0, -2.0, 3.0, np.nan])
    with pytest.raises(FundingInputError) as error:
        compare_funding(need, practices, AllocationParams())
    assert "current_funding_gbp" in str(error.value) and "2 row(s)" in str(error.value)
    assert "'B'" in str(error.value)


def test_fill_to_budget_unbounded_and_bounded():
    shares = fill_to_budget(np.array([1.0, 1.0]), np.array([0.0, 0.0]), np.full(2, np.inf), 10)
    np.testing.assert_allclose(shares, [5, 5])
    shares = fill_to_budget(np.array([1.0, 3.0]), np.zeros(2), np.array([np.inf, 3.0]), 10)
    np.testing.assert_allclose(shares, [7, 3])


# ---------------------------------------------------------------- properties (hypothesis)


@st.composite
def icbs(draw):
    n = draw(st.integers(1, 12))
    registered = draw(st.lists(st.integers(50, 30_000), min_size=n, max_size=n))
    index = draw(st.lists(st.floats(0.4, 2.5), min_size=n, max_size=n))
    per_head = draw(st.lists(st.one_of(st.just(0.0), st.floats(50, 250)), min_size=n, max_size=n))
    need_weighted = np.array(registered) * np.array(index)
    need_weighted *= sum(registered) / need_weighted.sum()
    funding = np.round(np.array(per_head) * np.array(registered), 2)
    codes = [f"P{i:03d}" for i in draw(st.permutations(range(n)))]
    return _tables(codes, registered, need_weighted, funding)


budgets = st.integers(0, 500_000_000).map(lambda pence: pence / 100)


def _check_common(result, budget_gbp):
    table = result.table
    pence = table["allocation_pence"].to_numpy()
    assert (pence >= 0).all()
    assert pence.sum() == round(result.summary["allocated_gbp"] * 100)
    assert round(budget_gbp * 100) == pence.sum() + round(result.summary["unallocated_gbp"] * 100)
    return table, pence


@settings(max_examples=80, deadline=None)
@given(icbs(), budgets, st.one_of(st.none(), st.integers(1, 2_000_000).map(float)))
def test_top_up_properties(icb, budget_gbp, cap_gbp):
    need, practices = icb
    result = _run(
        need,
        practices,
        policy="top_up_to_average",
        budget_gbp=budget_gbp,
        top_up_cap_gbp=cap_gbp,
    )
    table, pence = _check_common(result, budget_gbp)
    gap_pence = np.floor(np.round(table["gap_gbp"].to_numpy() * 100, 6))
    assert (pence <= gap_pence).all()
    if cap_gbp is not None:
        assert (pence <= cap_gbp * 100).all()
    assert (pence[~table["eligible"].to_numpy()] == 0).all()
    # Sum exactly to the budget unless every gap (capped) is closed.
    upper = np.where(table["eligible"], gap_pence, 0)
    if cap_gbp is not None:
        upper = np.minimum(upper, cap_gbp * 100)
    assert pence.sum() == min(round(budget_gbp * 100), upper.sum())
    if cap_gbp is None:
        # A more under-funded practice never gets less per pound of gap (to a penny).
        funded = table[table["eligible"]].sort_values("funding_ratio")
        per_gap = funded["allocation_pence"] / (funded["gap_gbp"] * 100)
        slack = 1 / (funded["gap_gbp"] * 100)
        ratios = funded["funding_ratio"].to_numpy()
        for i in range(len(funded) - 1):
            if ratios[i] < ratios[i + 1]:
                assert per_gap.iloc[i] >= per_gap.iloc[i + 1] - slack.iloc[i] - slack.iloc[i + 1]


@settings(max_examples=60, deadline=None)
@given(icbs(), budgets)
def test_capitation_properties(icb, budget_gbp):
    need, practices = icb
    result = _run(need, practices, policy="needs_weighted_capitation", budget_gbp=budget_gbp)
    table, pence = _check_common(result, budget_gbp)
    assert pence.sum() == round(budget_gbp * 100)
    exact = budget_gbp * 100 * table["need_weighted_list"] / table["need_weighted_list"].sum()
    assert (np.abs(pence - exact) < 1 + 1e-6).all()


@settings(max_examples=30, deadline=None)
@given(
    icbs(),
    budgets,
    st.sampled_from(["top_up_to_average", "needs_weighted_capitation", "level_up_cost"]),
    st.randoms(use_true_random=False),
)
def test_row_order_and_codes_do_not_matter(icb, budget_gbp, policy, random):
    need, practices = icb
    assume(len(need) >= 2)
    base = _run(need, practices, policy=policy, budget_gbp=budget_gbp)
    by_code = base.table.set_index("practice_code")["allocation_pence"]

    order = list(range(len(need)))
    random.shuffle(order)
    shuffled = _run(
        need.iloc[order], practices.iloc[order[::-1]], policy=policy, budget_gbp=budget_gbp
    )
    pd.testing.assert_series_equal(
        shuffled.table.set_index("practice_code")["allocation_pence"], by_code
    )

    codes = need["practice_code"].tolist()
    new_codes = [f"X{i:03d}" for i in range(len(codes))]
    random.shuffle(new_codes)
    relabel = dict(zip(codes, new_codes, strict=True))
    renamed = _run(
        need.assign(practice_code=need["practice_code"].map(relabel)),
        practices.assign(practice_code=practices["practice_code"].map(relabel)),
        policy=policy,
        budget_gbp=budget_gbp,
    )
    renamed_pence = renamed.table.set_index("practice_code")["allocation_pence"]
    back = renamed_pence.rename(index={v: k for k, v in relabel.items()}).sort_index()
    # Only an exact tie of remainders is broken by code: at most one penny apart.
    assert (np.abs(back.to_numpy() - by_code.sort_index().to_numpy()) <= 1).all()
    assert back.sum() == by_code.sum()


def test_transition_tapers_a_practice_that_left_the_funded_group():
    # A is not eligible for the top-up (it is over-funded) but got £2,000 last year: with at
    # most 25% change it keeps £1,500, and B and D share the other £8,500 by gap.
    previous = pd.DataFrame({"practice_code": ["A"], "allocation_gbp": [2_000]})
    result = _run(
        *EXAMPLE,
        previous=previous,
        policy="top_up_to_average",
        budget_gbp=10_000,
        transition={"previous_allocations_path": "p.csv", "max_change_fraction": 0.25},
    )
    allocations = _allocations(result)
    assert allocations["A"] == 1_500.0
    # B: 8,500 x 6,600/19,400 = £2,891.75; D: £5,608.25.
    assert allocations["B"] == 2_891.75 and allocations["D"] == 5_608.25
    assert result.table["allocation_before_transition_gbp"].iloc[0] == 0.0


def test_transition_absolute_allowance():
    # Last year £100; 10% would allow only £90-£110, but max_change_gbp = £500 allows £0-£600.
    previous = pd.DataFrame({"practice_code": ["A"], "allocation_gbp": [100]})
    result = _run(
        *EXAMPLE,
        previous=previous,
        policy="needs_weighted_capitation",
        budget_gbp=10_000,
        transition={"previous_allocations_path": "p.csv", "max_change_gbp": 500},
    )
    assert _allocations(result)["A"] == 600.0


@settings(max_examples=40, deadline=None)
@given(
    icbs(),
    budgets,
    st.sampled_from(["top_up_to_average", "needs_weighted_capitation"]),
    st.floats(0, 0.3),
    st.floats(0, 1),
    st.lists(st.integers(0, 50_000_000).map(lambda p: p / 100), min_size=12, max_size=12),
)
def test_properties_with_deprivation_share_and_transition(
    icb, budget_gbp, policy, fraction, max_change, previous_gbp
):
    need, practices = icb
    practices = practices.assign(imd_score=np.linspace(5, 60, len(practices)))
    previous = pd.DataFrame(
        {"practice_code": need["practice_code"], "allocation_gbp": previous_gbp[: len(need)]}
    ).iloc[::2]
    params = dict(
        policy=policy,
        budget_gbp=budget_gbp,
        deprivation_share={"fraction": fraction, "recipients": "all"},
        transition={"previous_allocations_path": "p.csv", "max_change_fraction": max_change},
    )
    try:
        result = _run(need, practices, previous=previous, **params)
    except AllocationInputError as error:
        # Only when the transition floors cannot be met within the budget.
        assert "floors add up to" in str(error)
        floors = np.maximum(0, previous["allocation_gbp"] * (1 - max_change))
        assert floors.sum() > budget_gbp - 0.01 * len(floors)
        return
    table, pence = _check_common(result, budget_gbp)
    previous_pence = table["previous_allocation_gbp"].to_numpy() * 100
    deprivation_pence = np.round(table["deprivation_part_gbp"].to_numpy() * 100)
    bound = np.isfinite(previous_pence)
    allowed = max_change * previous_pence
    floor = np.ceil(np.round(np.maximum(0, previous_pence - allowed), 6))
    ceiling = np.floor(np.round(previous_pence + allowed, 6))
    # Within the allowed change of last year (the deprivation part alone may exceed a ceiling).
    assert (pence[bound] >= floor[bound]).all()
    assert (pence[bound] <= np.maximum(ceiling, deprivation_pence)[bound]).all()
    if policy == "needs_weighted_capitation" and result.summary["unallocated_gbp"] > 0:
        # Money is left only if every practice is held at its ceiling.
        assert bound.all()
        assert (pence == np.maximum(ceiling, deprivation_pence)).all()
