"""The environment files cannot drift apart: pyproject, environment.yml and the lock agree."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.unit


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


#: The benchmark extra (pyfixest, the library anchor of benchmarks/bench_model.py) is pinned
#: in its own lock, installed by `make benchmark` only, and not part of environment.yml.
BENCH_EXTRA = "bench"


def _pyproject_packages(root: Path, bench: bool = False) -> set[str]:
    """The runtime and dev packages, or with ``bench`` only the benchmark extra's."""
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    extras = project.get("optional-dependencies", {})
    if bench:
        return {_name(r) for r in extras[BENCH_EXTRA]}
    names = {_name(r) for r in project["dependencies"]}
    for extra, requirements in extras.items():
        if extra != BENCH_EXTRA:
            names |= {_name(r) for r in requirements}
    return names


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line)
        if match:
            pins[match.group(1).lower().replace("_", "-")] = match.group(2)
    return pins


def test_environment_yml_names_the_same_packages_plus_quarto(project_root: Path) -> None:
    environment = yaml.safe_load((project_root / "environment.yml").read_text())
    conda = {_name(d) for d in environment["dependencies"] if isinstance(d, str)}
    assert "quarto" in conda
    quarto = [d for d in environment["dependencies"] if isinstance(d, str) and _name(d) == "quarto"]
    assert quarto == ["quarto>=1.9"]  # Typst output of a book needs Quarto 1.9
    assert conda - {"quarto", "python", "pip"} == _pyproject_packages(project_root)


def test_lock_pins_every_package_exactly(project_root: Path) -> None:
    pins = _pins(project_root / "requirements.lock")
    missing = _pyproject_packages(project_root) - set(pins)
    assert missing == set()
    bench_pins = _pins(project_root / "requirements-bench.lock")
    assert _pyproject_packages(project_root, bench=True) - set(bench_pins) == set()
    assert set(bench_pins) & set(pins) == set()  # installed with --no-deps on top
    unpinned = [
        line
        for line in (project_root / "requirements.lock").read_text().splitlines()
        if line and not line.startswith((" ", "#", "-")) and "==" not in line
    ]
    assert unpinned == []
