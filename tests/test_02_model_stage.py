"""Stage 02's helpers: which fits are compared, the sensitivity table and the notes."""

from __future__ import annotations

import pandas as pd
import pytest

from pcfm.model.alternatives import SPECIFIED
from pcfm.model.stage import notes_markdown, sensitivity_display, supply_pair

pytestmark = pytest.mark.unit


def test_supply_pair_orders_without_then_with_practice_effects():
    assert supply_pair([SPECIFIED, "supply sterilisation: practice_effects"]) == (
        SPECIFIED,
        "supply sterilisation: practice_effects",
    )
    assert supply_pair([SPECIFIED, "supply sterilisation: none"]) == (
        "supply sterilisation: none",
        SPECIFIED,
    )
    assert supply_pair([SPECIFIED, "family: negative_binomial"]) is None


def test_sensitivity_display_drops_age_terms_and_keeps_specification_order():
    comparison = pd.DataFrame(
        {
            "specification": [SPECIFIED, SPECIFIED, SPECIFIED, "b", "b"],
            "term": ["age_sex=M:85+", "imd_quintile=1", "sex=M", "imd_quintile=1", "ltc_band=1"],
            "rate_ratio": [2.0, 1.2, 0.8, 1.4, 1.5],
            "ci_low": 1.0,
            "ci_high": 3.0,
        }
    )
    table = sensitivity_display(comparison, [SPECIFIED, "b"])
    assert list(table.columns) == ["term", SPECIFIED, "b"]
    assert list(table["term"]) == ["imd_quintile=1", "ltc_band=1"]
    assert table.set_index("term").loc["imd_quintile=1", "b"] == "1.400"
    assert table.set_index("term").loc["ltc_band=1", SPECIFIED] == "–"


def test_notes_markdown():
    assert "ran as specified" in notes_markdown([]).data
    assert notes_markdown(["one", "two"]).data == "- one\n- two"
