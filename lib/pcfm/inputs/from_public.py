"""Synthetic patients for the real practices of an ICB, built from public files.

``pcfm synth --from-public DIR --icb QK1`` takes the real practices of an ICB (practice
codes, PCNs, list sizes by age and sex, IMD score, Carr-Hill weighted list and payments as
current funding) from the published files in ``DIR`` and hands them to the synthetic
generator, which makes up the patients and their activity. Everything read here is a
published aggregate: no patient data is involved, so the tables of dropped and flagged
practices may be logged and published.

Sources joined by practice code (see ``docs/public-data.md`` for where to download each):
practice map and age-sex list of one registration extract, one year of NHS Payments to
General Practice, and the Fingertips practice IMD 2019 score. The payments year is older
than the extract, so by default funding and weighted list are carried to the extract's list
at the payments year's amount per registered patient (see :func:`assemble_public_icb`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from pcfm.inputs.public.common import PublicFileError, choose_extract_date
from pcfm.inputs.public.deprivation import read_practice_imd
from pcfm.inputs.public.geography import read_practice_map
from pcfm.inputs.public.payments import payments_files, read_payments_file
from pcfm.inputs.public.registered import read_registered_age_sex, registered_extract_dates

if TYPE_CHECKING:
    from pcfm.inputs.synthetic import SyntheticICB

logger = logging.getLogger(__name__)

#: Payment lines summed into ``current_funding_gbp``: the core contract payment per patient.
#: GMS practices are paid the global sum (plus any MPIG correction); PMS practices are paid
#: their PMS baseline instead, published as "Balance of PMS Expenditure" with a zero global
#: sum, so leaving it out would make PMS practices look unfunded.
FUNDING_LINES: tuple[str, ...] = ("global_sum_gbp", "mpig_gbp", "pms_balance_gbp")
#: The same in words, for ``data.funding_definition`` in the parameter file.
FUNDING_DEFINITION = (
    "Global sum plus MPIG correction plus balance of PMS expenditure (the PMS counterpart of "
    "the global sum), NHS Payments to General Practice"
)
#: Practices whose list grew or shrank by more than this factor between the payments year and
#: the registration extract are flagged (usually a merger or a split).
LIST_CHANGE_WARNING_FACTOR = 1.5
#: Practices whose core funding per weighted patient is more than this factor above or below the
#: ICB median are flagged: their core money may sit in another payment line (e.g. "Other
#: Payments") or they may be a special service (inclusion health, students, asylum seekers).
FUNDING_OUTLIER_FACTOR = 2.0
#: Columns of the practices table handed to the generator (the data contract's practices).
PRACTICE_COLUMNS = (
    "practice_code",
    "practice_name",
    "pcn_code",
    "pcn_name",
    "place",
    "registered_list",
    "current_funding_gbp",
    "carr_hill_weighted_list",
    "imd_score",
)


@dataclass(frozen=True)
class PlaceRule:
    """How an ICB's practices are put into its places.

    A practice's PCN rule wins over its sub-ICB rule; a practice matched by neither gets
    ``default``, or its sub-ICB location name if there is no default.
    """

    by_sub_icb: dict[str, str] = field(default_factory=dict)
    by_pcn: dict[str, str] = field(default_factory=dict)
    default: str | None = None
    note: str = ""

    def place_of(self, practices: pd.DataFrame) -> pd.Series:
        """The place of each practice (needs pcn_code, sub_icb_code, sub_icb_name)."""
        fallback = practices["sub_icb_name"] if self.default is None else self.default
        place = practices["sub_icb_code"].map(self.by_sub_icb).fillna(fallback)
        by_pcn = practices["pcn_code"].map(self.by_pcn)
        return by_pcn.fillna(place).astype("string")


#: Place rules of ICBs whose places are known. Other ICBs use sub-ICB location names.
PLACE_RULES: dict[str, PlaceRule] = {
    "QK1": PlaceRule(
        by_sub_icb={"04C": "Leicester City"},
        by_pcn={"U67590": "Rutland"},
        default="Leicestershire County",
        note=(
            "LLR's three places: sub-ICB 04C (Leicester City) = Leicester City; the practices "
            "of Rutland Health PCN (U67590, the four practices in Rutland, all in sub-ICB 03W "
            "East Leicestershire and Rutland) = Rutland; every other practice = Leicestershire "
            "County (sub-ICBs 03W and 04V, and C82040 Kegworth and C82076 Bottesford, "
            "Leicestershire practices that joined QK1 in 2025 under sub-ICB codes 52R and 71E)."
        ),
    ),
}


@dataclass(frozen=True)
class PublicICBInputs:
    """The real practices of one ICB, joined from the public files, ready for the generator.

    Attributes:
        practices: The data contract's practices columns (:data:`PRACTICE_COLUMNS`).
        list_by_age_sex: practice_code, sex, age_band (published 5-year bands to 95+), patients.
        dropped: One row per practice of the ICB left out: practice_code, practice_name,
            sub_icb_code, reason.
        sources: Provenance: files read, extract date, payments year, counts, place rule.
        practice_sources: Per practice kept: the payments year's registered and weighted lists
            and core funding, the extract's registered list, the scale between them, core
            funding per weighted patient and a ``flag`` naming anything to check by hand.
    """

    practices: pd.DataFrame
    list_by_age_sex: pd.DataFrame
    dropped: pd.DataFrame
    sources: dict[str, object]
    practice_sources: pd.DataFrame = field(default_factory=pd.DataFrame)


def _drop(
    frame: pd.DataFrame, mask: pd.Series, reason: str, dropped: list[pd.DataFrame]
) -> pd.DataFrame:
    """Move the rows of ``frame`` under ``mask`` to ``dropped`` with ``reason``."""
    if mask.any():
        gone = frame.loc[mask, ["practice_code", "practice_name", "sub_icb_code"]].copy()
        gone["reason"] = reason
        dropped.append(gone)
    return frame.loc[~mask].copy()


def assemble_public_icb(
    public_dir: str | Path,
    icb_code: str,
    payments_year: str | None = None,
    extract_date: str | None = None,
    place_rule: PlaceRule | None = None,
    scale_to_list: bool = True,
) -> PublicICBInputs:
    """Join the public files into the practices and age-sex lists of one ICB.

    Args:
        public_dir: Folder holding the published files (searched recursively by file name).
        icb_code: ODS code of the ICB, e.g. ``"QK1"`` (LLR).
        payments_year: Financial year of NHS Payments to General Practice used for current
            funding and the Carr-Hill weighted list, e.g. ``"2022-23"``; latest if None.
        extract_date: Registration extract for the practice map and age-sex lists; the latest
            extract in the age-sex file if None.
        place_rule: How practices are put into places; :data:`PLACE_RULES` for the ICB, else
            sub-ICB location names, if None.
        scale_to_list: The payments year is older than the registration extract (practices
            grow, merge and split in between), so by default the weighted list and funding are
            scaled by (extract list ÷ payments-year registered list): each practice keeps its
            Carr-Hill index and its funding per registered patient of the payments year, applied
            to the list the synthetic patients are drawn to. False uses the published amounts.

    Returns:
        The joined inputs; practices missing from any source are dropped and listed.

    Raises:
        PublicFileError: if a file is missing or unreadable, or the ICB has no practices.
    """
    public_dir = Path(public_dir)
    icb_code = icb_code.strip().upper()
    extract = choose_extract_date(
        registered_extract_dates(public_dir), extract_date, f"{public_dir} (age-sex lists)"
    )
    practice_map = read_practice_map(public_dir, extract)
    in_icb = practice_map[practice_map["icb_code"] == icb_code].copy()
    if in_icb.empty:
        known = ", ".join(sorted(practice_map["icb_code"].dropna().unique())[:12])
        raise PublicFileError(
            f"{public_dir}: no practices of ICB {icb_code!r} in the practice map of {extract} "
            f"(ICB codes in it include: {known}, …)"
        )
    files = payments_files(public_dir)
    year = payments_year or (list(files)[-1] if files else None)
    if year not in files:
        raise PublicFileError(
            f"{public_dir}: no NHS Payments to General Practice file for {year}; years "
            f"available: {', '.join(files)}"
        )
    payments = read_payments_file(files[year])
    lists = read_registered_age_sex(public_dir, extract)
    imd = read_practice_imd(public_dir)
    rule = place_rule or PLACE_RULES.get(icb_code, PlaceRule())

    dropped: list[pd.DataFrame] = []
    practices = in_icb
    totals = lists.groupby("practice_code")["patients"].sum().rename("registered_list")
    practices = practices.merge(totals, how="left", left_on="practice_code", right_index=True)
    practices = _drop(
        practices,
        practices["registered_list"].fillna(0) <= 0,
        f"no registered patients in the age-sex list of {extract}",
        dropped,
    )
    pay = payments.set_index("practice_code")
    practices["payments_registered_list"] = practices["practice_code"].map(pay["registered_list"])
    practices["payments_weighted_list"] = practices["practice_code"].map(pay["weighted_list"])
    practices["payments_core_funding_gbp"] = practices["practice_code"].map(
        pay[list(FUNDING_LINES)].sum(axis=1)
    )
    practices["carr_hill_weighted_list"] = practices["payments_weighted_list"]
    practices["current_funding_gbp"] = practices["payments_core_funding_gbp"]
    practices = _drop(
        practices,
        practices["carr_hill_weighted_list"].isna(),
        f"not in NHS Payments to General Practice {year}",
        dropped,
    )
    practices = _drop(
        practices,
        practices["carr_hill_weighted_list"] <= 0,
        f"weighted list 0 in NHS Payments to General Practice {year} (closed or not paid)",
        dropped,
    )
    practices = _drop(
        practices,
        practices["current_funding_gbp"] <= 0,
        f"no global sum, MPIG or PMS payment in {year}",
        dropped,
    )
    practices = _drop(
        practices,
        practices["payments_registered_list"] <= 0,
        f"registered list 0 in NHS Payments to General Practice {year}",
        dropped,
    )
    scale = practices["registered_list"] / practices["payments_registered_list"]
    practices["scale"] = scale.astype("float64")
    if scale_to_list:
        practices["carr_hill_weighted_list"] = (
            practices["payments_weighted_list"] * practices["scale"]
        )
        practices["current_funding_gbp"] = (
            practices["payments_core_funding_gbp"] * practices["scale"]
        )
    practices["imd_score"] = practices["practice_code"].map(
        imd.set_index("practice_code")["imd_score"]
    )
    practices = _drop(
        practices, practices["imd_score"].isna(), "no Fingertips IMD 2019 practice score", dropped
    )
    practices["place"] = rule.place_of(practices)
    practices["registered_list"] = practices["registered_list"].astype("int64")
    for column in ("current_funding_gbp", "carr_hill_weighted_list", "imd_score"):
        practices[column] = practices[column].astype("float64")
    for column in ("practice_code", "practice_name", "pcn_code", "pcn_name"):
        practices[column] = practices[column].astype("string")
    practices = practices.sort_values("practice_code").reset_index(drop=True)
    alignment = practices[
        [
            "practice_code",
            "payments_registered_list",
            "payments_weighted_list",
            "payments_core_funding_gbp",
            "registered_list",
            "scale",
        ]
    ].rename(columns={"registered_list": "extract_registered_list"})
    alignment = alignment.astype(
        {
            "payments_registered_list": "float64",
            "payments_weighted_list": "float64",
            "payments_core_funding_gbp": "float64",
            "extract_registered_list": "int64",
            "scale": "float64",
        }
    )
    practices = practices[list(PRACTICE_COLUMNS)]
    alignment["flag"] = _flags(alignment, extract, year)

    kept = set(practices["practice_code"])
    list_by_age_sex = lists[lists["practice_code"].isin(kept)].reset_index(drop=True)
    dropped_table = (
        pd.concat(dropped, ignore_index=True)
        if dropped
        else pd.DataFrame(columns=["practice_code", "practice_name", "sub_icb_code", "reason"])
    )
    sources: dict[str, object] = {
        "icb_code": icb_code,
        "registration_extract_date": extract,
        "payments_year": year,
        "payments_file": files[year].name,
        "payments_list_basis": str(payments["list_basis"].iloc[0]),
        "funding_lines": list(FUNDING_LINES),
        "funding_definition": f"{FUNDING_DEFINITION} {year}"
        + (
            f", per registered patient of {year}, times the registered list of {extract}"
            if scale_to_list
            else ""
        ),
        "scaled_to_extract_list": scale_to_list,
        "imd_files": sorted(imd["imd_source"].unique().tolist()),
        "practices_in_icb": len(in_icb),
        "practices_kept": len(practices),
        "practices_dropped": len(dropped_table),
        "place_rule": rule.note or "places are the sub-ICB location names",
    }
    return PublicICBInputs(practices, list_by_age_sex, dropped_table, sources, alignment)


def _flags(sources: pd.DataFrame, extract: str, year: str) -> pd.Series:
    """Text naming what looks odd about each practice's public figures ('' if nothing)."""
    per_weighted = sources["payments_core_funding_gbp"] / sources["payments_weighted_list"]
    sources["core_funding_per_weighted_gbp"] = per_weighted
    median = float(per_weighted.median())
    flags = []
    for scale, funding in zip(sources["scale"], per_weighted, strict=True):
        found = []
        if not 1 / LIST_CHANGE_WARNING_FACTOR <= scale <= LIST_CHANGE_WARNING_FACTOR:
            found.append(f"list changed x{scale:.2f} from {year} to {extract} (merger or split?)")
        if not median / FUNDING_OUTLIER_FACTOR <= funding <= median * FUNDING_OUTLIER_FACTOR:
            found.append(
                f"core funding £{funding:.2f} per weighted patient in {year} against an ICB "
                f"median of £{median:.2f} (other payment lines or a special service?)"
            )
        flags.append("; ".join(found))
    return pd.Series(flags, index=sources.index, dtype="string")


def log_dropped(inputs: PublicICBInputs) -> None:
    """Log how many practices were kept and why each dropped one was left out."""
    sources = inputs.sources
    logger.info(
        "ICB %s: %s of %s practices kept (extract %s, payments %s)",
        sources["icb_code"],
        sources["practices_kept"],
        sources["practices_in_icb"],
        sources["registration_extract_date"],
        sources["payments_year"],
    )
    for row in inputs.dropped.itertuples(index=False):
        logger.info("dropped %s (%s): %s", row.practice_code, row.practice_name, row.reason)
    flagged = inputs.practice_sources
    if flagged.empty:
        return
    for row in flagged[flagged["flag"] != ""].itertuples(index=False):
        logger.warning("%s: %s", row.practice_code, row.flag)


def _generate(
    public_dir: str | Path,
    icb_code: str,
    seed: int,
    payments_year: str | None,
    extract_date: str | None,
) -> tuple[SyntheticICB, PublicICBInputs]:
    from pcfm.inputs.synthetic import generate_icb_for_practices

    inputs = assemble_public_icb(public_dir, icb_code, payments_year, extract_date)
    log_dropped(inputs)
    return generate_icb_for_practices(inputs.practices, inputs.list_by_age_sex, seed), inputs


def build_public_icb(
    public_dir: str | Path,
    icb_code: str,
    seed: int,
    payments_year: str | None = None,
    extract_date: str | None = None,
) -> SyntheticICB:
    """Synthetic patients and activity for the real practices of ``icb_code``.

    See :func:`assemble_public_icb` for the arguments; ``seed`` seeds the generator, so the
    same files and seed give the same ICB.
    """
    icb, _ = _generate(public_dir, icb_code, seed, payments_year, extract_date)
    return icb


def write_public_icb(
    public_dir: str | Path,
    icb_code: str,
    out_dir: str | Path,
    seed: int,
    payments_year: str | None = None,
    extract_date: str | None = None,
) -> SyntheticICB:
    """Build the ICB from public files and write its data-contract tables to ``out_dir``.

    Besides the tables, ``out_dir/provenance/`` receives ``public_sources.json`` (files,
    extract, payments year, counts, place rule), ``dropped_practices.csv`` (which practices
    were left out and why) and ``practice_sources.csv`` (payments-year and extract lists and the
    scale between them); all public aggregates.
    """
    out_dir = Path(out_dir)
    icb, inputs = _generate(public_dir, icb_code, seed, payments_year, extract_date)
    icb.write(out_dir)
    provenance = out_dir / "provenance"
    provenance.mkdir(parents=True, exist_ok=True)
    sources = {**inputs.sources, "seed": seed}
    (provenance / "public_sources.json").write_text(
        json.dumps(sources, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    inputs.dropped.to_csv(provenance / "dropped_practices.csv", index=False, lineterminator="\n")
    inputs.practice_sources.to_csv(
        provenance / "practice_sources.csv", index=False, lineterminator="\n"
    )
    return icb
