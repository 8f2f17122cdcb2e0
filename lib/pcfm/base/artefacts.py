"""The artefacts stages hand each other through the run's restricted area, declared once.

Writers, readers and the stage table (`pcfm.stages`) name an artefact by the constant
here, never by a string, so a misspelt hand-off is an import error rather than a missing
file halfway through a run. Each artefact is one file, ``restricted/<name><suffix>``:
Parquet for tables, JSON (a versioned schema, `pcfm.model.store`) for the fitted model.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CELLS",
    "CELLS_BY_PATIENT_FOLD",
    "NEED_BY_SPECIFICATION",
    "PRACTICES",
    "PRACTICE_NEED",
    "RESTRICTED_ARTEFACTS",
    "WORKLOAD_MODEL",
    "Restricted",
]


@dataclass(frozen=True)
class Restricted:
    """One restricted artefact: its file name and what it holds."""

    name: str
    suffix: str
    description: str

    @property
    def filename(self) -> str:
        """``cells.parquet``: the file in ``restricted/``."""
        return f"{self.name}{self.suffix}"


CELLS = Restricted(
    "cells",
    ".parquet",
    "practice × covariate cells: workload, person-years, patients (small counts)",
)
CELLS_BY_PATIENT_FOLD = Restricted(
    "cells_by_patient_fold",
    ".parquet",
    "the cells split by patient fold (a seeded hash of the patient id), for the validation "
    "that holds out patients within practices (small counts)",
)
PRACTICES = Restricted(
    "practices",
    ".parquet",
    "the practices table of the data contract as read (list sizes, funding, place, PCN)",
)
WORKLOAD_MODEL = Restricted(
    "workload_model",
    ".json",
    "the fitted workload model as specified: design, coefficients, reference supply "
    "(pcfm.model.store)",
)
NEED_BY_SPECIFICATION = Restricted(
    "need_by_specification",
    ".parquet",
    "each practice's need-weighted list and need index under the specification and every "
    "alternative that could be fitted, long form with a specification column",
)
PRACTICE_NEED = Restricted(
    "practice_need",
    ".parquet",
    "each practice's need-weighted list, need index and its decomposition",
)

#: Every restricted artefact a run writes (besides its input data), in stage order.
RESTRICTED_ARTEFACTS: tuple[Restricted, ...] = (
    CELLS,
    CELLS_BY_PATIENT_FOLD,
    PRACTICES,
    WORKLOAD_MODEL,
    NEED_BY_SPECIFICATION,
    PRACTICE_NEED,
)
