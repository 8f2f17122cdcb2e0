"""How the input tables were made, as the data stage publishes it.

A data folder made from the public files (``pcfm setup``) carries ``provenance/``: the rules
it was made by, every practice left out or adjusted, and every payment line with whether it
counts. The data stage checks those rules against the run's parameters and publishes the
tables, so the report lists every exclusion, adjustment and merger. A folder an ICB supplies
itself has no ``provenance/``: its funding definition comes from the parameters and its
places are as supplied. Everything here is a published aggregate about practices.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pcfm.data.contract import PROVENANCE_DIR
from pcfm.params import Params
from pcfm.params.public import rules_record

#: Files of ``<data folder>/provenance/``.
SOURCES_FILE = "public_sources.json"
ADJUSTMENTS_FILE = "adjustments.csv"
FUNDING_LINES_FILE = "funding_lines.csv"
PRACTICE_SOURCES_FILE = "practice_sources.csv"
#: Columns of the adjustments table (one row per practice left out or adjusted).
ADJUSTMENT_COLUMNS = ("practice_code", "practice_name", "adjustment", "detail")
#: Columns of the places table.
PLACE_COLUMNS = ("practice_code", "practice_name", "pcn_name", "place", "place_source")


class ProvenanceError(ValueError):
    """A data folder made by other rules than the run's parameters state."""


@dataclass(frozen=True)
class Provenance:
    """What the data stage publishes about how its inputs were made."""

    sources: pd.DataFrame
    adjustments: pd.DataFrame
    funding_lines: pd.DataFrame
    places: pd.DataFrame


def _differences(made: dict, stated: dict, prefix: str = "") -> list[str]:
    found = []
    for key in sorted(set(made) | set(stated)):
        a, b = made.get(key), stated.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            found += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            found.append(f"{prefix}{key}: folder {a!r}, parameters {b!r}")
    return found


def check_made_by_rules(data_dir: Path, params: Params) -> None:
    """Fail unless the folder was made by the rules ``data.public`` states (if it states any).

    Raises:
        ProvenanceError: if the folder was made from the public files by other rules, or the
            parameters state rules for a folder that was not made by ``pcfm setup``.
    """
    rules = params.data.public
    if rules is None:
        return
    sources_path = Path(data_dir) / PROVENANCE_DIR / SOURCES_FILE
    if not sources_path.is_file():
        raise ProvenanceError(
            f"{data_dir}: no {PROVENANCE_DIR}/{SOURCES_FILE}, but the parameters state "
            f"data.public rules: build the folder with `pcfm setup --params {params.source_path}`"
        )
    sources = json.loads(sources_path.read_text(encoding="utf-8"))
    differences = _differences(sources.get("rules", {}), rules_record(rules))
    if differences:
        raise ProvenanceError(
            f"{data_dir}: made by other rules than data.public in {params.source_path} ("
            + "; ".join(differences)
            + f"): rebuild it with `pcfm setup --params {params.source_path}`"
        )


def read_provenance(data_dir: Path, params: Params, practices: pd.DataFrame) -> Provenance:
    """The published tables on how the inputs were made (see :func:`check_made_by_rules`)."""
    folder = Path(data_dir) / PROVENANCE_DIR
    sources_path = folder / SOURCES_FILE
    if not sources_path.is_file():
        return Provenance(
            sources=pd.DataFrame(
                {
                    "item": ["Current funding", "Places"],
                    "value": [params.data.funding_definition, "as supplied in the practices table"],
                }
            ),
            adjustments=pd.DataFrame(columns=list(ADJUSTMENT_COLUMNS)),
            funding_lines=pd.DataFrame(
                {
                    "payment_line": ["practices.current_funding_gbp, as supplied"],
                    "counted": ["yes"],
                    "total_gbp": [float(practices["current_funding_gbp"].sum())],
                    "practices_paid": [int((practices["current_funding_gbp"] > 0).sum())],
                }
            ),
            places=_places(practices),
        )
    sources = json.loads(sources_path.read_text(encoding="utf-8"))
    items = {
        "ICB": f"{sources.get('icb_name', '')} ({sources.get('icb_code', '')})",
        "Registration extract": sources.get("registration_extract_date"),
        "Payments year": sources.get("payments_year"),
        "Payments file": sources.get("payments_file"),
        "Current funding": sources.get("funding_definition"),
        "Uplift to the report's year": f"x{sources.get('uplift', 1.0):.4g} "
        f"({sources.get('uplift_basis', '')})",
        "Lists reported as changed": f"by more than {sources.get('list_change_threshold', 0):.0%}",
        "Place map": sources.get("place_map") or "none: the default rule",
        "Morbidity": (
            f"conditions drawn to each practice's QOF {sources['qof_year']} registers "
            f"({sources.get('qof_file', '')}): {', '.join(sources.get('qof_conditions', []))}; "
            "the other conditions synthetic"
            if sources.get("qof_year")
            else "synthetic (no QOF registers used)"
        ),
        "Practices in the ICB": sources.get("practices_in_icb"),
        "Practices kept": sources.get("practices_kept"),
        "Mergers carried": sources.get("mergers"),
    }
    table = pd.DataFrame({"item": list(items), "value": [str(v) for v in items.values()]})
    adjustments = pd.read_csv(folder / ADJUSTMENTS_FILE, dtype=str, keep_default_na=False)
    lines = pd.read_csv(folder / FUNDING_LINES_FILE, keep_default_na=False)
    return Provenance(table, adjustments[list(ADJUSTMENT_COLUMNS)], lines, _places(practices))


def _places(practices: pd.DataFrame) -> pd.DataFrame:
    """Every practice's place and how it was decided."""
    table = practices.copy()
    if "place_source" not in table:
        table["place_source"] = "as supplied in the practices table"
    table["place_source"] = table["place_source"].fillna("as supplied in the practices table")
    if "pcn_name" not in table:
        table["pcn_name"] = ""
    return table[list(PLACE_COLUMNS)].sort_values(["place", "practice_code"]).reset_index(drop=True)
