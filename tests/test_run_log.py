"""The run's own log: everything pcfm logs, at debug level, without the machine's paths."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from pcfm.pipeline.runlog import RedactingFormatter, place_names, run_log

pytestmark = pytest.mark.unit


class _Collect(logging.Handler):
    """A handler like a terminal's or a test's, collecting what reaches it."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _record(message: str, *args: object, name: str = "pcfm.test") -> logging.LogRecord:
    return logging.LogRecord(name, logging.WARNING, __file__, 1, message, args, None)


def test_absolute_paths_become_place_names_the_nearest_winning(tmp_path: Path) -> None:
    home = Path.home()
    build = home / "work" / "build"
    formatter = RedactingFormatter(place_names(build, project_root=home / "work"))
    text = formatter.redact(
        f"{build}/.demo.x.partial/notebooks/01.ipynb and {home}/.venv and {home}/work/notebooks"
    )
    assert text == "<build>/.demo.x.partial/notebooks/01.ipynb and ~/.venv and <project>/notebooks"
    assert str(home) not in formatter.format(_record("in %s", build / "demo"))


def test_a_path_is_replaced_only_whole(tmp_path: Path) -> None:
    formatter = RedactingFormatter([("/data/build", "<build>")])
    assert formatter.redact("/data/build /data/buildings /data/build/x") == (
        "<build> /data/buildings <build>/x"
    )


def test_other_libraries_records_are_written_at_debug_level() -> None:
    formatter = RedactingFormatter([])
    own = formatter.format(_record("ours"))
    other = formatter.format(_record("Kernel died before replying", name="papermill"))
    assert " WARNING pcfm.test: ours" in own
    assert " DEBUG   papermill: Kernel died before replying" in other


def test_the_log_takes_pcfm_debug_records_and_leaves_other_handlers_as_they_were(
    tmp_path: Path,
) -> None:
    collect = _Collect()
    root = logging.getLogger()
    root.addHandler(collect)
    own = logging.getLogger("pcfm")
    before = (own.level, own.propagate)
    path = tmp_path / "run.log"
    try:
        with run_log(path, place_names(tmp_path)):
            logging.getLogger("pcfm.pipeline.test").debug("a debug line in %s", tmp_path / "x")
            logging.getLogger("pcfm.pipeline.test").warning("a warning")
            logging.getLogger("nbclient").warning("kernel noise")
            try:
                raise ValueError(f"broken at {tmp_path / 'y'}")
            except ValueError:
                logging.getLogger("pcfm.pipeline.test").exception("a failure")
        logging.getLogger("pcfm.pipeline.test").warning("after the run")
    finally:
        root.removeHandler(collect)
    text = path.read_text(encoding="utf-8")
    assert "DEBUG   pcfm.pipeline.test: a debug line in <build>/x" in text
    assert "DEBUG   nbclient: kernel noise" in text
    assert "ValueError: broken at <build>/y" in text and "Traceback" in text
    assert str(tmp_path) not in text
    assert "after the run" not in text
    # the other handler saw what it saw before the run: warnings up, not the debug line
    assert collect.messages == ["a warning", "kernel noise", "a failure", "after the run"]
    assert (own.level, own.propagate) == before
