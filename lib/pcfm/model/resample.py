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

A draw can also be given as a weight per cell (:meth:`PracticeResampler.practice_weights`
for practices drawn with replacement, :meth:`PracticeResampler.patient_weights` for patients
drawn with replacement within each practice). :class:`NewtonRefitter` refits a Poisson
specification on weighted cells by Newton's method started at the full-sample fit, on the
profile likelihood of the slopes (each practice effect, or the intercept, is at its optimum
given the slopes, in closed form), with the design built once per covariate combination. A
practice drawn k times with its own effect gives the same slopes as the practice weighted by
k with one effect (the k copies' effects are equal at the optimum), so iterated to
convergence this is the refit on the stacked drawn cells, not an approximation of it; the
bootstrap still checks it against full refits on a sample of replicates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from pcfm.model.errors import CellsError
from pcfm.model.terms import (
    AGE,
    EXPOSURE,
    PRACTICE,
    covariate_specs,
    prepare_cells,
    uses_age_spline,
)
from pcfm.model.workload import SEPARATION_LOG_LIMIT, WorkloadModel, fit_workload_model
from pcfm.params.model import ModelParams

__all__ = ["FitFunction", "NewtonRefitter", "PracticeResampler", "model_columns"]

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

    def practice_weights(self, draw: np.ndarray) -> np.ndarray:
        """The weight of each cell under ``draw``: how many times its practice was drawn."""
        counts = np.bincount(draw, minlength=self.n_practices).astype(float)
        return counts[self.practice_of_cell]

    def patient_weights(self, rng: np.random.Generator) -> np.ndarray:
        """A weight per cell for patients drawn with replacement within each practice.

        Each practice draws as many patients as it has; the number falling in each of its
        cells is multinomial with the cells' shares of its patients, and a cell's weight is
        that number over its patients (its workload and person-years are scaled by it, the
        cell's mean standing for the drawn patients' own values). Practices are drawn in
        code order, each with one call on ``rng``.

        Raises:
            CellsError: the cells have no ``patients`` column or a cell has none.
        """
        if "patients" not in self.cells.columns:
            raise CellsError("cells: resampling patients needs the patients column")
        patients = self.cells["patients"].to_numpy(dtype=float)
        if not (np.isfinite(patients).all() and (patients > 0).all()):
            raise CellsError("cells: resampling patients needs a positive patients count per cell")
        counts = np.rint(patients).astype(np.int64)
        weights = np.empty(len(patients))
        for rows in self._rows_of_practice:
            n = counts[rows]
            drawn = rng.multinomial(int(n.sum()), n / n.sum())
            weights[rows] = drawn / n
        return weights

    def weighted_sample(self, cell_weights: np.ndarray) -> pd.DataFrame:
        """The cells with workload, person-years and patients times their weight (cells of
        weight 0 left out): what a refit on weighted cells is fitted on."""
        keep = cell_weights > 0
        sample = self.cells.loc[keep].reset_index(drop=True)
        kept = cell_weights[keep]
        for column in SUM_COLUMNS:
            if column in sample.columns:
                sample[column] = sample[column].to_numpy(dtype=float) * kept
        return sample

    def refit_weighted(self, cell_weights: np.ndarray, fit: FitFunction | None = None) -> Any:
        """The specification refitted on :meth:`weighted_sample` (see :meth:`refit`)."""
        return (fit or fit_workload_model)(self.weighted_sample(cell_weights), self.model_params)


#: Newton's method stops when no slope moves by more than this (log scale)…
NEWTON_TOLERANCE = 1e-10
#: …and a refit that has not got there in this many steps counts as failed.
NEWTON_MAX_STEPS = 30
#: Once a step moves no slope by more than this, the information matrix changes too little
#: to matter for the next steps and is kept (a modified Newton's method: the same solution,
#: where the gradient is zero, for half the work of a replicate).
NEWTON_KEEP_INFORMATION = 1e-3


@dataclass(frozen=True)
class NewtonRefitter:
    """Poisson refits on weighted cells by Newton's method from the full-sample fit.

    The Poisson log-likelihood of weighted cells with a practice effect a_p (or one
    intercept) depends on the data only through the weighted sums of workload Y and
    person-years E per practice × covariate combination. Given the slopes β, each a_p is at
    its optimum when exp(a_p) = Y_p / Σ_c E_pc exp(x_c β); the profile log-likelihood of β is
    then Σ Y_pc x_c β − Σ_p Y_p log Σ_c E_pc exp(x_c β), whose gradient and Hessian are sums
    over combinations and practices (the within-practice information of IRLS). Newton's method
    on it converges quadratically, and from the full-sample slopes a replicate needs a few
    steps. Only the slopes matter for need: a factor common to every cell cancels in the need
    index.

    Attributes:
        resampler: The cells and their indexing.
        start_coef: The full-sample slopes (the start of every refit).
        design: Dense design of :attr:`PracticeResampler.combinations` (combinations × terms).
        level_masks: For every 0/1 level column and every covariate's reference level, which
            combinations are at it (a refit whose drawn cells have no workload at one fails,
            as the full refit does).
        pair_of_cell: For each cell, its practice × combination pair.
        pair_practice: Practice position (or 0 with one intercept) of each pair.
        pair_combination: Combination of each pair.
        n_groups: Practices (with practice effects) or 1.
    """

    resampler: PracticeResampler
    start_coef: np.ndarray
    design: np.ndarray
    level_masks: np.ndarray
    pair_of_cell: np.ndarray
    pair_practice: np.ndarray
    pair_combination: np.ndarray
    n_groups: int
    pair_indptr: np.ndarray
    sparse_design: sp.csr_matrix

    @staticmethod
    def supports(model_params: ModelParams) -> bool:
        """Whether the specification's likelihood is the Poisson one this refitter solves."""
        return model_params.family == "poisson"

    @classmethod
    def from_fit(cls, resampler: PracticeResampler, model: WorkloadModel) -> NewtonRefitter:
        """Prepare refits of ``resampler``'s specification starting at ``model``'s slopes.

        Raises:
            ValueError: the specification is not Poisson.
        """
        params = resampler.model_params
        if not cls.supports(params):
            raise ValueError(f"Newton refits need a Poisson model (family {params.family})")
        prepared = prepare_cells(resampler.combinations, params, outcome=False)
        design = model.encoder.sparse_matrix(prepared).toarray()
        masks = [design[:, k] > 0 for k in range(model.encoder.n_dummy)]
        masks += [
            prepared[spec.column].to_numpy() == spec.reference for spec in model.encoder.specs
        ]
        absorbed = params.supply_sterilisation == "practice_effects"
        n_combinations = len(resampler.combinations)
        group_of_cell = (
            resampler.practice_of_cell if absorbed else np.zeros_like(resampler.practice_of_cell)
        )
        key = group_of_cell.astype(np.int64) * n_combinations + resampler.combination_of_cell
        pairs, pair_of_cell = np.unique(key, return_inverse=True)
        n_groups = resampler.n_practices if absorbed else 1
        return cls(
            resampler=resampler,
            start_coef=np.asarray(model.coef, dtype=float),
            design=design,
            level_masks=np.vstack(masks).astype(float) if masks else np.zeros((0, n_combinations)),
            pair_of_cell=pair_of_cell,
            pair_practice=(pairs // n_combinations).astype(np.int64),
            pair_combination=(pairs % n_combinations).astype(np.int64),
            n_groups=n_groups,
            pair_indptr=np.concatenate(
                [[0], np.cumsum(np.bincount(pairs // n_combinations, minlength=n_groups))]
            ),
            sparse_design=sp.csr_matrix(design),
        )

    def refit_coef(self, cell_weights: np.ndarray) -> np.ndarray:
        """The slopes of the Poisson fit on the weighted cells.

        Raises:
            ValueError: a level has no workload in the weighted cells, the information is
                singular, a slope runs off (separation) or Newton's method does not converge.
        """
        cells = self.resampler.cells
        n_pairs = len(self.pair_practice)
        n_combinations = self.design.shape[0]
        y = np.bincount(
            self.pair_of_cell, cells["workload"].to_numpy(dtype=float) * cell_weights, n_pairs
        )
        exposure = np.bincount(
            self.pair_of_cell, cells[EXPOSURE].to_numpy(dtype=float) * cell_weights, n_pairs
        )
        combination_y = np.bincount(self.pair_combination, y, n_combinations)
        if len(self.level_masks) and not (self.level_masks @ combination_y > 0).all():
            raise ValueError("a level has no workload in the drawn cells")
        group_y = np.bincount(self.pair_practice, y, self.n_groups)
        score_constant = self.design.T @ combination_y
        coef = self.start_coef.copy()
        information = None
        for _ in range(NEWTON_MAX_STEPS):
            # r = E exp(xβ); μ = r Y_p / R_p (practice effect at its optimum given β).
            rate = np.exp(self.design @ coef)
            r = exposure * rate[self.pair_combination]
            group_r = np.bincount(self.pair_practice, r, self.n_groups)
            with np.errstate(divide="ignore", invalid="ignore"):
                scale = np.where(group_r > 0, group_y / group_r, 0.0)
            mu = r * scale[self.pair_practice]
            combination_mu = np.bincount(self.pair_combination, mu, n_combinations)
            gradient = score_constant - self.design.T @ combination_mu
            if information is None:
                information = self._information(mu, combination_mu, group_y)
            try:
                step = np.linalg.solve(information, gradient)
            except np.linalg.LinAlgError:
                raise ValueError("the information matrix is singular in the drawn cells") from None
            if not np.isfinite(step).all():
                raise ValueError("the information matrix is singular in the drawn cells")
            coef = coef + step
            if np.abs(coef).max(initial=0.0) > SEPARATION_LOG_LIMIT:
                raise ValueError("a slope runs off to infinity (separation) in the drawn cells")
            largest = np.abs(step).max(initial=0.0)
            if largest < NEWTON_TOLERANCE:
                return coef
            if largest > NEWTON_KEEP_INFORMATION:
                information = None
        raise ValueError(f"Newton's method did not converge in {NEWTON_MAX_STEPS} steps")

    def _information(
        self, mu: np.ndarray, combination_mu: np.ndarray, group_y: np.ndarray
    ) -> np.ndarray:
        """The information of the slopes with the practice effects profiled out."""
        # Pairs are sorted by (group, combination): mu is the data of a CSR matrix of
        # groups × combinations whose structure is fixed (pair_indptr, pair_combination).
        by_group = sp.csr_matrix(
            (mu, self.pair_combination, self.pair_indptr),
            shape=(self.n_groups, self.design.shape[0]),
        )
        group_sums = (by_group @ self.sparse_design).toarray()
        positive = group_y > 0
        return (self.design.T * combination_mu) @ self.design - group_sums[positive].T @ (
            group_sums[positive] / group_y[positive, None]
        )

    def combination_rates(self, cell_weights: np.ndarray) -> np.ndarray:
        """Predicted rate of each combination, up to a factor common to all of them."""
        return np.exp(self.design @ self.refit_coef(cell_weights))
