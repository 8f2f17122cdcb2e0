"""The real practices of an ICB, built from public files, with the rules stated.

``pcfm setup CODE --public DIR`` (and ``pcfm synth --from-public DIR --icb CODE``) take the
real practices of an ICB — codes, PCNs, list sizes by age and sex, IMD scores, Carr-Hill
weighted lists and payments — from the published files and hand them to the synthetic
generator, which makes up the patients and their activity. Everything read here is a
published aggregate: the tables of rules applied and practices adjusted may be published.

The rules (:class:`pcfm.params.public.PublicParams`) are what a local medical committee asks
about: which payment lines count as funding (:mod:`pcfm.inputs.funding_rule`), the uplift,
places (:mod:`pcfm.inputs.places`), mergers (:mod:`pcfm.inputs.mergers`) and special services
(:mod:`pcfm.inputs.special_services`). Every practice left out or adjusted is one row of
``adjustments``.

The payments year is older than the extract, so each practice's funding and weighted list are
carried to the extract's list at the payments year's amount per registered patient (after its
predecessors' money and lists are added), times the uplift.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pcfm.base.folder import check_replaceable, swap_into_place
from pcfm.data.provenance import (
    ADJUSTMENT_COLUMNS,
    ADJUSTMENTS_FILE,
    FUNDING_LINES_FILE,
    PRACTICE_SOURCES_FILE,
    PROVENANCE_DIR,
    SOURCES_FILE,
)
from pcfm.inputs.funding_rule import (
    counted_funding,
    funding_lines_table,
    funding_rule,
)
from pcfm.inputs.mergers import MERGER_COLUMNS, found_mergers, read_successors, stated_mergers
from pcfm.inputs.places import (
    LEGACY_CCG_YEAR,
    assign_places,
    read_legacy_ccg_places,
    read_place_map,
)
from pcfm.inputs.public.common import (
    PublicFileError,
    choose_extract_date,
    find_files,
    most_common,
    read_columns,
)
from pcfm.inputs.public.deprivation import read_practice_imd
from pcfm.inputs.public.geography import read_practice_map
from pcfm.inputs.public.payments import (
    PaymentLines,
    payments_files,
    read_payment_lines,
    read_payments_file,
    read_practice_types,
)
from pcfm.inputs.public.qof_conditions import practice_prevalence
from pcfm.inputs.public.registered import read_registered_age_sex, registered_extract_dates
from pcfm.inputs.special_services import special_service_of
from pcfm.params.public import PublicParams, rules_record
from pcfm.reference.places import shipped_place_map

if TYPE_CHECKING:
    from pcfm.inputs.synthetic import SyntheticICB

logger = logging.getLogger(__name__)

#: Columns of the practices table handed to the generator (the data contract's practices).
PRACTICE_COLUMNS = (
    "practice_code",
    "practice_name",
    "pcn_code",
    "pcn_name",
    "place",
    "place_source",
    "special_service",
    "registered_list",
    "current_funding_gbp",
    "carr_hill_weighted_list",
    "imd_score",
)
#: The publisher's PCN code for practices in no PCN.
NO_PCN_CODE = "U"


@dataclass(frozen=True)
class PublicFiles:
    """The public files read once, for every ICB (the every-ICB test reads them once).

    Attributes:
        folder: Where they were found.
        extract: The registration extract used (ISO date).
        practice_map: Practice → PCN → sub-ICB → ICB at the extract.
        lists: Age-sex lists at the extract.
        payments_year: Financial year of the payments used.
        payments: Tidy payments of that year (:func:`read_payments_file`).
        payment_lines: Every payment line of that year by practice.
        practice_type: Practice code → published practice type (empty if not published).
        imd: Practice IMD 2019 scores.
        legacy_places: Practice code → place of its CCG before the 2020 mergers.
        sub_icb_to_icb: Sub-ICB or CCG code of the payments file → ICB code.
    """

    folder: Path
    extract: str
    practice_map: pd.DataFrame
    lists: pd.DataFrame
    payments_year: str
    payments: pd.DataFrame
    payment_lines: PaymentLines
    practice_type: pd.Series
    imd: pd.DataFrame
    legacy_places: pd.Series
    sub_icb_to_icb: pd.Series


def _sub_icb_to_icb(folder: Path, practice_map: pd.DataFrame) -> pd.Series:
    """Sub-ICB (and older CCG) codes → ICB: from the extract's map, then the CCG lookup."""
    current = practice_map.groupby("sub_icb_code")["icb_code"].agg(most_common)
    try:
        (lookup,) = find_files(folder, ["CCG_ICB_code*"], "CCG to ICB lookup")[:1]
    except (PublicFileError, ValueError):
        return current
    older = read_columns(lookup, ["CCG Code", "ICB Code"]).dropna()
    older = pd.Series(
        older["ICB Code"].str.strip().str.upper().to_numpy(),
        index=older["CCG Code"].str.strip().str.upper(),
    )
    return pd.concat([current, older[~older.index.isin(current.index)]])


def load_public_files(
    folder: str | Path, payments_year: str | None = None, extract_date: str | None = None
) -> PublicFiles:
    """Read the public files once (see :class:`PublicFiles`).

    Raises:
        PublicFileError: if a file is missing or not as published, naming the file and column.
    """
    return _load_public_files(Path(folder).resolve(), payments_year, extract_date)


@lru_cache(maxsize=2)
def _load_public_files(
    folder: Path, payments_year: str | None, extract_date: str | None
) -> PublicFiles:
    extract = choose_extract_date(
        registered_extract_dates(folder), extract_date, f"{folder} (age-sex lists)"
    )
    practice_map = read_practice_map(folder, extract)
    files = payments_files(folder)
    year = payments_year or (list(files)[-1] if files else None)
    if year not in files:
        raise PublicFileError(
            f"{folder}: no NHS Payments to General Practice file for {year}; years "
            f"available: {', '.join(files)}"
        )
    legacy = (
        read_legacy_ccg_places(files[LEGACY_CCG_YEAR])
        if LEGACY_CCG_YEAR in files
        else pd.Series(dtype="string")
    )
    return PublicFiles(
        folder=folder,
        extract=extract,
        practice_map=practice_map,
        lists=read_registered_age_sex(folder, extract),
        payments_year=year,
        payments=read_payments_file(files[year]),
        payment_lines=read_payment_lines(files[year]),
        practice_type=read_practice_types(files[year]),
        imd=read_practice_imd(folder),
        legacy_places=legacy,
        sub_icb_to_icb=_sub_icb_to_icb(folder, practice_map),
    )


@dataclass(frozen=True)
class PublicICBInputs:
    """The real practices of one ICB, joined from the public files, ready for the generator.

    Attributes:
        practices: The data contract's practices columns (:data:`PRACTICE_COLUMNS`).
        list_by_age_sex: practice_code, sex, age_band (published 5-year bands to 95+), patients.
        adjustments: One row per practice left out or adjusted (:data:`ADJUSTMENT_COLUMNS`):
            left out and why, merged, carrying predecessors, closed with money not carried,
            list changed, PCN of another ICB or none, special service.
        funding_lines: Every payment line, whether it counts, and its total over the kept
            practices (predecessors' money included), in the payments year's pounds.
        mergers: predecessor_code, predecessor_name, successor_code, how.
        practice_sources: Per practice kept: payments-year lists and counted funding (with
            predecessors'), the extract's list, the scale between them, funding counted.
        sources: Provenance: files, extract, payments year, rules, counts.
    """

    practices: pd.DataFrame
    list_by_age_sex: pd.DataFrame
    adjustments: pd.DataFrame
    funding_lines: pd.DataFrame
    mergers: pd.DataFrame
    practice_sources: pd.DataFrame
    sources: dict[str, object]

    @property
    def dropped(self) -> pd.DataFrame:
        """The practices left out, and why."""
        return self.adjustments[self.adjustments["adjustment"] == "left out"].reset_index(drop=True)


def default_rules(folder: str | Path, icb_code: str) -> PublicParams:
    """The documented default rules for an ICB (what ``pcfm setup`` writes out)."""
    return PublicParams(files=Path(folder), icb_code=icb_code.strip().upper())


def _adjustment(frame: pd.DataFrame, adjustment: str, detail: pd.Series | str) -> pd.DataFrame:
    rows = frame[["practice_code", "practice_name"]].copy()
    rows["adjustment"] = adjustment
    rows["detail"] = detail
    return rows


def _scale_lists(lists: pd.DataFrame, fraction: float) -> pd.DataFrame:
    """Each practice's age-sex list times ``fraction`` (largest remainder; at least 1 patient)."""
    scaled = lists.copy()
    exact = scaled["patients"].to_numpy(dtype=float) * fraction
    floor = np.floor(exact)
    scaled["patients"] = floor.astype("int64")
    scaled["_remainder"] = exact - floor
    totals = lists.groupby("practice_code")["patients"].sum()
    wanted = np.maximum(1, np.round(totals.to_numpy(dtype=float) * fraction)).astype("int64")
    short = (
        pd.Series(wanted, index=totals.index) - scaled.groupby("practice_code")["patients"].sum()
    )
    order = scaled.sort_values(
        ["practice_code", "_remainder", "sex", "age_band"], ascending=[True, False, True, True]
    )
    rank = order.groupby("practice_code").cumcount()
    add = rank < order["practice_code"].map(short)
    scaled.loc[order.index[add.to_numpy()], "patients"] += 1
    return scaled.drop(columns="_remainder")


def assemble_public_icb(
    public: str | Path | PublicFiles,
    icb_code: str,
    rules: PublicParams | None = None,
) -> PublicICBInputs:
    """Join the public files into the practices and age-sex lists of one ICB, by ``rules``.

    Args:
        public: The folder of public files, or the files already read.
        icb_code: ODS code of the ICB, e.g. ``"QK1"`` (LLR).
        rules: The rules (paths in them already resolved); :func:`default_rules` if None.
            Their ``payments_year`` and ``extract_date`` choose the files when ``public`` is
            a folder.

    Returns:
        The joined inputs; every practice left out or adjusted is in ``adjustments``.

    Raises:
        PublicFileError: if a file is missing or unreadable, or the ICB has no practices.
    """
    icb_code = icb_code.strip().upper()
    if rules is None:
        folder = public.folder if isinstance(public, PublicFiles) else Path(public)
        rules = default_rules(folder, icb_code)
    files = (
        public
        if isinstance(public, PublicFiles)
        else load_public_files(public, rules.payments_year, rules.extract_date)
    )
    extract, year = files.extract, files.payments_year
    in_icb = files.practice_map[files.practice_map["icb_code"] == icb_code].copy()
    if in_icb.empty:
        known = ", ".join(sorted(files.practice_map["icb_code"].dropna().unique())[:12])
        raise PublicFileError(
            f"{files.folder}: no practices of ICB {icb_code!r} in the practice map of {extract} "
            f"(ICB codes in it include: {known}, …)"
        )
    rule = funding_rule(files.payment_lines, rules.funding)
    funding_by_code = counted_funding(rule, files.payment_lines.amounts)
    amounts = files.payment_lines.amounts.set_index("practice_code")
    pay = files.payments.set_index("practice_code")
    adjustments: list[pd.DataFrame] = []

    practices = in_icb
    totals = files.lists.groupby("practice_code")["patients"].sum().rename("registered_list")
    practices = practices.merge(totals, how="left", left_on="practice_code", right_index=True)
    practices["payments_pcn_code"] = practices["practice_code"].map(pay["pcn_code"])
    practices["payments_registered_list"] = practices["practice_code"].map(pay["registered_list"])
    practices["payments_weighted_list"] = practices["practice_code"].map(pay["weighted_list"])
    practices["payments_funding_gbp"] = practices["practice_code"].map(funding_by_code)

    # Mergers: practices of the ICB paid in the payments year and gone from the extract.
    payments_icb = files.payments["sub_icb_code"].map(files.sub_icb_to_icb)
    gone = files.payments[
        (payments_icb == icb_code)
        & (files.payments["weighted_list"] > 0)
        & ~files.payments["practice_code"].isin(files.practice_map["practice_code"])
    ].rename(columns={"registered_list": "payments_registered_list"})
    if rules.successors_csv is not None:
        mergers = stated_mergers(
            read_successors(rules.successors_csv), gone, Path(rules.successors_csv).name
        )
        unknown = mergers[~mergers["successor_code"].isin(practices["practice_code"])]
        if not unknown.empty:
            raise PublicFileError(
                f"{rules.successors_csv}: successors not among ICB {icb_code}'s practices of "
                f"{extract}: {sorted(unknown['successor_code'])}"
            )
    elif rules.detect_mergers:
        mergers = found_mergers(gone, practices)
    else:
        mergers = pd.DataFrame(columns=list(MERGER_COLUMNS))
    carried = mergers.merge(
        gone[["practice_code", "payments_registered_list", "weighted_list"]],
        left_on="predecessor_code",
        right_on="practice_code",
    )
    carried["funding"] = carried["predecessor_code"].map(funding_by_code)
    by_successor = carried.groupby("successor_code")[
        ["payments_registered_list", "weighted_list", "funding"]
    ].sum()
    for column, source in (
        ("payments_registered_list", "payments_registered_list"),
        ("payments_weighted_list", "weighted_list"),
        ("payments_funding_gbp", "funding"),
    ):
        extra = practices["practice_code"].map(by_successor[source]).fillna(0.0)
        practices[column] = practices[column] + extra
    predecessors = {
        successor: ", ".join(sorted(group["predecessor_code"]))
        for successor, group in carried.groupby("successor_code")
    }
    # A plain lookup: mapping through an empty Series would give a float column.
    practices["predecessors"] = pd.Series(
        [predecessors.get(code, "") for code in practices["practice_code"]],
        index=practices.index,
        dtype="string",
    )
    for merger in mergers.itertuples(index=False):
        adjustments.append(
            pd.DataFrame(
                [
                    {
                        "practice_code": merger.predecessor_code,
                        "practice_name": merger.predecessor_name,
                        "adjustment": "merged",
                        "detail": f"payments of {year} and list carried to "
                        f"{merger.successor_code}; {merger.how}",
                    }
                ]
            )
        )
    successors = practices[practices["predecessors"] != ""]
    if not successors.empty:
        adjustments.append(
            _adjustment(
                successors,
                "carries predecessors",
                "payments of " + year + " and list of " + successors["predecessors"] + " added",
            )
        )
    not_carried = gone[~gone["practice_code"].isin(mergers["predecessor_code"])]
    if not not_carried.empty:
        adjustments.append(
            _adjustment(
                not_carried,
                "closed, not carried",
                f"paid in {year} but not in the extract of {extract}, and no successor "
                "stated or found: its money is not counted",
            )
        )

    def drop(mask: pd.Series, reason: str) -> None:
        nonlocal practices
        if mask.any():
            adjustments.append(_adjustment(practices[mask], "left out", reason))
        practices = practices.loc[~mask].copy()

    drop(
        practices["registered_list"].fillna(0) <= 0,
        f"no registered patients in the age-sex list of {extract}",
    )
    drop(
        practices["payments_weighted_list"].isna(),
        f"not in NHS Payments to General Practice {year}",
    )
    drop(
        practices["payments_weighted_list"] <= 0,
        f"weighted list 0 in NHS Payments to General Practice {year} (closed or not paid)",
    )
    drop(practices["payments_funding_gbp"] <= 0, f"no counted payments in {year}")
    drop(
        practices["payments_registered_list"] <= 0,
        f"registered list 0 in NHS Payments to General Practice {year}",
    )
    practices["imd_score"] = practices["practice_code"].map(
        files.imd.set_index("practice_code")["imd_score"]
    )
    drop(practices["imd_score"].isna(), "no Fingertips IMD 2019 practice score")

    practices["scale"] = (
        practices["registered_list"] / practices["payments_registered_list"]
    ).astype("float64")
    practices["carr_hill_weighted_list"] = practices["payments_weighted_list"] * practices["scale"]
    practices["current_funding_gbp"] = (
        practices["payments_funding_gbp"] * practices["scale"] * rule.uplift
    )
    threshold = rules.list_change_threshold
    changed = (practices["scale"] - 1).abs() > threshold
    if changed.any():
        moved = practices[changed]
        adjustments.append(
            _adjustment(
                moved,
                "list changed",
                moved["scale"].map(
                    lambda scale: (
                        f"list x{scale:.2f} from {year} to {extract}; funding and "
                        "weighted list carried per patient"
                    )
                ),
            )
        )

    # PCNs: the publisher's "no PCN", and PCNs most of whose practices are in another ICB.
    pcn_icb = files.practice_map.groupby("pcn_code")["icb_code"].agg(most_common)
    no_pcn = practices["pcn_code"].isna() | (practices["pcn_code"] == NO_PCN_CODE)
    if no_pcn.any():
        adjustments.append(
            _adjustment(
                practices[no_pcn],
                "no PCN",
                f"in no PCN at the extract of {extract} (published as 'Unallocated'); kept, "
                "its own PCN in the PCN tables",
            )
        )
        practices.loc[no_pcn, "pcn_name"] = "No PCN: " + practices.loc[no_pcn, "practice_name"]
        practices.loc[no_pcn, "pcn_code"] = "U-" + practices.loc[no_pcn, "practice_code"]
    home = pcn_icb.to_dict()
    elsewhere = ~no_pcn & pd.Series(
        [home.get(code) != icb_code for code in practices["pcn_code"]], index=practices.index
    )
    if elsewhere.any():
        adjustments.append(
            _adjustment(
                practices[elsewhere],
                "PCN of another ICB",
                practices.loc[elsewhere, "pcn_code"].map(
                    lambda pcn: f"PCN {pcn} is mostly in ICB {pcn_icb.get(pcn)}; kept in {icb_code}"
                ),
            )
        )

    places_csv = rules.places_csv or shipped_place_map(icb_code)
    place_map = read_place_map(places_csv) if places_csv is not None else None
    members = files.practice_map[files.practice_map["icb_code"] == icb_code]
    placed = assign_places(practices, place_map, files.legacy_places, members)
    practices["place"] = placed["place"]
    practices["place_source"] = placed["place_source"]

    practices["special_service"] = special_service_of(
        practices, files.practice_type, rules.special_services, rules.ordinary_practices
    )
    special = practices[practices["special_service"] != ""]
    if not special.empty:
        adjustments.append(
            _adjustment(
                special,
                "special service",
                special["special_service"].map(
                    lambda kind: f"{kind}: treated by allocation.outliers.special_services"
                ),
            )
        )

    kept = set(practices["practice_code"])
    list_by_age_sex = files.lists[files.lists["practice_code"].isin(kept)].reset_index(drop=True)
    if rules.patient_scale < 1:
        list_by_age_sex = _scale_lists(list_by_age_sex, rules.patient_scale)
        scaled_totals = list_by_age_sex.groupby("practice_code")["patients"].sum()
        ratio = practices["practice_code"].map(scaled_totals) / practices["registered_list"]
        for column in ("registered_list", "carr_hill_weighted_list", "current_funding_gbp"):
            practices[column] = practices[column] * ratio
        practices["registered_list"] = practices["registered_list"].round()

    practices["registered_list"] = practices["registered_list"].astype("int64")
    for column in ("current_funding_gbp", "carr_hill_weighted_list", "imd_score", "scale"):
        practices[column] = practices[column].astype("float64")
    for column in ("practice_code", "practice_name", "pcn_code", "pcn_name", "place"):
        practices[column] = practices[column].astype("string")
    practices = practices.sort_values("practice_code").reset_index(drop=True)

    practice_sources = practices[
        [
            "practice_code",
            "predecessors",
            "payments_registered_list",
            "payments_weighted_list",
            "payments_funding_gbp",
            "registered_list",
            "scale",
            "current_funding_gbp",
        ]
    ].rename(columns={"registered_list": "extract_registered_list"})
    practice_sources = practice_sources.astype(
        {
            "payments_registered_list": "float64",
            "payments_weighted_list": "float64",
            "payments_funding_gbp": "float64",
            "extract_registered_list": "int64",
        }
    )
    carried_codes = set(carried["predecessor_code"])
    counted_amounts = amounts.loc[
        amounts.index.isin(kept | carried_codes), list(files.payment_lines.lines)
    ].reset_index()
    lines_table = funding_lines_table(rule, counted_amounts)
    adjustment_table = (
        pd.concat(adjustments, ignore_index=True)[list(ADJUSTMENT_COLUMNS)]
        if adjustments
        else pd.DataFrame(columns=list(ADJUSTMENT_COLUMNS))
    )
    adjustment_table = (
        adjustment_table.astype("string")
        .sort_values(["adjustment", "practice_code"], kind="stable")
        .reset_index(drop=True)
    )
    sources: dict[str, object] = {
        "icb_code": icb_code,
        "icb_name": str(in_icb["icb_name"].iloc[0]),
        "registration_extract_date": extract,
        "payments_year": year,
        "payments_file": files.payment_lines.path.name,
        "payments_list_basis": str(files.payments["list_basis"].iloc[0]),
        "funding_lines_counted": list(rule.counted),
        "funding_lines_left_out": list(rule.left_out),
        "funding_definition": rule.definition
        + f"; per registered patient of {year} (predecessors' included), times the "
        f"registered list of {extract}",
        "uplift": rule.uplift,
        "uplift_basis": rule.uplift_basis,
        "list_change_threshold": threshold,
        "imd_files": sorted(files.imd["imd_source"].unique().tolist()),
        "practices_in_icb": len(in_icb),
        "practices_kept": len(practices),
        "practices_left_out": int((adjustment_table["adjustment"] == "left out").sum()),
        "mergers": len(mergers),
        "places": sorted(practices["place"].unique().tolist()),
        "place_map": place_map.source if place_map is not None else "",
        "patient_scale": rules.patient_scale,
    }
    return PublicICBInputs(
        practices[list(PRACTICE_COLUMNS)],
        list_by_age_sex,
        adjustment_table,
        lines_table,
        mergers,
        practice_sources,
        sources,
    )


def log_adjustments(inputs: PublicICBInputs) -> None:
    """Log how many practices were kept and every practice left out or adjusted."""
    sources = inputs.sources
    logger.info(
        "ICB %s: %s of %s practices kept (extract %s, payments %s)",
        sources["icb_code"],
        sources["practices_kept"],
        sources["practices_in_icb"],
        sources["registration_extract_date"],
        sources["payments_year"],
    )
    for row in inputs.adjustments.itertuples(index=False):
        logger.info(
            "%s (%s): %s: %s", row.practice_code, row.practice_name, row.adjustment, row.detail
        )


#: What every data folder that `pcfm setup` writes holds: only such a folder is replaced.
DATA_MARKERS = (f"{PROVENANCE_DIR}/{SOURCES_FILE}",)


def write_public_icb(
    rules: PublicParams, out_dir: str | Path, seed: int
) -> tuple[SyntheticICB, PublicICBInputs]:
    """Build the ICB from the public files by ``rules`` (paths resolved) and write its
    data-contract tables to ``out_dir``, with ``out_dir/provenance/`` (:data:`PROVENANCE_FILES`).

    The folder is written next to ``out_dir`` first and moved into place at the end, so a
    failure leaves an earlier folder as it was.
    """
    from pcfm.inputs.synthetic import generate_icb_for_practices

    out_dir = Path(out_dir)
    check_replaceable(out_dir, DATA_MARKERS)  # before the work, not after it
    inputs = assemble_public_icb(rules.files, rules.icb_code, rules)
    log_adjustments(inputs)
    qof = (
        practice_prevalence(rules.files, inputs.practices["practice_code"], rules.qof_year)
        if rules.qof_morbidity
        else None
    )
    icb = generate_icb_for_practices(
        inputs.practices,
        inputs.list_by_age_sex,
        seed,
        prevalence=qof.table if qof is not None else None,
    )
    staging = out_dir.with_name(f".{out_dir.name}.partial")
    if staging.exists():
        shutil.rmtree(staging)
    icb.write(staging)
    provenance = staging / PROVENANCE_DIR
    provenance.mkdir(parents=True, exist_ok=True)
    sources = {**inputs.sources, "seed": seed, "rules": rules_record(rules)}
    if qof is not None:
        qof.write(provenance)
        sources |= qof.sources()
    (provenance / SOURCES_FILE).write_text(
        json.dumps(sources, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    for table, name in (
        (inputs.adjustments, ADJUSTMENTS_FILE),
        (inputs.funding_lines, FUNDING_LINES_FILE),
        (inputs.practice_sources, PRACTICE_SOURCES_FILE),
    ):
        table.to_csv(provenance / name, index=False, lineterminator="\n")
    swap_into_place(staging, out_dir, DATA_MARKERS)
    return icb, inputs
