"""`pcfm.base.progress_file`: a stage's counted step reaches the run's display."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pcfm.base.progress_file import (
    PROGRESS_FILE,
    ProgressWatcher,
    counted_step,
    read_progress,
    write_progress,
)

pytestmark = pytest.mark.unit


def test_the_watcher_passes_each_new_count_on_and_the_last_one_always(tmp_path: Path) -> None:
    seen: list[tuple[str, int, int]] = []

    def counter(unit: str):
        return lambda done, total: seen.append((unit, done, total))

    with ProgressWatcher(tmp_path, counter):
        with counted_step(tmp_path, "bootstrap replicates") as report:
            for done in range(0, 501, 100):
                report(done, 500)
                time.sleep(0.3)
            assert read_progress(tmp_path) == ("bootstrap replicates", 500, 500)
        assert not (tmp_path / PROGRESS_FILE).exists()  # the step took its file away
    assert seen[-1] == ("bootstrap replicates", 500, 500)
    assert [done for _, done, _ in seen] == sorted({done for _, done, _ in seen})
    assert len(seen) >= 3


def test_a_missing_or_torn_file_is_no_progress(tmp_path: Path) -> None:
    assert read_progress(tmp_path) is None
    (tmp_path / PROGRESS_FILE).write_text('{"unit": "replicates", "done"', "utf-8")
    assert read_progress(tmp_path) is None
    write_progress(tmp_path, "replicates", 3, 9)
    assert read_progress(tmp_path) == ("replicates", 3, 9)
    assert [p.name for p in tmp_path.iterdir()] == [PROGRESS_FILE]  # no temporary left
