"""The parameter reference: every field of the schema, its description and the value used."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel


def shown_path(path: Path) -> str:
    """A path as published: relative as given, or only the last name of an absolute one.

    An absolute path says whose machine ran the model (``/home/alice/...``) and would make
    the same run on two machines publish different bytes.
    """
    return f".../{path.name}" if path.is_absolute() else path.as_posix()


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
            if isinstance(value, Path):
                shown: Any = shown_path(value)
            elif isinstance(value, str | int | float | bool | None):
                shown = value
            else:
                shown = str(value)
            rows.append({"parameter": key, "value": shown, "description": field.description})
    return rows


def parameter_reference(params: BaseModel) -> pd.DataFrame:
    """One row per parameter (dotted key), with its description and the value in force."""
    return pd.DataFrame(_rows(params, ""), columns=["parameter", "value", "description"])
