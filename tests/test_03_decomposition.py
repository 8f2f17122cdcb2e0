"""Decomposition of the need index into factor contributions (pcfm.need.decomposition)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pcfm.need.decomposition import (
    DECOMPOSITION_COLUMNS,
    FACTOR_REFERENCES,
    decompose_need_index,
    predictor_from_rate_ratios,
)
from pcfm.need.weights import practice_need

pytestmark = pytest.mark.unit

AGE_SEX = ["F:30-34", "M:85+", "F:0-4", "M:60-64"]


def _cells(rows):
    cells = pd.DataFrame(
        rows, columns=["practice_code", "age_sex", "imd_quintile", "ltc_band", "exposure"]
    )
    cells["care_home"] = 0
    return cells


def _practices(codes, registered=100):
    return pd.DataFrame({"practice_code": codes, "registered_list": registered})


def test_two_factor_worked_example_by_hand():
    # A: one cell M:85+ (rate ratio 3) in quintile 1 (1.5); B: one cell at both references.
    # Indices with only age-sex on: rates 3 and 1, mean 2 -> A 1.5; only deprivation: rates
    # 1.5 and 1, mean 1.25 -> A 1.2; both: 4.5 and 1, mean 2.75 -> A 1.63636.
    # Shapley for A: age-sex = ((1.5 - 1) + (1.63636 - 1.2)) / 2 = 0.46818,
    #                deprivation = ((1.2 - 1) + (1.63636 - 1.5)) / 2 = 0.16818.
    cells = _cells([("A", "M:85+", 1, "0", 1.0), ("B", "F:30-34", 5, "0", 1.0)])
    predict = predictor_from_rate_ratios({"age_sex=M:85+": 3.0, "imd_quintile=1": 1.5})
    table = decompose_need_index(cells, predict, _practices(["A", "B"]))
    a = table.iloc[0]
    assert a["need_index"] == pytest.approx(4.5 / 2.75)
    assert a["contribution_age_sex"] == pytest.approx((0.5 + (4.5 / 2.75 - 1.2)) / 2)
    assert a["contribution_deprivation"] == pytest.approx((0.2 + (4.5 / 2.75 - 1.5)) / 2)
    assert a["contribution_morbidity"] == pytest.approx(0.0)
    assert a["contribution_other"] == pytest.approx(0.0)


def test_one_factor_takes_the_whole_difference():
    cells = _cells(
        [("A", "M:85+", 5, "0", 2.0), ("A", "F:30-34", 5, "0", 1.0), ("B", "F:0-4", 5, "0", 3.0)]
    )
    predict = predictor_from_rate_ratios({"age_sex=M:85+": 2.5, "age_sex=F:0-4": 1.4})
    table = decompose_need_index(cells, predict, _practices(["A", "B"], [100, 300]))
    np.testing.assert_allclose(table["contribution_age_sex"], table["need_index"] - 1)
    np.testing.assert_allclose(
        table[["contribution_deprivation", "contribution_morbidity"]], 0.0, atol=1e-12
    )


def test_matches_practice_need_and_order_of_factors_does_not_matter():
    rng = np.random.default_rng(1)
    rows = [
        (p, rng.choice(AGE_SEX), int(rng.integers(1, 6)), str(rng.integers(0, 3)), rng.random())
        for p in "ABCDE"
        for _ in range(6)
    ]
    cells = _cells(rows)
    ratios = {"age_sex=M:85+": 3.1, "imd_quintile=1": 1.3, "imd_quintile=2": 1.2, "ltc_band=2": 2}
    predict = predictor_from_rate_ratios(ratios, baseline_rate=4.0)
    practices = _practices(list("ABCDE"), [100, 200, 300, 400, 500])
    table = decompose_need_index(cells, predict, practices)
    need = practice_need(cells, predict(cells), practices)
    np.testing.assert_allclose(table["need_index"], need["need_index"])
    np.testing.assert_allclose(1 + table[DECOMPOSITION_COLUMNS].sum(axis=1), table["need_index"])
    reversed_references = dict(reversed(list(FACTOR_REFERENCES.items())))
    again = decompose_need_index(cells, predict, practices, reversed_references)
    pd.testing.assert_frame_equal(again[table.columns], table)


@settings(max_examples=8, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["A", "B", "C"]),
            st.sampled_from(AGE_SEX),
            st.integers(1, 5),
            st.sampled_from(["0", "1", "4+"]),
            st.floats(0.01, 10),
        ),
        min_size=3,
        max_size=20,
    ),
    st.floats(0.2, 5),
    st.floats(0.2, 5),
    st.floats(0.2, 5),
)
def test_contributions_add_up_to_the_index(rows, age_ratio, imd_ratio, ltc_ratio):
    cells = _cells(rows)
    practices = _practices(sorted(cells["practice_code"].unique()))
    predict = predictor_from_rate_ratios(
        {"age_sex=M:85+": age_ratio, "imd_quintile=1": imd_ratio, "ltc_band=4+": ltc_ratio}
    )
    table = decompose_need_index(cells, predict, practices)
    np.testing.assert_allclose(
        1 + table[DECOMPOSITION_COLUMNS].sum(axis=1), table["need_index"], rtol=1e-10
    )
    # A factor whose rate ratio is 1 contributes nothing.
    flat = decompose_need_index(
        cells, predictor_from_rate_ratios({"age_sex=M:85+": age_ratio}), practices
    )
    np.testing.assert_allclose(flat["contribution_deprivation"], 0.0, atol=1e-12)
