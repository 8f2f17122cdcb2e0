"""Need weights, need-weighted lists and need indices (pcfm.need.weights)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pcfm.need.weights import (
    NeedInputError,
    cell_need_weights,
    need_weight_tables,
    practice_need,
    weight_table,
)

pytestmark = pytest.mark.unit


def _practices(codes, registered):
    return pd.DataFrame({"practice_code": codes, "registered_list": registered})


def test_worked_example_by_hand():
    # ICB mean rate = (100*2 + 100*4 + 50*2 + 150*4 + 200*3 + 100*6) / 700 = 2500/700.
    # Practice mean rates: A 3, B 3.5, C 3, D 6 -> raw indices 0.84, 0.98, 0.84, 1.68.
    # Raw weighted lists 168 + 196 + 168 + 168 = 700 = registered total, so no rescaling.
    cells = pd.DataFrame(
        {"practice_code": list("AABBCD"), "exposure": [100, 100, 50, 150, 200, 100]}
    )
    rate = np.array([2, 4, 2, 4, 3, 6.0])
    need = practice_need(cells, rate, _practices(list("ABCD"), [200, 200, 200, 100]))
    assert need.columns.tolist() == [
        "practice_code",
        "registered_list",
        "need_weighted_list",
        "need_index",
    ]
    np.testing.assert_allclose(need["need_index"], [0.84, 0.98, 0.84, 1.68])
    np.testing.assert_allclose(need["need_weighted_list"], [168, 196, 168, 168])


def test_rescaling_when_registered_lists_differ_from_exposure():
    # Raw indices: A 2/1.5 = 4/3, B 1/1.5 = 2/3. Registered 100 and 300 -> raw weighted
    # 133.33 + 200 = 333.33, rescaled by 400/333.33 = 1.2 -> 160 and 240.
    cells = pd.DataFrame({"practice_code": ["A", "B"], "exposure": [1.0, 1.0]})
    need = practice_need(cells, np.array([2.0, 1.0]), _practices(["A", "B"], [100, 300]))
    np.testing.assert_allclose(need["need_weighted_list"], [160, 240])
    np.testing.assert_allclose(need["need_index"], [1.6, 0.8])
    assert need["need_weighted_list"].sum() == pytest.approx(400)


def test_cell_weights_have_exposure_weighted_mean_one():
    cells = pd.DataFrame({"exposure": [1.0, 3.0, 0.0]})
    weights = cell_need_weights(cells, np.array([1.0, 2.0, 9.0]))
    assert np.average(weights, weights=cells["exposure"]) == pytest.approx(1.0)
    np.testing.assert_allclose(weights, np.array([1.0, 2.0, 9.0]) / 1.75)


def test_equal_rates_give_index_one():
    cells = pd.DataFrame({"practice_code": list("ABC"), "exposure": [5.0, 7.0, 9.0]})
    need = practice_need(cells, np.full(3, 4.2), _practices(list("ABC"), [10, 20, 30]))
    np.testing.assert_allclose(need["need_index"], 1.0)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["A", "B", "C", "D"]),
            st.floats(0.1, 50),
            st.floats(0.05, 20),
        ),
        min_size=4,
        max_size=30,
    ),
    st.lists(st.integers(1, 20_000), min_size=4, max_size=4),
    st.floats(0.1, 100),
)
def test_invariants(rows, registered, rate_scale):
    cells = pd.DataFrame(rows, columns=["practice_code", "exposure", "rate"])
    codes = sorted(cells["practice_code"].unique())
    practices = _practices(codes, registered[: len(codes)])
    need = practice_need(cells, cells["rate"].to_numpy(), practices)
    # The ICB total need-weighted list equals the registered total.
    assert need["need_weighted_list"].sum() == pytest.approx(practices["registered_list"].sum())
    np.testing.assert_allclose(
        need["need_index"], need["need_weighted_list"] / need["registered_list"]
    )
    # Scaling every rate by a constant changes nothing (only relative need matters).
    scaled = practice_need(cells, cells["rate"].to_numpy() * rate_scale, practices)
    np.testing.assert_allclose(scaled["need_index"], need["need_index"], rtol=1e-9)
    # Row order of cells and practices does not matter.
    order = np.random.default_rng(0).permutation(len(cells))
    shuffled = practice_need(
        cells.iloc[order], cells["rate"].to_numpy()[order], practices.iloc[::-1]
    )
    pd.testing.assert_frame_equal(shuffled, need, check_exact=False, rtol=1e-9)


def test_practice_with_higher_rates_everywhere_has_higher_index():
    cells = pd.DataFrame({"practice_code": list("AABB"), "exposure": [1.0, 2.0, 1.0, 2.0]})
    need = practice_need(cells, np.array([1.0, 2.0, 1.5, 2.5]), _practices(["A", "B"], [9, 9]))
    assert need.loc[1, "need_index"] > need.loc[0, "need_index"]


@pytest.mark.parametrize(
    ("cells", "rate", "practices", "message"),
    [
        (
            pd.DataFrame({"practice_code": ["A"], "exposure": [1.0]}),
            np.array([1.0, 2.0]),
            _practices(["A"], [5]),
            "predicted_rate has 2 values but cells has 1 rows",
        ),
        (
            pd.DataFrame({"practice_code": ["A", "A"], "exposure": [1.0, 1.0]}),
            np.array([1.0, np.nan]),
            _practices(["A"], [5]),
            "predicted_rate must be finite and positive; 1 row",
        ),
        (
            pd.DataFrame({"practice_code": ["A"], "exposure": [-1.0]}),
            np.array([1.0]),
            _practices(["A"], [5]),
            "column exposure must be finite and non-negative",
        ),
        (
            pd.DataFrame({"practice_code": ["A", "Z"], "exposure": [1.0, 1.0]}),
            np.array([1.0, 1.0]),
            _practices(["A"], [5]),
            "1 code(s) not in the practices table ('Z')",
        ),
        (
            pd.DataFrame({"practice_code": ["A"], "exposure": [1.0]}),
            np.array([1.0]),
            _practices(["A", "B"], [5, 6]),
            "1 practice(s) have no cells, so no need index ('B')",
        ),
        (
            pd.DataFrame({"practice_code": ["A"], "exposure": [1.0]}),
            np.array([1.0]),
            _practices(["A", "A"], [5, 6]),
            "duplicated",
        ),
        (
            pd.DataFrame({"practice_code": ["A"]}),
            np.array([1.0]),
            _practices(["A"], [5]),
            "missing column(s) exposure",
        ),
        (
            pd.DataFrame({"practice_code": ["A"], "exposure": [1.0]}),
            np.array([1.0]),
            _practices(["A"], [0]),
            "registered_list must be finite and positive",
        ),
    ],
)
def test_bad_input_is_named(cells, rate, practices, message):
    with pytest.raises(NeedInputError) as error:
        practice_need(cells, rate, practices)
    assert message in str(error.value)
    assert isinstance(error.value, ValueError)


def test_weight_table_by_hand():
    cells = pd.DataFrame(
        {
            "age_sex": ["F:0-4", "F:0-4", "M:85+"],
            "exposure": [1.0, 3.0, 1.0],
            "patients": [1, 3, 1],
        }
    )
    # Mean rate = (1*1 + 3*2 + 1*7) / 5 = 2.8; F:0-4 mean rate (1 + 6) / 4 = 1.75.
    table = weight_table(cells, np.array([1.0, 2.0, 7.0]), "age_sex")
    assert table["age_sex"].tolist() == ["F:0-4", "M:85+"]
    np.testing.assert_allclose(table["need_weight"], [1.75 / 2.8, 7.0 / 2.8])
    assert table["patients"].tolist() == [4, 1]


def test_need_weight_tables_by_factor():
    cells = pd.DataFrame(
        {
            "age_sex": ["F:5-9", "F:10-14", "M:85+", "F:0-4"],
            "imd_quintile": [1, 1, 5, 5],
            "ltc_band": ["0", "1", "4+", "0"],
            "exposure": [1.0, 1.0, 1.0, 1.0],
            "patients": [10, 10, 10, 10],
        }
    )
    rate = np.array([1.0, 2.0, 3.0, 2.0])  # mean 2
    tables = need_weight_tables(cells, rate)
    assert list(tables) == ["age_sex", "deprivation", "morbidity"]
    assert tables["age_sex"]["age_sex"].tolist() == ["F:0-4", "F:5-9", "F:10-14", "M:85+"]
    np.testing.assert_allclose(tables["age_sex"]["need_weight"], [1.0, 0.5, 1.0, 1.5])
    np.testing.assert_allclose(tables["deprivation"]["need_weight"], [0.75, 1.25])
    assert tables["morbidity"].columns.tolist() == ["ltc_band", "need_weight", "patients"]
    decile = need_weight_tables(
        cells.assign(imd_decile=[1, 2, 9, 10]), rate, {"deprivation": "imd_decile"}
    )
    assert decile["deprivation"]["imd_decile"].tolist() == [1, 2, 9, 10]
