"""pcfm installed from its wheel runs from any folder, with no source checkout in sight.

The wheel is built from this repository (offline: the build backend is in the lock), installed
into a fresh virtual environment outside the repository, and ``pcfm run`` is called from an
empty folder. The fresh environment borrows the dependencies of the test's own environment by
a path-only ``.pth`` line: that adds their folder to ``sys.path`` without running the ``.pth``
files in it, so the editable install of this checkout stays invisible, and ``JUPYTER_PATH``
names their Jupyter data files. (``--system-site-packages`` would not do: a venv made by a
venv's Python sees the base interpreter's packages, not the venv's.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from test_e2e_run import TINY

pytestmark = pytest.mark.e2e

#: Building the wheel is a repository thing, so the repository is found from this file.
REPOSITORY = Path(__file__).resolve().parents[1]


def _run(command: list[str | Path], **kwargs: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, check=False, **kwargs
    )
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with pcfm installed from its wheel; returns its bin/."""
    root = tmp_path_factory.mktemp("installed")
    wheels = root / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
          "-w", wheels, REPOSITORY])  # fmt: skip
    (wheel,) = wheels.glob("pcfm-*.whl")
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv])
    python = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index",
          "--quiet", wheel])  # fmt: skip
    purelib = _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    borrowed = sysconfig.get_paths()["purelib"]
    (Path(purelib.stdout.strip()) / "_borrowed_dependencies.pth").write_text(borrowed + "\n")
    return venv / "bin"


def _environment(bin_dir: Path) -> dict[str, str]:
    """The fresh environment first on PATH; Jupyter's data files (nbconvert's templates) are
    installed beside the borrowed packages' prefix, not in site-packages, so point at them."""
    environment = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    environment["PATH"] = f"{bin_dir}{os.pathsep}{environment.get('PATH', '')}"
    environment["JUPYTER_PATH"] = str(Path(sys.prefix) / "share" / "jupyter")
    return environment


def test_the_installed_package_ships_its_project_files(installed: Path, tmp_path: Path) -> None:
    shown = _run(
        [installed / "python", "-c",
         "import pcfm, pcfm.base.resources as r; print(pcfm.__file__); print(r.project_dir())"],
        cwd=tmp_path, env=_environment(installed),
    ).stdout.split("\n")  # fmt: skip
    package, project = Path(shown[0]).parent, Path(shown[1])
    assert REPOSITORY not in package.parents, package
    assert project == package / "_project"
    for name in ("_quarto.yml", "index.qmd", "methodology/assumptions.yml",
                 "methodology/changelog.yml", "notebooks/06_practice_statement.ipynb"):  # fmt: skip
        assert (project / name).is_file(), name


def test_pcfm_run_from_an_empty_folder(installed: Path, tmp_path: Path) -> None:
    params = tmp_path / "params" / "tiny.yml"
    params.parent.mkdir()
    params.write_text(TINY)
    work = tmp_path / "work"
    work.mkdir()
    done = _run([installed / "pcfm", "run", params], cwd=work, env=_environment(installed))
    assert "pcfm: run complete: build/tiny" in done.stdout
    run_dir = work / "build" / "tiny"
    assert (run_dir / "report" / "index.html").is_file()
    assert (run_dir / "publishable" / "allocation.csv").stat().st_size > 0
    assert (run_dir / "notebooks" / "06_appendices.ipynb").is_file()

    manifest = json.loads((run_dir / "manifest.json").read_text())
    version = _run([installed / "pcfm", "--version"], env=_environment(installed)).stdout.split()
    assert manifest["code"]["version"] == version[1] == manifest["packages"]["pcfm"]
    assert manifest["code"]["git_commit"] == "unknown"  # an installed wheel has no repository
