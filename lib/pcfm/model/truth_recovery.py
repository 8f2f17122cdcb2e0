"""Truth recovery: each specification's need index against the true need index, when known.

Real data have no truth, but the synthetic ICB (`pcfm.inputs.synthetic`) is drawn from a stated
need model and writes each practice's true need index to ``truth/true_need_index.csv`` in its
data folder. On such data the question "which model measures need?" has a direct answer,
which the comparisons against observed workload (which carries supply) cannot give.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from IPython.display import Markdown

from pcfm.base.tables import markdown_table
from pcfm.data.contract import TRUTH_DIR
from pcfm.model.alternatives import SPECIFIED
from pcfm.model.carr_hill import carr_hill_2007_weight
from pcfm.model.diagnostics import CARR_HILL, FLAT_RATE
from pcfm.model.terms import EXPOSURE, PRACTICE

__all__ = [
    "TRUE_NEED_INDEX_FILE",
    "TRUTH_RECOVERY_COLUMNS",
    "carr_hill_need_index",
    "rank_quintile",
    "read_true_need_index",
    "truth_recovery",
    "truth_recovery_table",
]

#: Where a data folder holds the true need index (written by `pcfm synth`).
TRUE_NEED_INDEX_FILE = Path(TRUTH_DIR) / "true_need_index.csv"
TRUTH_RECOVERY_COLUMNS = [
    "specification",
    "practices",
    "correlation",
    "rank_correlation",
    "mean_absolute_error",
    "max_absolute_error",
    "practices_in_other_quintile",
]


def read_true_need_index(data_dir: Path) -> pd.Series | None:
    """The true need index by practice code, or None when the data folder has no truth."""
    path = Path(data_dir) / TRUE_NEED_INDEX_FILE
    if not path.is_file():
        return None
    table = pd.read_csv(path, dtype={PRACTICE: str})
    return table.set_index(PRACTICE)["need_index"].astype(float)


def carr_hill_need_index(cells: pd.DataFrame) -> pd.Series:
    """Each practice's Carr-Hill 2007 weighted person-years per person-year over the ICB's."""
    exposure = cells[EXPOSURE].to_numpy(dtype=float)
    frame = pd.DataFrame(
        {
            PRACTICE: cells[PRACTICE].astype(str).to_numpy(),
            "weighted": exposure * carr_hill_2007_weight(cells),
            "exposure": exposure,
        }
    )
    totals = frame.groupby(PRACTICE, sort=True).sum()
    icb = totals["weighted"].sum() / totals["exposure"].sum()
    return totals["weighted"] / totals["exposure"] / icb


def rank_quintile(values: pd.Series) -> pd.Series:
    """Quintile (1 = lowest) of each value's rank among the practices, ties in index order."""
    rank = values.rank(method="first")
    return np.ceil(5 * rank / len(values)).astype(int)


def _correlation(first: np.ndarray, second: np.ndarray) -> float:
    if np.std(first) == 0 or np.std(second) == 0:
        return float("nan")
    return float(np.corrcoef(first, second)[0, 1])


def truth_recovery(
    need_indices: pd.DataFrame, truth: pd.Series, cells: pd.DataFrame
) -> pd.DataFrame:
    """How close each specification's need index is to the true one, practice by practice.

    Args:
        need_indices: From `pcfm.model.alternatives.compare_need_indices`: practice_code,
            person_years and a column per specification.
        truth: True need index by practice code (:func:`read_true_need_index`).
        cells: The cells, for the Carr-Hill 2007 need index.

    Returns:
        One row per specification, then the Carr-Hill 2007 weights and a flat rate (every
        index 1): specification, practices (compared: in both), correlation (Pearson),
        rank_correlation (Spearman), mean_absolute_error, max_absolute_error and
        practices_in_other_quintile (practices whose quintile of rank differs from their true
        one; empty for the flat rate, which ranks no practice above another).
    """
    table = need_indices.assign(**{PRACTICE: need_indices[PRACTICE].astype(str)}).set_index(
        PRACTICE
    )
    columns = {label: table[label] for label in table.columns if label not in ("person_years",)}
    columns[CARR_HILL] = carr_hill_need_index(cells)
    columns[FLAT_RATE] = pd.Series(1.0, index=table.index)
    rows = []
    for label, estimate in columns.items():
        both = pd.concat({"estimate": estimate, "truth": truth}, axis=1, join="inner").dropna()
        both = both.sort_index()
        estimated, true = both["estimate"].to_numpy(), both["truth"].to_numpy()
        error = np.abs(estimated - true)
        rows.append(
            {
                "specification": label,
                "practices": len(both),
                "correlation": _correlation(estimated, true),
                "rank_correlation": _correlation(
                    both["estimate"].rank().to_numpy(), both["truth"].rank().to_numpy()
                ),
                "mean_absolute_error": float(error.mean()),
                "max_absolute_error": float(error.max()),
                "practices_in_other_quintile": float(
                    (rank_quintile(both["estimate"]) != rank_quintile(both["truth"])).sum()
                )
                if np.std(estimated) > 0
                else float("nan"),
            }
        )
    result = pd.DataFrame(rows, columns=TRUTH_RECOVERY_COLUMNS)
    result["practices_in_other_quintile"] = result["practices_in_other_quintile"].astype("Int64")
    return result.sort_values(
        "specification", key=lambda s: s != SPECIFIED, kind="stable"
    ).reset_index(drop=True)


def truth_recovery_table(recovery: pd.DataFrame | None, float_format: str = ",.3f") -> Markdown:
    """A truth-recovery table for the report, or why there is none (data without a truth)."""
    if recovery is None:
        return Markdown(
            "These data have no known truth (no `truth/true_need_index.csv` in the data "
            "folder), so the need model cannot be checked against one."
        )
    return markdown_table(recovery, float_format=float_format, landscape=True)
