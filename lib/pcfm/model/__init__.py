"""Stage 02: the need-to-workload model, its diagnostics and sensitivity analyses.

Modules: ``terms`` (covariates, reference levels, dummy coding), ``irls`` (the count
regression with absorbed practice effects), ``workload`` (the fitted model and prediction at
reference supply), ``diagnostics`` (calibration, cross-validation, comparison with Carr-Hill),
``alternatives`` (sensitivity analyses), ``carr_hill``, ``figures`` and ``stage``.
"""

from pcfm.model.alternatives import (
    compare_coefficients,
    compare_need_indices,
    fit_alternatives,
)
from pcfm.model.errors import CellsError, ModelSpecificationError
from pcfm.model.workload import (
    COEFFICIENT_COLUMNS,
    WorkloadModel,
    age_sex_curve,
    fit_workload_model,
)

__all__ = [
    "COEFFICIENT_COLUMNS",
    "CellsError",
    "ModelSpecificationError",
    "WorkloadModel",
    "age_sex_curve",
    "compare_coefficients",
    "compare_need_indices",
    "fit_alternatives",
    "fit_workload_model",
]
