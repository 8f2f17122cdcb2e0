"""The run manifest: everything needed to say what produced a run's outputs.

Records the SHA-256 of every input file and of the parameter file, the parameters as
loaded, the code version (pcfm's version from its git tag and, in a source checkout, the git
commit and whether the tree had uncommitted changes), the versions of the packages, the
seed, and the start and end time of each stage.
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from pcfm.data.contract import input_files

#: Packages whose versions go into the manifest (the project's direct dependencies).
RECORDED_PACKAGES = (
    "pcfm",
    "pandas",
    "numpy",
    "scipy",
    "statsmodels",
    "matplotlib",
    "duckdb",
    "pyarrow",
    "pydantic",
    "pyyaml",
    "papermill",
    "nbconvert",
    "nbformat",
    "ipykernel",
    "openpyxl",
    "tabulate",
    "jupyter",
)


def sha256_of(path: Path) -> str:
    """SHA-256 of a file, read in blocks so large inputs do not fill memory."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def hash_inputs(data_dir: Path) -> dict[str, str]:
    """SHA-256 of each file a run reads (:func:`input_files`), keyed by relative path."""
    return {
        path.relative_to(data_dir).as_posix(): sha256_of(path) for path in input_files(data_dir)
    }


def _installed_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def pcfm_version() -> str:
    """pcfm's installed version, as the manifest records it under ``code.version``."""
    return _installed_version("pcfm")


def package_versions() -> dict[str, str]:
    """Installed versions of the recorded packages ('not installed' where absent)."""
    return {name: _installed_version(name) for name in RECORDED_PACKAGES}


def code_version(project_root: Path) -> dict[str, Any]:
    """The version of pcfm and, in a source checkout, its git commit and uncommitted changes.

    The version comes from the git tag at build time (setuptools-scm), so an installed wheel,
    which has no repository, still says which code it is; its commit is then "unknown". A
    ``project_root`` that is not the top of a git work tree (an installed package inside some
    other repository) is not asked, so the commit is never another project's.
    """

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(project_root), *args],
                capture_output=True,
                text=True,
                check=True,
                timeout=30,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip()

    top = git("rev-parse", "--show-toplevel")
    in_checkout = top is not None and Path(top).resolve() == project_root.resolve()
    commit = git("rev-parse", "HEAD") if in_checkout else None
    status = git("status", "--porcelain", "--untracked-files=no") if in_checkout else None
    return {
        "version": _installed_version("pcfm"),
        "git_commit": commit or "unknown",
        "uncommitted_changes": bool(status),
    }


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class RunManifest:
    """Built up while a run proceeds, then written as ``manifest.json``."""

    run_name: str
    seed: int
    parameters: dict[str, Any]
    parameter_file: dict[str, str]
    project_root: Path
    inputs: dict[str, str] = field(default_factory=dict)
    stages: list[dict[str, Any]] = field(default_factory=list)
    started_at: str = field(default_factory=_now)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time one stage; a stage that raises is recorded as failed."""
        record: dict[str, Any] = {"stage": name, "started_at": _now(), "status": "running"}
        self.stages.append(record)
        start = time.perf_counter()
        try:
            yield
        except BaseException:
            record["status"] = "failed"
            raise
        else:
            record["status"] = "ok"
        finally:
            record["ended_at"] = _now()
            record["duration_s"] = round(time.perf_counter() - start, 3)

    def to_dict(self) -> dict[str, Any]:
        """The manifest as written to disk."""
        return {
            "run_name": self.run_name,
            "started_at": self.started_at,
            "ended_at": _now(),
            "seed": self.seed,
            "parameter_file": self.parameter_file,
            "parameters": self.parameters,
            "inputs_sha256": self.inputs,
            "code": code_version(self.project_root),
            "python": platform.python_version(),
            "packages": package_versions(),
            "stages": self.stages,
        }

    def write(self, path: Path) -> None:
        """Write the manifest as indented JSON."""
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
