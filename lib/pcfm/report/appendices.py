"""Tables of the methodology's appendices, generated from the code, the run's manifest and
the logs kept as data beside the chapters (`methodology/assumptions.yml`,
`methodology/changelog.yml`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from pcfm.base.folder import RunFolder
from pcfm.base.resources import project_file
from pcfm.data.contract import contract_frame
from pcfm.params import Params
from pcfm.params.reference import parameter_reference

ASSUMPTION_FIELDS = ("id", "statement", "rationale", "impact")
IMPACT_LEVELS = ("high", "medium", "low")
CHANGE_FIELDS = ("version", "date", "change")


class MethodologyLogError(ValueError):
    """An assumptions log or changelog that cannot be rendered, naming file and entry."""


def _read_log(path: Path, key: str, fields: tuple[str, ...]) -> list[dict]:
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as error:
        raise MethodologyLogError(f"{path}: cannot read ({error.strerror})") from None
    except yaml.YAMLError as error:
        raise MethodologyLogError(f"{path}: not valid YAML: {error}") from None
    entries = content.get(key) if isinstance(content, dict) else None
    if not isinstance(entries, list) or not entries:
        raise MethodologyLogError(f"{path}: needs a non-empty list under {key!r}")
    for number, entry in enumerate(entries, start=1):
        missing = [f for f in fields if not isinstance(entry, dict) or not entry.get(f)]
        if missing:
            raise MethodologyLogError(f"{path}: {key} entry {number}: missing {', '.join(missing)}")
    return entries


def assumptions_table(path: Path | None = None) -> pd.DataFrame:
    """The assumptions log (id, statement, rationale, impact), from its YAML file.

    Raises:
        MethodologyLogError: a missing field, an unknown impact level or a repeated id.
    """
    path = path or project_file("methodology", "assumptions.yml")
    entries = _read_log(path, "assumptions", ASSUMPTION_FIELDS)
    table = pd.DataFrame(entries)
    bad = table.loc[~table["impact"].isin(IMPACT_LEVELS), "id"].tolist()
    if bad:
        raise MethodologyLogError(
            f"{path}: impact must be one of {', '.join(IMPACT_LEVELS)} (entries {bad[:5]})"
        )
    repeated = table.loc[table["id"].duplicated(), "id"].tolist()
    if repeated:
        raise MethodologyLogError(f"{path}: ids used more than once: {repeated[:5]}")
    return table[list(ASSUMPTION_FIELDS)]


def changelog_table(path: Path | None = None) -> pd.DataFrame:
    """Changes to the method, newest first, from its YAML file."""
    path = path or project_file("methodology", "changelog.yml")
    entries = _read_log(path, "changes", CHANGE_FIELDS)
    return pd.DataFrame(entries)[list(CHANGE_FIELDS)].astype(str)


def data_contract_table() -> pd.DataFrame:
    """The data contract, straight from `pcfm.data.contract` (its single source of truth)."""
    return contract_frame()


def parameter_table(params: Params) -> pd.DataFrame:
    """Every parameter with its description and the value used in this run."""
    return parameter_reference(params)


@dataclass(frozen=True)
class ProvenanceTables:
    """The manifest as two tables: inputs and their hashes; code, seed and packages."""

    inputs: pd.DataFrame
    code: pd.DataFrame


def provenance_tables(folder: RunFolder) -> ProvenanceTables:
    """Read the run's manifest (written before the notebooks run) into tables."""
    manifest = json.loads(folder.manifest.read_text(encoding="utf-8"))
    parameter_file = manifest["parameter_file"]
    inputs = pd.DataFrame(
        [{"file": f"parameters: {parameter_file['path']}", "sha256": parameter_file["sha256"]}]
        + [{"file": name, "sha256": digest} for name, digest in manifest["inputs_sha256"].items()]
    )
    code = pd.DataFrame(
        [
            {"item": "git commit", "value": manifest["code"]["git_commit"]},
            {"item": "uncommitted changes", "value": str(manifest["code"]["uncommitted_changes"])},
            {"item": "seed", "value": str(manifest["seed"])},
            {"item": "python", "value": manifest["python"]},
        ]
        + [{"item": name, "value": v} for name, v in sorted(manifest["packages"].items())]
    )
    return ProvenanceTables(inputs, code)
