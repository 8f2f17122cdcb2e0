"""Parameters of setting up an ICB from the public files (``pcfm setup``).

These are the rules a local medical committee would ask about: which payment lines count
as a practice's current funding, how past payments are brought to the report's year, how
practices are put into places, and how merged practices carry their predecessors' money.
``pcfm setup`` writes them into the ICB's parameter file with every default spelt out, and
builds the data folder from them; ``pcfm run`` refuses a data folder built with other rules.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, PositiveFloat, field_validator

from pcfm.params.base import Section

#: Lines of NHS Payments to General Practice that pass money through the practice rather than
#: pay for its patients' care: reimbursements of drugs and dispensing, premises, seniority,
#: locums, retainers, appraisal, study leave and IT. Names as published in 2022-23; other
#: years spell some differently (``pcfm setup`` writes the chosen year's spelling).
DEFAULT_PASS_THROUGH_LINES: tuple[str, ...] = (
    "Premises Payments",
    "Seniority",
    "Doctors Retainer Scheme Payments",
    "Total Locum Allowances",
    "Appraisal - Appraiser Costs in Respect of Locums",
    "Prolonged Study Leave",
    "Information Management and Technology",
    "Prescribing Fee Payments",
    "Dispensing Fee Payments",
    "Reimbursement of Drugs",
)


class FundingRuleParams(Section):
    """Which payment lines count as current funding, and the uplift to the report's year."""

    lines: list[str] | None = Field(
        None,
        description=(
            "Payment lines of NHS Payments to General Practice that count as current funding, "
            "as published (case, spaces and footnote digits ignored). Empty = every line that "
            "adds up to 'Total NHS Payments to General Practice', less the lines in "
            "'pass_through'."
        ),
    )
    pass_through: list[str] = Field(
        default_factory=lambda: list(DEFAULT_PASS_THROUGH_LINES),
        description=(
            "Lines left out because the practice passes the money on (drugs, dispensing, "
            "premises, seniority, locums and other reimbursements). Used when 'lines' is empty; "
            "every name must be a line of the payments year's file."
        ),
    )
    uplift: PositiveFloat = Field(
        1.0,
        le=3.0,
        description=(
            "Factor bringing the payments year's money to the report's financial year (e.g. "
            "1.12 for 12% of contract uplifts); stated in the report. 1 = no uplift."
        ),
    )
    uplift_basis: str = Field(
        "none stated",
        description="Where the uplift comes from, in words, for the report.",
    )

    @field_validator("lines", "pass_through")
    @classmethod
    def _no_repeats(cls, names: list[str] | None) -> list[str] | None:
        if names is not None:
            repeated = sorted({name for name in names if names.count(name) > 1})
            if repeated:
                raise ValueError(f"payment lines named more than once: {repeated}")
        return names


class PublicParams(Section):
    """Where the public files are and the rules for making an ICB's data folder from them."""

    files: Path = Field(
        ...,
        description=(
            "Folder of the public files (searched recursively; docs/public-data.md says where "
            "to download each), relative to the parameter file."
        ),
    )
    icb_code: str = Field(
        ..., description="ODS code of the ICB, e.g. QK1 (LLR).", pattern=r"^[A-Z0-9]{3}$"
    )
    payments_year: str | None = Field(
        None,
        description=(
            "Financial year of NHS Payments to General Practice used for funding and the "
            "Carr-Hill weighted list, e.g. 2022-23; the latest in the folder if empty."
        ),
        pattern=r"^\d{4}-\d{2}$",
    )
    extract_date: str | None = Field(
        None,
        description=(
            "Registration extract (practice map and age-sex lists), e.g. 2025-12-01; the latest "
            "if empty."
        ),
    )
    funding: FundingRuleParams = Field(
        default_factory=FundingRuleParams,
        description="Which payment lines count as current funding, and the uplift.",
    )
    places_csv: Path | None = Field(
        None,
        description=(
            "CSV mapping practices or PCNs to places (columns practice_code or pcn_code, and "
            "place), relative to the parameter file. A practice's own row wins over its PCN's. "
            "When empty, the map pcfm ships for the ICB (pcfm/reference/places/, LLR's three "
            "places for QK1), if any. Practices no map places get the default: their CCG "
            "before the 2020 mergers (NHS Payments 2019-20), else the CCG of most of their "
            "PCN's practices, else their sub-ICB location."
        ),
    )
    successors_csv: Path | None = Field(
        None,
        description=(
            "CSV of mergers (columns predecessor_code, successor_code): each predecessor's "
            "payments-year funding and lists are carried to its successor. When empty, "
            "mergers are found from the public files (see detect_mergers)."
        ),
    )
    detect_mergers: bool = Field(
        True,
        description=(
            "Without successors_csv, treat a practice paid in the payments year but gone from "
            "the registration extract as merged into the practice of its PCN whose list grew "
            "enough to take its patients; every merger found is listed for review."
        ),
    )
    list_change_threshold: float = Field(
        0.10,
        gt=0.0,
        le=10.0,
        description=(
            "Practices whose list changed by more than this fraction between the payments year "
            "and the extract are listed (0.10 = 10%)."
        ),
    )
    special_services: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Practices to treat as special services (practice code: the kind, e.g. 'special "
            "allocation scheme'), besides those found by name (homeless, asylum, inclusion "
            "health, special allocation schemes) or by practice type."
        ),
    )
    ordinary_practices: list[str] = Field(
        default_factory=list,
        description="Practice codes found as special services by name that are ordinary.",
    )
    qof_morbidity: bool = Field(
        True,
        description=(
            "Draw the synthetic patients' long-term conditions so that each practice's "
            "prevalence matches its QOF disease registers (conditions without a register stay "
            "synthetic); needs the QOF PREVALENCE files in the public folder."
        ),
    )
    qof_year: str | None = Field(
        None,
        description="QOF year of the registers, e.g. 2020-21; the latest in the folder if empty.",
        pattern=r"^\d{4}-\d{2}$",
    )
    patient_scale: float = Field(
        1.0,
        gt=0.0,
        le=1.0,
        description=(
            "Fraction of the registered patients to generate (lists, weighted lists and "
            "funding scaled alike, per-patient figures kept); 1 = every patient. Below 1 only "
            "for quick looks and tests."
        ),
    )


def rules_record(rules: PublicParams) -> dict[str, object]:
    """The rules as a data folder records them: paths by file name only, so that a run can
    check that its parameters are the rules its folder was made with, wherever it sits."""
    record = rules.model_dump(mode="json")
    for key in ("files", "places_csv", "successors_csv"):
        if record.get(key) is not None:
            record[key] = Path(record[key]).name
    return record
