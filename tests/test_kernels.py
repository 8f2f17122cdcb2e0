"""Kernels start over IPC in the run's own folder, and what they write goes to the log only."""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import papermill
import pytest

from pcfm.base.kernels import (
    LONGEST_SOCKET_NAME,
    MAX_SOCKET_PATH,
    RunKernelManager,
    ipc_transport_available,
    run_kernels,
)

pytestmark = pytest.mark.integration

#: A cell that prints how its kernel is connected: transport and connection file.
WHERE_AM_I = """\
import json
from ipykernel.connect import get_connection_file
with open(get_connection_file()) as handle:
    info = json.load(handle)
print(json.dumps({"transport": info["transport"], "file": get_connection_file()}))
"""


def _notebook(tmp_path: Path) -> Path:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(WHERE_AM_I)])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    path = tmp_path / "where.ipynb"
    nbformat.write(notebook, path)
    return path


def _execute(notebook: Path, output: Path, log_level: str = "ERROR") -> dict[str, str]:
    executed = papermill.execute_notebook(
        str(notebook),
        str(output),
        kernel_name="python3",
        kernel_manager_class=RunKernelManager,
        progress_bar=False,
        extra_arguments=[f"--IPKernelApp.log_level={log_level}"],
    )
    return json.loads(executed.cells[0].outputs[0]["text"])


def test_kernels_use_ipc_in_the_runs_own_folder_and_their_output_goes_to_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    notebook = _notebook(tmp_path)
    with caplog.at_level(logging.DEBUG, logger="pcfm.base.kernels"), run_kernels() as folder:
        assert folder.transport == "ipc"
        assert oct(folder.path.stat().st_mode & 0o777) == "0o700"  # the file holds the key
        # a chatty kernel: ipykernel logs to the kernel process's standard error
        connected = _execute(notebook, tmp_path / "out.ipynb", log_level="DEBUG")
        assert connected["transport"] == "ipc"
        assert Path(connected["file"]).parent == folder.path
    assert not folder.path.exists()
    kernel_lines = [r.getMessage() for r in caplog.records if r.name == "pcfm.base.kernels"]
    assert any("[IPKernelApp] Cleaning up sockets" in line for line in kernel_lines)
    assert all(r.levelno == logging.DEBUG for r in caplog.records if r.name == "pcfm.base.kernels")
    terminal = capfd.readouterr()
    assert "IPKernelApp" not in terminal.err + terminal.out


def test_kernels_at_once_each_have_their_own_sockets(tmp_path: Path) -> None:
    notebook = _notebook(tmp_path)
    with run_kernels() as folder, ThreadPoolExecutor(max_workers=4) as pool:
        futures = [
            pool.submit(_execute, notebook, tmp_path / f"out{number}.ipynb") for number in range(4)
        ]
        files = {future.result()["file"] for future in futures}
    assert len(files) == 4
    assert {Path(file).parent for file in files} == {folder.path}


def test_tcp_is_the_fallback_with_the_connection_files_still_in_the_folder(
    tmp_path: Path,
) -> None:
    notebook = _notebook(tmp_path)
    with run_kernels(transport="tcp") as folder:
        connected = _execute(notebook, tmp_path / "out.ipynb")
    assert connected["transport"] == "tcp"
    assert Path(connected["file"]).parent == folder.path


def test_ipc_is_not_used_where_socket_paths_would_be_too_long(tmp_path: Path) -> None:
    assert ipc_transport_available(Path("/tmp/pcfm-kernels-abcdefgh"))
    too_deep = Path("/tmp") / ("x" * (MAX_SOCKET_PATH - len(LONGEST_SOCKET_NAME)))
    assert not ipc_transport_available(too_deep)


#: A kernel that dies on its first start with a ZMQ traceback, as one that lost a port does,
#: and starts properly the next time.
FLAKY_KERNEL = """\
import os, sys
marker, connection_file = sys.argv[1], sys.argv[2]
if not os.path.exists(marker):
    open(marker, "w").close()
    sys.stderr.write("Traceback (most recent call last):\\n")
    sys.stderr.write("zmq.error.ZMQError: Address already in use (addr='tcp://127.0.0.1:5555')\\n")
    sys.exit(1)
os.execv(sys.executable, [sys.executable, "-m", "ipykernel_launcher", "-f", connection_file])
"""


def test_a_retried_kernel_start_leaves_its_traceback_in_the_log_not_on_the_terminal(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    import sys

    from pcfm.base.live_kernel import execute_with_retries

    script = tmp_path / "flaky_kernel.py"
    script.write_text(FLAKY_KERNEL)
    spec = tmp_path / "jupyter" / "kernels" / "flaky"
    spec.mkdir(parents=True)
    argv = [sys.executable, str(script), str(tmp_path / "started"), "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "flaky", "language": "python"})
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    notebook = _notebook(tmp_path)
    with caplog.at_level(logging.DEBUG, logger="pcfm.base.kernels"), run_kernels():
        execute_with_retries(
            lambda: papermill.execute_notebook(
                str(notebook),
                str(tmp_path / "out.ipynb"),
                kernel_name="flaky",
                kernel_manager_class=RunKernelManager,
                progress_bar=False,
            )
        )
    kernel_lines = [r.getMessage() for r in caplog.records if r.name == "pcfm.base.kernels"]
    assert any("ZMQError: Address already in use" in line for line in kernel_lines)
    terminal = capfd.readouterr()
    assert "ZMQError" not in terminal.err + terminal.out
    assert "Traceback" not in terminal.err + terminal.out
