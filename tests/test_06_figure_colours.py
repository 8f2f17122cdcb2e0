"""Every figure's marks reach 3:1 against the white page (WCAG 2.2, 1.4.11) and series differ.

The figures are drawn from small tables and every colour they put on the page is read back
from matplotlib's artists; gridlines (pale grey) and white separators are the only colours
allowed below 3:1, since they carry no data.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import Collection
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from pcfm.allocation.figures import funding_by_deprivation_figure, need_index_interval_figure
from pcfm.base.style import (
    CATEGORY_COLOURS,
    MIN_CONTRAST,
    NHS_LIGHT_BLUE,
    NHS_ORANGE,
    NHS_PALE_GREY,
    NHS_WARM_YELLOW,
    PALETTE,
    WHITE,
    contrast_ratio,
    perceived_lab,
)
from pcfm.model.figures import MARKERS, sensitivity_figure, term_words
from pcfm.need.figures import decomposition_figure, need_index_figure
from pcfm.report.figures import allocation_per_patient_figure, funding_by_imd_figure

pytestmark = pytest.mark.unit

DEFICIENCIES = (None, "protanopia", "deuteranopia", "tritanopia")
#: Colours that may be below 3:1 because they carry no data: the page, gridlines.
NOT_DATA = {WHITE.lower(), NHS_PALE_GREY.lower()}


def test_contrast_ratio_matches_wcag_known_values() -> None:
    assert contrast_ratio("#000000") == pytest.approx(21.0)
    assert contrast_ratio("#FFFFFF") == pytest.approx(1.0)
    assert contrast_ratio("#767676") == pytest.approx(4.54, abs=0.01)  # the AA grey
    # the colours the issue found too light: they are not in the palette any more
    assert contrast_ratio(NHS_ORANGE) == pytest.approx(2.5, abs=0.05)
    assert contrast_ratio(NHS_LIGHT_BLUE) == pytest.approx(2.3, abs=0.05)
    assert contrast_ratio(NHS_WARM_YELLOW) == pytest.approx(1.7, abs=0.05)


def test_every_palette_colour_reaches_three_to_one_on_white() -> None:
    for colour in (*PALETTE, *CATEGORY_COLOURS):
        assert contrast_ratio(colour) >= MIN_CONTRAST, colour


@pytest.mark.parametrize("deficiency", DEFICIENCIES)
def test_neighbouring_categories_differ_for_every_reader(deficiency: str | None) -> None:
    labs = [perceived_lab(c, deficiency) for c in CATEGORY_COLOURS]
    assert min(float(np.linalg.norm(a - b)) for a, b in pairwise(labs)) > 15


def _colours(figure: Figure) -> set[str]:
    """Every colour a mark of ``figure`` is drawn in (fill and edge), as ``#rrggbb``."""
    found: set[str] = set()
    for axes in figure.axes:
        for artist in axes.get_children():
            if not artist.get_visible():
                continue
            if isinstance(artist, Line2D):
                if artist in axes.get_xgridlines() + axes.get_ygridlines():
                    continue
                found |= {to_hex(artist.get_color()), to_hex(artist.get_markerfacecolor())}
            elif isinstance(artist, Collection):
                for rgba in (*artist.get_facecolors(), *artist.get_edgecolors()):
                    if rgba[3] > 0:
                        found.add(to_hex(rgba[:3]))
            elif isinstance(artist, Patch) and artist is not axes.patch:
                for rgba in (artist.get_facecolor(), artist.get_edgecolor()):
                    if rgba[3] > 0:
                        found.add(to_hex(rgba[:3]))
    return {c.lower() for c in found}


def _practices(n: int = 8) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    need = 0.8 + 0.4 * rng.random(n)
    return pd.DataFrame(
        {
            "practice_code": [f"P{i:03d}" for i in range(n)],
            "status": ["ordinary"] * n,
            "imd_score": 10 + 40 * rng.random(n),
            "counted_funding_gbp": 1e6 * rng.random(n) + 5e5,
            "need_weighted_list": 8000 * need,
            "allocation_gbp": np.where(np.arange(n) % 2 == 0, 20000.0, 0.0),
            "allocation_per_registered_patient_gbp": 3 * rng.random(n),
            "category": [1, 2, 3, 4, 1, 2, 3, 4][:n],
            "need_index": need,
            "need_index_low": need - 0.05,
            "need_index_high": need + 0.05,
            "eligible": np.arange(n) % 2 == 0,
            "registered_list": 8000,
            "contribution_age_sex": 0.1 * rng.standard_normal(n),
            "contribution_deprivation": 0.1 * rng.standard_normal(n),
            "contribution_morbidity": 0.1 * rng.standard_normal(n),
            "contribution_other": 0.05 * rng.standard_normal(n),
        }
    )


def _figures() -> dict[str, Figure]:
    practices = _practices()
    quintiles = pd.DataFrame(
        {
            "imd_quintile": [1, 2, 3, 4, 5],
            "funding_per_nwp_before_gbp": [150.0, 155, 160, 165, 170],
            "funding_per_nwp_after_gbp": [160.0, 162, 163, 166, 170],
        }
    )
    comparison = pd.DataFrame(
        [
            {"term": f"imd_quintile={q}", "specification": spec, "rate_ratio": r,
             "ci_low": r - 0.05, "ci_high": r + 0.05}
            for spec in ("as specified", "family: negative_binomial", "deprivation: decile")
            for q, r in ((1, 1.2), (2, 1.1))
        ]
    )  # fmt: skip
    return {
        "funding by IMD": funding_by_imd_figure(quintiles),
        "allocation per patient": allocation_per_patient_figure(practices),
        "funding by deprivation": funding_by_deprivation_figure(practices),
        "need index intervals": need_index_interval_figure(practices),
        "decomposition": decomposition_figure(practices),
        "need index": need_index_figure(practices[["practice_code", "need_index"]], practices),
        "sensitivity": sensitivity_figure(comparison),
    }


@pytest.mark.parametrize("name", list(_figures()))
def test_every_mark_of_every_figure_reaches_three_to_one(name: str) -> None:
    colours = _colours(_figures()[name]) - NOT_DATA
    assert colours, name
    too_light = {c: round(contrast_ratio(c), 2) for c in colours if contrast_ratio(c) < 3.0}
    assert too_light == {}, name


def test_the_check_can_fail_on_a_light_colour() -> None:
    figure = Figure()
    figure.add_subplot().plot([1, 2], color=NHS_WARM_YELLOW)
    assert NHS_WARM_YELLOW.lower() in _colours(figure)


def test_sensitivity_series_differ_by_shape_and_are_labelled_in_words() -> None:
    figure = _figures()["sensitivity"]
    axes = figure.axes[0]
    shapes = {line.get_marker() for line in axes.get_lines() if line.get_marker() in MARKERS}
    assert len(shapes) == 3
    labels = [text.get_text() for text in axes.get_yticklabels()]
    assert labels == ["IMD quintile 1", "IMD quintile 2"]
    legend = [text.get_text() for text in axes.get_legend().get_texts()]
    assert not [label for label in legend if "_" in label]
    assert term_words("imd_decile=10") == "IMD decile 10"


def test_eligible_practices_differ_by_shape_as_well_as_colour() -> None:
    axes = _figures()["need index intervals"].axes[0]
    legend = {text.get_text() for text in axes.get_legend().get_texts()}
    assert legend == {"Eligible", "Not eligible"}
    paths = {
        tuple(map(tuple, collection.get_paths()[0].vertices.round(3)))
        for collection in axes.collections
        if type(collection).__name__ == "PathCollection"
    }
    assert len(paths) == 2  # a circle and a square
