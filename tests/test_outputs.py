"""Writing outputs: deterministic bytes, disclosure control on the way out."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest

from pcfm.base.artefacts import CELLS, WORKLOAD_MODEL
from pcfm.base.folder import RunFolder
from pcfm.base.outputs import Outputs, write_workbook
from pcfm.params.disclosure import DisclosureParams

pytestmark = pytest.mark.unit


def test_workbook_bytes_do_not_depend_on_the_clock(tmp_path: Path) -> None:
    pd.DataFrame({"practice": ["A", "B"], "value": [1.5, 2.0]}).to_csv(
        tmp_path / "b_table.csv", index=False
    )
    pd.DataFrame({"x": [1]}).to_csv(tmp_path / "a_table.csv", index=False)
    first = write_workbook(tmp_path).read_bytes()
    time.sleep(1.1)
    assert write_workbook(tmp_path).read_bytes() == first
    assert pd.ExcelFile(tmp_path / "tables.xlsx").sheet_names == ["a_table", "b_table"]


def test_published_counts_are_controlled_and_restricted_kept_whole(tmp_path: Path) -> None:
    outputs = Outputs(RunFolder(tmp_path), DisclosureParams(threshold=7, rounding_base=5))
    table = pd.DataFrame({"place": ["A", "B"], "patients": [5, 1234]})
    outputs.publish_table(table, "counts")
    published = pd.read_csv(tmp_path / "publishable" / "counts.csv", dtype=str)
    assert published["patients"].tolist() == ["*", "1235"]
    outputs.write_restricted(table, CELLS)
    assert outputs.read_restricted(CELLS)["patients"].tolist() == [5, 1234]


def test_restricted_artefacts_are_named_by_the_declared_constants(tmp_path: Path) -> None:
    outputs = Outputs(RunFolder(tmp_path), DisclosureParams())
    table = pd.DataFrame({"patients": [1]})
    with pytest.raises(TypeError, match=r"pcfm\.base\.artefacts"):
        outputs.write_restricted(table, "cells")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="json artefact"):
        outputs.write_restricted(table, WORKLOAD_MODEL)
    outputs.write_restricted_json({"b": 1.5, "a": [1, 2]}, WORKLOAD_MODEL)
    path = tmp_path / "restricted" / "workload_model.json"
    assert outputs.read_restricted_json(WORKLOAD_MODEL) == {"a": [1, 2], "b": 1.5}
    with pytest.raises(ValueError):
        outputs.write_restricted_json({"a": float("nan")}, WORKLOAD_MODEL)
    assert path.read_text().index('"a"') < path.read_text().index('"b"')


def test_figures_are_byte_identical_when_redrawn(tmp_path: Path) -> None:
    from matplotlib.figure import Figure

    outputs = Outputs(RunFolder(tmp_path), DisclosureParams())

    def draw() -> dict[str, bytes]:
        figure = Figure()
        figure.add_subplot().plot([1, 2, 3], [2, 1, 3])
        outputs.publish_figure(figure, "line")
        return {p.suffix: p.read_bytes() for p in (tmp_path / "publishable" / "figures").iterdir()}

    first = draw()
    time.sleep(1.1)
    assert draw() == first
    assert set(first) == {".png", ".svg"}


def test_published_figures_get_the_house_style(tmp_path: Path) -> None:
    from matplotlib.figure import Figure

    from pcfm.base.style import MIN_FONT_PT, smallest_font_pt

    figure = Figure()
    axes = figure.add_subplot()
    axes.plot([1, 2], [1, 2])
    axes.tick_params(labelsize=5)
    Outputs(RunFolder(tmp_path), DisclosureParams()).publish_figure(figure, "small")
    assert smallest_font_pt(figure) >= MIN_FONT_PT
    assert not axes.spines["top"].get_visible()
