"""The parameter reference: every field of the schema, its description and the value used."""

from __future__ import annotations

from typing import Any

import pandas as pd
from pydantic import BaseModel


def _rows(section: BaseModel, prefix: str) -> list[dict[str, Any]]:
    rows = []
    for name, field in type(section).model_fields.items():
        if field.exclude:
            continue
        value = getattr(section, name)
        key = f"{prefix}{name}"
        if isinstance(value, BaseModel):
            rows.extend(_rows(value, f"{key}."))
        else:
            shown = value if isinstance(value, str | int | float | bool | None) else str(value)
            rows.append({"parameter": key, "value": shown, "description": field.description})
    return rows


def parameter_reference(params: BaseModel) -> pd.DataFrame:
    """One row per parameter (dotted key), with its description and the value in force."""
    return pd.DataFrame(_rows(params, ""), columns=["parameter", "value", "description"])
