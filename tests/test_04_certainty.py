"""Robust or uncertain eligibility (pcfm.allocation.certainty) and the declared alternatives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pcfm.allocation.certainty import eligibility_certainty, mark_uncertain_eligibility
from pcfm.allocation.funding import compare_funding
from pcfm.allocation.policies import allocate
from pcfm.allocation.sensitivity import (
    ALTERNATIVE_KINDS,
    AlternativeKind,
    allocation_sensitivity,
    describe_alternative,
)
from pcfm.allocation.tables import allocation_table, uncertain_eligibility_table
from pcfm.model.alternatives import alternative_specifications
from pcfm.params.allocation import AllocationParams
from pcfm.params.model import ALL_COVARIATES, ModelParams

pytestmark = pytest.mark.unit


def test_04_robust_and_uncertain_follow_the_rule_on_a_hand_built_example():
    # Band 0.1/0.9. Two credible alternatives; a benchmark never enters the decision.
    eligible = pd.Series([True, True, True, False, False, False, True])
    p = pd.Series([0.95, 0.90, 0.89, 0.05, 0.10, 0.11, 0.99])
    credible = pd.DataFrame(
        {
            "family: negative_binomial": [True, True, True, False, False, False, False],
            "deprivation: decile": [True, True, True, False, True, False, True],
        }
    )
    decision = eligibility_certainty(eligible, p, credible, 0.1, 0.9)
    assert decision["eligibility_certainty"].tolist() == [
        "robust",  # eligible, 95% of replicates, every credible alternative agrees
        "robust",  # the end of the band counts as agreeing
        "uncertain",  # 89% of replicates
        "robust",  # not eligible, 5%
        "uncertain",  # 10% is fine, but eligible under deprivation: decile
        "uncertain",  # 11% of replicates
        "uncertain",  # 99%, but not eligible under family: negative_binomial
    ]
    assert decision["eligibility_uncertain"].tolist() == [
        False, False, True, False, True, True, True
    ]  # fmt: skip
    assert decision["eligibility_flips_under"].tolist() == [
        "", "", "", "", "deprivation: decile", "", "family: negative_binomial"
    ]  # fmt: skip
    # Without a bootstrap nothing is decided; without alternatives the band alone decides.
    undecided = eligibility_certainty(eligible, pd.Series([np.nan] * 7), credible, 0.1, 0.9)
    assert undecided["eligibility_uncertain"].isna().all()
    alone = eligibility_certainty(eligible, p, None, 0.1, 0.9)
    assert alone["eligibility_uncertain"].tolist() == [
        False,
        False,
        True,
        False,
        False,
        True,
        False,
    ]


def test_04_the_uncertain_table_says_what_would_flip_each_practice():
    table = pd.DataFrame(
        {
            "practice_code": ["A", "B", "C"],
            "eligible": [True, False, True],
            "p_eligible": [0.5, 0.0, 1.0],
        }
    )
    for column in ("practice_name", "pcn_code", "place"):
        table[column] = ""
    table[["need_index", "need_index_low", "need_index_high", "funding_ratio"]] = 1.0
    table["category"] = [1, 3, 2]
    table["allocation_gbp"] = [10.0, 0.0, 5.0]
    credible = pd.DataFrame(
        {"family: negative_binomial": [True, True, True]}, index=["A", "B", "C"]
    )
    marked = mark_uncertain_eligibility(table, AllocationParams(), credible)
    shown = uncertain_eligibility_table(marked, AllocationParams()).set_index("practice_code")
    assert shown.index.tolist() == ["A", "B"]  # C is robust; most likely funded first
    assert shown.loc["A", "uncertain_because"] == "bootstrap"
    assert shown.loc["B", "uncertain_because"] == "credible alternative"
    assert shown.loc["B", "eligibility_flips_under"] == "family: negative_binomial"


def test_04_every_alternative_is_declared_credible_or_a_benchmark():
    labels = set()
    for family in ("poisson", "negative_binomial"):
        for supply in ("none", "practice_effects"):
            for covariates in (list(ALL_COVARIATES), ["age_sex", "deprivation"]):
                params = ModelParams(
                    covariates=covariates, family=family, supply_sterilisation=supply
                )
                labels |= set(
                    alternative_specifications(
                        params,
                        {
                            "acg_band",
                            "age_sex",
                            "imd_quintile",
                            "imd_decile",
                            "ltc_band",
                            "cms_band",
                            "newly_registered",
                            "care_home",
                            "interpreter_needed",
                            "cambridge_score",
                        },
                    )
                )
    kinds = {label: describe_alternative(label) for label in labels}
    assert kinds["family: negative_binomial"].credible
    # The naive fit is biased (calibration study): a benchmark, not a credible alternative.
    assert not kinds["supply sterilisation: none"].credible
    assert describe_alternative("supply sterilisation: practice_effects").credible
    assert not kinds["age-sex only"].credible
    assert not kinds["without morbidity"].credible
    assert all(kind.assumes for kind in kinds.values())
    assert set(ALTERNATIVE_KINDS) >= {"as specified"}
    with pytest.raises(ValueError, match="not declared"):
        describe_alternative("something new")


def _need(index: list[float]) -> pd.DataFrame:
    registered = np.array([1000.0, 2000.0, 1500.0, 500.0, 1200.0, 800.0])
    weighted = registered * np.array(index)
    weighted *= registered.sum() / weighted.sum()
    return pd.DataFrame(
        {
            "practice_code": list("ABCDEF"),
            "registered_list": registered,
            "need_weighted_list": weighted,
            "need_index": weighted / registered,
        }
    )


def test_04_the_budget_adds_up_to_the_penny_with_the_certainty_columns():
    practices = pd.DataFrame(
        {
            "practice_code": list("ABCDEF"),
            "registered_list": [1000, 2000, 1500, 500, 1200, 800],
            "current_funding_gbp": [100_000.0, 230_000.0, 140_000.0, 52_000.0, 118_000.0, 90_000.0],
        }
    )
    params = AllocationParams(policy="top_up_to_average", budget_gbp=12_345.67)
    main = _need([1.0, 1.1, 0.9, 1.2, 1.0, 0.95])
    tables = {
        "as specified": main,
        "family: negative_binomial": _need([1.0, 1.1, 0.92, 1.2, 1.0, 0.95]),
        "age-sex only": _need([1.2, 0.9, 1.0, 1.0, 1.0, 1.0]),
    }
    analysis = allocation_sensitivity(tables, practices, params)
    assert analysis.credible == ["family: negative_binomial"]
    changes = analysis.changes.set_index("alternative")
    assert changes["credible"].tolist() == [True, True, False]
    assert changes.loc["as specified", "n_eligibility_changed"] == 0
    changed = changes.loc["age-sex only"]
    assert changed["n_eligibility_changed"] == (
        changed["n_became_eligible"] + changed["n_became_ineligible"]
    )
    result = allocate(compare_funding(main, practices, params), params)
    table = allocation_table(result)
    table["p_eligible"] = table["eligible"].astype(float)
    marked = mark_uncertain_eligibility(table, params, analysis.eligible[analysis.credible])
    pence = np.rint(marked["allocation_gbp"].to_numpy() * 100).astype(np.int64)
    assert pence.sum() == 1_234_567
    assert marked["allocation_gbp"].tolist() == result.table["allocation_gbp"].tolist()
    assert set(marked["eligibility_certainty"]) <= {"robust", "uncertain"}
    assert AlternativeKind("x", True).credible
