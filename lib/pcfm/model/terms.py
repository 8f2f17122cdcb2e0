"""Covariates, their levels and reference levels, and the dummy-coded design matrix.

Every rate ratio is named ``covariate=level`` against a fixed reference level, the same
naming as the synthetic truth, so that coefficients from different runs, specifications
and ICBs line up term by term.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import patsy
import scipy.sparse as sp

from pcfm.model.errors import CellsError, ModelSpecificationError, first_values
from pcfm.params.model import ModelParams

__all__ = [
    "ACG_BANDS",
    "AGE_BANDS",
    "AGE_SPLINE_REFERENCE",
    "CMS_BANDS",
    "LTC_BANDS",
    "AgeSpline",
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
ACG_BANDS: tuple[str, ...] = ("0", "1", "2", "3", "4", "5")
FLAG_LEVELS: tuple[str, ...] = ("0", "1")

#: Single-year age range of the data contract: the boundary knots of the age spline.
AGE_MIN, AGE_MAX = 0, 115
#: Age at which the age spline is zero: the reference of the age-sex curve is F aged 32.
AGE_SPLINE_REFERENCE = 32
AGE = "age"
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
        if covariate == "age_sex" and model_params.age_form == "spline":
            # Age enters through the spline (AgeSpline); sex as a level against F.
            specs.append(CovariateSpec("sex", SEXES, "F"))
        elif covariate == "age_sex" and model_params.age_sex_form == "additive":
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
            elif model_params.morbidity_measure == "acg_band":
                specs.append(CovariateSpec("acg_band", ACG_BANDS, "0", numeric_codes=True))
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


def level_codes(values: pd.Series, levels: Sequence[str]) -> np.ndarray:
    """The position of each value in ``levels`` (-1 where it is none of them).

    What ``pd.Index(levels).get_indexer(values)`` gives, but the lookup is done once per
    distinct value: on 200,000 cells of Arrow-backed strings that is five times faster, and
    instant on a categorical column (the model's prepared cells are categorical).
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    lookup = np.append(pd.Index(list(levels)).get_indexer(pd.Index(uniques, dtype=object)), -1)
    return lookup[codes]


def _normalise_levels(values: pd.Series, spec: CovariateSpec, ltc_cap: int) -> pd.Series:
    """Turn a covariate column into a categorical of ``spec.levels`` (or raise, naming the
    values). Each distinct value is checked once, so this costs one factorisation."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    levels = list(spec.levels)
    position = {level: i for i, level in enumerate(levels)}
    lookup = np.array(
        [position.get(_level_of(value, spec, ltc_cap), -1) for value in uniques] + [-1],
        dtype=np.int64,
    )
    level_of_row = lookup[codes]
    bad = values[level_of_row < 0]
    if len(bad):
        raise _fail(
            spec.column,
            f"hold a value that is not a level ({', '.join(spec.levels)})",
            bad.drop_duplicates(),
            len(values),
        )
    return pd.Series(pd.Categorical.from_codes(level_of_row, categories=levels), index=values.index)


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


#: Columns of the cells that are not covariate levels (practice, outcome, counts, age, fold).
_NOT_LEVELS = frozenset({PRACTICE, WORKLOAD, EXPOSURE, AGE, "patients", "patient_fold"})


def with_levels_as_categories(cells: pd.DataFrame) -> pd.DataFrame:
    """The cells with every covariate column as a categorical; the practice stays text.

    Every fit looks the levels up again (:func:`level_codes`): on categoricals that is
    instant, and the table is a fifth of the size to send to a worker process
    (`pcfm.base.parallel`). The fits are the same.
    """
    levels = [column for column in cells.columns if column not in _NOT_LEVELS]
    return cells.astype(
        {c: "category" for c in levels if not isinstance(cells[c].dtype, pd.CategoricalDtype)}
    )


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
        ModelSpecificationError: the model asks for the ACG band but the cells have none.
    """
    if not isinstance(cells, pd.DataFrame):
        raise CellsError(f"cells: expected a pandas DataFrame, got {type(cells).__name__}")
    specs = covariate_specs(model_params)
    table = _with_age_sex_columns(cells, {spec.column for spec in specs})
    if any(spec.column == "acg_band" for spec in specs) and "acg_band" not in table.columns:
        raise ModelSpecificationError(
            "model.morbidity_measure is 'acg_band' but the cells have no acg_band column: the "
            "patients table has no acg_rub (ACG resource utilisation band); supply acg_rub or "
            "choose morbidity_measure 'ltc_count' or 'cambridge_score'"
        )
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
    if uses_age_spline(model_params):
        prepared[AGE] = _single_year_age(table)
    return prepared.reset_index(drop=True)


def uses_age_spline(model_params: ModelParams) -> bool:
    """Whether the model fits age as a spline of single years."""
    return "age_sex" in model_params.covariates and model_params.age_form == "spline"


def _single_year_age(table: pd.DataFrame) -> np.ndarray:
    if AGE not in table.columns:
        raise CellsError(
            "cells: missing column age (single years) needed by model.age_form 'spline'; "
            "build the cells with the same parameters (age_form: spline)"
        )
    numbers = pd.to_numeric(table[AGE], errors="coerce").astype(float)
    bad = ~np.isfinite(numbers) | (numbers < AGE_MIN) | (numbers > AGE_MAX) | (numbers % 1 != 0)
    if bad.any():
        raise _fail(
            AGE, f"are not whole years {AGE_MIN}-{AGE_MAX}", table.loc[bad, AGE], len(table)
        )
    return numbers.to_numpy(dtype=float)


@dataclass(frozen=True)
class AgeSpline:
    """Cubic B-spline of single-year age, zero at age 32, by sex or common to both sexes.

    The knots are fixed when the model is fitted (interior knots at person-year-weighted
    quantiles of age, boundary knots 0 and 115) and stored, so prediction uses the same basis.

    Attributes:
        knots: Interior knots (years).
        by_sex: One curve per sex (terms ``age_spline:F:k`` and ``age_spline:M:k``) or one
            curve for both (``age_spline:all:k``).
    """

    knots: tuple[float, ...]
    by_sex: bool

    @classmethod
    def from_cells(cls, prepared: pd.DataFrame, model_params: ModelParams) -> AgeSpline:
        """Place ``age_spline_df − 3`` interior knots at quantiles of age weighted by exposure."""
        n_inner = model_params.age_spline_df - 3
        knots: tuple[float, ...] = ()
        if n_inner > 0:
            age = prepared[AGE].to_numpy(dtype=float)
            weight = (
                prepared[EXPOSURE].to_numpy(dtype=float)
                if EXPOSURE in prepared
                else np.ones(len(age))
            )
            order = np.argsort(age, kind="stable")
            cumulative = np.cumsum(weight[order]) / weight.sum()
            probs = np.arange(1, n_inner + 1) / (n_inner + 1)
            points = age[order][np.searchsorted(cumulative, probs)]
            knots = tuple(float(k) for k in np.unique(points) if AGE_MIN < k < AGE_MAX)
        return cls(knots, model_params.age_sex_form == "interacted")

    @property
    def n_basis(self) -> int:
        """Basis columns per curve."""
        return len(self.knots) + 3

    @property
    def groups(self) -> tuple[str, ...]:
        """The curves: one per sex, or ``all``."""
        return SEXES if self.by_sex else ("all",)

    @property
    def term_names(self) -> list[str]:
        """Terms ``age_spline:<sex>:<k>`` (k from 1), curve by curve."""
        return [f"age_spline:{g}:{k}" for g in self.groups for k in range(1, self.n_basis + 1)]

    def basis(self, age: np.ndarray) -> np.ndarray:
        """The B-spline basis of ``age`` minus its value at the reference age 32."""
        age = np.asarray(age, dtype=float)
        points = np.concatenate([age, [float(AGE_SPLINE_REFERENCE)]])
        full = np.asarray(
            patsy.bs(
                points,
                knots=list(self.knots) or None,
                degree=3,
                include_intercept=False,
                lower_bound=AGE_MIN,
                upper_bound=AGE_MAX,
            )
        )
        return full[:-1] - full[-1]

    def matrix(self, prepared: pd.DataFrame) -> np.ndarray:
        """The spline columns of prepared cells (by sex: zero for the other sex's curve)."""
        basis = self.basis(prepared[AGE].to_numpy(dtype=float))
        if not self.by_sex:
            return basis
        sex = prepared["sex"].to_numpy()
        return np.hstack([basis * (sex == s)[:, None] for s in SEXES])


@dataclass(frozen=True)
class DesignEncoder:
    """Dummy coding of the covariates: one column per non-reference level seen in the fit."""

    specs: tuple[CovariateSpec, ...]
    levels: tuple[tuple[str, ...], ...]
    age_spline: AgeSpline | None = None

    @classmethod
    def from_cells(
        cls,
        prepared: pd.DataFrame,
        specs: list[CovariateSpec],
        age_spline: AgeSpline | None = None,
    ) -> DesignEncoder:
        """Learn the levels present in the (prepared) fitting cells.

        The age spline's columns, if any, follow the dummy columns.

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
        return cls(tuple(specs), tuple(levels), age_spline)

    @property
    def n_dummy(self) -> int:
        """Number of dummy (level) columns; the spline columns, if any, come after them."""
        return sum(len(levels) for levels in self.levels)

    @property
    def term_names(self) -> list[str]:
        """Term names ``covariate=level``, in column order of the design matrix."""
        names = [
            f"{spec.column}={level}"
            for spec, levels in zip(self.specs, self.levels, strict=True)
            for level in levels
        ]
        return names + (self.age_spline.term_names if self.age_spline else [])

    @property
    def term_covariates(self) -> list[str]:
        """The covariate (cells column) of each term, in column order."""
        columns = [
            spec.column
            for spec, levels in zip(self.specs, self.levels, strict=True)
            for _ in levels
        ]
        return columns + (
            ["age_spline"] * len(self.age_spline.term_names) if self.age_spline else []
        )

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
            codes = level_codes(prepared[spec.column], [spec.reference, *levels])
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
        dummies = sp.csr_matrix((np.ones(len(rows)), (rows, columns)), shape=(n_rows, offset))
        if self.age_spline is None:
            return dummies
        spline = sp.csr_matrix(self.age_spline.matrix(prepared))
        return sp.hstack([dummies, spline], format="csr")
