"""The funding comparison and the top-up on the real LLR practices and payments (public data).

With the Carr-Hill weighted list as the measure of need, funding per need-weighted patient
should be almost the same everywhere — the global sum *is* paid per Carr-Hill weighted
patient — which checks the comparison's arithmetic against a known property of real data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pcfm.allocation.funding import compare_funding
from pcfm.allocation.policies import allocate
from pcfm.inputs.from_public import assemble_public_icb, default_rules
from pcfm.params.allocation import AllocationParams
from pcfm.params.public import FundingRuleParams

pytestmark = [pytest.mark.integration, pytest.mark.public_data]


#: The global sum and its MPIG and PMS counterparts: the money paid per Carr-Hill patient.
GLOBAL_SUM_LINES = ["Global Sum", "MPIG Correction factor", "Balance of PMS Expenditure"]


@pytest.fixture(scope="module")
def llr_practices(public_data_dir) -> pd.DataFrame:
    """LLR's practices with the default funding rule (every line less pass-through)."""
    return assemble_public_icb(public_data_dir, "QK1").practices


@pytest.fixture(scope="module")
def llr_global_sum(public_data_dir) -> pd.DataFrame:
    """LLR's practices with only the global-sum lines counted as funding."""
    rules = default_rules(public_data_dir, "QK1").model_copy(
        update={"funding": FundingRuleParams(lines=GLOBAL_SUM_LINES)}
    )
    return assemble_public_icb(public_data_dir, "QK1", rules).practices


def _carr_hill_need(practices: pd.DataFrame) -> pd.DataFrame:
    weighted = practices["carr_hill_weighted_list"].to_numpy(dtype=float)
    registered = practices["registered_list"].to_numpy(dtype=float)
    need = pd.DataFrame(
        {
            "practice_code": practices["practice_code"],
            "registered_list": practices["registered_list"],
            "need_weighted_list": weighted * registered.sum() / weighted.sum(),
        }
    )
    need["need_index"] = need["need_weighted_list"] / need["registered_list"]
    return need


def test_global_sum_per_carr_hill_weighted_patient_is_nearly_flat(llr_global_sum):
    params = AllocationParams(policy="top_up_to_average")
    comparison = compare_funding(_carr_hill_need(llr_global_sum), llr_global_sum, params)
    assert 120 <= len(comparison) <= 135  # LLR has 126-128 practices
    middle = comparison["funding_ratio"].quantile([0.25, 0.75])
    assert 0.95 < middle.iloc[0] <= middle.iloc[1] < 1.05
    # The Carr-Hill index is exactly the weighted list over the registered list.
    np.testing.assert_allclose(
        comparison["carr_hill_index"],
        comparison["carr_hill_weighted_list"] / comparison["registered_list"],
    )


def test_the_student_practice_is_not_under_funded_once_all_its_money_counts(
    llr_practices, llr_global_sum
):
    # De Montfort Surgery (C82020) is paid its core money as "Other Payments". Counting the
    # global sum only and keeping every practice, it looked funded at a sixth of the average
    # and took a large share of the top-up; the outlier rule's default then excludes it.
    # Counting every line less pass-through, it is an ordinary practice.
    keep = AllocationParams(
        policy="top_up_to_average", budget_gbp=2_850_000, outliers={"rule": "keep"}
    )
    default = AllocationParams(policy="top_up_to_average", budget_gbp=2_850_000)
    runs = {
        "global sum, kept": (llr_global_sum, keep),
        "global sum, default rule": (llr_global_sum, default),
        "all lines, default rule": (llr_practices, default),
    }
    tables = {}
    for name, (practices, params) in runs.items():
        comparison = compare_funding(_carr_hill_need(practices), practices, params)
        tables[name] = allocate(comparison, params).table.set_index("practice_code")

    def share(name: str) -> float:
        table = tables[name]
        return table.loc["C82020", "allocation_gbp"] / table["allocation_gbp"].sum()

    assert tables["global sum, kept"].loc["C82020", "funding_ratio"] < 0.3
    assert share("global sum, kept") > 0.15
    assert tables["global sum, default rule"].loc["C82020", "status"] == "excluded"
    assert share("global sum, default rule") == 0
    all_lines = tables["all lines, default rule"]
    assert all_lines.loc["C82020", "status"] == "ordinary"
    assert 0.8 < all_lines.loc["C82020", "funding_ratio"] < 1.25
    assert share("all lines, default rule") < 0.02
    # No practice gets more than with its full core money counted and the rule applied.
    assert (all_lines["allocation_gbp"] <= all_lines["gap_gbp"] + 0.005).all()
    # The special services are excluded by default and get nothing.
    for code in ("C82670", "Y00344"):
        assert all_lines.loc[code, "status"] == "excluded"
        assert all_lines.loc[code, "allocation_gbp"] == 0


def test_top_up_on_real_practices_adds_up_to_the_penny(llr_practices):
    params = AllocationParams(policy="top_up_to_average", budget_gbp=2_850_000)
    comparison = compare_funding(_carr_hill_need(llr_practices), llr_practices, params)
    result = allocate(comparison, params)
    table = result.table
    pence = table["allocation_pence"].to_numpy()
    assert pence.sum() + round(result.summary["unallocated_gbp"] * 100) == 285_000_000
    assert result.summary["n_eligible"] <= int(np.ceil(len(table) / 2))
    assert (pence[~table["eligible"].to_numpy()] == 0).all()
    assert (pence <= np.floor(np.round(table["gap_gbp"].to_numpy() * 100, 6))).all()
    by_place = table.groupby("place")["allocation_pence"].sum()
    assert set(by_place.index) == {"Leicester City", "Leicestershire County", "Rutland"}
