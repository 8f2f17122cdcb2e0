"""Parameters of the published report."""

from __future__ import annotations

from pydantic import Field

from pcfm.params.base import Section


class ReportParams(Section):
    """Titles and authorship of the rendered documents."""

    icb_name: str = Field(
        "Synthetic ICB", description="Name of the ICB the report is about, shown on every document."
    )
    author: str = Field(
        "Primary care funding analytics team",
        description="Author shown on the report (Quarto's Typst book template needs one).",
    )
    financial_year: str = Field(
        "2025-26", description="Financial year the allocation is for, e.g. 2025-26.",
        pattern=r"^\d{4}-\d{2}$",
    )
