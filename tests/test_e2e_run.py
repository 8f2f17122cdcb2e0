"""`pcfm run` end to end on a tiny synthetic ICB: outputs, manifest, invariants, reruns."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from pcfm.pipeline.run import NOTEBOOKS, run_pipeline

pytestmark = pytest.mark.e2e

TINY = """\
run_name: tiny
seed: 7
data:
  source: synthetic
  synthetic:
    n_patients: 3000
    n_practices: 8
allocation:
  budget_gbp: 100000.01
"""


def _write_params(folder: Path, text: str = TINY) -> Path:
    path = folder / "tiny.yml"
    path.write_text(text)
    return path


def _publishable_hashes(run_dir: Path) -> dict[str, str]:
    return {
        p.relative_to(run_dir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((run_dir / "publishable").rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("e2e")
    result = run_pipeline(_write_params(root), build_root=root / "build")
    return result.run_dir


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
    tiny_run: Path, tmp_path: Path
) -> None:
    before = _publishable_hashes(tiny_run)
    params = _write_params(tmp_path)
    run_pipeline(params, build_root=tiny_run.parent)
    assert _publishable_hashes(tiny_run) == before

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
