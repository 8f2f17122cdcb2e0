"""The parameter file: schema, loading and validation.

Every field of every section has a description; unknown keys, wrong types and
out-of-range values are errors that name the file and the dotted key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, ValidationError
from pydantic.fields import FieldInfo

from pcfm.params.allocation import AllocationParams
from pcfm.params.base import Section
from pcfm.params.data import DataParams
from pcfm.params.disclosure import DisclosureParams
from pcfm.params.model import ModelParams
from pcfm.params.report import ReportParams
from pcfm.params.strict_yaml import StrictYamlError, bounded, load_strict_yaml
from pcfm.params.timeouts import TimeoutParams

__all__ = ["ParameterError", "Params", "load_params", "params_from_dict", "schema_field"]


class ParameterError(ValueError):
    """A parameter file that cannot be used, with every problem listed."""


class Params(Section):
    """All parameters of one run of the funding model."""

    run_name: str = Field(
        ...,
        description="Name of the run; outputs go to build/<run_name>/.",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        max_length=64,
    )
    seed: int = Field(
        20250401,
        ge=0,
        description="Seed of every random draw (synthetic data, cross-validation, bootstrap).",
    )
    data: DataParams = Field(default_factory=DataParams, description="Input data.")
    model: ModelParams = Field(default_factory=ModelParams, description="Workload model.")
    allocation: AllocationParams = Field(
        default_factory=AllocationParams, description="Funding comparison and allocation."
    )
    disclosure: DisclosureParams = Field(
        default_factory=DisclosureParams, description="Disclosure control of published counts."
    )
    report: ReportParams = Field(default_factory=ReportParams, description="Published report.")
    timeouts: TimeoutParams = Field(
        default_factory=TimeoutParams,
        description="Watchdogs: seconds a kernel may take before the run is stopped.",
    )

    #: Where the parameter file was read from (not a parameter; set by load_params).
    source_path: Path | None = Field(
        None, exclude=True, description="Path of the parameter file (set when loaded)."
    )

    def resolve(self, path: Path | None) -> Path | None:
        """Resolve a path given in the parameter file relative to that file's folder."""
        if path is None:
            return None
        if path.is_absolute() or self.source_path is None:
            return path
        return (self.source_path.parent / path).resolve()

    def with_absolute_paths(self) -> Params:
        """A copy whose path parameters are absolute, so it works from any folder."""

        def absolute(section: BaseModel) -> BaseModel:
            updates: dict[str, Any] = {}
            for name, value in section:
                if isinstance(value, Path) and name != "source_path":
                    updates[name] = self.resolve(value)
                elif isinstance(value, BaseModel):
                    updates[name] = absolute(value)
            return section.model_copy(update=updates) if updates else section

        return absolute(self)  # type: ignore[return-value]

    def to_yaml(self) -> str:
        """The parameters as loaded (defaults filled in), as YAML."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


#: Keys that moved to another section, so an old parameter file gets told where they went.
MOVED_KEYS = {
    "report.uncertain_low": "allocation.uncertain_low",
    "report.uncertain_high": "allocation.uncertain_high",
}


def _format_errors(source: str, error: ValidationError) -> str:
    lines = [f"{source}: invalid parameters ({error.error_count()} problem(s)):"]
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        if item["type"] == "extra_forbidden":
            message = "unknown key (not in the parameter schema)"
            if key in MOVED_KEYS:
                message += f"; it is now {MOVED_KEYS[key]}"
        else:
            message = item["msg"]
        value = item.get("input")
        shown = (
            ""
            if isinstance(value, dict) or item["type"] == "missing"
            else f" (got {bounded(repr(value), 80)})"
        )
        lines.append(f"  - {key}: {message}{shown}")
    return "\n".join(lines)


def params_from_dict(values: dict[str, Any], source: str = "<parameters>") -> Params:
    """Validate a dictionary of parameters, naming ``source`` in any error."""
    if not isinstance(values, dict):
        raise ParameterError(f"{source}: the parameter file must be a mapping of keys to values")
    if "source_path" in values:
        raise ParameterError(f"{source}: source_path: unknown key (not in the parameter schema)")
    try:
        return Params.model_validate(values)
    except ValidationError as error:
        raise ParameterError(_format_errors(source, error)) from None


def load_params(path: str | Path, **overrides: Any) -> Params:
    """Load and validate a YAML parameter file; ``overrides`` replace top-level keys."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ParameterError(f"{path}: cannot read the parameter file ({error.strerror})") from None
    try:
        values = load_strict_yaml(text) or {}
    except StrictYamlError as error:
        raise ParameterError(f"{path}: {error}") from None
    if isinstance(values, dict):
        values.update(overrides)
    params = params_from_dict(values, source=str(path))
    return params.model_copy(update={"source_path": path.resolve()})


def schema_field(key: str) -> FieldInfo:
    """The schema's field for a dotted key, e.g. ``data.synthetic.n_patients``.

    Tools that offer a parameter outside a parameter file (the command line) take its default
    and description from here, so they cannot drift from the schema.

    Raises:
        KeyError: if the key is not in the schema.
    """
    section: type[BaseModel] = Params
    parts = key.split(".")
    for depth, part in enumerate(parts):
        if part not in section.model_fields:
            raise KeyError(f"{key}: not in the parameter schema")
        info = section.model_fields[part]
        if depth == len(parts) - 1:
            return info
        if not (isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel)):
            raise KeyError(f"{key}: {'.'.join(parts[: depth + 1])} is not a section")
        section = info.annotation
    raise KeyError(key)
