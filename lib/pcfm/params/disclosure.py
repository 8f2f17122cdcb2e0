"""Parameters of statistical disclosure control for published counts."""

from __future__ import annotations

from pydantic import Field, field_validator

from pcfm.params.base import Section

#: NHS England's rule for sub-national counts of people: 1 to 7 suppressed, the rest
#: rounded to 5. It is a floor: a run may be stricter, never looser.
NHS_THRESHOLD = 7
NHS_ROUNDING_BASE = 5


class DisclosureParams(Section):
    """NHS England's rule for sub-national counts of people (domain brief §5), or stricter."""

    threshold: int = Field(
        NHS_THRESHOLD,
        ge=NHS_THRESHOLD,
        le=100,
        description=(
            "Counts from 1 to this many are suppressed (shown as '*'), with every figure of "
            "their row that is not a label (person-years, contacts, rates); at least 7, the "
            "NHS rule, so a parameter file can make publication stricter but not looser. A "
            "practice whose registered list or patients in the data are at or below it is "
            "left out of the run (no need index, allocation or statement) and listed in "
            "data_practice_adjustments."
        ),
    )
    rounding_base: int = Field(
        NHS_ROUNDING_BASE,
        ge=NHS_ROUNDING_BASE,
        le=100,
        description=(
            "All other counts are rounded to the nearest multiple of this: 5 (the NHS rule) "
            "or a multiple of 5, so every published count is also a multiple of 5."
        ),
    )

    @field_validator("rounding_base")
    @classmethod
    def _a_multiple_of_the_nhs_base(cls, base: int) -> int:
        if base % NHS_ROUNDING_BASE:
            raise ValueError(
                f"must be a multiple of {NHS_ROUNDING_BASE} (the NHS rule is a floor: "
                f"{base} would publish counts that rounding to {NHS_ROUNDING_BASE} hides)"
            )
        return base
