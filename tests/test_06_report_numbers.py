"""Headline numbers, equity table, board paper and practice statements against worked examples.

The published tables are made here by the stage's own functions from a five-practice
allocation worked by hand; the documents are then formatted from those files alone.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from pcfm.allocation.certainty import mark_uncertain_eligibility
from pcfm.allocation.equity import funding_by_imd_quintile, imd_quintile_of_practices
from pcfm.allocation.exclusions import EXCLUSIONS_TABLE, no_exclusions_table
from pcfm.allocation.headline import AllocationHeadline, allocation_headline
from pcfm.allocation.tables import totals_by, uncertain_eligibility_table
from pcfm.base.folder import RunFolder
from pcfm.base.outputs import Outputs
from pcfm.base.tables import markdown_text
from pcfm.params import params_from_dict
from pcfm.params.allocation import AllocationParams
from pcfm.params.disclosure import DisclosureParams
from pcfm.report.board_paper import build_board_paper
from pcfm.report.display import sensitivity_display_table
from pcfm.report.headline import sensitivity_sentence
from pcfm.report.published import ReportInputError, read_allocation, read_headline
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
        "need_index_low": [1.15, 1.05, 0.95, 0.85, 0.75],
        "need_index_high": [1.25, 1.15, 1.05, 0.95, 0.85],
        "current_funding_gbp": [100_000.0] * 5,
        "status": ["ordinary"] * 5,
        "counted_funding_gbp": [100_000.0] * 5,
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
        "need_vs_icb_average": [0.2, 0.1, 0.0, -0.1, -0.2],
        "funding_vs_icb_average": [100 / 120 - 1, 100 / 110 - 1, 0.0, 1 / 0.9 - 1, 0.25],
    }
)
ALLOCATION["allocation_per_registered_patient_gbp"] = ALLOCATION["allocation_gbp"] / 1000
SUMMARY = {
    "policy": "top_up_to_average",
    "budget_gbp": 30_000.0,
    "allocated_gbp": 30_000.0,
    "unallocated_gbp": 0.0,
    "n_practices": 5,
    "n_funded": 2,
    "icb_average_funding_per_nwp_gbp": 100.0,
}
PARAMS_YML = (
    "run_name: t\nallocation:\n  policy: top_up_to_average\n  budget_gbp: 30000\n"
    "  bootstrap_replicates: 200\nreport:\n  icb_name: Test ICB\n  financial_year: 2025-26\n"
)


def publish(
    folder: RunFolder,
    allocation: pd.DataFrame,
    params: AllocationParams,
    exclusions: pd.DataFrame | None = None,
) -> None:
    """Publish the tables stage 04 publishes, with the stage's functions."""
    exclusions = no_exclusions_table() if exclusions is None else exclusions
    outputs = Outputs(folder, DisclosureParams())
    table = mark_uncertain_eligibility(allocation, params)
    quintiles = funding_by_imd_quintile(table)
    outputs.publish_table(table, "allocation")
    outputs.publish_table(totals_by(table, "place"), "allocation_by_place")
    outputs.publish_table(totals_by(table, "pcn_code"), "allocation_by_pcn")
    outputs.publish_table(quintiles, "allocation_by_imd_quintile")
    uncertain = uncertain_eligibility_table(table, params)
    outputs.publish_table(uncertain, "allocation_uncertain_eligibility")
    outputs.publish_table(exclusions, EXCLUSIONS_TABLE)
    headline = allocation_headline(SUMMARY, table, quintiles, params, 200, None, 100.0)
    outputs.publish_table(headline.to_table(), "allocation_headline")
    outputs.publish_json(SUMMARY | headline.as_dict(), "allocation_summary")


@pytest.fixture
def folder(tmp_path: Path) -> RunFolder:
    run = RunFolder(tmp_path / "run")
    run.create()
    publish(run, ALLOCATION, AllocationParams())
    (run.root / "params.yml").write_text(PARAMS_YML)
    return run


def test_headline_numbers_by_hand(folder: RunFolder) -> None:
    headline = read_headline(folder)
    assert (headline.n_practices, headline.n_funded) == (5, 2)
    assert headline.smallest_allocation_gbp == 10_000
    assert headline.largest_allocation_gbp == 20_000
    assert headline.median_allocation_gbp == 15_000
    assert (headline.registered_patients, headline.registered_patients_funded) == (5000, 2000)
    # most deprived (A): 100000/1200 = 83.33 before, 120000/1200 = 100 after; least (E): 125
    assert headline.deprivation_gap_before == pytest.approx(83.3333 / 125 - 1, rel=1e-4)
    assert headline.deprivation_gap_after == pytest.approx(100 / 125 - 1)
    assert headline.n_eligibility_uncertain == 2  # B (0.55) and C (0.2) inside 0.1 to 0.9
    assert headline.n_sensitivity_alternatives is None


def test_the_headline_counts_the_funded_practices_patients_not_the_icb_s(
    folder: RunFolder,
) -> None:
    """Issue 14, item 11: "11 of 24 practices (covering 20,000 patients)" was the whole ICB."""
    from pcfm.report.headline import headline_markdown

    text = headline_markdown(read_headline(folder), "top_up_to_average", "ICB", "2025-26")
    # the two funded practices (A and B) have 1,000 each of the five practices' 5,000
    assert (
        "**2 of 5 practices** receive an allocation (they have 2,000 of the ICB's 5,000 "
        "registered patients)"
    ) in text


def test_the_headline_table_and_the_json_agree_and_read_back(folder: RunFolder) -> None:
    headline = read_headline(folder)
    summary = json.loads((folder.publishable / "allocation_summary.json").read_text())
    for name, value in headline.as_dict().items():
        assert summary[name] == pytest.approx(value) if value is not None else summary[name] is None
    table = pd.read_csv(folder.publishable / "allocation_headline.csv")
    with pytest.raises(ValueError, match="missing \\['budget_gbp'\\]"):
        AllocationHeadline.from_table(table[table["measure"] != "budget_gbp"])


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


def test_no_imd_scores_gives_an_empty_quintile_table_and_no_gap(tmp_path: Path) -> None:
    assert funding_by_imd_quintile(ALLOCATION.drop(columns="imd_score")).empty
    run = RunFolder(tmp_path / "run")
    run.create()
    publish(run, ALLOCATION.drop(columns="imd_score"), AllocationParams())
    headline = read_headline(run)
    assert headline.deprivation_gap_before is None and headline.deprivation_gap_after is None
    params = params_from_dict({"run_name": "t"})
    paper = build_board_paper(run, params)
    assert "no practice deprivation scores" in paper.equity
    assert paper.equity_table.columns.tolist() == ["note"]


def test_a_missing_allocation_is_a_clear_error(tmp_path: Path) -> None:
    run = RunFolder(tmp_path)
    run.create()
    with pytest.raises(ReportInputError, match=r"allocation\.csv: missing"):
        read_allocation(run)


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
    assert "**2 practice(s)**" in paper.risks and "at least 90% of re-estimates" in paper.risks
    assert paper.uncertain["Code"].tolist() == ["B", "C"]
    assert paper.gains_by_place["Place"].tolist() == ["X", "Y"]
    assert paper.gains_by_place["Share of allocation"].tolist() == ["100.0%", "0.0%"]
    assert "X 100.0%, Y 0.0%" in paper.executive_summary


def test_the_board_paper_takes_the_band_from_the_stage_not_the_report(tmp_path: Path) -> None:
    """The probe: band 0.3/0.7 in the allocation stage; the paper must say what it decided."""
    run = RunFolder(tmp_path / "run")
    run.create()
    publish(run, ALLOCATION, AllocationParams(uncertain_low=0.3, uncertain_high=0.7))
    paper = build_board_paper(run, params_from_dict({"run_name": "t"}))
    assert paper.headline.n_eligibility_uncertain == 1
    assert paper.uncertain["Code"].tolist() == ["B"]  # 0.55; C's 0.2 is below 0.3
    assert "**1 practice(s)**" in paper.risks and "at least 70% of re-estimates" in paper.risks
    assert "at most 30% when" in paper.risks
    assert "1 practice(s) have uncertain eligibility" in paper.executive_summary


def test_published_tables_that_disagree_are_an_error(folder: RunFolder) -> None:
    path = folder.publishable / "allocation_uncertain_eligibility.csv"
    pd.read_csv(path).iloc[:1].to_csv(path, index=False)
    with pytest.raises(ReportInputError, match="n_eligibility_uncertain = 2"):
        build_board_paper(folder, params_from_dict({"run_name": "t"}))


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
    assert "200 times" in text and "99% of the time" in text
    assert "robust: that is at least 90% of the re-estimates" in text


def test_a_statement_says_uncertain_exactly_inside_the_band(tmp_path: Path) -> None:
    run = RunFolder(tmp_path / "run")
    run.create()
    band = AllocationParams(uncertain_low=0.3, uncertain_high=0.7)
    publish(run, ALLOCATION, band)
    (run.root / "params.yml").write_text(
        PARAMS_YML.replace(
            "  bootstrap_replicates: 200\n", "  uncertain_low: 0.3\n  uncertain_high: 0.7\n"
        )
    )
    inputs = read_statement_inputs(run.root)
    uncertain = {
        code for code in "ABCDE" if "eligibility is uncertain" in statement_markdown(inputs, code)
    }
    published = set(
        pd.read_csv(run.publishable / "allocation_uncertain_eligibility.csv")["practice_code"]
    )
    assert uncertain == published == {"B"}
    # a params.yml whose band contradicts the published decision is refused, not reworded
    (run.root / "params.yml").write_text(PARAMS_YML)
    with pytest.raises(StatementError, match="eligibility_uncertain is False"):
        statement_markdown(read_statement_inputs(run.root), "C")


def test_a_statement_leaves_out_what_the_run_did_not_estimate(folder: RunFolder) -> None:
    publish(
        folder,
        ALLOCATION.assign(p_eligible=float("nan")).drop(columns=["contribution_age_sex"]),
        AllocationParams(),
    )
    text = statement_markdown(read_statement_inputs(folder.root), "E")
    assert "not estimated in this run" in text
    assert "Age and sex" not in text
    assert "is not eligible" in text


def test_a_statement_for_an_unknown_practice_is_a_clear_error(folder: RunFolder) -> None:
    with pytest.raises(StatementError, match="practice_code 'ZZZ' not found"):
        statement_markdown(read_statement_inputs(folder.root), "ZZZ")


def test_a_statement_needs_the_runs_parameters(folder: RunFolder) -> None:
    (folder.root / "params.yml").write_text("run_name: t\nreport:\n  nonsense: 1\n")
    with pytest.raises(StatementError, match=r"report\.nonsense: unknown key"):
        read_statement_inputs(folder.root)


@pytest.mark.parametrize(
    ("p", "uncertain", "words"),
    [(0.95, False, "robust: that is at least 90%"), (0.9, False, "at least 90%"),
     (0.7, True, "uncertain: the re-estimates do not agree with it in at least 90%"),
     (0.2, True, "uncertain"), (0.1, False, "robust: that is at most 10%"),
     (0.02, False, "at most 10%")],
)  # fmt: skip
def test_certainty_words_follow_the_band(p: float, uncertain: bool, words: str) -> None:
    assert words in certainty_words(p, uncertain, 0.1, 0.9)


def test_certainty_words_refuse_a_decision_outside_the_band() -> None:
    with pytest.raises(StatementError, match="say True"):
        certainty_words(0.5, False, 0.1, 0.9)


def test_certainty_words_follow_the_run_and_the_credible_alternatives() -> None:
    # Eligible in the run and in 95% of re-estimates: robust unless a credible alternative
    # changes it; eligible in the run but in only 5% of re-estimates: uncertain.
    assert certainty_words(0.95, False, 0.1, 0.9, True).startswith("robust")
    words = certainty_words(0.95, True, 0.1, 0.9, True, "family: negative_binomial")
    assert "family: negative_binomial" in words and words.startswith("uncertain")
    assert certainty_words(0.05, True, 0.1, 0.9, True).startswith("uncertain")
    with pytest.raises(StatementError):
        certainty_words(0.95, False, 0.1, 0.9, True, "family: negative_binomial")


def test_display_tables_keep_their_formatting() -> None:
    table = pd.DataFrame({"Place": ["X"], "Allocation (£)": ["1,118,309.94"], "Share": ["39.2%"]})
    text = markdown_text(table)
    assert "1,118,309.94" in text and "39.2%" in text
    assert text.splitlines()[1].count(":") == 3  # one left-aligned, two right-aligned columns


def test_the_sensitivity_numbers_come_from_the_headline(folder: RunFolder) -> None:
    changes = pd.DataFrame(
        {
            "alternative": ["main", "with_morbidity", "negative_binomial"],
            "n_category_changed": [0, 7, 2],
            "n_eligibility_changed": [0, 3, 1],
            "max_abs_change_gbp": [0.0, 1234.5, 99.0],
        }
    )
    table = mark_uncertain_eligibility(ALLOCATION, AllocationParams())
    headline = allocation_headline(
        SUMMARY, table, funding_by_imd_quintile(table), AllocationParams(), 200, changes
    )
    assert sensitivity_sentence(headline) == (
        "Under 2 alternative model(s), at most 7 practice(s) change funding category."
    )
    assert "did not publish" in sensitivity_sentence(read_headline(folder))
    shown = sensitivity_display_table(changes)
    assert shown["Practices changing category"].tolist() == [0, 7, 2]
    assert shown["Largest change of a practice's allocation (£)"].tolist()[1] == "1,234.50"


def test_the_sensitivity_table_is_read_by_its_name(folder: RunFolder) -> None:
    from pcfm.report.published import read_sensitivity

    assert read_sensitivity(folder) is None
    pd.DataFrame({"alternative": ["main", "other"], "n_category_changed": [0, 7]}).to_csv(
        folder.publishable / "any_name_at_all.csv", index=False
    )
    assert read_sensitivity(folder) is None  # no sniffing: only allocation_sensitivity.csv
    (folder.publishable / "any_name_at_all.csv").rename(
        folder.publishable / "allocation_sensitivity.csv"
    )
    assert read_sensitivity(folder)["n_category_changed"].tolist() == [0, 7]
