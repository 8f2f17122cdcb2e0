"""What a user of `pcfm run` sees: stages and progress, -q and -v, run.log, failures named."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import nbformat
import pytest
from _quick_run import skip_the_heavy_stages
from conftest import write_tiny_params

from pcfm.base.progress_file import POLL_INTERVAL_S, PROGRESS_FILE, counted_step
from pcfm.base.resources import project_dir
from pcfm.cli import build_parser, main, verbosity_of
from pcfm.pipeline import run as run_module
from pcfm.pipeline.run import RUN_STAGES

pytestmark = pytest.mark.integration


def _skip_the_heavy_stages(monkeypatch: pytest.MonkeyPatch) -> None:
    """The heavy stages skipped; the statements report progress on 20 practices."""

    def fake_statements(folder, project_root, params, on_progress=None):
        for done in range(1, 21):
            on_progress(done, 20)
        return []

    skip_the_heavy_stages(monkeypatch, fake_statements)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["run", "p.yml"], "normal"),
        (["run", "-q", "p.yml"], "quiet"),
        (["-q", "run", "p.yml"], "quiet"),
        (["run", "p.yml", "--verbose"], "verbose"),
        (["-v", "run", "p.yml"], "verbose"),
        (["-v", "synth", "--out", "x"], "verbose"),
    ],
)
def test_quiet_and_verbose_go_before_or_after_the_command(argv: list[str], expected: str) -> None:
    assert verbosity_of(build_parser().parse_args(argv)) == expected


def test_quiet_and_verbose_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "-q", "-v", "p.yml"])
    assert main(["-q", "run", "-v", "p.yml"]) == 2
    assert "exclude each other" in capsys.readouterr().err


def test_a_run_shows_each_stage_and_progress_and_writes_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _skip_the_heavy_stages(monkeypatch)
    params = tmp_path / "shown.yml"
    params.write_text("run_name: shown\n")
    build = tmp_path / "build"
    assert main(["run", str(params), "--build-root", str(build)]) == 0
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    for number, name in enumerate(RUN_STAGES, start=1):
        assert f"pcfm: [{number}/{len(RUN_STAGES)}] {name} ..." in lines
        assert any(
            line.startswith(f"pcfm: [{number}/{len(RUN_STAGES)}] {name} done in ") for line in lines
        ), name
    assert "pcfm: [9/12] statements: 20/20 practices" in lines
    assert "pcfm: [9/12] statements: 2/20 practices, about" in captured.err
    assert "run complete" in captured.out and f"log: {build / 'shown' / 'run.log'}" in captured.out

    log = (build / "shown" / "run.log").read_text(encoding="utf-8")
    for name in RUN_STAGES:
        assert f"stage {name}: done in" in log
    assert "run complete: shown" in log
    assert str(tmp_path) not in log and str(Path.home()) + "/" not in log
    assert "parameters shown.yml" in log


def test_a_stage_notebooks_counted_step_shows_as_a_bar_of_its_stage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The bootstrap inside 04_allocation counts through the run folder's progress file."""
    _skip_the_heavy_stages(monkeypatch)

    def counting_notebook(name, folder, project_root, shared, limit_s):
        if name == "04_allocation.ipynb":
            with counted_step(folder.root, "bootstrap replicates") as on_progress:
                for done in range(1, 4):
                    on_progress(done, 3)
                    time.sleep(3 * POLL_INTERVAL_S)  # each count outlasts a few reads

    monkeypatch.setattr(run_module, "execute_notebook", counting_notebook)
    params = tmp_path / "counted.yml"
    params.write_text("run_name: counted\n")
    build = tmp_path / "build"
    assert main(["run", str(params), "--build-root", str(build)]) == 0
    lines = capsys.readouterr().err.splitlines()
    stage = f"[{RUN_STAGES.index('04_allocation') + 1}/{len(RUN_STAGES)}] 04_allocation"
    shown = [line for line in lines if "bootstrap replicates" in line]
    assert shown[-1] == f"pcfm: {stage}: 3/3 bootstrap replicates"
    assert any("1/3 bootstrap replicates, about" in line for line in shown)
    assert not (build / "counted" / PROGRESS_FILE).exists()


def test_quiet_shows_only_the_result_and_verbose_the_debug_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _skip_the_heavy_stages(monkeypatch)
    params = tmp_path / "quiet.yml"
    params.write_text("run_name: quiet\n")
    build = str(tmp_path / "build")
    assert main(["run", "-q", str(params), "--build-root", build]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert captured.out.startswith("pcfm: run complete: ")

    assert main(["run", "-v", str(params), "--build-root", build]) == 0
    err = capsys.readouterr().err
    assert "pcfm: [1/12] input ..." in err  # the stages, and the log down to debug level
    assert "pcfm: stage 1/12 input: started" in err
    assert "pcfm: kernels connect over" in err


def test_a_failing_cell_is_named_with_its_stage_and_the_terminal_stays_clean(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "project"
    shutil.copytree(project_dir() / "notebooks", project / "notebooks")
    path = project / "notebooks" / "01_data.ipynb"
    notebook = nbformat.read(path, as_version=4)
    planted = nbformat.v4.new_code_cell(
        "#| label: planted\n\nraise ValueError('planted failure')\nprint('never')"
    )
    planted["id"] = "planted"
    notebook.cells.insert(3, planted)
    nbformat.write(notebook, path)
    monkeypatch.setattr(run_module, "project_dir", lambda: project)
    build = tmp_path / "build"
    assert main(["run", str(write_tiny_params(tmp_path)), "--build-root", str(build)]) == 1
    err = capsys.readouterr().err

    # cell 3 of the notebook as written (papermill's own count includes its injected cell)
    assert (
        "pcfm: run failed: stage 01_data: notebook 01_data.ipynb failed in cell 3 "
        "(`raise ValueError('planted failure')`): ValueError: planted failure"
    ) in err
    assert "pcfm: [2/12] 01_data failed after " in err
    assert err.count("ValueError: planted failure") == 1  # said once, by the command line
    assert "Traceback" not in err and "KeyboardInterrupt" not in err and "IPKernelApp" not in err
    log = (build / ".tiny.failed" / "run.log").read_text(encoding="utf-8")
    assert "ERROR   pcfm.pipeline.run: run failed in stage 01_data" in log
    assert "Traceback" in log and "planted failure" in log  # the cell's traceback, for a look
    assert str(tmp_path) not in log


def test_a_stage_notebook_that_never_finishes_ends_the_run_with_its_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import time

    from conftest import TINY

    build = tmp_path / "build"
    params = write_tiny_params(tmp_path, TINY + "timeouts:\n  notebook_s: 3\n")
    with monkeypatch.context() as quick:  # a previous successful run of the same name
        _skip_the_heavy_stages(quick)
        assert main(["run", "-q", str(params), "--build-root", str(build)]) == 0
    previous = (build / "tiny" / "manifest.json").read_bytes()
    capsys.readouterr()

    project = tmp_path / "project"
    shutil.copytree(project_dir() / "notebooks", project / "notebooks")
    path = project / "notebooks" / "01_data.ipynb"
    notebook = nbformat.read(path, as_version=4)
    stuck = nbformat.v4.new_code_cell("import time\ntime.sleep(300)")
    stuck["id"] = "stuck"
    notebook.cells.insert(3, stuck)
    nbformat.write(notebook, path)
    monkeypatch.setattr(run_module, "project_dir", lambda: project)
    began = time.monotonic()
    assert main(["run", str(params), "--build-root", str(build)]) == 1
    assert time.monotonic() - began < 60
    err = capsys.readouterr().err
    assert (
        "pcfm: run failed: stage 01_data: notebook 01_data.ipynb did not finish within 3 s "
        "(timeouts.notebook_s); its kernel was stopped\n"
    ) in err
    assert "Traceback" not in err and "IPKernelApp" not in err
    assert (build / "tiny" / "manifest.json").read_bytes() == previous
    log = (build / ".tiny.failed" / "run.log").read_text(encoding="utf-8")
    assert "run failed in stage 01_data: notebook 01_data.ipynb did not finish" in log


def test_verbose_lines_name_no_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import logging

    home_file = Path.home() / "secret" / "patients.csv"

    def statements_that_log_paths(folder, project_root, params, on_progress=None):
        logging.getLogger("pcfm.pipeline.run").debug("reading %s", home_file)
        logging.getLogger("pcfm.pipeline.run").debug("writing %s", folder.root / "x.csv")
        return []

    skip_the_heavy_stages(monkeypatch, statements_that_log_paths)
    params = write_tiny_params(tmp_path)
    assert main(["run", "-v", str(params), "--build-root", str(tmp_path / "build")]) == 0
    err = capsys.readouterr().err
    assert "pcfm: reading ~/secret/patients.csv" in err
    assert "pcfm: writing <build>/.tiny." in err
    assert str(Path.home()) not in err and str(tmp_path) not in err
