"""What the wheel ships and how it says what it is: project files, version, licence, citation."""

from __future__ import annotations

import re
import subprocess
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml

import pcfm
from pcfm.base.resources import project_dir, project_file
from pcfm.pipeline.manifest import code_version
from pcfm.stages import STAGES, STATEMENT_NOTEBOOK, stage_notebooks

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def pyproject(project_root: Path) -> dict:
    return tomllib.loads((project_root / "pyproject.toml").read_text(encoding="utf-8"))


def test_the_wheel_ships_the_top_level_project_files(pyproject: dict, project_root: Path) -> None:
    shipped = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    assert set(shipped) == {"notebooks", "methodology", "index.qmd", "_quarto.yml"}
    for source, target in shipped.items():
        assert (project_root / source).exists(), source
        assert target == f"pcfm/_project/{source}"


def test_an_editable_install_reads_the_checkout(project_root: Path) -> None:
    assert project_dir() == project_root
    assert not (Path(pcfm.__file__).parent / "_project").exists()


def test_every_file_a_run_needs_is_found(project_files: Path) -> None:
    for notebook in [*stage_notebooks(), STATEMENT_NOTEBOOK]:
        assert project_file("notebooks", notebook).is_file(), notebook
    for stage in STAGES:
        if stage.chapter:
            assert project_file(*stage.chapter.split("/")).is_file(), stage.chapter
    for name in ("assumptions.yml", "changelog.yml"):
        assert (project_files / "methodology" / name).is_file()


def test_the_manifest_records_version_and_commit(project_root: Path, tmp_path: Path) -> None:
    head = subprocess.run(
        ["git", "-C", str(project_root), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    in_checkout = code_version(project_root)
    assert in_checkout["version"] == version("pcfm") == pcfm.__version__
    assert in_checkout["git_commit"] == head
    # a folder inside the repository is not its top: an installed package would look like this
    assert code_version(project_root / "lib" / "pcfm")["git_commit"] == "unknown"
    elsewhere = code_version(tmp_path)
    assert elsewhere == {
        "version": pcfm.__version__,
        "git_commit": "unknown",
        "uncommitted_changes": False,
    }


def test_the_version_comes_from_git_tags(pyproject: dict) -> None:
    assert "version" not in pyproject["project"]
    assert pyproject["project"]["dynamic"] == ["version"]
    assert pyproject["tool"]["hatch"]["version"]["source"] == "vcs"
    assert "hatch-vcs" in " ".join(pyproject["build-system"]["requires"])
    # PEP 440, e.g. 0.1.0, or 0.1.dev28+g871450a19 between tags
    assert re.fullmatch(
        r"\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?(\+[\w.]+)?", pcfm.__version__
    )


def test_licence_is_mit_and_shipped(pyproject: dict, project_root: Path) -> None:
    assert pyproject["project"]["license"] == "MIT"
    assert pyproject["project"]["license-files"] == ["LICENSE"]
    text = (project_root / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n")
    assert re.search(r"Copyright \(c\) \d{4} pcfm contributors", text)
    assert 'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND' in text


def test_citation_file_says_what_the_project_says(pyproject: dict, project_root: Path) -> None:
    """CITATION.cff was validated with cffconvert 2.0.0 (its jsonschema pin conflicts with
    Jupyter's, so it is not a dependency); this keeps it in step with pyproject."""
    citation = yaml.safe_load((project_root / "CITATION.cff").read_text(encoding="utf-8"))
    assert citation["cff-version"] == "1.2.0"
    assert {"cff-version", "message", "title", "authors"} <= set(citation)
    assert citation["license"] == pyproject["project"]["license"]
    assert citation["title"].startswith(f"{pyproject['project']['name']}:")
    assert citation["authors"] == [{"name": "pcfm contributors"}]
    assert "version" not in citation  # a fixed version would drift from the git tags
