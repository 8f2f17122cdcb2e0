"""Stage 03, need weights: each practice's need-weighted list, need index and its reasons."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from matplotlib.figure import Figure

from pcfm.base.artefacts import CELLS, PRACTICE_NEED, PRACTICES
from pcfm.base.context import RunContext
from pcfm.model import read_workload_model
from pcfm.need.decomposition import decompose_need_index
from pcfm.need.figures import decomposition_figure, need_index_figure
from pcfm.need.weights import need_weight_tables, practice_need

#: Published weight tables: factor → file stem.
WEIGHT_TABLE_NAMES = {
    "age_sex": "need_weights_age_sex",
    "deprivation": "need_weights_deprivation",
    "morbidity": "need_weights_morbidity",
}


@dataclass(frozen=True)
class NeedStageResult:
    """What notebook 03 shows."""

    need: pd.DataFrame
    weight_tables: dict[str, pd.DataFrame]
    need_index_figure: Figure
    decomposition_figure: Figure

    def weight_table(self, factor: str) -> pd.DataFrame:
        """The published weight table of ``factor``, or a one-line note if the cells lack it."""
        if factor in self.weight_tables:
            return self.weight_tables[factor]
        return pd.DataFrame({"note": [f"the cells of this run have no {factor} column"]})


def run_need_stage(ctx: RunContext) -> NeedStageResult:
    """Predict each cell's need from stage 02's stored model, explain it and publish it.

    The stored model (`pcfm.model.store`), not a refit, is the only source of the
    predictions: the decomposition predicts from it with factors switched off.
    """
    outputs = ctx.outputs
    cells = outputs.read_restricted(CELLS)
    practices = outputs.read_restricted(PRACTICES)
    model = read_workload_model(outputs)
    rate = model.predict_rate(cells)
    need = practice_need(cells, rate, practices)
    decomposition = decompose_need_index(cells, model.predict_rate, practices)
    need = need.merge(decomposition.drop(columns="need_index"), on="practice_code")
    outputs.write_restricted(need, PRACTICE_NEED)
    published = outputs.publish_table(need, "need_index")

    deprivation_column = (
        "imd_quintile" if model.model_params.deprivation_band == "quintile" else "imd_decile"
    )
    tables = need_weight_tables(cells, rate, {"deprivation": deprivation_column})
    weight_tables = {
        factor: outputs.publish_table(table, WEIGHT_TABLE_NAMES[factor])
        for factor, table in tables.items()
    }
    figure = need_index_figure(need, practices)
    outputs.publish_figure(figure, "need_index_by_imd")
    decomposition_plot = decomposition_figure(decomposition)
    outputs.publish_figure(decomposition_plot, "need_index_decomposition")
    return NeedStageResult(published, weight_tables, figure, decomposition_plot)
