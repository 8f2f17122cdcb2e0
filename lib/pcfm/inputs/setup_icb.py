"""``pcfm setup``: one command from the public files to a ready parameter file and data folder.

``pcfm setup CODE --public DIR`` writes ``params/<code>.yml`` with every rule of
:class:`pcfm.params.public.PublicParams` spelt out (the payments year, the extract, the
pass-through lines as that year spells them, the uplift, places, mergers), then builds the data
folder from that file. An ICB edits the rules and rebuilds with ``pcfm setup --params FILE``;
``pcfm run FILE`` then runs the model. The run checks that the folder was made by the file's
rules, so the two can never silently disagree.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from pcfm.inputs.from_public import default_rules, load_public_files, write_public_icb
from pcfm.inputs.funding_rule import default_pass_through, funding_rule
from pcfm.inputs.public.qof import qof_prevalence_files
from pcfm.params import Params, load_params
from pcfm.params.data import SYNTHETIC_REFERENCE_END, SYNTHETIC_REFERENCE_START
from pcfm.params.public import PublicParams

#: Model and allocation settings written into a new ICB's parameter file (the LLR model).
MODEL_SETTINGS = {
    "covariates": [
        "age_sex",
        "deprivation",
        "morbidity",
        "newly_registered",
        "care_home",
        "interpreter_needed",
    ],
    "family": "poisson",
    "supply_sterilisation": "practice_effects",
}
ALLOCATION_SETTINGS = {
    "policy": "top_up_to_average",
    "budget_gbp": 2_850_000,
    "bootstrap_replicates": 500,
}


@dataclass(frozen=True)
class SetupResult:
    """What ``pcfm setup`` wrote."""

    params_path: Path
    data_dir: Path
    practices: int
    adjustments: int


def _relative(path: Path, start: Path) -> str:
    return Path(os.path.relpath(Path(path).resolve(), start.resolve())).as_posix()


def financial_year_of(extract_date: str) -> str:
    """The financial year an ISO date falls in: 2025-12-01 → 2025-26; 2026-02-01 → 2025-26."""
    year, month = int(extract_date[:4]), int(extract_date[5:7])
    start = year if month >= 4 else year - 1
    return f"{start}-{(start + 1) % 100:02d}"


def write_icb_params(
    public_dir: str | Path,
    icb_code: str,
    params_path: str | Path,
    data_dir: str | Path,
    *,
    places_csv: str | Path | None = None,
    successors_csv: str | Path | None = None,
    patient_scale: float = 1.0,
    payments_year: str | None = None,
    extract_date: str | None = None,
    seed: int = 20250401,
) -> Path:
    """Write a ready parameter file for ``icb_code``, every rule spelt out; return its path."""
    params_path = Path(params_path)
    home = params_path.parent
    home.mkdir(parents=True, exist_ok=True)
    files = load_public_files(public_dir, payments_year, extract_date)
    rules = default_rules(public_dir, icb_code)
    rule = funding_rule(files.payment_lines, rules.funding)
    icb_rows = files.practice_map[files.practice_map["icb_code"] == rules.icb_code]
    icb_name = str(icb_rows["icb_name"].iloc[0]) if len(icb_rows) else rules.icb_code
    public: dict[str, object] = {
        "files": _relative(Path(public_dir), home),
        "icb_code": rules.icb_code,
        "payments_year": files.payments_year,
        "extract_date": files.extract,
        "funding": {
            "pass_through": default_pass_through(files.payment_lines),
            "uplift": 1.0,
            "uplift_basis": f"none stated: payments in {files.payments_year} pounds",
        },
        "places_csv": _relative(Path(places_csv), home) if places_csv else None,
        "successors_csv": _relative(Path(successors_csv), home) if successors_csv else None,
        "detect_mergers": True,
        "list_change_threshold": 0.10,
        "special_services": {},
        "qof_morbidity": True,
        "qof_year": list(qof_prevalence_files(public_dir))[-1],
        "ordinary_practices": [],
        "patient_scale": patient_scale,
    }
    document = {
        "run_name": f"{rules.icb_code.lower()}-public",
        "seed": seed,
        "data": {
            "source": "folder",
            "folder": _relative(Path(data_dir), home),
            "funding_definition": rule.definition,
            # the synthetic patients' and appointments' year (`pcfm.inputs.synthetic`)
            "reference_period": {
                "start": SYNTHETIC_REFERENCE_START.isoformat(),
                "end": SYNTHETIC_REFERENCE_END.isoformat(),
            },
            "public": public,
        },
        "model": MODEL_SETTINGS,
        "allocation": ALLOCATION_SETTINGS,
        "report": {
            "icb_name": f"{icb_name} (real practices, synthetic patients)",
            "financial_year": financial_year_of(files.extract),
        },
    }
    header = (
        f"# {icb_name} ({rules.icb_code}) on public data:\n"
        "# its real practices, lists, PCNs, IMD scores, Carr-Hill weighted lists and payments,\n"
        "# with synthetic patients. State the uplift to the report's year under\n"
        "# data.public.funding (uplift and uplift_basis).\n"
        f"# Written by `pcfm setup {rules.icb_code} --public ...`. Edit the rules under\n"
        "# data.public (every key is described in the methodology's parameter reference),\n"
        f"# rebuild the data folder with `pcfm setup --params {params_path.as_posix()}`, then\n"
        f"# `pcfm run {params_path.as_posix()}`.\n"
    )
    params_path.write_text(
        header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=96),
        encoding="utf-8",
    )
    return params_path


def resolved_rules(params: Params) -> PublicParams:
    """The parameter file's public-data rules with their paths resolved against the file."""
    rules = params.data.public
    if rules is None:
        raise ValueError(f"{params.source_path}: no data.public section (nothing to set up)")
    return rules.model_copy(
        update={
            "files": params.resolve(rules.files),
            "places_csv": params.resolve(rules.places_csv),
            "successors_csv": params.resolve(rules.successors_csv),
        }
    )


def build_from_params(params_path: str | Path) -> SetupResult:
    """(Re)build the data folder a parameter file's ``data.public`` rules describe."""
    params = load_params(params_path)
    data_dir = params.resolve(params.data.folder)
    assert data_dir is not None  # data.public requires data.source 'folder'
    _, inputs = write_public_icb(resolved_rules(params), data_dir, params.seed)
    return SetupResult(Path(params_path), data_dir, len(inputs.practices), len(inputs.adjustments))


def setup_icb(
    public_dir: str | Path,
    icb_code: str,
    params_path: str | Path,
    data_dir: str | Path,
    **options: object,
) -> SetupResult:
    """Write the ICB's parameter file, then build its data folder from it."""
    written = write_icb_params(public_dir, icb_code, params_path, data_dir, **options)  # type: ignore[arg-type]
    return build_from_params(written)
