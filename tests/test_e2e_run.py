"""`pcfm run` end to end on a tiny synthetic ICB: outputs, manifest, invariants, reruns."""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from conftest import TINY
from conftest import write_tiny_params as _write_params

from pcfm.pipeline.run import NOTEBOOKS, run_pipeline

pytestmark = pytest.mark.e2e


def _publishable_hashes(run_dir: Path) -> dict[str, str]:
    """Hashes of the published tables and figures and of the executed notebooks."""
    return {
        p.relative_to(run_dir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for folder in ("publishable", "notebooks")
        for p in sorted((run_dir / folder).rglob("*"))
        if p.is_file()
    }


def test_executed_notebooks_hold_no_paths_of_this_machine_or_timings(tiny_run: Path) -> None:
    for path in sorted((tiny_run / "notebooks").rglob("*.ipynb")):
        text = path.read_text(encoding="utf-8")
        assert str(tiny_run.parent) not in text and str(Path.home()) + "/" not in text, path
        notebook = json.loads(text)
        papermill = notebook["metadata"].get("papermill", {})
        assert not {"start_time", "end_time", "duration"} & set(papermill), path
        for cell in notebook["cells"]:
            assert "execution" not in cell["metadata"], path


def test_run_folder_has_every_part(tiny_run: Path) -> None:
    assert tiny_run.name == "tiny"
    for name in NOTEBOOKS:
        notebook = nbformat.read(tiny_run / "notebooks" / name, as_version=4)
        assert any(cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")
    publishable = tiny_run / "publishable"
    for table in ("allocation", "model_coefficients", "need_index", "data_summary_by_place"):
        assert (publishable / f"{table}.csv").stat().st_size > 0
    assert (publishable / "allocation_summary.json").exists()
    assert (publishable / "tables.xlsx").exists()
    for figure in ("rate_ratios", "need_index_by_imd", "funding_before_after"):
        assert (publishable / "figures" / f"{figure}.png").exists()
        assert (publishable / "figures" / f"{figure}.svg").exists()
    assert (tiny_run / "restricted" / "cells.parquet").exists()
    assert (tiny_run / "report" / "index.html").exists()
    assert list(tiny_run.parent.glob(".tiny.*.partial")) == []


def test_every_figure_cell_shows_an_image(tiny_run: Path) -> None:
    """Quarto and nbconvert embed a figure only if its cell output is an image."""
    for name in NOTEBOOKS:
        notebook = nbformat.read(tiny_run / "notebooks" / name, as_version=4)
        for cell in notebook.cells:
            if cell.cell_type == "code" and "#| label: fig-" in cell.source:
                kinds = {kind for output in cell.outputs for kind in output.get("data", {})}
                assert "image/png" in kinds or "text/markdown" in kinds, (name, cell.source[:60])


def test_workbook_has_a_sheet_per_table(tiny_run: Path) -> None:
    sheets = pd.ExcelFile(tiny_run / "publishable" / "tables.xlsx").sheet_names
    tables = sorted(p.stem[:31] for p in (tiny_run / "publishable").glob("*.csv"))
    assert sheets == tables


def test_manifest_records_inputs_parameters_code_and_stages(tiny_run: Path) -> None:
    manifest = json.loads((tiny_run / "manifest.json").read_text())
    assert manifest["seed"] == 7
    assert manifest["parameters"]["allocation"]["budget_gbp"] == 100000.01
    assert {"patients.parquet", "activity.parquet", "practices.parquet", "areas.parquet"} <= set(
        manifest["inputs_sha256"]
    )
    assert all(len(digest) == 64 for digest in manifest["inputs_sha256"].values())
    assert len(manifest["parameter_file"]["sha256"]) == 64
    assert manifest["packages"]["pandas"] != "not installed"
    stages = {s["stage"]: s for s in manifest["stages"]}
    assert {"input", "01_data", "04_allocation", "render"} <= set(stages)
    assert all(s["status"] == "ok" and s["ended_at"] >= s["started_at"] for s in stages.values())


def test_allocations_sum_to_the_budget_to_the_penny(tiny_run: Path) -> None:
    allocation = pd.read_csv(tiny_run / "publishable" / "allocation.csv")
    summary = json.loads((tiny_run / "publishable" / "allocation_summary.json").read_text())
    total_pence = round((allocation["allocation_gbp"] * 100).sum())
    assert total_pence + round(summary["unallocated_gbp"] * 100) == 10_000_001
    assert (allocation["allocation_gbp"] >= 0).all()


def test_no_patient_identifier_in_published_files(tiny_run: Path) -> None:
    patients = pd.read_parquet(tiny_run / "restricted" / "input" / "patients.parquet")
    ids = set(patients["patient_id"].astype(str))
    for path in (tiny_run / "publishable").glob("*.csv"):
        cells = set(pd.read_csv(path, dtype=str).to_numpy().ravel())
        assert not ids & cells, path.name


def test_rerun_is_byte_identical_and_a_failed_run_keeps_the_previous(
    tiny_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _publishable_hashes(tiny_run)
    params = _write_params(tmp_path)
    # The tiny run refits in one process; this rerun refits stages 02 and 04 in two worker
    # processes started from the shared kernel (`pcfm.base.parallel`): the same bytes.
    monkeypatch.setenv("PCFM_WORKERS", "2")
    run_pipeline(params, build_root=tiny_run.parent)
    assert _publishable_hashes(tiny_run) == before
    monkeypatch.delenv("PCFM_WORKERS")

    empty = tmp_path / "empty"
    empty.mkdir()
    broken = _write_params(
        tmp_path, TINY.replace("source: synthetic", f"source: folder\n  folder: {empty}")
    )
    done = subprocess.run(
        [sys.executable, "-m", "pcfm", "run", str(broken), "--build-root", str(tiny_run.parent)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "01_data" in done.stderr and "patients" in done.stderr
    assert "Traceback" not in done.stderr
    assert _publishable_hashes(tiny_run) == before
    assert (tiny_run.parent / ".tiny.failed").is_dir()


def test_the_run_writes_its_own_log_without_the_machines_paths(tiny_run: Path) -> None:
    from pcfm.pipeline.run import RUN_STAGES

    log = (tiny_run / "run.log").read_text(encoding="utf-8")
    for name in RUN_STAGES:
        assert f"stage {name}: done in" in log, name
    assert "run complete: tiny" in log
    assert str(tiny_run.parent) not in log and str(Path.home()) + "/" not in log
    # kernel noise, if any, is there at debug level only; nothing failed
    noise = [line for line in log.splitlines() if "KeyboardInterrupt" in line]
    assert all(" DEBUG   pcfm.base.kernels: kernel-" in line for line in noise)
    assert " ERROR " not in log


def test_every_document_of_the_report_is_written(tiny_run: Path) -> None:
    report = tiny_run / "report"
    for name in ("allocation-report.html", "board-paper.html", "practice-statements.html"):
        assert (report / name).stat().st_size > 0, name
    allocation = pd.read_csv(tiny_run / "publishable" / "allocation.csv", dtype=str)
    statements = sorted(p.stem for p in (tiny_run / "notebooks" / "statements").glob("*.ipynb"))
    assert statements == sorted(allocation["practice_code"])
    statements_html = (report / "practice-statements.html").read_text(encoding="utf-8")
    for code in allocation["practice_code"]:
        assert f"({code})</h2>" in statements_html or f"({code})<a" in statements_html, code
    report_html = (report / "allocation-report.html").read_text(encoding="utf-8")
    assert report_html.count("<figure><img") == 2
    assert report_html.count('src="data:image/png;base64,') == 2
    assert 'alt="Bar chart of each practice' in report_html  # written from the run's numbers
    assert "practices are funded; their allocations range from" in report_html
    board_html = (report / "board-paper.html").read_text(encoding="utf-8")
    assert "Recommendation" in board_html and "<table" in board_html
    index = (report / "index.html").read_text(encoding="utf-8")
    assert 'href="board-paper.html"' in index and 'href="practice-statements.html"' in index
    stages = [s["stage"] for s in json.loads((tiny_run / "manifest.json").read_text())["stages"]]
    assert stages.index("statements") < stages.index("render") < stages.index("check_outputs")


def test_the_run_passes_check_outputs_and_planted_leaks_are_caught(
    tiny_run: Path, tmp_path: Path
) -> None:
    from pcfm.base.disclosure.check import check_run_folder

    assert check_run_folder(tiny_run) == []
    copy = tmp_path / "copy"
    shutil.copytree(tiny_run, copy)
    patient_id = str(
        pd.read_parquet(copy / "restricted" / "input" / "patients.parquet")["patient_id"].iloc[0]
    )
    board = copy / "report" / "board-paper.html"
    board.write_text(board.read_text().replace("</body>", f"<p>{patient_id}</p></body>"))
    summary = copy / "publishable" / "data_summary_by_place.csv"
    table = pd.read_csv(summary, dtype=str)
    table.loc[0, "patients"] = "3"
    table.to_csv(summary, index=False)
    statement = sorted((copy / "notebooks" / "statements").glob("*.ipynb"))[0]
    notebook = nbformat.read(statement, as_version=4)
    notebook.cells[-1].outputs.append(
        nbformat.v4.new_output("stream", name="stdout", text=f"{patient_id}\n")
    )
    nbformat.write(notebook, statement)
    findings = {(f.file, f.kind) for f in check_run_folder(copy)}
    assert findings == {
        ("report/board-paper.html", "patient_identifier"),
        ("publishable/data_summary_by_place.csv", "small_count"),
        (f"notebooks/statements/{statement.name}", "patient_identifier"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "pcfm", "check-outputs", str(copy)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "publishable/data_summary_by_place.csv: table, row 1, column 'patients'" in done.stdout
    assert patient_id not in done.stdout + done.stderr


def test_a_run_publishes_exactly_what_the_stages_declare(tiny_run: Path) -> None:
    """The stage table (`pcfm.stages`) is the list of published files, no more, no less."""
    from pcfm.stages import STAGES

    publishable = tiny_run / "publishable"
    declared = {f"{name}.csv" for stage in STAGES for name in stage.publishes}
    declared |= {f"{name}.json" for stage in STAGES for name in stage.published_json}
    declared |= {
        f"figures/{name}{suffix}"
        for stage in STAGES
        for name in stage.figures
        for suffix in (".png", ".svg")
    }
    declared.add("tables.xlsx")
    optional = {f"{name}.csv" for stage in STAGES for name in stage.optional}
    published = {p.relative_to(publishable).as_posix() for p in publishable.rglob("*.*")}
    assert published <= declared, f"not declared: {sorted(published - declared)}"
    assert declared - optional <= published, f"missing: {sorted(declared - optional - published)}"
    restricted = {p.name for p in (tiny_run / "restricted").iterdir() if p.is_file()}
    assert restricted == {
        artefact.filename for stage in STAGES for artefact in stage.writes_restricted
    }


def test_ctrl_c_stops_a_run_with_a_message_not_a_traceback(tmp_path: Path) -> None:
    build = tmp_path / "build"
    command = [sys.executable, "-m", "pcfm", "run", str(_write_params(tmp_path))]
    run = subprocess.Popen(
        [*command, "--build-root", str(build)],
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not list(build.glob(".tiny.*.partial/notebooks/*.ipynb")):  # inside a stage
        assert time.monotonic() < deadline and run.poll() is None
        time.sleep(0.2)
    run.send_signal(signal.SIGINT)
    _, stderr = run.communicate(timeout=60)
    assert run.returncode == 130
    assert "pcfm: interrupted" in stderr
    assert "Traceback" not in stderr
    assert (build / ".tiny.failed").is_dir() and not (build / "tiny").exists()


def test_the_headline_counts_the_patients_of_the_funded_practices(tiny_run: Path) -> None:
    """Issue 14, item 11: the patients of the practices with an allocation, not the ICB's."""
    allocation = pd.read_csv(tiny_run / "publishable" / "allocation.csv")
    headline = pd.read_csv(tiny_run / "publishable" / "allocation_headline.csv")
    value = headline.set_index("measure")["value"]
    funded = allocation.loc[allocation["allocation_gbp"] > 0, "registered_list"].sum()
    assert float(value["registered_patients_funded"]) == funded
    assert float(value["registered_patients"]) == allocation["registered_list"].sum()
