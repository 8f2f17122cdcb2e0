"""Refitting the model on practices drawn with replacement: the API the bootstrap uses.

A draw is an array of practice positions (``0 … n_practices − 1``, repeats allowed). The
cells of a drawn practice come along; a practice drawn twice counts twice, as a separate
practice, so that practice effects stay estimable.

Speed, kept here because only the model knows when it is exact: a Poisson fit with a single
intercept (no practice effects) depends on the data only through the sums of workload and
exposure per covariate combination, so the fit on the resampled cells equals the fit on the
cells summed over practices with each practice weighted by the number of times it was drawn,
a table of a few hundred rows instead of every cell. For any other model (negative binomial,
whose likelihood is not a function of those sums, or practice effects) the drawn cells are
stacked and fitted as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from pcfm.model.errors import CellsError
from pcfm.model.terms import AGE, EXPOSURE, PRACTICE, covariate_specs, uses_age_spline
from pcfm.model.workload import WorkloadModel, fit_workload_model
from pcfm.params.model import ModelParams

__all__ = ["FitFunction", "PracticeResampler", "model_columns"]

#: Columns of cells that are sums over patients, not covariates.
SUM_COLUMNS = ("workload", "exposure", "patients")

FitFunction = Callable[[pd.DataFrame, ModelParams], Any]


def model_columns(model_params: ModelParams, columns: set[str] | list[str]) -> list[str]:
    """The cells columns the model's predictions depend on, as these cells hold them.

    ``age_sex`` may be held as ``age_band`` and ``sex`` (or the reverse), as
    :func:`pcfm.model.terms.prepare_cells` allows; the age spline adds single-year ``age``.

    Raises:
        CellsError: a covariate the model needs is absent and cannot be derived.
    """
    present = set(columns)
    chosen: list[str] = []
    for spec in covariate_specs(model_params):
        if spec.column in present:
            chosen.append(spec.column)
        elif spec.column == "age_sex" and {"age_band", "sex"} <= present:
            chosen += ["age_band", "sex"]
        elif spec.column in ("age_band", "sex") and "age_sex" in present:
            chosen.append("age_sex")
        else:
            raise CellsError(f"cells: missing model column {spec.column}")
    if uses_age_spline(model_params):
        chosen.append(AGE)
    return list(dict.fromkeys(chosen))


@dataclass(frozen=True)
class PracticeResampler:
    """Cells prepared once for many refits of one specification on resampled practices.

    Attributes:
        cells: The cells of every practice.
        model_params: The specification refitted.
        practice_codes: Practice codes in sorted order; a draw indexes into these.
        combinations: The distinct combinations of the model's columns: predictions depend on
            these alone, so a refit need only predict each once.
        combination_of_cell: For each cell, the row of its combination.
        practice_of_cell: For each cell, the position of its practice.
        collapsed: Whether refits use the exact shortcut of summing over practices.
    """

    cells: pd.DataFrame
    model_params: ModelParams
    practice_codes: np.ndarray
    combinations: pd.DataFrame
    combination_of_cell: np.ndarray
    practice_of_cell: np.ndarray
    collapsed: bool
    _rows_of_practice: tuple[np.ndarray, ...]
    _sums: dict[str, sp.csr_matrix]

    @classmethod
    def for_cells(cls, cells: pd.DataFrame, model_params: ModelParams) -> PracticeResampler:
        """Index the cells by practice and by covariate combination."""
        for column in (PRACTICE, "workload", EXPOSURE):
            if column not in cells.columns:
                raise CellsError(f"cells: missing column {column}")
        columns = model_columns(model_params, list(cells.columns))
        codes, practice_of_cell = np.unique(
            cells[PRACTICE].astype(str).to_numpy(), return_inverse=True
        )
        group = cells.groupby(columns, sort=True, dropna=False, observed=True)
        combination_of_cell = group.ngroup().to_numpy()
        combinations = group.size().reset_index()[columns]
        collapsed = model_params.family == "poisson" and model_params.supply_sterilisation == "none"
        sums = {}
        if collapsed:
            shape = (len(combinations), len(codes))
            sums = {
                column: sp.csr_matrix(
                    (cells[column].to_numpy(dtype=float), (combination_of_cell, practice_of_cell)),
                    shape=shape,
                )
                for column in SUM_COLUMNS
                if column in cells.columns
            }
        rows = tuple(np.flatnonzero(practice_of_cell == p) for p in range(len(codes)))
        return cls(
            cells=cells,
            model_params=model_params,
            practice_codes=codes.astype(object),
            combinations=combinations,
            combination_of_cell=combination_of_cell,
            practice_of_cell=practice_of_cell,
            collapsed=collapsed,
            _rows_of_practice=rows,
            _sums=sums,
        )

    @property
    def n_practices(self) -> int:
        """How many practices a draw chooses from."""
        return len(self.practice_codes)

    def sample(self, draw: np.ndarray) -> pd.DataFrame:
        """The cells a refit on ``draw`` is fitted on (summed over practices when exact)."""
        if self.collapsed:
            return self._collapsed_sample(draw)
        return self.stacked_sample(draw)

    def stacked_sample(self, draw: np.ndarray) -> pd.DataFrame:
        """The cells of the drawn practices, each draw relabelled as a practice of its own."""
        rows = np.concatenate([self._rows_of_practice[p] for p in draw])
        labels = np.repeat(
            [f"BS{i:05d}" for i in range(len(draw))],
            [len(self._rows_of_practice[p]) for p in draw],
        )
        sample = self.cells.iloc[rows].reset_index(drop=True)
        sample[PRACTICE] = labels
        return sample

    def _collapsed_sample(self, draw: np.ndarray) -> pd.DataFrame:
        counts = np.bincount(draw, minlength=self.n_practices).astype(float)
        sample = self.combinations.copy()
        for column, matrix in self._sums.items():
            sample[column] = matrix @ counts
        sample = sample[sample[EXPOSURE] > 0].reset_index(drop=True)
        # Two pseudo-practices: the fit needs at least two clusters for its standard errors;
        # its point estimates do not depend on the labels.
        sample.insert(0, PRACTICE, np.where(np.arange(len(sample)) % 2 == 0, "S1", "S2"))
        return sample

    def refit(self, draw: np.ndarray, fit: FitFunction | None = None) -> WorkloadModel:
        """The specification refitted on the drawn practices, for its predictions.

        The coefficients and predictions are those of the fit on the stacked drawn cells;
        with the collapsed shortcut its standard errors and fit statistics are not (the
        bootstrap's own spread replaces them).

        Args:
            draw: Practice positions, repeats allowed.
            fit: The fitting function, default :func:`fit_workload_model` (another must
                take ``(cells, model_params)`` and return an object with ``predict_rate``).

        Raises:
            ValueError: the refit failed (e.g. a level absent from the drawn practices).
        """
        return (fit or fit_workload_model)(self.sample(draw), self.model_params)

    def combination_rates(self, model: Any) -> np.ndarray:
        """``model``'s predicted rate per person-year of each row of :attr:`combinations`."""
        return np.asarray(model.predict_rate(self.combinations), dtype=float)
