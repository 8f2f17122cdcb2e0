"""Alt text says what a figure finds, from the run's numbers, and reaches the rendered cell."""

from __future__ import annotations

import dataclasses

import nbformat
import pandas as pd
import pytest

from pcfm.allocation.equity import deprivation_gap
from pcfm.allocation.headline import AllocationHeadline
from pcfm.pipeline.render import cell_options, for_html, with_run_alt_text
from pcfm.report.alt_text import allocation_per_patient_alt, funding_by_imd_alt

pytestmark = pytest.mark.unit

#: The domain brief's 2022-23 payments by practice IMD quintile (1 = least deprived there;
#: listed here most deprived first): the most deprived fifth gets 9.5% less.
PER_WEIGHTED_PATIENT = [154.51, 155.46, 161.41, 172.28, 170.76]


def _headline(**changes: object) -> AllocationHeadline:
    numbers = {f.name: 0 for f in dataclasses.fields(AllocationHeadline)}
    return dataclasses.replace(AllocationHeadline(**numbers), **changes)


def test_the_finding_is_in_the_alt_text_with_the_published_gap() -> None:
    quintiles = pd.DataFrame(
        {"imd_quintile": [1, 2, 3, 4, 5], "before": PER_WEIGHTED_PATIENT,
         "after": [160.0, 160.5, 162.0, 171.0, 169.0]}
    )  # fmt: skip
    headline = _headline(
        deprivation_gap_before=deprivation_gap(quintiles, "before"),
        deprivation_gap_after=deprivation_gap(quintiles, "after"),
    )
    alt = funding_by_imd_alt(headline)
    assert "the most deprived fifth of practices receives 9.5% less per need-weighted" in alt
    assert "after it, 5.3% less per need-weighted patient than the least deprived." in alt
    assert funding_by_imd_alt(_headline(deprivation_gap_before=None)).endswith("allocation.")


def test_the_allocation_alt_text_gives_the_range_funded() -> None:
    headline = _headline(
        n_funded=4, n_practices=9, smallest_allocation_gbp=1234.5, largest_allocation_gbp=98765.0
    )
    alt = allocation_per_patient_alt(headline)
    assert "4 of 9 practices are funded" in alt
    assert "from £1,234.50 to £98,765.00" in alt
    assert allocation_per_patient_alt(_headline()).endswith("No practice is funded.")


def test_the_run_alt_text_replaces_the_cell_option_in_every_render() -> None:
    cell = nbformat.v4.new_code_cell(
        '#| label: fig-a\n#| fig-cap: "Funding."\n#| fig-alt: "A bar chart."\nshow()'
    )
    cell.outputs = [
        nbformat.v4.new_output(
            "display_data",
            data={"image/png": "iVBORw0KGgo="},
            metadata={"image/png": {"alt": 'Bars: the "most" deprived get 9.5% less.'}},
        )
    ]
    notebook = nbformat.v4.new_notebook(cells=[cell])
    shown = for_html(notebook)
    assert (
        'alt="Bars: the &quot;most&quot; deprived get 9.5% less."'
        in (shown.cells[0].outputs[0]["data"]["text/html"])
    )
    with_run_alt_text(notebook)
    assert cell_options(notebook.cells[0].source)["fig-alt"] == (
        'Bars: the "most" deprived get 9.5% less.'
    )
    assert notebook.cells[0].source.count("fig-alt") == 1


def test_the_methodology_figures_alt_text_carries_the_run_numbers() -> None:
    from pcfm.report.alt_text import funding_before_after_alt, need_index_alt

    headline = _headline(deprivation_gap_before=-0.251, deprivation_gap_after=-0.17)
    alt = funding_before_after_alt(headline)
    assert "receives 25.1% less per need-weighted patient than the least deprived" in alt
    assert alt.endswith("after it, 17.0% less per need-weighted patient than the least deprived.")
    need = pd.DataFrame({"practice_code": ["P2", "P1", "P3"], "need_index": [1.2344, 0.8811, 1.0]})
    assert need_index_alt(need).endswith("range from 0.881 (P1) to 1.234 (P2).")
    assert need_index_alt(need.iloc[:0]).endswith("ICB average of 1.")
