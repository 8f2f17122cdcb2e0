"""A run killed with ``kill -9`` at any point loses nothing: not the previous run, not the lock.

Nothing of the run's own clean-up runs after SIGKILL, so what is left is what the next run
must cope with: a scratch folder (``.<name>.*.partial``), a lock file whose lock died with
the process, and, killed between the swap's two renames, the previous run renamed aside.
Each case is a real ``kill -9`` of a real ``pcfm run`` process; the scripted ones stop the
run at an exact point with the heavy stages skipped (`_quick_run`), and one kills a real run
whose stage notebook is executing in its kernel, which must not outlive it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _quick_run import skip_the_heavy_stages
from conftest import write_tiny_params

from pcfm.base.folder import previous_of, recover_interrupted_swap
from pcfm.pipeline.run import run_pipeline

pytestmark = pytest.mark.integration

TESTS = str(Path(__file__).resolve().parent)

#: ``pcfm run`` with the heavy stages skipped, killing itself with SIGKILL at ``argv[2]``.
KILL_AT = """\
import os, signal, sys
from pathlib import Path
import pytest
sys.path.insert(0, sys.argv[1])
from _quick_run import skip_the_heavy_stages
from pcfm.cli import main
from pcfm.pipeline import run as run_module

where, params, build = sys.argv[2:5]

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

patch = pytest.MonkeyPatch()
skip_the_heavy_stages(patch)
if where == "input":
    patch.setattr(run_module, "prepare_input", die)
elif where == "01_data":
    patch.setattr(
        run_module, "execute_notebook", lambda name, *a: die() if name == "01_data.ipynb" else None
    )
elif where == "statements":
    patch.setattr(run_module, "execute_practice_statements", die)
elif where == "render":
    patch.setattr(run_module, "render_report", die)
elif where == "check_outputs":
    patch.setattr(run_module, "check_run_folder", die)
elif where == "between the renames":
    rename = Path.rename
    def rename_then_die(self, target):
        moved = rename(self, target)
        if Path(target).name.endswith(".previous"):
            die()
        return moved
    patch.setattr(Path, "rename", rename_then_die)
sys.exit(main(["run", "-q", params, "--build-root", build]))
"""


def _quick_run(params: Path, build: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    with monkeypatch.context() as quick:
        skip_the_heavy_stages(quick)
        return run_pipeline(params, build_root=build).run_dir


def _the_next_run_finds_everything_in_order(
    params: Path, build: Path, previous: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    final = build / "tiny"
    recover_interrupted_swap(final)  # the next run's first step, here to look in between
    assert (final / "manifest.json").read_bytes() == previous
    _quick_run(params, build, monkeypatch)  # the lock is free: it died with the process
    assert not list(build.glob(".tiny.*.partial"))  # the killed run's scratch is gone
    assert not previous_of(final).exists()
    assert (final / "manifest.json").read_bytes() != previous


@pytest.mark.parametrize(
    "where", ["input", "01_data", "statements", "render", "check_outputs", "between the renames"]
)
def test_a_run_killed_at_any_stage_or_inside_the_swap_loses_nothing(
    where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build = tmp_path / "build"
    params = write_tiny_params(tmp_path)
    previous = (_quick_run(params, build, monkeypatch) / "manifest.json").read_bytes()
    killed = subprocess.run(
        [sys.executable, "-c", KILL_AT, TESTS, where, str(params), str(build)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    final = build / "tiny"
    if where == "between the renames":
        assert not final.exists() and previous_of(final).is_dir()
    else:
        assert (final / "manifest.json").read_bytes() == previous
        assert list(build.glob(".tiny.*.partial"))  # left by the kill
    _the_next_run_finds_everything_in_order(params, build, previous, monkeypatch)


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads processes from /proc")
def test_a_run_killed_while_its_kernel_executes_a_stage_leaves_no_kernel_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build = tmp_path / "build"
    params = write_tiny_params(tmp_path)
    previous = (_quick_run(params, build, monkeypatch) / "manifest.json").read_bytes()
    run = subprocess.Popen(
        [sys.executable, "-m", "pcfm", "run", "-q", str(params), "--build-root", str(build)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 90
    kernels: list[int] = []
    while not kernels:  # a kernel executing the first stage notebook
        assert time.monotonic() < deadline and run.poll() is None
        if list(build.glob(".tiny.*.partial/notebooks/*.ipynb")):
            kernels = _children(run.pid)
        time.sleep(0.2)
    os.kill(run.pid, signal.SIGKILL)
    assert run.wait(timeout=30) == -signal.SIGKILL
    deadline = time.monotonic() + 30  # ipykernel polls its parent and ends without it
    while any(_running(pid) for pid in kernels):
        assert time.monotonic() < deadline, "a kernel outlived its run"
        time.sleep(0.5)
    assert (build / "tiny" / "manifest.json").read_bytes() == previous
    _the_next_run_finds_everything_in_order(params, build, previous, monkeypatch)
