"""Stage 02: the need-to-workload model, its diagnostics and sensitivity analyses.

Modules: ``terms`` (covariates, reference levels, dummy coding), ``irls`` (the count
regression with absorbed practice effects), ``workload`` (the fitted model and prediction at
reference supply), ``store`` (the fitted model as a restricted artefact for later stages),
``resample`` (refits on resampled practices, for the bootstrap), ``need_index`` (the one
need-index kernel, shared with stages 03 and 04), ``diagnostics`` (calibration,
cross-validation, comparison with Carr-Hill), ``alternatives`` (sensitivity analyses),
``carr_hill``, ``figures`` and ``stage``.
"""

from pcfm.model.alternatives import (
    compare_coefficients,
    compare_need_indices,
    fit_alternatives,
    need_by_specification,
)
from pcfm.model.errors import CellsError, ModelSpecificationError
from pcfm.model.need_index import need_index_from_sums, practice_need
from pcfm.model.resample import FitFunction, NewtonRefitter, PracticeResampler
from pcfm.model.store import read_need_by_specification, read_workload_model
from pcfm.model.workload import (
    COEFFICIENT_COLUMNS,
    WorkloadModel,
    age_sex_curve,
    fit_workload_model,
)

__all__ = [
    "COEFFICIENT_COLUMNS",
    "CellsError",
    "FitFunction",
    "ModelSpecificationError",
    "NewtonRefitter",
    "PracticeResampler",
    "WorkloadModel",
    "age_sex_curve",
    "compare_coefficients",
    "compare_need_indices",
    "fit_alternatives",
    "fit_workload_model",
    "need_by_specification",
    "need_index_from_sums",
    "practice_need",
    "read_need_by_specification",
    "read_workload_model",
]
