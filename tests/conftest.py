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
