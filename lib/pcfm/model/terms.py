"""Covariates, their levels and reference levels, and the dummy-coded design matrix.

Every rate ratio is named ``covariate=level`` against a fixed reference level, the same
naming as the synthetic truth, so that coefficients from different runs, specifications
and ICBs line up term by term.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from pcfm.model.errors import CellsError, ModelSpecificationError, first_values
from pcfm.params.model import ModelParams

__all__ = [
    "AGE_BANDS",
    "CMS_BANDS",
    "LTC_BANDS",
    "CovariateSpec",
    "DesignEncoder",
    "covariate_specs",
    "prepare_cells",
]

AGE_BANDS: tuple[str, ...] = (
    *(f"{start}-{start + 4}" for start in range(0, 85, 5)),
    "85+",
)
SEXES: tuple[str, ...] = ("F", "M")
AGE_SEX_LEVELS: tuple[str, ...] = tuple(f"{sex}:{band}" for sex in SEXES for band in AGE_BANDS)
LTC_BANDS: tuple[str, ...] = ("0", "1", "2", "3", "4+")
CMS_BANDS: tuple[str, ...] = ("0", "0-1", "1-2", "2-3", "3+")
FLAG_LEVELS: tuple[str, ...] = ("0", "1")

WORKLOAD = "workload"
EXPOSURE = "exposure"
PRACTICE = "practice_code"


@dataclass(frozen=True)
class CovariateSpec:
    """One covariate as it enters the model.

    Attributes:
        column: Column of the cells table, also the term prefix (``column=level``).
        levels: Every allowed level, in display order.
        reference: The level every rate ratio of this covariate is measured against.
        numeric_codes: Whether the cells may hold the levels as numbers (IMD bands, flags).
    """

    column: str
    levels: tuple[str, ...]
    reference: str
    numeric_codes: bool = False


def _ltc_levels(cap: int) -> tuple[str, ...]:
    return (*(str(n) for n in range(cap)), f"{cap}+")


def covariate_specs(model_params: ModelParams) -> list[CovariateSpec]:
    """The covariates named in the parameters, mapped to cells columns and reference levels."""
    specs: list[CovariateSpec] = []
    for covariate in model_params.covariates:
        if covariate == "age_sex" and model_params.age_sex_form == "additive":
            specs.append(CovariateSpec("age_band", AGE_BANDS, "30-34"))
            specs.append(CovariateSpec("sex", SEXES, "F"))
        elif covariate == "age_sex":
            specs.append(CovariateSpec("age_sex", AGE_SEX_LEVELS, "F:30-34"))
        elif covariate == "deprivation":
            if model_params.deprivation_band == "quintile":
                levels = tuple(str(q) for q in range(1, 6))
                specs.append(CovariateSpec("imd_quintile", levels, "5", numeric_codes=True))
            else:
                levels = tuple(str(d) for d in range(1, 11))
                specs.append(CovariateSpec("imd_decile", levels, "10", numeric_codes=True))
        elif covariate == "morbidity":
            if model_params.morbidity_measure == "ltc_count":
                specs.append(CovariateSpec("ltc_band", _ltc_levels(model_params.ltc_cap), "0"))
            else:
                specs.append(CovariateSpec("cms_band", CMS_BANDS, "0"))
        else:
            specs.append(CovariateSpec(covariate, FLAG_LEVELS, "0", numeric_codes=True))
    return specs


def _fail(column: str, problem: str, bad: pd.Series, total: int) -> CellsError:
    return CellsError(
        f"cells: column {column!r}: {len(bad)} of {total} row(s) {problem}; "
        f"first values: {first_values(bad.tolist())}"
    )


def _normalise_levels(values: pd.Series, spec: CovariateSpec, ltc_cap: int) -> pd.Series:
    """Turn a covariate column into strings from ``spec.levels`` (or raise, naming the values)."""
    uniques = pd.unique(values)
    mapping: dict[object, str | None] = {}
    for value in uniques:
        mapping[value] = _level_of(value, spec, ltc_cap)
    result = values.map(mapping)
    bad = values[result.isna()]
    if len(bad):
        raise _fail(
            spec.column,
            f"hold a value that is not a level ({', '.join(spec.levels)})",
            bad.drop_duplicates(),
            len(values),
        )
    return result.astype(str)


def _level_of(value: object, spec: CovariateSpec, ltc_cap: int) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value).strip()
    if spec.numeric_codes:
        try:
            number = float(text)
        except ValueError:
            return None
        if not number.is_integer():
            return None
        text = str(int(number))
    if spec.column == "ltc_band":
        try:
            count = int(text.rstrip("+"))
        except ValueError:
            return None
        if count < 0:
            return None
        return str(count) if count < ltc_cap else f"{ltc_cap}+"
    return text if text in spec.levels else None


def _with_age_sex_columns(cells: pd.DataFrame, needed: set[str]) -> pd.DataFrame:
    """Derive age_sex from age_band and sex, or the reverse, when the model needs it."""
    columns = set(cells.columns)
    if "age_sex" in needed and "age_sex" not in columns and {"age_band", "sex"} <= columns:
        return cells.assign(age_sex=cells["sex"].astype(str) + ":" + cells["age_band"].astype(str))
    if (
        {"age_band", "sex"} & needed
        and not {"age_band", "sex"} <= columns
        and ("age_sex" in columns)
    ):
        parts = cells["age_sex"].astype(str).str.split(":", n=1, expand=True)
        return cells.assign(sex=parts[0], age_band=parts[1])
    return cells


def prepare_cells(
    cells: pd.DataFrame, model_params: ModelParams, outcome: bool = True
) -> pd.DataFrame:
    """Check the cells and return the columns the model uses, with levels as strings.

    ``age_sex`` is built from ``age_band`` and ``sex`` when only those are present, and the
    long-term-condition band is capped at ``model_params.ltc_cap``. With ``outcome`` false
    (prediction) only the covariates are required; practice and exposure are kept if present.

    Raises:
        CellsError: a column is missing, or holds missing, negative or unknown values, naming
            the column, the number of rows and the first offending values.
    """
    if not isinstance(cells, pd.DataFrame):
        raise CellsError(f"cells: expected a pandas DataFrame, got {type(cells).__name__}")
    specs = covariate_specs(model_params)
    table = _with_age_sex_columns(cells, {spec.column for spec in specs})
    outcome_columns = [PRACTICE, WORKLOAD, EXPOSURE] if outcome else []
    needed = [*outcome_columns, *(spec.column for spec in specs)]
    missing = [column for column in needed if column not in table.columns]
    if missing:
        raise CellsError(
            f"cells: missing column(s) {', '.join(missing)} needed by the model "
            f"(covariates: {', '.join(model_params.covariates)})"
        )
    if len(table) == 0:
        raise CellsError("cells: the table has no rows")
    prepared = pd.DataFrame(index=table.index)
    if PRACTICE in table.columns:
        practice = table[PRACTICE]
        if practice.isna().any():
            raise _fail(PRACTICE, "are missing", practice[practice.isna()], len(table))
        prepared[PRACTICE] = practice.astype(str)
    for column, low_ok in ((WORKLOAD, True), (EXPOSURE, False)):
        if column not in table.columns:
            continue
        numbers = pd.to_numeric(table[column], errors="coerce").astype(float)
        bad_mask = ~np.isfinite(numbers) | (numbers < 0 if low_ok else numbers <= 0)
        if bad_mask.any():
            problem = "are missing, infinite or negative" if low_ok else "are not positive"
            raise _fail(column, problem, table.loc[bad_mask, column], len(table))
        prepared[column] = numbers
    for spec in specs:
        prepared[spec.column] = _normalise_levels(table[spec.column], spec, model_params.ltc_cap)
    return prepared.reset_index(drop=True)


@dataclass(frozen=True)
class DesignEncoder:
    """Dummy coding of the covariates: one column per non-reference level seen in the fit."""

    specs: tuple[CovariateSpec, ...]
    levels: tuple[tuple[str, ...], ...]

    @classmethod
    def from_cells(cls, prepared: pd.DataFrame, specs: list[CovariateSpec]) -> DesignEncoder:
        """Learn the levels present in the (prepared) fitting cells.

        Raises:
            ModelSpecificationError: a covariate has a single level, or its reference level is
                absent, so its rate ratios cannot be estimated against the stated reference.
        """
        levels: list[tuple[str, ...]] = []
        for spec in specs:
            present = set(prepared[spec.column].unique())
            if len(present) < 2:
                raise ModelSpecificationError(
                    f"covariate {spec.column!r} has a single level ({next(iter(present))!r}) in "
                    "the cells, so its effect cannot be estimated; drop it from model.covariates"
                )
            if spec.reference not in present:
                raise ModelSpecificationError(
                    f"covariate {spec.column!r}: the reference level {spec.reference!r} is absent "
                    f"from the cells (levels present: {', '.join(sorted(present))}); rate ratios "
                    "are defined against it"
                )
            levels.append(tuple(lv for lv in spec.levels if lv in present and lv != spec.reference))
        return cls(tuple(specs), tuple(levels))

    @property
    def term_names(self) -> list[str]:
        """Term names ``covariate=level``, in column order of the design matrix."""
        return [
            f"{spec.column}={level}"
            for spec, levels in zip(self.specs, self.levels, strict=True)
            for level in levels
        ]

    @property
    def term_covariates(self) -> list[str]:
        """The covariate (cells column) of each term, in column order."""
        return [
            spec.column
            for spec, levels in zip(self.specs, self.levels, strict=True)
            for _ in levels
        ]

    def matrix(self, prepared: pd.DataFrame) -> np.ndarray:
        """The dense dummy matrix of prepared cells (reference levels are all-zero rows)."""
        return self.sparse_matrix(prepared).toarray()

    def sparse_matrix(
        self, prepared: pd.DataFrame, unseen_as_reference: bool = False
    ) -> sp.csr_matrix:
        """The dummy matrix as CSR: at most one non-zero per covariate in each row.

        Args:
            prepared: Cells from :func:`prepare_cells`.
            unseen_as_reference: Code a level the model was not fitted with as the reference
                level (used for practices held out in cross-validation) instead of failing.

        Raises:
            ModelSpecificationError: the cells hold a level the model was not fitted with.
        """
        n_rows = len(prepared)
        row_parts: list[np.ndarray] = []
        column_parts: list[np.ndarray] = []
        offset = 0
        for spec, levels in zip(self.specs, self.levels, strict=True):
            codes = pd.Index([spec.reference, *levels]).get_indexer(prepared[spec.column])
            unknown = codes < 0
            if unseen_as_reference:
                codes = np.where(unknown, 0, codes)
            elif unknown.any():
                bad = prepared.loc[unknown, spec.column].drop_duplicates()
                raise ModelSpecificationError(
                    f"cells: column {spec.column!r}: {int(unknown.sum())} row(s) hold a level the "
                    f"model was not fitted with; first values: {first_values(bad.tolist())}"
                )
            rows = np.flatnonzero(codes > 0)
            row_parts.append(rows)
            column_parts.append(offset + codes[rows].astype(np.int64) - 1)
            offset += len(levels)
        rows = np.concatenate(row_parts) if row_parts else np.zeros(0, dtype=np.int64)
        columns = np.concatenate(column_parts) if column_parts else np.zeros(0, dtype=np.int64)
        return sp.csr_matrix((np.ones(len(rows)), (rows, columns)), shape=(n_rows, offset))
