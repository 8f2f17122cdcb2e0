"""Headline numbers, board paper and practice statements against worked examples by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from pcfm.base.folder import RunFolder
from pcfm.base.tables import markdown_text
from pcfm.params import params_from_dict
from pcfm.report.board_paper import build_board_paper
from pcfm.report.headline import (
    ReportInputError,
    funding_by_imd_quintile,
    gains_by,
    headline_numbers,
    imd_quintile_of_practices,
    read_practice_allocation,
    uncertain_practices,
)
from pcfm.report.statement import (
    StatementError,
    certainty_words,
    read_statement_inputs,
    statement_markdown,
)

pytestmark = pytest.mark.unit

#: Five practices, one per deprivation quintile; every number below is worked by hand.
ALLOCATION = pd.DataFrame(
    {
        "practice_code": ["A", "B", "C", "D", "E"],
        "practice_name": ["Alpha", "Beta", "Gamma", "Delta", "Epsilon"],
        "pcn_code": ["N1", "N1", "N2", "N2", "N2"],
        "place": ["X", "X", "Y", "Y", "Y"],
        "registered_list": [1000] * 5,
        "need_weighted_list": [1200.0, 1100.0, 1000.0, 900.0, 800.0],
        "need_index": [1.2, 1.1, 1.0, 0.9, 0.8],
        "current_funding_gbp": [100_000.0] * 5,
        "funding_per_nwp_gbp": [100_000 / 1200, 100_000 / 1100, 100.0, 100_000 / 900, 125.0],
        "funding_ratio": [100_000 / 1200 / 100, 100_000 / 1100 / 100, 1.0, 1.0 / 0.9, 1.25],
        "category": [1, 2, 3, 4, 4],
        "eligible": [True, True, False, False, False],
        "p_eligible": [0.99, 0.55, 0.2, 0.0, 0.0],
        "allocation_gbp": [20_000.0, 10_000.0, 0.0, 0.0, 0.0],
        "contribution_age_sex": [0.05, 0.04, 0.0, -0.05, -0.1],
        "contribution_deprivation": [0.1, 0.04, 0.0, -0.03, -0.08],
        "contribution_morbidity": [0.04, 0.01, 0.0, -0.02, -0.02],
        "contribution_other": [0.01, 0.01, 0.0, 0.0, 0.0],
        "imd_score": [50.0, 40.0, 30.0, 20.0, 10.0],
    }
)
SUMMARY = {
    "policy": "top_up_to_average",
    "budget_gbp": 30_000.0,
    "allocated_gbp": 30_000.0,
    "unallocated_gbp": 0.0,
    "icb_average_funding_per_nwp_gbp": 100.0,
}


@pytest.fixture
def folder(tmp_path: Path) -> RunFolder:
    run = RunFolder(tmp_path / "run")
    run.create()
    ALLOCATION.to_csv(run.publishable / "allocation.csv", index=False)
    (run.publishable / "allocation_summary.json").write_text(json.dumps(SUMMARY))
    (run.root / "params.yml").write_text(
        "run_name: t\nallocation:\n  policy: top_up_to_average\n  budget_gbp: 30000\n"
        "  bootstrap_replicates: 200\nreport:\n  icb_name: Test ICB\n  financial_year: 2025-26\n"
    )
    return run


def test_headline_numbers_by_hand(folder: RunFolder) -> None:
    headline = headline_numbers(read_practice_allocation(folder), SUMMARY)
    assert (headline.n_practices, headline.n_funded) == (5, 2)
    assert headline.smallest_allocation_gbp == 10_000
    assert headline.largest_allocation_gbp == 20_000
    assert headline.median_allocation_gbp == 15_000
    assert headline.registered_patients == 5000
    # most deprived (A): 100000/1200 = 83.33 before, 120000/1200 = 100 after; least (E): 125
    assert headline.deprivation_gap_before == pytest.approx(83.3333 / 125 - 1, rel=1e-4)
    assert headline.deprivation_gap_after == pytest.approx(100 / 125 - 1)


def test_funding_by_quintile_by_hand() -> None:
    quintiles = funding_by_imd_quintile(ALLOCATION).set_index("imd_quintile")
    assert list(quintiles.index) == [1, 2, 3, 4, 5]
    assert quintiles.loc[1, "funding_per_nwp_before_gbp"] == pytest.approx(100_000 / 1200)
    assert quintiles.loc[1, "funding_per_nwp_after_gbp"] == pytest.approx(100.0)
    # ICB: 500000 / 5000 = 100 before; 530000 / 5000 = 106 after
    assert quintiles.loc[1, "before_vs_icb"] == pytest.approx(100_000 / 1200 / 100 - 1)
    assert quintiles.loc[1, "after_vs_icb"] == pytest.approx(100 / 106 - 1)
    assert quintiles["allocation_gbp"].sum() == 30_000


def test_quintiles_of_practices_put_the_most_deprived_first() -> None:
    scores = pd.Series([5.0, 50.0, 45.0, 10.0, 30.0, 25.0, 20.0, 15.0, 40.0, 35.0])
    quintiles = imd_quintile_of_practices(scores)
    assert quintiles.tolist() == [5, 1, 1, 5, 3, 3, 4, 4, 2, 2]


def test_no_imd_scores_gives_no_quintiles() -> None:
    assert funding_by_imd_quintile(ALLOCATION.drop(columns="imd_score")) is None


def test_gains_by_place_by_hand() -> None:
    gains = gains_by(ALLOCATION, "place").set_index("place")
    assert gains.loc["X", "allocation_gbp"] == 30_000
    assert gains.loc["X", "per_registered_patient_gbp"] == 15.0
    assert gains.loc["X", "share_of_allocation"] == 1.0
    assert gains.loc["Y", "practices_funded"] == 0


def test_uncertain_practices_are_those_between_ten_and_ninety_percent() -> None:
    uncertain = uncertain_practices(ALLOCATION)
    assert uncertain["practice_code"].tolist() == ["B", "C"]
    assert uncertain_practices(ALLOCATION.drop(columns="p_eligible")) is None


def test_a_missing_allocation_is_a_clear_error(tmp_path: Path) -> None:
    run = RunFolder(tmp_path)
    run.create()
    with pytest.raises(ReportInputError, match=r"allocation\.csv: missing"):
        read_practice_allocation(run)


def test_the_board_paper_states_the_runs_numbers(folder: RunFolder) -> None:
    params = params_from_dict(
        {
            "run_name": "t",
            "allocation": {"policy": "top_up_to_average", "budget_gbp": 30000},
            "report": {"icb_name": "Test ICB"},
        }
    )
    paper = build_board_paper(folder, params)
    assert "£30,000.00" in paper.recommendation and "2 practices" in paper.recommendation
    assert "Test ICB" in paper.purpose
    assert "to the penny" in paper.cost and "£10,000.00 to £20,000.00" in paper.cost
    assert "33.3% less" in paper.equity and "20.0% less" in paper.equity
    assert "**2 practice(s)**" in paper.risks
    assert paper.uncertain["practice_code"].tolist() == ["B", "C"]
    assert paper.gains_by_place["Place"].tolist() == ["X", "Y"]


def test_a_statement_explains_the_practice_in_words(folder: RunFolder) -> None:
    text = statement_markdown(read_statement_inputs(folder.root), "A")
    assert text.startswith("## Alpha (A)")
    assert "allocated £20,000.00" in text
    assert "**1,000 registered patients**" in text
    assert "**20% more**" in text and "need index is 1.200" in text
    # the decomposition adds up to the index: 1 + 0.05 + 0.10 + 0.04 + 0.01 = 1.20
    assert "| Age and sex of your patients | +0.050 |" in text
    assert "| Deprivation of the areas they live in | +0.100 |" in text
    assert "16.7% below the ICB average of £100.00" in text
    assert "funding category 1 of 4" in text
    assert "200 times" in text and "99% of the time" in text and "almost certainly in" in text


def test_a_statement_leaves_out_what_the_run_did_not_estimate(folder: RunFolder) -> None:
    ALLOCATION.drop(columns=["p_eligible", "contribution_age_sex"]).to_csv(
        folder.publishable / "allocation.csv", index=False
    )
    text = statement_markdown(read_statement_inputs(folder.root), "E")
    assert "not estimated in this run" in text
    assert "Age and sex" not in text
    assert "is not eligible" in text


def test_a_statement_for_an_unknown_practice_is_a_clear_error(folder: RunFolder) -> None:
    with pytest.raises(StatementError, match="practice_code 'ZZZ' not found"):
        statement_markdown(read_statement_inputs(folder.root), "ZZZ")


@pytest.mark.parametrize(
    ("p", "words"),
    [(0.95, "almost certainly in"), (0.7, "probably in"), (0.5, "boundary"),
     (0.2, "probably not"), (0.02, "almost certainly not")],
)  # fmt: skip
def test_certainty_words(p: float, words: str) -> None:
    assert words in certainty_words(p)


def test_display_tables_keep_their_formatting() -> None:
    table = pd.DataFrame({"Place": ["X"], "Allocation (£)": ["1,118,309.94"], "Share": ["39.2%"]})
    text = markdown_text(table)
    assert "1,118,309.94" in text and "39.2%" in text
    assert text.splitlines()[1].count(":") == 3  # one left-aligned, two right-aligned columns


def test_the_sensitivity_table_is_read_by_its_name(folder: RunFolder) -> None:
    from pcfm.report.headline import (
        read_sensitivity,
        sensitivity_display_table,
        sensitivity_sentence,
    )

    assert read_sensitivity(folder) is None
    assert "did not publish" in sensitivity_sentence(None)
    pd.DataFrame(
        {
            "alternative": ["main", "with_morbidity", "negative_binomial"],
            "n_category_changed": [0, 7, 2],
            "n_eligibility_changed": [0, 3, 1],
            "max_abs_change_gbp": [0.0, 1234.5, 99.0],
        }
    ).to_csv(folder.publishable / "any_name_at_all.csv", index=False)
    assert read_sensitivity(folder) is None  # no sniffing: only allocation_sensitivity.csv
    (folder.publishable / "any_name_at_all.csv").rename(
        folder.publishable / "allocation_sensitivity.csv"
    )
    sensitivity = read_sensitivity(folder)
    assert sensitivity_sentence(sensitivity) == (
        "Under 2 alternative model(s), at most 7 practice(s) change funding category."
    )
    shown = sensitivity_display_table(sensitivity)
    assert shown["Practices changing category"].tolist() == [0, 7, 2]
    assert shown["Largest change of a practice's allocation (£)"].tolist()[1] == "1,234.50"
