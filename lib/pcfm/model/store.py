"""Stage 02's hand-offs: the fitted model as a versioned JSON artefact, need by specification.

Later stages predict need from the stored model instead of refitting it: the artefact holds
everything :meth:`WorkloadModel.predict_rate` uses (the specification, the covariates with
their levels and reference levels, the age-spline knots, the slopes, the log rate at the
reference levels and reference supply) and the rest of the fit (covariance, rate ratios,
practice supply ratios, fit statistics), so the loaded model is the fitted one.

Why JSON: it is safe to read (no code runs, unlike a pickle), readable in review, and
byte-stable (keys sorted; floats written as the shortest repr that reads back to the same
double, so predictions from the loaded model equal the fitted model's bit for bit).
NaN is not JSON: a missing number is stored as null.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from pcfm.base.artefacts import NEED_BY_SPECIFICATION, WORKLOAD_MODEL
from pcfm.base.outputs import Outputs
from pcfm.model.need_index import NEED_COLUMNS
from pcfm.model.terms import AgeSpline, CovariateSpec, DesignEncoder
from pcfm.model.workload import WorkloadModel
from pcfm.params.model import ModelParams

__all__ = [
    "SCHEMA",
    "SCHEMA_VERSION",
    "StoredModelError",
    "model_from_json",
    "model_to_json",
    "read_need_by_specification",
    "read_workload_model",
    "write_need_by_specification",
    "write_workload_model",
]

SCHEMA = "pcfm.workload_model"
#: Raise when the layout below changes; a reader refuses other versions.
SCHEMA_VERSION = 1
SPECIFICATION = "specification"


class StoredModelError(ValueError):
    """The stored model is not one this version of pcfm can read."""


def _plain(value: Any) -> Any:
    """``value`` with numpy scalars and arrays as Python ones and NaN/inf as None."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_plain(item) for item in value]
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else None
    return value


def _table_to_json(table: pd.DataFrame) -> dict[str, Any]:
    return {
        "columns": list(table.columns),
        "dtypes": [str(dtype) for dtype in table.dtypes],
        "data": [_plain(table[column].tolist()) for column in table.columns],
    }


def _table_from_json(content: Mapping[str, Any]) -> pd.DataFrame:
    columns = {
        name: pd.Series(
            [np.nan if value is None and dtype.startswith("float") else value for value in data],
            dtype=dtype,
        )
        for name, dtype, data in zip(
            content["columns"], content["dtypes"], content["data"], strict=True
        )
    }
    return pd.DataFrame(columns, columns=content["columns"])


def _floats(values: Any) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def model_to_json(model: WorkloadModel) -> dict[str, Any]:
    """The fitted model as JSON-ready content (see the module docstring)."""
    encoder = model.encoder
    spline = encoder.age_spline
    return {
        "schema": SCHEMA,
        "version": SCHEMA_VERSION,
        "model_params": model.model_params.model_dump(mode="json"),
        "covariates": [
            {
                "column": spec.column,
                "levels": list(spec.levels),
                "reference": spec.reference,
                "numeric_codes": spec.numeric_codes,
                "fitted_levels": list(levels),
            }
            for spec, levels in zip(encoder.specs, encoder.levels, strict=True)
        ],
        "age_spline": None
        if spline is None
        else {"knots": _plain(spline.knots), "by_sex": spline.by_sex},
        "terms": encoder.term_names,
        "coef": _plain(model.coef),
        "covariance": _plain(model.covariance),
        "log_reference_level": _plain(model.log_reference_level),
        "coefficients": _table_to_json(model.coefficients),
        "practice_effects": _table_to_json(model.practice_effects),
        "summary": _plain(model.summary),
    }


def model_from_json(content: Mapping[str, Any]) -> WorkloadModel:
    """The model stored by :func:`model_to_json`.

    Raises:
        StoredModelError: another schema or version, or terms that do not match the design.
    """
    if content.get("schema") != SCHEMA or content.get("version") != SCHEMA_VERSION:
        raise StoredModelError(
            f"stored model has schema {content.get('schema')!r} version "
            f"{content.get('version')!r}; this pcfm reads {SCHEMA!r} version {SCHEMA_VERSION}: "
            "rerun stage 02"
        )
    specs = tuple(
        CovariateSpec(c["column"], tuple(c["levels"]), c["reference"], c["numeric_codes"])
        for c in content["covariates"]
    )
    levels = tuple(tuple(c["fitted_levels"]) for c in content["covariates"])
    spline = content["age_spline"]
    encoder = DesignEncoder(
        specs,
        levels,
        None if spline is None else AgeSpline(tuple(spline["knots"]), spline["by_sex"]),
    )
    if encoder.term_names != content["terms"] or len(content["coef"]) != len(content["terms"]):
        raise StoredModelError("stored model: its terms do not match its design; rerun stage 02")
    return WorkloadModel(
        model_params=ModelParams.model_validate(content["model_params"]),
        encoder=encoder,
        coef=_floats(content["coef"]),
        covariance=np.array([_floats(row) for row in content["covariance"]], dtype=float).reshape(
            len(content["coef"]), len(content["coef"])
        ),
        log_reference_level=float(content["log_reference_level"]),
        coefficients=_table_from_json(content["coefficients"]),
        practice_effects=_table_from_json(content["practice_effects"]),
        summary=dict(content["summary"]),
    )


def write_workload_model(outputs: Outputs, model: WorkloadModel) -> None:
    """Store the model as specified for the later stages (``restricted/workload_model.json``)."""
    outputs.write_restricted_json(model_to_json(model), WORKLOAD_MODEL)


def read_workload_model(outputs: Outputs) -> WorkloadModel:
    """The model stage 02 fitted, as it fitted it."""
    return model_from_json(outputs.read_restricted_json(WORKLOAD_MODEL))


def write_need_by_specification(outputs: Outputs, tables: Mapping[str, pd.DataFrame]) -> None:
    """Store each specification's need table in one long table with a specification column."""
    long = pd.concat(
        [table[NEED_COLUMNS].assign(**{SPECIFICATION: label}) for label, table in tables.items()],
        ignore_index=True,
    )
    outputs.write_restricted(long[[SPECIFICATION, *NEED_COLUMNS]], NEED_BY_SPECIFICATION)


def read_need_by_specification(outputs: Outputs) -> dict[str, pd.DataFrame]:
    """Need table (columns of :data:`NEED_COLUMNS`) by specification, the specification first."""
    long = outputs.read_restricted(NEED_BY_SPECIFICATION)
    return {
        str(label): long.loc[long[SPECIFICATION] == label, NEED_COLUMNS].reset_index(drop=True)
        for label in dict.fromkeys(long[SPECIFICATION])
    }
