"""The data stage's DuckDB shows no progress bar: in a kernel it would be a Jupyter widget,
kept in the executed notebook and loaded by the rendered page from a CDN."""

from __future__ import annotations

from pathlib import Path

import pytest

from pcfm.data.read import open_folder

pytestmark = pytest.mark.unit


def test_the_data_folder_connection_has_no_progress_bar(tmp_path: Path) -> None:
    folder = open_folder(tmp_path, stems=())
    try:
        shown = folder.connection.execute(
            "SELECT current_setting('enable_progress_bar')"
        ).fetchone()
    finally:
        folder.close()
    assert shown == (False,)
