"""Parameters of the published report."""

from __future__ import annotations

import datetime

from pydantic import Field

from pcfm.params.base import Section


class ReportParams(Section):
    """Titles and authorship of the rendered documents, and what the report includes."""

    icb_name: str = Field(
        "Synthetic ICB", description="Name of the ICB the report is about, shown on every document."
    )
    author: str = Field(
        "Primary care funding analytics team",
        description="Author shown on the report (Quarto's Typst book template needs one).",
    )
    financial_year: str = Field(
        "2025-26",
        description="Financial year the allocation is for, e.g. 2025-26.",
        pattern=r"^\d{4}-\d{2}$",
    )
    date: datetime.date | None = Field(
        None,
        description=(
            "Date printed on every document (title block, page footer, board paper front "
            "sheet), e.g. 2025-03-20. When absent, 1 April at the start of financial_year, "
            "so that a rerun prints the same date."
        ),
    )
    meeting: str = Field(
        "ICB Board",
        description="The meeting the board paper goes to, shown on its front sheet.",
    )
    statements: bool = Field(
        True,
        description=(
            "Write a one-page statement for every practice (the statement notebook executed "
            "once per practice)."
        ),
    )
    statement_kernels: int = Field(
        0,
        ge=0,
        le=32,
        description=(
            "Kernels executing the practice statements at once, each started once and reused "
            "for practice after practice (reset between them); 0 = two per CPU core, at most "
            "eight."
        ),
    )

    @property
    def document_date(self) -> datetime.date:
        """The date the documents carry: :attr:`date`, or 1 April of the financial year."""
        return self.date or datetime.date(int(self.financial_year[:4]), 4, 1)

    @property
    def date_text(self) -> str:
        """:attr:`document_date` as printed, e.g. "20 March 2025"."""
        day = self.document_date
        return f"{day.day} {day:%B %Y}"
