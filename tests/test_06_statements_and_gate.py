"""Statements executed by papermill in reused kernels, and the output checker gating `pcfm run`."""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from _quick_run import skip_the_heavy_stages

from pcfm.base.disclosure.check import Finding
from pcfm.pipeline import run as run_module
from pcfm.pipeline.run import PipelineError, run_pipeline
from pcfm.report.statement import StatementError
from pcfm.report.statements import (
    execute_in_fresh_kernel,
    execute_statements,
    statement_markdown_of,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    root = tmp_path / "run"
    (root / "publishable").mkdir(parents=True)
    pd.DataFrame(
        {
            "practice_code": ["P1", "P2", "P3"],
            "practice_name": ["First Surgery", "Second Surgery", "Third Surgery"],
            "registered_list": [1000, 2000, 3000],
            "need_weighted_list": [1100.0, 2000.0, 2900.0],
            "need_index": [1.1, 1.0, 0.9667],
            "current_funding_gbp": [90_000.0, 200_000.0, 300_000.0],
            "funding_per_nwp_gbp": [81.82, 100.0, 103.45],
            "category": [1, 2, 3],
            "eligible": [True, False, False],
            "allocation_gbp": [1000.0, 0.0, 0.0],
        }
    ).to_csv(root / "publishable" / "allocation.csv", index=False)
    (root / "publishable" / "allocation_summary.json").write_text(
        json.dumps({"policy": "top_up_to_average", "budget_gbp": 1000.0, "allocated_gbp": 1000.0})
    )
    (root / "params.yml").write_text("run_name: t\n")
    return root


def test_every_practice_gets_its_own_executed_statement(run_dir: Path, project_files: Path) -> None:
    notebook = project_files / "notebooks" / "06_practice_statement.ipynb"
    executed = execute_statements(run_dir, notebook, workers=2)
    assert [p.name for p in executed] == ["P1.ipynb", "P2.ipynb", "P3.ipynb"]
    texts = [statement_markdown_of(p) for p in executed]
    assert texts[0].startswith("## First Surgery (P1)") and "£1,000.00" in texts[0]
    assert texts[2].startswith("## Third Surgery (P3)") and "is not eligible" in texts[2]
    parameters = nbformat.read(executed[1], as_version=4).metadata["papermill"]["parameters"]
    assert parameters["practice_code"] == "P2"


def test_a_failing_statement_names_the_practice_and_cell_and_stops_the_rest(
    run_dir: Path, project_files: Path
) -> None:
    notebook = project_files / "notebooks" / "06_practice_statement.ipynb"
    cell = r"cell \[3\] \(#\| label: practice-statement\)"
    with pytest.raises(StatementError, match=rf"P9 failed in {cell}: StatementError: .*not found"):
        execute_statements(run_dir, notebook, codes=["P9", "P1", "P2"], workers=1)
    statements = run_dir / "notebooks" / "statements"
    assert (statements / "P9.ipynb").exists()  # kept, with the error, to look into
    assert not (statements / "P2.ipynb").exists()  # the kernel stopped at the failure


def _comparable(path: Path) -> dict:
    """An executed notebook without what differs from one execution to the next."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    for key in ("start_time", "end_time", "duration", "input_path", "output_path"):
        notebook["metadata"]["papermill"].pop(key)
    for cell in notebook["cells"]:
        cell["metadata"].pop("execution", None)
        for key in ("start_time", "end_time", "duration"):
            cell["metadata"]["papermill"].pop(key)
        if "injected-parameters" in cell["metadata"]["tags"]:
            cell.pop("id")  # papermill draws it at random
    return notebook


def test_reused_kernels_write_what_a_fresh_kernel_each_writes(
    run_dir: Path, project_files: Path
) -> None:
    notebook = project_files / "notebooks" / "06_practice_statement.ipynb"
    codes = ["P1", "P2", "P3"]
    fresh = {}
    for code in codes:
        path = execute_in_fresh_kernel(notebook, run_dir, code)
        fresh[code] = (path.read_bytes(), _comparable(path), statement_markdown_of(path))
        path.unlink()
    progress = []
    # one kernel, the practices in another order: each follows another in the same kernel
    executed = execute_statements(
        run_dir, notebook, ["P3", "P1", "P2"], workers=1, on_progress=lambda *a: progress.append(a)
    )
    assert [p.name for p in executed] == ["P3.ipynb", "P1.ipynb", "P2.ipynb"]
    assert progress == [(1, 3), (2, 3), (3, 3)]
    for path in executed:
        raw, comparable, markdown = fresh[path.stem]
        assert statement_markdown_of(path) == markdown
        assert _comparable(path) == comparable
        assert path.read_bytes() != raw  # only the times and papermill's random id differ
    counts = [c["execution_count"] for c in _comparable(executed[-1])["cells"][1:]]
    assert counts == [1, 2, 3]


#: A statement notebook that leaves behind every kind of state a kernel keeps, and shows
#: what it found left behind by the practice before it.
LEAKY_CELL = """\
import os, re, sys, warnings
found = {
    "variable": globals().get("LEFT_BEHIND"),
    "environment": os.environ.get("PCFM_LEFT_BEHIND"),
    "cwd": os.path.basename(os.getcwd()),
    "sys.path": "left-behind" in sys.path,
    "filter": any(f[1] is not None and "left" in f[1].pattern for f in warnings.filters),
    "filters": len(warnings.filters),
}
print(found)
LEFT_BEHIND = practice_code
os.environ["PCFM_LEFT_BEHIND"] = practice_code
sys.path.append("left-behind")
# a filter added without filterwarnings, which would also forget the warnings shown
warnings.filters.insert(0, ("ignore", re.compile("left behind"), Warning, None, 0))
os.chdir("..")
# a warning of a module (whose record of warnings shown outlives the namespace)
shown = sys.modules["warnings"].__dict__.setdefault("__warningregistry__", {})
warnings.warn_explicit("shown to every practice", UserWarning, "module.py", 1, registry=shown)
"""


def test_nothing_a_practice_leaves_in_its_kernel_reaches_the_next(
    run_dir: Path, tmp_path: Path, project_files: Path
) -> None:
    leaky = nbformat.read(project_files / "notebooks" / "06_practice_statement.ipynb", 4)
    leaky.cells = [leaky.cells[1], nbformat.v4.new_code_cell(LEAKY_CELL)]  # parameters first
    notebook = tmp_path / "leaky.ipynb"
    nbformat.write(leaky, notebook)
    executed = execute_statements(run_dir, notebook, ["P1", "P2", "P3"], workers=1)
    clean = {
        "variable": None,
        "environment": None,
        "cwd": "run",
        "sys.path": False,
        "filter": False,
    }
    outputs = []
    for path in executed:
        cell = nbformat.read(path, as_version=4).cells[-1]
        streams = {output.name: output.text for output in cell.outputs}
        found = ast.literal_eval(streams["stdout"])
        assert found.pop("filters") > 0 and found == clean, path.stem
        assert "module.py:1: UserWarning: shown to every practice" in streams["stderr"]
        assert cell.execution_count == 3
        outputs.append(cell.outputs)
    fresh = execute_in_fresh_kernel(notebook, run_dir, "P2")
    assert outputs == [nbformat.read(fresh, as_version=4).cells[-1].outputs] * 3


def test_a_kernel_that_dies_starting_is_replaced(
    run_dir: Path, project_files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = []

    from pcfm.base import live_kernel

    class DiesOnce(live_kernel.RunKernelManager):
        async def start_kernel(self, **kwargs):
            await super().start_kernel(**kwargs)
            started.append(self)
            if len(started) == 1:
                await self.provisioner.kill()

    monkeypatch.setattr(live_kernel, "RunKernelManager", DiesOnce)
    notebook = project_files / "notebooks" / "06_practice_statement.ipynb"
    executed = execute_statements(run_dir, notebook, ["P1", "P2"], workers=1)
    assert len(started) == 2
    assert statement_markdown_of(executed[1]).startswith("## Second Surgery (P2)")


def test_a_leak_fails_the_run_and_keeps_the_previous_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    skip_the_heavy_stages(monkeypatch)
    params = tmp_path / "gate.yml"
    params.write_text("run_name: gate\n")
    build = tmp_path / "build"
    good = run_pipeline(params, build_root=build)
    assert json.loads((good.run_dir / "manifest.json").read_text())["stages"][-1]["stage"] == (
        "check_outputs"
    )

    def leaking_render(folder, *args, **kwargs):
        (folder.report / "index.html").write_text("<p>S00000001</p>")
        return run_module.RenderResult("none", [], "")

    monkeypatch.setattr(run_module, "render_report", leaking_render)
    with pytest.raises(PipelineError, match=r"check-outputs found 1 disclosure problem") as error:
        run_pipeline(params, build_root=build)
    assert "report/index.html: text, line 1" in str(error.value)
    assert "S00000001" not in str(error.value)
    assert not (good.run_dir / "report" / "index.html").exists()  # previous run untouched
    assert (build / ".gate.failed" / "report" / "index.html").exists()
    shutil.rmtree(build)


def test_check_outputs_lists_at_most_twenty_findings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    findings = [Finding(f"f{i}.csv", "row 1", "small_count", "count 3") for i in range(25)]
    monkeypatch.setattr(run_module, "check_run_folder", lambda root, **kwargs: findings)
    with pytest.raises(PipelineError) as error:
        run_module.check_outputs(run_module.RunFolder(tmp_path))
    message = str(error.value)
    assert "25 disclosure problem(s)" in message and "f19.csv" in message
    assert "f20.csv" not in message and "and 5 more" in message


def test_statements_can_be_switched_off_and_their_kernels_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pcfm.params import params_from_dict

    calls = []
    monkeypatch.setattr(
        run_module, "execute_statements", lambda *args, **kwargs: calls.append(kwargs) or []
    )
    folder = run_module.RunFolder(tmp_path)
    off = params_from_dict({"run_name": "t", "report": {"statements": False}})
    assert run_module.execute_practice_statements(folder, tmp_path, off) == []
    assert calls == []
    three = params_from_dict({"run_name": "t", "report": {"statement_kernels": 3}})
    run_module.execute_practice_statements(folder, tmp_path, three)
    assert calls == [{"workers": 3, "on_progress": None, "timeouts": three.timeouts}]


def test_the_uncertain_band_must_be_ordered() -> None:
    from pcfm.params import ParameterError, params_from_dict

    band = {"uncertain_low": 0.9, "uncertain_high": 0.5}
    with pytest.raises(ParameterError, match="uncertain_low"):
        params_from_dict({"run_name": "t", "allocation": band})


def test_the_band_moved_to_the_allocation_and_an_old_file_is_told_where() -> None:
    from pcfm.params import ParameterError, params_from_dict

    with pytest.raises(ParameterError, match=r"report\.uncertain_low: .*allocation\.uncertain_low"):
        params_from_dict({"run_name": "t", "report": {"uncertain_low": 0.3}})


def test_a_kernel_that_dies_starting_is_retried_but_other_errors_are_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pcfm.base import live_kernel as statements

    monkeypatch.setattr(statements.time, "sleep", lambda seconds: None)
    calls = []

    def flaky() -> None:
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError("Kernel died before replying to kernel_info")

    statements.execute_with_retries(flaky)
    assert len(calls) == 3

    def broken() -> None:
        calls.append(1)
        raise RuntimeError("something else")

    calls.clear()
    with pytest.raises(RuntimeError, match="something else"):
        statements.execute_with_retries(broken)
    assert len(calls) == 1

    def dead() -> None:
        calls.append(1)
        raise RuntimeError("Kernel died before replying to kernel_info")

    calls.clear()
    with pytest.raises(RuntimeError, match="Kernel died"):
        statements.execute_with_retries(dead)
    assert len(calls) == statements.KERNEL_START_ATTEMPTS


def test_a_statement_that_never_finishes_is_stopped_naming_its_practice(
    run_dir: Path, tmp_path: Path, project_files: Path
) -> None:
    import time

    from pcfm.params.timeouts import TimeoutParams

    slow = nbformat.read(project_files / "notebooks" / "06_practice_statement.ipynb", 4)
    waits = "import time\nif practice_code == 'P2':\n    time.sleep(120)"
    slow.cells = [slow.cells[1], nbformat.v4.new_code_cell(waits)]  # parameters first
    notebook = tmp_path / "slow.ipynb"
    nbformat.write(slow, notebook)
    began = time.monotonic()
    with pytest.raises(StatementError) as caught:
        execute_statements(
            run_dir,
            notebook,
            ["P1", "P2", "P3"],
            workers=1,
            timeouts=TimeoutParams(statement_s=2),
        )
    assert str(caught.value) == (
        "practice statement for P2: the statement did not finish within 2 s "
        "(timeouts.statement_s); its kernel was stopped"
    )
    assert time.monotonic() - began < 30
    assert (run_dir / "notebooks" / "statements" / "P1.ipynb").exists()
    assert not (run_dir / "notebooks" / "statements" / "P3.ipynb").exists()


def test_a_statement_kernel_that_never_answers_stops_the_statements_by_name(
    run_dir: Path, tmp_path: Path, project_files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys
    import time

    from pcfm.params.timeouts import TimeoutParams

    script = tmp_path / "silent_kernel.py"
    script.write_text("import time\ntime.sleep(600)\n")  # never binds, never answers
    spec = tmp_path / "jupyter" / "kernels" / "python3"
    spec.mkdir(parents=True)
    argv = [sys.executable, str(script), "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "silent"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    notebook = project_files / "notebooks" / "06_practice_statement.ipynb"
    began = time.monotonic()
    with pytest.raises(StatementError) as caught:
        execute_statements(
            run_dir, notebook, ["P1", "P2"], workers=2, timeouts=TimeoutParams(kernel_start_s=2)
        )
    assert str(caught.value) == (
        "practice statements: the kernel starting did not finish within 2 s "
        "(timeouts.kernel_start_s); its kernel was stopped"
    )
    assert time.monotonic() - began < 30
