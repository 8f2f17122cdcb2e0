"""The watchdog of reused kernels: a kernel that does not answer in time is killed, by name.

A run once hung for 22 minutes in a ZMQ send to a kernel that had half-started; these tests
make kernels that never answer and notebooks that never finish, and check that each call
gives up within its limit, kills the kernel and says what was running and which parameter
set the limit.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest

from pcfm.base import live_kernel
from pcfm.base.kernels import run_kernels
from pcfm.base.live_kernel import KernelTimeout, LiveKernel

pytestmark = pytest.mark.integration


def _notebook(folder: Path, *sources: str) -> Path:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    path = folder / "slow.ipynb"
    nbformat.write(notebook, path)
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a killed child stays a zombie until reaped: it is dead all the same
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        return handle.read().split()[2] != "Z"


def test_a_notebook_that_runs_too_long_is_stopped_and_named(tmp_path: Path) -> None:
    notebook = _notebook(tmp_path, "x = 1", "import time\ntime.sleep(120)")
    with run_kernels():
        kernel = LiveKernel(tmp_path, start_limit_s=60)
        try:
            kernel.start()
            pid = kernel.km.provisioner.pid
            began = time.monotonic()
            with pytest.raises(KernelTimeout) as caught:
                kernel.execute_notebook(
                    notebook, tmp_path / "out.ipynb", {}, 2, "notebook slow.ipynb", "limit_s"
                )
            waited = time.monotonic() - began
        finally:
            kernel.shutdown()
    assert str(caught.value) == (
        "notebook slow.ipynb did not finish within 2 s (limit_s); its kernel was stopped"
    )
    assert waited < 10
    assert not _alive(pid)


#: A "python3" kernel that starts but never binds its sockets, so never answers kernel_info.
SILENT_KERNEL = "import time\ntime.sleep(600)\n"


def test_a_kernel_that_never_answers_kernel_info_is_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "silent_kernel.py"
    script.write_text(SILENT_KERNEL)
    spec = tmp_path / "jupyter" / "kernels" / "python3"  # found before the real python3
    spec.mkdir(parents=True)
    argv = [sys.executable, str(script), "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "silent", "language": "python"})
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    with run_kernels():
        kernel = LiveKernel(tmp_path, start_limit_s=2)
        began = time.monotonic()
        with pytest.raises(KernelTimeout, match=r"within 2 s \(timeouts.kernel_start_s\)"):
            kernel.start()
        waited = time.monotonic() - began
        kernel.shutdown()
    assert waited < 10


def test_a_thread_blocked_for_good_does_not_hold_the_caller(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As in the probe: the thread talking to the kernel is stuck, not merely waiting."""
    release = threading.Event()

    class Stuck(live_kernel.RunKernelManager):
        async def start_kernel(self, **kwargs):
            release.wait(60)  # blocks the kernel's thread, and its event loop with it

    monkeypatch.setattr(live_kernel, "RunKernelManager", Stuck)
    try:
        kernel = LiveKernel(tmp_path, start_limit_s=1)
        began = time.monotonic()
        with pytest.raises(KernelTimeout, match="the kernel starting did not finish within 1 s"):
            kernel.start()
        kernel.shutdown()  # bounded, though the thread never answers
        assert time.monotonic() - began < 3 + live_kernel.KILLED_SHUTDOWN_S + 2
    finally:
        release.set()
