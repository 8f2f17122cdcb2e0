"""Parameters of the data stage: where the inputs come from and how they are read."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, PositiveInt, model_validator

from pcfm.params.base import Section
from pcfm.params.public import PublicParams


class SyntheticParams(Section):
    """Size of the built-in synthetic ICB (used when ``data.source`` is ``synthetic``)."""

    n_patients: PositiveInt = Field(
        20_000, description="Patients to generate (LLR has about 1.1 million).", le=5_000_000
    )
    n_practices: PositiveInt = Field(
        24, description="Practices to generate (LLR has about 127).", le=2_000
    )


#: The reference year of the built-in synthetic ICB (financial year 2024-25): its
#: registrations and appointments fall inside it, and the generator dates them from here.
SYNTHETIC_REFERENCE_START = datetime.date(2024, 4, 1)
SYNTHETIC_REFERENCE_END = datetime.date(2025, 3, 31)


class ReferencePeriod(Section):
    """The period the activity and registrations describe (usually one financial year)."""

    start: datetime.date = Field(
        SYNTHETIC_REFERENCE_START,
        description="First day of the reference period, e.g. 2024-04-01 (inclusive).",
    )
    end: datetime.date = Field(
        SYNTHETIC_REFERENCE_END,
        description="Last day of the reference period, e.g. 2025-03-31 (inclusive).",
    )

    @property
    def days(self) -> int:
        """Days in the period, both ends included."""
        return (self.end - self.start).days + 1

    @model_validator(mode="after")
    def _one_year_at_most(self) -> ReferencePeriod:
        if self.end < self.start:
            raise ValueError(f"end ({self.end}) is before start ({self.start})")
        if not 365 <= self.days <= 366:
            raise ValueError(
                f"the period {self.start} to {self.end} has {self.days} days; the model's "
                "exposure is person-years, so the period is one year (365 or 366 days)"
            )
        return self


class DataParams(Section):
    """Where the input tables come from and the rules for reading them."""

    source: Literal["synthetic", "folder"] = Field(
        "synthetic",
        description=(
            "'synthetic' generates the built-in synthetic ICB from the run's seed; 'folder' reads "
            "the data-contract tables from data.folder."
        ),
    )
    folder: Path | None = Field(
        None,
        description=(
            "Folder holding patients, activity, practices and areas (.parquet or .csv), relative "
            "to the parameter file. Required when data.source is 'folder'."
        ),
    )
    synthetic: SyntheticParams = Field(
        default_factory=SyntheticParams,
        description="Size of the synthetic ICB when data.source is 'synthetic'.",
    )
    reference_period: ReferencePeriod = Field(
        default_factory=ReferencePeriod,
        description=(
            "The year the data describe. Every appointment_date must fall inside it: "
            "validation rejects a folder with appointments outside it, naming the file, the "
            "column and the rows (cut the extract to the period). The default is the built-in "
            "synthetic ICB's year (financial year 2024-25); `pcfm setup` writes it for public "
            "ICBs."
        ),
    )
    days_in_year: int = Field(
        365,
        ge=365,
        le=366,
        description=(
            "Days in the reference year (the length of data.reference_period); exposure = "
            "days registered / this, and validation requires it to be in (0, 1]."
        ),
    )
    workload_measure: Literal["count", "staff_weighted", "minutes"] = Field(
        "count",
        description=(
            "How workload is measured: plain count of contacts, contacts weighted by staff type "
            "(data.staff_weights), or appointment minutes (duration_minutes). The last two need "
            "activity with one row per appointment; activity given as one contacts count per "
            "patient only supports 'count'."
        ),
    )
    staff_weights: dict[str, Annotated[float, Field(ge=0, le=1000)]] = Field(
        default_factory=lambda: {"GP": 1.0, "Nurse": 0.6, "Other": 0.4},
        description=(
            "Weight of one contact by staff type (activity.staff_type) when workload_measure is "
            "staff_weighted; every staff type in the data needs a weight. Weights are used to "
            "9 decimal places (workload is summed exactly, so reruns are byte-identical)."
        ),
    )
    unknown_area_rule: Literal["drop", "impute_practice_median", "fail"] = Field(
        "impute_practice_median",
        description=(
            "What to do with a patient whose area is unknown (lsoa_code blank or not in the "
            "areas lookup; or, without lsoa_code, a blank imd_decile): drop the patient, give "
            "them their practice's median IMD decile (the lower median of its patients of "
            "known area), or stop the run. Counted in the report's data-quality table."
        ),
    )
    funding_definition: str = Field(
        "Global sum plus MPIG correction for the year",
        description=(
            "Which income lines practices.current_funding_gbp includes, stated in the report."
        ),
    )

    public: PublicParams | None = Field(
        None,
        description=(
            "Rules by which `pcfm setup` made data.folder from the public files (funding lines, "
            "uplift, places, mergers, special services); the run checks that the folder was "
            "made with these rules. Empty for data an ICB supplies itself."
        ),
    )

    @model_validator(mode="after")
    def _folder_given_when_reading_a_folder(self) -> DataParams:
        if self.source == "folder" and self.folder is None:
            raise ValueError("data.folder is required when data.source is 'folder'")
        if self.days_in_year != self.reference_period.days:
            raise ValueError(
                f"data.days_in_year ({self.days_in_year}) is not the length of "
                f"data.reference_period ({self.reference_period.start} to "
                f"{self.reference_period.end}: {self.reference_period.days} days)"
            )
        synthetic_year = (SYNTHETIC_REFERENCE_START, SYNTHETIC_REFERENCE_END)
        period = (self.reference_period.start, self.reference_period.end)
        if self.source == "synthetic" and period != synthetic_year:
            raise ValueError(
                "data.reference_period: the built-in synthetic ICB describes "
                f"{SYNTHETIC_REFERENCE_START} to {SYNTHETIC_REFERENCE_END}; leave it out for "
                "a synthetic run"
            )
        if self.public is not None and self.source != "folder":
            raise ValueError("data.public needs data.source 'folder' (the folder it made)")
        return self
