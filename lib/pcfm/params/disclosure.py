"""Parameters of statistical disclosure control for published counts."""

from __future__ import annotations

from pydantic import Field

from pcfm.params.base import Section


class DisclosureParams(Section):
    """NHS England's rule for sub-national counts of people (domain brief §5)."""

    threshold: int = Field(
        7, ge=0, le=100, description="Counts from 1 to this many are suppressed (shown as '*')."
    )
    rounding_base: int = Field(
        5, ge=1, le=100, description="All other counts are rounded to the nearest multiple of this."
    )
