"""The rules of setting up an ICB from the public files: places, successors, funding lines,
uplift and patient scale, each against a known answer, and bad rule files failing clearly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pcfm.inputs.from_public import PublicFiles, assemble_public_icb, default_rules
from pcfm.inputs.mergers import read_successors
from pcfm.inputs.places import place_name_of_ccg, read_place_map
from pcfm.inputs.public import PublicFileError
from pcfm.params.public import FundingRuleParams

pytestmark = pytest.mark.integration


def _csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_ccg_names_become_place_names() -> None:
    assert place_name_of_ccg("NHS EAST LEICESTERSHIRE AND RUTLAND CCG") == (
        "East Leicestershire and Rutland"
    )
    assert place_name_of_ccg("NHS BARNET CCG") == "Barnet"
    assert place_name_of_ccg("NHS STOKE ON TRENT CCG") == "Stoke on Trent"


def test_a_place_map_reads_practice_and_pcn_rows(tmp_path: Path) -> None:
    path = _csv(
        tmp_path / "places.csv",
        "practice_code,pcn_code,place\nC82005,,City\n,U87499,County\n,u67590, Rutland \n",
    )
    places = read_place_map(path)
    assert places.by_practice == {"C82005": "City"}
    assert places.by_pcn == {"U87499": "County", "U67590": "Rutland"}
    assert places.source == "places.csv"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("practice_code,area\nC82005,City\n", r"places\.csv: a places file needs a column 'place'"),
        (
            "pcn_code,place\nU1,City\nU2,\n",
            r"places\.csv: column 'place' is empty in row\(s\).*'3'",
        ),
        ("pcn_code,place\nU1,City\nU1,County\n", r"column 'pcn_code' maps the same code.*'U1'"),
    ],
)
def test_a_bad_place_map_names_the_file_column_and_rows(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(PublicFileError, match=message):
        read_place_map(_csv(tmp_path / "places.csv", text))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "predecessor,successor_code\nC82029,Y00137\n",
            r"missing column\(s\) \['predecessor_code'\]",
        ),
        (
            "predecessor_code,successor_code\nC8202,Y00137\n",
            r"'predecessor_code' is not a 6-char.*'C8202'",
        ),
        (
            "predecessor_code,successor_code\nC82029,Y00137\nC82029,C82016\n",
            r"more than one successor in 2 row\(s\), first: 'C82029'",
        ),
        (
            "predecessor_code,successor_code\nC82029,Y00137\nY00137,C82016\n",
            r"both predecessor and successor.*'Y00137'",
        ),
    ],
)
def test_a_bad_successors_file_names_the_file_column_and_rows(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(PublicFileError, match=message):
        read_successors(_csv(tmp_path / "successors.csv", text))


@pytest.fixture(scope="module")
def public_files(public_data_dir: Path) -> PublicFiles:
    from pcfm.inputs.from_public import load_public_files

    return load_public_files(public_data_dir)


@pytest.mark.public_data
def test_a_successors_file_replaces_the_search(public_files: PublicFiles, tmp_path: Path) -> None:
    successors = _csv(
        tmp_path / "successors.csv", "predecessor_code,successor_code\nC82029,Y00137\n"
    )
    rules = default_rules(public_files.folder, "QK1").model_copy(
        update={"successors_csv": successors}
    )
    inputs = assemble_public_icb(public_files, "QK1", rules)
    assert inputs.mergers["predecessor_code"].tolist() == ["C82029"]
    assert inputs.mergers["how"].tolist() == ["stated in successors.csv"]
    not_carried = inputs.adjustments[inputs.adjustments["adjustment"] == "closed, not carried"]
    assert set(not_carried["practice_code"]) == {"C82105", "C82122", "C82623", "C82626", "C83653"}
    unknown = _csv(tmp_path / "wrong.csv", "predecessor_code,successor_code\nC82029,A81001\n")
    with pytest.raises(PublicFileError, match=r"wrong\.csv: successors not among.*A81001"):
        assemble_public_icb(
            public_files, "QK1", rules.model_copy(update={"successors_csv": unknown})
        )


@pytest.mark.public_data
def test_uplift_named_lines_and_patient_scale(public_files: PublicFiles) -> None:
    base = default_rules(public_files.folder, "QOC")
    plain = assemble_public_icb(public_files, "QOC", base).practices.set_index("practice_code")
    uplifted = assemble_public_icb(
        public_files,
        "QOC",
        base.model_copy(update={"funding": FundingRuleParams(uplift=1.1, uplift_basis="test")}),
    )
    np.testing.assert_allclose(
        uplifted.practices.set_index("practice_code")["current_funding_gbp"],
        plain["current_funding_gbp"] * 1.1,
    )
    assert "uplifted by x1.1 (test)" in uplifted.sources["funding_definition"]
    named = assemble_public_icb(
        public_files,
        "QOC",
        base.model_copy(update={"funding": FundingRuleParams(lines=["Global Sum"])}),
    )
    gs = public_files.payment_lines.amounts.set_index("practice_code")["Global Sum"]
    lines = named.funding_lines.set_index("payment_line")
    assert lines.loc["Counted as current funding", "total_gbp"] == pytest.approx(
        gs.loc[
            list(named.practices["practice_code"]) + list(named.mergers["predecessor_code"])
        ].sum()
    )
    assert named.sources["funding_definition"].startswith("The payment lines Global Sum")
    small = assemble_public_icb(
        public_files, "QOC", base.model_copy(update={"patient_scale": 0.05})
    )
    scaled = small.practices.set_index("practice_code")
    totals = small.list_by_age_sex.groupby("practice_code")["patients"].sum()
    assert (totals.loc[scaled.index] == scaled["registered_list"]).all()
    assert (scaled["registered_list"] >= 1).all()
    per_patient = scaled["current_funding_gbp"] / scaled["registered_list"]
    np.testing.assert_allclose(
        per_patient, plain["current_funding_gbp"] / plain["registered_list"], rtol=1e-9
    )
    assert abs(scaled["registered_list"].sum() / plain["registered_list"].sum() - 0.05) < 0.002


@pytest.mark.public_data
def test_pass_through_lines_are_matched_in_each_year_s_spelling(public_files: PublicFiles) -> None:
    from pcfm.inputs.funding_rule import default_pass_through
    from pcfm.inputs.public.payments import payments_files, read_payment_lines

    older = read_payment_lines(payments_files(public_files.folder)["2019-20"])
    chosen = default_pass_through(older)
    assert "Appraisal Costs" in chosen and "Reimbursement of Drugs" in chosen
    assert len(chosen) == 10


def test_payment_lines_that_do_not_add_up_fail(tmp_path: Path) -> None:
    from pcfm.inputs.public.payments import read_payment_lines

    frame = pd.DataFrame(
        {
            "Practice Code": ["A81001"],
            "Average payments per weighted patient": [1.0],
            "Global Sum": [100.0],
            "Other Payments": [5.0],
            "Total NHS Payments to General Practice": [200.0],
        }
    )
    path = tmp_path / "nhspaymentsgp-22-23-prac-csv.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(PublicFileError, match=r"do not add up.*'A81001'"):
        read_payment_lines(path)
    frame.drop(columns="Total NHS Payments to General Practice").to_csv(path, index=False)
    with pytest.raises(PublicFileError, match=r"cannot find the payment lines.*Total NHS"):
        read_payment_lines(path)
