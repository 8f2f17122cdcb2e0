"""A run never loses data: it replaces only pcfm's own folders, one run of a name at a time.

Each refusal here happens before any stage runs, so these tests are quick; the whole-run
behaviour (a failed run keeps the previous one) is in ``test_e2e_run.py``, and real
``kill -9`` at each stage and between the swap's two renames in ``test_run_killed.py``.
"""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TINY, write_tiny_params

from pcfm.base.folder import (
    RUN_MARKERS,
    FolderError,
    RunFolder,
    check_replaceable,
    previous_of,
    recover_interrupted_swap,
    remove_stale_scratch,
    swap_into_place,
)
from pcfm.pipeline.run import PipelineError, run_pipeline

pytestmark = pytest.mark.unit


def _finished_run(folder: Path, content: str = "old") -> Path:
    folder.mkdir(parents=True)
    for name in RUN_MARKERS:
        (folder / name).write_text(content)
    return folder


def test_only_an_absent_empty_or_pcfm_folder_is_replaceable(tmp_path: Path) -> None:
    check_replaceable(tmp_path / "absent", RUN_MARKERS)
    (tmp_path / "empty").mkdir()
    check_replaceable(tmp_path / "empty", RUN_MARKERS)
    check_replaceable(_finished_run(tmp_path / "run"), RUN_MARKERS)
    other = tmp_path / "thesis"
    other.mkdir()
    (other / "chapter1.docx").write_text("years of work")
    with pytest.raises(FolderError, match=r"thesis exists and is not pcfm's output"):
        check_replaceable(other, RUN_MARKERS)
    with pytest.raises(FolderError, match="not pcfm's output"):
        swap_into_place(_finished_run(tmp_path / "new"), other, RUN_MARKERS)
    assert (other / "chapter1.docx").read_text() == "years of work"


def test_a_folder_holding_the_input_data_is_never_replaced(tmp_path: Path) -> None:
    run = _finished_run(tmp_path / "run")
    (run / "data").mkdir()
    for keep in (run, run / "data"):
        with pytest.raises(FolderError, match="holds the input data"):
            check_replaceable(run, RUN_MARKERS, keep=keep)


def test_a_run_named_like_its_data_folder_stops_before_deleting_it(tmp_path: Path) -> None:
    build = tmp_path / "build"
    data = build / "data"
    data.mkdir(parents=True)
    (data / "patients.csv").write_text("patient_id,practice_code\n")
    for name in RUN_MARKERS:  # even a data folder that looks like a run is kept
        (data / name).write_text("")
    text = TINY.replace("run_name: tiny", "run_name: data").replace(
        "source: synthetic", f"source: folder\n  folder: {data}"
    )
    with pytest.raises(PipelineError, match="holds the input data"):
        run_pipeline(write_tiny_params(tmp_path, text), build_root=build)
    assert (data / "patients.csv").read_text() == "patient_id,practice_code\n"
    assert not [p for p in build.iterdir() if p.suffix in {".partial", ".failed"}]


def test_a_run_will_not_replace_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    build = tmp_path / "build"
    (build / "tiny").mkdir(parents=True)
    (build / "tiny" / "notes.txt").write_text("mine")
    with pytest.raises(PipelineError, match="not pcfm's output"):
        run_pipeline(write_tiny_params(tmp_path), build_root=build)
    assert (build / "tiny" / "notes.txt").read_text() == "mine"


def test_a_swap_interrupted_between_its_renames_is_restored(tmp_path: Path) -> None:
    final = tmp_path / "demo"
    _finished_run(previous_of(final))  # the crash left only the old run, aside
    recover_interrupted_swap(final)
    assert (final / "manifest.json").read_text() == "old"
    assert not previous_of(final).exists()
    _finished_run(previous_of(final))  # the crash came after both renames
    recover_interrupted_swap(final)
    assert (final / "manifest.json").read_text() == "old"
    assert not previous_of(final).exists()
    swap_into_place(_finished_run(tmp_path / "scratch", "new"), final, RUN_MARKERS)
    assert (final / "manifest.json").read_text() == "new"


def test_a_second_run_of_one_name_is_told_while_the_first_holds_the_lock(
    tmp_path: Path,
) -> None:
    build = tmp_path / "build"
    build.mkdir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys, time\n"
            f"handle = open({str(build / '.tiny.lock')!r}, 'a')\n"
            "fcntl.flock(handle, fcntl.LOCK_EX)\n"
            "print('locked', flush=True)\n"
            "time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(PipelineError, match="a run named 'tiny' is already in progress"):
            run_pipeline(write_tiny_params(tmp_path), build_root=build)
    finally:
        holder.kill()
        holder.wait()
    assert not (build / "tiny").exists()


def test_stale_scratch_folders_are_removed_and_restricted_is_private(tmp_path: Path) -> None:
    stale = tmp_path / ".demo.abc123.partial"
    RunFolder(stale).create()
    other = tmp_path / ".other.abc123.partial"
    other.mkdir()
    assert stat.S_IMODE((stale / "restricted").stat().st_mode) == 0o700
    assert stat.S_IMODE(stale.stat().st_mode) & 0o055  # group and others may read outputs
    remove_stale_scratch(tmp_path, "demo")
    assert not stale.exists() and other.exists()


def test_only_the_files_a_run_reads_are_hashed(tmp_path: Path) -> None:
    from pcfm.pipeline.manifest import hash_inputs

    for name in ("patients.parquet", "activity.csv", "provenance/sources.json", "truth/t.csv"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(name)
    (tmp_path / "holiday-photos").mkdir()
    (tmp_path / "holiday-photos" / "beach.jpg").write_text("not an input")
    (tmp_path / "notes.txt").write_text("not an input")
    assert sorted(hash_inputs(tmp_path)) == [
        "activity.csv",
        "patients.parquet",
        "provenance/sources.json",
        "truth/t.csv",
    ]
