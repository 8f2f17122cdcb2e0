"""What `pcfm run` shows: stage lines, counted progress, and which log records get through."""

from __future__ import annotations

import io
import logging
import re
import warnings

import pytest
from rich.console import Console

from pcfm.pipeline import progress
from pcfm.pipeline.progress import (
    LineDisplay,
    LiveDisplay,
    RunDisplay,
    format_duration,
    make_display,
    terminal_logging,
    time_left_s,
)

pytestmark = pytest.mark.unit


def test_durations_read_as_people_say_them() -> None:
    assert format_duration(4.24) == "4.2 s"
    assert format_duration(59.94) == "59.9 s"
    assert format_duration(125) == "2 min 05 s"
    assert format_duration(3725) == "1 h 02 min"


def test_time_left_is_the_rate_so_far_and_unknown_before_the_first_unit() -> None:
    assert time_left_s(10.0, 0, 100) is None
    assert time_left_s(10.0, 25, 100) == pytest.approx(30.0)
    assert time_left_s(10.0, 100, 100) == 0


def test_plain_lines_name_each_stage_its_number_and_time() -> None:
    stream = io.StringIO()
    display = LineDisplay(stream)
    display.stage_started("01_data", 2, 12)
    display.stage_finished("01_data", 3.61)
    display.stage_started("02_workload_model", 3, 12)
    display.stage_finished("02_workload_model", 125.0, ok=False)
    assert stream.getvalue().splitlines() == [
        "pcfm: [2/12] 01_data ...",
        "pcfm: [2/12] 01_data done in 3.6 s",
        "pcfm: [3/12] 02_workload_model ...",
        "pcfm: [3/12] 02_workload_model failed after 2 min 05 s",
    ]
    assert "\x1b[" not in stream.getvalue()  # no terminal codes in a log


def test_plain_counted_steps_print_every_tenth_with_time_left(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = iter(float(second) for second in range(1000))
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    stream = io.StringIO()
    display = LineDisplay(stream)
    display.stage_started("statements", 9, 12)
    report = display.counter("practices")
    for done in range(1, 128):
        report(done, 127)
    lines = [line for line in stream.getvalue().splitlines() if "practices" in line]
    assert len(lines) == 10  # 10%, 20%, ... 100%, not one line per practice
    assert lines[0].startswith("pcfm: [9/12] statements: 13/127 practices, about ")
    assert re.search(r"about \d+ min \d\d s left$", lines[0])
    assert lines[-1] == "pcfm: [9/12] statements: 127/127 practices"


def test_a_slow_plain_step_still_prints_every_15_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: now[0])
    stream = io.StringIO()
    display = LineDisplay(stream)
    display.stage_started("render", 11, 12)
    report = display.counter("documents")
    now[0] = 5.0
    report(1, 1000)  # 0.1 %: not yet
    now[0] = 16.0
    report(2, 1000)  # 15 s since the stage started: a line
    assert stream.getvalue().splitlines()[1:] == [
        "pcfm: [11/12] render: 2/1000 documents, about 2 h 13 min left"
    ]


def _live() -> tuple[LiveDisplay, io.StringIO]:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100, color_system=None)
    return LiveDisplay(console), out


def _drawn(display: LiveDisplay) -> str:
    """What the live area shows now, as text."""
    out = io.StringIO()
    Console(file=out, width=100, color_system=None).print(
        display._progress.make_tasks_table(display._progress.tasks)
    )
    return out.getvalue()


def test_the_live_display_draws_a_bar_with_counts_then_a_line_per_stage() -> None:
    display, out = _live()
    with display:
        display.stage_started("statements", 9, 12)
        report = display.counter("practices")
        report(40, 127)
        task = display._progress.tasks[0]
        assert (task.completed, task.total, task.fields["unit"]) == (40, 127, "practices")
        assert "[9/12] statements" in _drawn(display)
        assert re.search(r"━+ +40/127 practices", _drawn(display))  # bar, then the count
        display.stage_finished("statements", 65.0)
        assert display._progress.tasks == []
        display.stage_started("workbook", 10, 12)
        assert "workbook" in _drawn(display) and "━" not in _drawn(display)  # no bar
        display.stage_finished("workbook", 0.4, ok=False)
    text = out.getvalue()
    assert "✓ [9/12] statements  1 min 05 s" in text
    assert "✗ [10/12] workbook  failed after 0.4 s" in text


def test_a_counter_outlives_its_stage_harmlessly() -> None:
    display, _ = _live()
    with display:
        display.stage_started("render", 11, 12)
        report = display.counter("documents")
        display.stage_finished("render", 1.0)
        report(3, 4)  # a job thread reporting late must not fail the run
        assert display._progress.tasks == []


def test_quiet_shows_nothing_and_non_terminals_get_plain_lines() -> None:
    assert type(make_display("quiet")) is RunDisplay
    assert isinstance(make_display("normal", live=False), LineDisplay)
    assert isinstance(make_display("verbose", live=True), LiveDisplay)
    assert isinstance(make_display("normal"), LineDisplay)  # pytest's output is not a terminal
    RunDisplay().counter("things")(1, 2)  # the quiet callback accepts calls and does nothing


@pytest.mark.parametrize(
    ("verbosity", "expected"),
    [
        ("quiet", ["pcfm: own error"]),
        ("normal", ["pcfm: own warning", "pcfm: own error"]),
        (
            "verbose",
            [
                "pcfm: own debug",
                "pcfm: own warning",
                "pcfm: own error",
                "pcfm: papermill warning",
                "pcfm: kernel line",
            ],
        ),
    ],
)
def test_the_terminal_shows_pcfm_records_by_verbosity_and_others_only_when_verbose(
    verbosity: progress.Verbosity, expected: list[str]
) -> None:
    stream = io.StringIO()
    own = logging.getLogger("pcfm.pipeline.test")
    with terminal_logging(LineDisplay(stream), verbosity):
        own.debug("own debug")
        own.warning("own warning")
        own.error("own error")
        logging.getLogger("papermill").warning("papermill warning")
        logging.getLogger("pcfm.base.kernels").debug("kernel line")
    assert stream.getvalue().splitlines() == expected
    own.warning("after the run")  # the handler is gone
    assert "after the run" not in stream.getvalue()


def test_python_warnings_follow_the_log_rule_instead_of_printing_over_the_display(
    capsys: pytest.CaptureFixture[str],
) -> None:
    stream = io.StringIO()
    with terminal_logging(LineDisplay(stream), "normal"), warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("a library's deprecation", DeprecationWarning, stacklevel=1)
    assert "deprecation" not in stream.getvalue() + capsys.readouterr().err
