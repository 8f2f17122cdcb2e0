"""Errors of the workload model: bad cells or a model that cannot be estimated."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["CellsError", "ModelSpecificationError", "first_values"]


class ModelSpecificationError(ValueError):
    """The model as specified cannot be estimated on these cells.

    Raised, with the covariate and level named, for a covariate with a single level, a level
    (or the reference level) with no workload at all (perfect separation), all-zero workload,
    a term that cannot be separated from the practice effects, or a fit that does not converge.
    """


class CellsError(ValueError):
    """The cells table is missing a column or holds values the model cannot use."""


def first_values(values: Iterable[object], limit: int = 5) -> str:
    """The first few values of an iterable, for an error message."""
    shown = []
    for index, value in enumerate(values):
        if index == limit:
            shown.append("…")
            break
        shown.append(repr(value))
    return ", ".join(shown)
