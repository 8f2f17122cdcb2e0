"""Tables of the methodology's appendices, generated from the code and the run's manifest."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd

from pcfm.data.contract import contract_frame
from pcfm.params import Params
from pcfm.params.reference import parameter_reference
from pcfm.pipeline.folder import RunFolder


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
