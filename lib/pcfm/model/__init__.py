"""Stage 02: the need-to-workload model, its diagnostics and sensitivity analyses."""

from pcfm.model.errors import CellsError, ModelSpecificationError
from pcfm.model.workload import COEFFICIENT_COLUMNS, WorkloadModel, fit_workload_model

__all__ = [
    "COEFFICIENT_COLUMNS",
    "CellsError",
    "ModelSpecificationError",
    "WorkloadModel",
    "fit_workload_model",
]
