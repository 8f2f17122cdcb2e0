"""A run with every heavy stage a no-op: the folder, manifest, log and output check stay real.

For tests of what the runner does around the stages (display, log, output gate) that would
otherwise wait minutes for the model.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pytest

from pcfm.pipeline import run as run_module


def _fake_input(params, folder):
    folder.input_data.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"patient_id": ["S00000001"]}).to_parquet(folder.input_data / "patients.parquet")
    return folder.input_data


def skip_the_heavy_stages(
    monkeypatch: pytest.MonkeyPatch,
    statements: Callable[..., list] = lambda *args, **kwargs: [],
) -> None:
    """Make input, notebooks, ``statements``, workbook and render no-ops for this test."""
    monkeypatch.setattr(run_module, "prepare_input", _fake_input)
    monkeypatch.setattr(run_module, "execute_notebook", lambda *args: None)
    monkeypatch.setattr(run_module, "execute_practice_statements", statements)
    monkeypatch.setattr(run_module, "write_workbook", lambda *args: None)
    monkeypatch.setattr(
        run_module, "render_report", lambda *args, **kwargs: run_module.RenderResult("x", [], "")
    )
