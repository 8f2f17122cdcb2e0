"""Shared fixtures, and the rule that every test carries exactly one tier marker."""

from __future__ import annotations

from pathlib import Path

import pytest

from pcfm.base.resources import project_dir

TIERS = ("unit", "integration", "e2e")
PROJECT_ROOT = Path(__file__).resolve().parents[1]
PUBLIC_DATA = PROJECT_ROOT.parent / "shared" / "data" / "public"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Stop the session if any test is not marked with exactly one of unit, integration, e2e."""
    unmarked = [
        item.nodeid
        for item in items
        if len([m for m in item.iter_markers() if m.name in TIERS]) != 1
    ]
    if unmarked:
        listed = "\n  ".join(unmarked[:20])
        raise pytest.UsageError(f"tests need exactly one tier marker of {TIERS}:\n  {listed}")


@pytest.fixture(scope="session")
def project_root() -> Path:
    """The repository root, for what only a checkout has (params/, the lock, environment.yml)."""
    return PROJECT_ROOT


@pytest.fixture(scope="session")
def project_files() -> Path:
    """The notebooks, methodology and Quarto book, found the way a run finds them."""
    return project_dir()


@pytest.fixture(scope="session")
def public_data_dir() -> Path:
    """The real public files beside the repository; tests using it skip where it is absent."""
    if not PUBLIC_DATA.is_dir():
        pytest.skip(f"public data folder {PUBLIC_DATA} is absent")
    return PUBLIC_DATA


#: The smallest whole run the e2e tests use: 3,000 synthetic patients in 8 practices.
TINY = """\
run_name: tiny
seed: 7
data:
  source: synthetic
  synthetic:
    n_patients: 3000
    n_practices: 8
# 8 practices whose deprived practices hold only deprived patients: deprivation is not
# identified within practices, so this ICB is fitted without them (test_02_model_validation).
model:
  supply_sterilisation: none
allocation:
  budget_gbp: 100000.01
"""


def write_tiny_params(folder: Path, text: str = TINY) -> Path:
    """Write a parameter file (the tiny run's unless ``text`` is given) into ``folder``."""
    path = folder / "tiny.yml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished tiny run (`pcfm run` end to end, Quarto or not as the machine has it)."""
    from pcfm.pipeline.run import run_pipeline

    root = tmp_path_factory.mktemp("e2e")
    return run_pipeline(write_tiny_params(root), build_root=root / "build").run_dir
