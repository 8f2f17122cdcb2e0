"""Parameters of the run's watchdogs: how long a kernel may take before the run gives up."""

from __future__ import annotations

from pydantic import Field

from pcfm.params.base import Section

#: The automatic stage notebook limit: a floor, and the seconds added per megabyte of input.
NOTEBOOK_FLOOR_S = 900
NOTEBOOK_S_PER_INPUT_MB = 10


class TimeoutParams(Section):
    """Seconds each kernel of a run may take: a stuck kernel ends the run with a message.

    Without them a kernel that never answers (one that half-started, or a notebook cell that
    never returns) would hold the run for ever. The run is then failed with a one-line
    message naming the stage notebook, or the practice of a statement, and the previous
    successful run is kept.
    """

    kernel_start_s: int = Field(
        120,
        ge=1,
        le=3600,
        description=(
            "Seconds a kernel (the stage notebooks' or a statement kernel) may take to start "
            "and answer, or to be reset between notebooks."
        ),
    )
    notebook_s: int = Field(
        0,
        ge=0,
        le=7 * 24 * 3600,
        description=(
            "Seconds one stage notebook may run; 0 = by the size of the input: "
            f"{NOTEBOOK_FLOOR_S} s plus {NOTEBOOK_S_PER_INPUT_MB} s per megabyte of the "
            "contract's tables (the demo's stages take about 45 s together on two cores)."
        ),
    )
    statement_s: int = Field(
        300,
        ge=1,
        le=24 * 3600,
        description=(
            "Seconds one practice's statement may take in its kernel (a statement takes "
            "well under a second)."
        ),
    )

    def notebook_limit_s(self, input_bytes: int) -> int:
        """The limit of one stage notebook for a run reading ``input_bytes`` of tables."""
        if self.notebook_s:
            return self.notebook_s
        return NOTEBOOK_FLOOR_S + (NOTEBOOK_S_PER_INPUT_MB * input_bytes) // 1_000_000
