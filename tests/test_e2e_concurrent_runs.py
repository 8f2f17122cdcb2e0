"""Two `pcfm run`s at once, with different run names, both succeed (no race for ports).

Before kernels were started over IPC (`pcfm.base.kernels`), a kernel of one run could lose
one of its TCP ports to a kernel of the other between jupyter_client choosing it and the
kernel binding it, and die starting. The runs here are rendered without Quarto: rendering
starts no kernel, and with Quarto it would take minutes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import zmq
from conftest import TINY, write_tiny_params

from pcfm.pipeline.run import RUN_STAGES

pytestmark = pytest.mark.e2e


def _without_quarto(path: str) -> str:
    return os.pathsep.join(
        entry for entry in path.split(os.pathsep) if not (Path(entry) / "quarto").exists()
    )


def test_two_runs_at_once_both_succeed_with_complete_manifests(tmp_path: Path) -> None:
    build = tmp_path / "build"
    environment = {**os.environ, "PATH": _without_quarto(os.environ.get("PATH", ""))}
    runs = {}
    for name in ("first", "second"):
        folder = tmp_path / name
        folder.mkdir()
        params = write_tiny_params(folder, TINY.replace("run_name: tiny", f"run_name: {name}"))
        runs[name] = subprocess.Popen(
            [sys.executable, "-m", "pcfm", "run", str(params), "--build-root", str(build)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environment,
        )
    done = {name: (run, *run.communicate(timeout=1200)) for name, run in runs.items()}

    manifests = {}
    for name, (run, out, err) in done.items():
        assert run.returncode == 0, f"{name} failed:\n{err[-3000:]}"
        assert f"run complete: {build / name}" in out
        assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
        manifest = json.loads((build / name / "manifest.json").read_text(encoding="utf-8"))
        assert [stage["stage"] for stage in manifest["stages"]] == list(RUN_STAGES)
        assert all(stage["status"] == "ok" for stage in manifest["stages"]), manifest["stages"]
        assert manifest["inputs_sha256"] and manifest["ended_at"]
        manifests[name] = manifest
        log = (build / name / "run.log").read_text(encoding="utf-8")
        assert f"run complete: {name}" in log
        if zmq.has("ipc"):
            assert "kernels connect over IPC" in log
    first, second = manifests["first"], manifests["second"]
    assert first["started_at"] < second["ended_at"] and second["started_at"] < first["ended_at"]
