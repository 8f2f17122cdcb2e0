"""An ICB other than LLR, end to end: `pcfm setup` from the real public files, then `pcfm run`.

Shropshire, Telford and Wrekin (QOC, 51 practices) is set up with 2% of its patients (lists,
weighted lists and funding scaled alike), run through every stage and rendered by Quarto
where the machine has it. The checks read what the run published and rendered: the ICB's own
places (its two pre-2020 CCGs), its merger, the funding rule's lines and every adjustment, in
the tables and in the report. A parameter file whose rules no longer match its data folder
must be refused with a message that says which rule and how to rebuild.
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from pypdf import PdfReader

from pcfm.cli import main
from pcfm.pipeline.run import run_pipeline

pytestmark = [pytest.mark.e2e, pytest.mark.public_data]

ICB = "QOC"


def _quarto() -> str | None:
    quarto = os.environ.get("PCFM_QUARTO") or shutil.which("quarto")
    return quarto if quarto and Path(quarto).exists() else None


@pytest.fixture(scope="module")
def set_up(public_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("public-icb")
    params = root / "params" / "qoc.yml"
    code = main(
        [
            "setup",
            ICB,
            "--public",
            str(public_data_dir),
            "--params-out",
            str(params),
            "--data-out",
            str(root / "data" / "qoc"),
            "--patient-scale",
            "0.02",
        ]
    )
    assert code == 0
    # Quick settings for a test: few bootstrap replicates, no practice statements.
    document = yaml.safe_load(params.read_text(encoding="utf-8"))
    document["allocation"]["bootstrap_replicates"] = 5
    document["report"]["statements"] = False
    params.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return params


@pytest.fixture(scope="module")
def run_dir(set_up: Path) -> Path:
    quarto = _quarto()
    with pytest.MonkeyPatch.context() as patch:
        if quarto:
            patch.setenv("PATH", f"{Path(quarto).parent}{os.pathsep}{os.environ['PATH']}")
        result = run_pipeline(set_up, build_root=set_up.parent.parent / "build")
    return result.run_dir


def test_setup_writes_a_ready_parameter_file(set_up: Path) -> None:
    document = yaml.safe_load(set_up.read_text(encoding="utf-8"))
    public = document["data"]["public"]
    assert public["icb_code"] == ICB and public["payments_year"] == "2022-23"
    assert "Reimbursement of Drugs" in public["funding"]["pass_through"]
    # the synthetic patients' year, which validation holds the appointments to
    assert document["data"]["reference_period"] == {"start": "2024-04-01", "end": "2025-03-31"}
    assert document["report"]["icb_name"].startswith("NHS Shropshire, Telford and Wrekin")
    assert (set_up.parent.parent / "data" / "qoc" / "provenance" / "adjustments.csv").exists()


def test_the_run_publishes_the_icb_s_places_rules_and_adjustments(run_dir: Path) -> None:
    published = run_dir / "publishable"
    by_place = pd.read_csv(published / "allocation_by_place.csv").set_index("place")
    assert {"Shropshire", "Telford and Wrekin"} <= set(by_place.index)
    allocation = pd.read_csv(published / "allocation.csv")
    assert 0 < allocation["allocation_gbp"].sum() <= 2_850_000
    assert by_place["allocation_gbp"].sum() == pytest.approx(
        allocation["allocation_gbp"].sum(), abs=0.005
    )
    places = pd.read_csv(published / "data_practice_places.csv")
    assert sorted(places["practice_code"]) == sorted(allocation["practice_code"])
    assert places["place_source"].str.contains("CCG before the 2020 mergers").all()
    adjustments = pd.read_csv(published / "data_practice_adjustments.csv")
    merged = adjustments[adjustments["adjustment"] == "merged"]
    assert set(merged["practice_code"]) == {"M82031"}  # Highley, into Bridgnorth (M82004)
    assert merged["detail"].str.contains("M82004").all()
    lines = pd.read_csv(published / "data_funding_lines.csv", keep_default_na=False)
    assert lines.loc[lines["counted"] == "no", "payment_line"].str.contains("Premises").any()
    sources = pd.read_csv(published / "data_sources.csv").set_index("item")["value"]
    assert "(QOC)" in sources["ICB"] and sources["Payments year"] == "2022-23"


def test_the_report_lists_every_adjustment(run_dir: Path) -> None:
    if _quarto() is None:
        pytest.skip("Quarto is not installed: the report is rendered as HTML notebooks only")
    report = run_dir / "report"
    (book,) = [
        path
        for path in report.glob("*.pdf")
        if path.stem not in ("allocation-report", "board-paper", "practice-statements")
    ]
    text = " ".join(
        " ".join((page.extract_text() or "").split())
        for page in PdfReader(io.BytesIO(book.read_bytes())).pages
    )
    adjustments = pd.read_csv(run_dir / "publishable" / "data_practice_adjustments.csv")
    for code in adjustments["practice_code"]:
        assert code in text, code
    assert "Shropshire, Telford and Wrekin" in text
    assert "Telford and Wrekin" in text and "Reimbursement of Drugs" in text
    # The board paper names every practice the outlier rules excluded, capped or kept.
    board = " ".join(
        " ".join((page.extract_text() or "").split())
        for page in PdfReader(io.BytesIO((report / "board-paper.pdf").read_bytes())).pages
    )
    exclusions = pd.read_csv(run_dir / "publishable" / "allocation_exclusions.csv")
    for name in exclusions["practice_name"]:
        assert " ".join(str(name).split()) in board, name
    if exclusions.empty:
        assert "No practice was excluded or capped" in board


def test_rules_changed_without_a_rebuild_are_refused(set_up: Path, tmp_path: Path) -> None:
    document = yaml.safe_load(set_up.read_text(encoding="utf-8"))
    document["data"]["public"]["funding"]["uplift"] = 1.1
    stale = set_up.with_name("stale.yml")
    stale.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    with pytest.raises(Exception, match=r"funding\.uplift: folder 1\.0, parameters 1\.1") as error:
        run_pipeline(stale, build_root=tmp_path / "build")
    assert "pcfm setup --params" in str(error.value)
