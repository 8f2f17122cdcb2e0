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


def _pyproject_packages(root: Path) -> set[str]:
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    names = {_name(r) for r in project["dependencies"]}
    for extra in project.get("optional-dependencies", {}).values():
        names |= {_name(r) for r in extra}
    return names


def test_environment_yml_names_the_same_packages_plus_quarto(project_root: Path) -> None:
    environment = yaml.safe_load((project_root / "environment.yml").read_text())
    conda = {_name(d) for d in environment["dependencies"] if isinstance(d, str)}
    assert "quarto" in conda
    quarto = [d for d in environment["dependencies"] if isinstance(d, str) and _name(d) == "quarto"]
    assert quarto == ["quarto>=1.9"]  # Typst output of a book needs Quarto 1.9
    assert conda - {"quarto", "python", "pip"} == _pyproject_packages(project_root)


def test_lock_pins_every_package_exactly(project_root: Path) -> None:
    pins = {}
    for line in (project_root / "requirements.lock").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line)
        if match:
            pins[match.group(1).lower().replace("_", "-")] = match.group(2)
    missing = _pyproject_packages(project_root) - set(pins)
    assert missing == set()
    unpinned = [
        line
        for line in (project_root / "requirements.lock").read_text().splitlines()
        if line and not line.startswith((" ", "#", "-")) and "==" not in line
    ]
    assert unpinned == []
