"""Shared base for every parameter section: strict, documented, immutable."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A parameter section: unknown keys are errors and values cannot change after loading.

    Infinite and not-a-number values are errors too: ``budget_gbp: .inf`` is valid YAML
    but no budget, and would fail far from the file that gave it.
    """

    model_config = ConfigDict(
        extra="forbid", frozen=True, use_attribute_docstrings=False, allow_inf_nan=False
    )
