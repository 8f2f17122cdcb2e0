"""The output checker: the gate every publishable file passes before a run succeeds.

`pcfm check-outputs RUN_DIR` and the last stage of `pcfm run` scan, in the run folder,
everything that can leave the restricted area — every file of ``publishable/`` (tables in
CSV, TSV and Parquet, JSON, the workbook, figures: SVG and the text chunks of PNG, ZIP
archives member by member), the executed notebooks (sources and outputs, including the
practice statements), every file of ``report/`` (HTML, Word, PDF, and Quarto's
``site_libs/``) and the run's own log (``run.log``) — for these leaks (domain brief §5):

* a **small count**: a value from 1 to the disclosure threshold in a column of counts of
  people (also as ``n (x%)``), or a controlled count that is not a multiple of the rounding
  base (it skipped disclosure control). Which columns are counts, and which only label a
  row, is decided by the registry the writer uses too, `pcfm.base.disclosure.columns`;
* a **derived cell** shown beside a suppressed count: in a row whose count is ``*``, any
  number in a column that is not a label (person-years, contacts, a rate of those people);
* a **small count in prose**: a number from 1 to the threshold directly followed by a word
  for people ("Only 3 patients", "3 (1.2%) people"; patients, people, persons,
  registrations, contacts), unless a rate follows ("5 contacts per person-year") or it ends
  a range ("1 to 7 people", "1–7 people", the rule itself). Years,
  percentages, codes and page numbers are not followed by such a word, so are not read;
* a **patient identifier**: any ``patient_id`` of the run's input appearing as a word in
  any file, also inside a longer name (``patient_<id>``, ``<id>-notes``).

The run's log is also read for a third: an absolute path into a **home folder** (``/home/<user>``,
``/Users/<user>``, ``C:\\Users\\<user>``, or this machine's home folder), which names who ran
it; the log writes paths relative to the build folder or as ``~`` (`pcfm.pipeline.runlog`).

Each finding names the file (relative to the run folder) and the place in it. Patient
identifiers themselves are never printed: the place is enough to find them.

A file the checker cannot read is never passed silently: a binary file of an unknown type
is an ``unreadable`` finding, and a font or an image other than PNG (no text to read) is
listed as skipped, with the reason, in the log and by ``pcfm check-outputs``.

Limits: the pixels of images cannot be read back, and matplotlib writes SVG text as
outlines, so a figure is checked through its PNG text chunks and the tables and text
around it; identifiers that are plain numbers shorter than ten digits cannot be told apart
from other numbers and are not searched for (a warning says how many there were).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pcfm.base.disclosure.columns import (
    is_controlled_count_column,
    is_count_column,
    is_derived_column,
)
from pcfm.base.disclosure.extract import (
    FoundTable,
    FoundText,
    SkippedFile,
    UnreadableFile,
    tables_and_text,
)
from pcfm.params.disclosure import DisclosureParams

log = logging.getLogger(__name__)

#: Folders of a run whose files may be published, relative to the run folder.
SCANNED_FOLDERS = ("publishable", "notebooks", "report")
#: The run's own log, at the root of the run folder (written by `pcfm.pipeline.runlog`).
RUN_LOG = "run.log"

FindingKind = Literal[
    "small_count",
    "unrounded_count",
    "derived_from_small_count",
    "patient_identifier",
    "home_folder_path",
    "unreadable",
]

_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]*")
_TOKEN_PART = re.compile(r"([_\-])")
_DIGIT = re.compile(r"\d")
#: Longest run of ``_``/``-``-separated parts of a word compared with the identifiers.
_MOST_PARTS = 6
#: A cell showing a count with its share: ``3 (1.2%)``.
_COUNT_WITH_SHARE = re.compile(r"^\s*([\d,\u2009]+)\s*\(\s*[\d.]+\s*%\s*\)\s*$")
#: Words for people that make the number before them a count of people in prose.
PEOPLE_WORDS = ("patients", "people", "persons", "registrations", "contacts")
_PROSE_COUNT = re.compile(
    r"(?<![\w.,£$€%/+\-\u2013])(?<!\bto )(\d[\d,]*)"
    r"(?:[ \t\u00a0]*\([ \t\u00a0]*[\d.]+[ \t\u00a0]*%\))?"  # "3 (1.2%) patients"
    r"[ \t\u00a0]*\n?[ \t\u00a0]*"
    rf"(?:{'|'.join(PEOPLE_WORDS)})\b(?![\-_])(?!\s+(?:per|a|an|each)\b)",
    re.IGNORECASE,
)
#: An absolute path into somebody's home folder, on Linux, macOS or Windows.
_HOME_FOLDER_PATH = re.compile(
    r"(?<![\w.~])(?:/home/|/Users/|/root(?=[/\s\"']|$)|(?i:[a-z]:[\\/]+users[\\/]+))"
)


class CheckOutputsError(ValueError):
    """The run folder cannot be checked (not a run folder, or its input cannot be read)."""


@dataclass(frozen=True)
class Finding:
    """One disclosure problem: which file, where in it, and what."""

    file: str
    place: str
    kind: FindingKind
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.place}: {self.message}"


@dataclass(frozen=True)
class Skipped:
    """A file the checker did not read, and why (a font, an image other than PNG)."""

    file: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: skipped: {self.reason}"


def parse_count(text: str) -> float | None:
    """The number shown in a table cell (``3 (1.2%)`` is 3), or None for '*', blanks and words."""
    with_share = _COUNT_WITH_SHARE.match(text)
    if with_share:
        text = with_share.group(1)
    cleaned = text.strip().replace(",", "").replace("\u2009", "")
    if not cleaned or cleaned == "*":
        return None
    try:
        value = float(cleaned)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def check_table(table: FoundTable, rule: DisclosureParams, file: str) -> list[Finding]:
    """Small and unrounded counts in the count columns of one table."""
    findings = []
    count_columns = [
        (position, name) for position, name in enumerate(table.header) if is_count_column(name)
    ]
    for row_number, row in enumerate(table.rows, start=1):
        for position, name in count_columns:
            if position >= len(row):
                continue
            value = parse_count(row[position])
            if value is None or value == 0:
                continue
            place = f"{table.place}, row {row_number}, column {name!r}"
            if 1 <= value <= rule.threshold:
                findings.append(
                    Finding(
                        file,
                        place,
                        "small_count",
                        f"count {row[position]} is from 1 to the threshold {rule.threshold}; "
                        "it must be shown as '*'",
                    )
                )
            elif (
                is_controlled_count_column(name)
                and value == round(value)
                and round(value) % rule.rounding_base
            ):
                findings.append(
                    Finding(
                        file,
                        place,
                        "unrounded_count",
                        f"count {row[position]} is not a multiple of {rule.rounding_base}; "
                        "it did not pass disclosure control",
                    )
                )
    return findings + _derived_beside_suppressed(table, count_columns, file)


def _derived_beside_suppressed(
    table: FoundTable, count_columns: list[tuple[int, str]], file: str
) -> list[Finding]:
    """Cells with a figure (any digit: '14.0', '£1,204', '3%') in derived columns of rows
    whose count is shown as '*'."""
    if not count_columns:
        return []
    derived = [
        (position, name) for position, name in enumerate(table.header) if is_derived_column(name)
    ]
    findings = []
    for row_number, row in enumerate(table.rows, start=1):
        suppressed = [
            name
            for position, name in count_columns
            if position < len(row) and row[position].strip() == "*"
        ]
        if not suppressed:
            continue
        for position, name in derived:
            if position < len(row) and _DIGIT.search(row[position]):
                findings.append(
                    Finding(
                        file,
                        f"{table.place}, row {row_number}, column {name!r}",
                        "derived_from_small_count",
                        f"{row[position]} is shown beside the suppressed count "
                        f"{suppressed[0]!r}; it gives that count away and must be '*'",
                    )
                )
    return findings


def _word_spans(token: str) -> Iterator[str]:
    """A word and every run of its ``_``/``-``-separated parts (``patient_S1`` → ``S1`` too)."""
    yield token
    pieces = _TOKEN_PART.split(token)  # parts at even positions, separators between
    parts = len(pieces) // 2 + 1
    if parts == 1:
        return
    for first in range(parts):
        for last in range(first, min(parts, first + _MOST_PARTS)):
            if (first, last) != (0, parts - 1):
                yield "".join(pieces[2 * first : 2 * last + 1])


def check_prose(text: FoundText, rule: DisclosureParams, file: str) -> list[Finding]:
    """Small counts of people written in words ("Only 3 patients"), one finding per line."""
    if not text.prose:
        return []
    findings = []
    lines = text.text.splitlines()
    for line_number, line in enumerate(lines, start=1):
        following = lines[line_number] if text.flowing and line_number < len(lines) else ""
        for match in _PROSE_COUNT.finditer(f"{line}\n{following}"):
            if match.start() >= len(line):
                break  # starts on the next line: found there
            value = int(match.group(1).replace(",", ""))
            if 1 <= value <= rule.threshold:
                findings.append(
                    Finding(
                        file,
                        f"{text.place}, line {line_number}",
                        "small_count",
                        f"{' '.join(match.group(0).split())!r} in the text is a count from 1 "
                        f"to the threshold {rule.threshold}; it must not be published",
                    )
                )
    return findings


def check_text(text: FoundText, patient_ids: frozenset[str], file: str) -> list[Finding]:
    """Patient identifiers appearing as words, or inside words, in a text, one finding a line."""
    if not patient_ids or not text.identifiers:
        return []
    findings = []
    for line_number, line in enumerate(text.text.splitlines(), start=1):
        hits = sum(
            1
            for token in _TOKEN.findall(line)
            if token in patient_ids
            or (
                ("_" in token or "-" in token) and any(s in patient_ids for s in _word_spans(token))
            )
        )
        if hits:
            findings.append(
                Finding(
                    file,
                    f"{text.place}, line {line_number}",
                    "patient_identifier",
                    f"{hits} patient identifier(s) from the input's patients.patient_id",
                )
            )
    return findings


def home_folder_paths(text: str, home: str | None = None) -> int:
    """How many absolute paths into a home folder a line of text holds.

    Args:
        text: The text.
        home: This machine's home folder, found wherever it is (by default ``Path.home()``).
    """
    hits = len(_HOME_FOLDER_PATH.findall(text))
    home = str(Path.home()) if home is None else home
    if home not in ("", "/") and not _HOME_FOLDER_PATH.match(home):
        hits += len(re.findall(rf"(?<![\w.~]){re.escape(home)}(?![\w.-])", text))
    return hits


def check_paths(text: FoundText, file: str) -> list[Finding]:
    """Absolute paths into a home folder in a text, one finding per line."""
    findings = []
    for line_number, line in enumerate(text.text.splitlines(), start=1):
        hits = home_folder_paths(line)
        if hits:
            findings.append(
                Finding(
                    file,
                    f"{text.place}, line {line_number}",
                    "home_folder_path",
                    f"{hits} absolute path(s) into a home folder, which name(s) the user; "
                    "write paths relative to the build folder or as ~",
                )
            )
    return findings


def is_searchable_identifier(identifier: str) -> bool:
    """Whether an id can be told apart from ordinary numbers and words in a document."""
    if identifier.isdigit():
        return len(identifier) >= 10  # an NHS number has ten digits
    return len(identifier) >= 4 and any(ch.isdigit() for ch in identifier)


def read_patient_ids(patients_file: Path) -> frozenset[str]:
    """Distinct searchable ``patient_id`` values of a patients table, read with DuckDB."""
    import duckdb

    reader = (
        "read_parquet(?)" if patients_file.suffix == ".parquet" else "read_csv(?, all_varchar=true)"
    )
    try:
        with duckdb.connect() as connection:
            rows = connection.execute(
                f"SELECT DISTINCT CAST(patient_id AS VARCHAR) FROM {reader}",
                [str(patients_file)],
            ).fetchall()
    except duckdb.Error as error:
        raise CheckOutputsError(
            f"{patients_file}: cannot read column patient_id to check for identifiers ({error})"
        ) from None
    identifiers = [row[0] for row in rows if row[0] is not None]
    searchable = frozenset(i for i in identifiers if is_searchable_identifier(i))
    if len(searchable) < len(identifiers):
        log.warning(
            "%d of %d patient identifiers are short numbers and cannot be searched for",
            len(identifiers) - len(searchable),
            len(identifiers),
        )
    return searchable


def _patients_file(run_dir: Path, data_folder: Path | None) -> Path:
    folders = [run_dir / "restricted" / "input"]
    if data_folder is not None:
        folders.insert(0, data_folder)
    for folder in folders:
        for suffix in (".parquet", ".csv"):
            candidate = folder / f"patients{suffix}"
            if candidate.exists():
                return candidate
    raise CheckOutputsError(
        f"{run_dir}: cannot find the run's patients table (looked in "
        f"{', '.join(str(f) for f in folders)}), so patient identifiers cannot be checked"
    )


def _rule_and_data_folder(run_dir: Path) -> tuple[DisclosureParams, Path | None]:
    from pcfm.params import load_params

    params_file = run_dir / "params.yml"
    if not params_file.exists():
        raise CheckOutputsError(f"{run_dir}: not a run folder (no params.yml)")
    params = load_params(params_file)
    rule = params.disclosure
    folder = params.resolve(params.data.folder) if params.data.source == "folder" else None
    return rule, folder


def publishable_files(run_dir: Path) -> Iterator[Path]:
    """Every file of the run that may be published, in a stable order (the log first)."""
    if (run_dir / RUN_LOG).is_file():
        yield run_dir / RUN_LOG
    for folder_name in SCANNED_FOLDERS:
        folder = run_dir / folder_name
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                yield path


def check_files(
    files: Iterable[Path],
    run_dir: Path,
    rule: DisclosureParams,
    patient_ids: frozenset[str],
    on_progress: Callable[[int, int], None] | None = None,
    skipped: list[Skipped] | None = None,
) -> list[Finding]:
    """Check each file's tables for small counts and its text for patient identifiers.

    The run's log is read as text, for patient identifiers, small counts in prose and
    home-folder paths. Args as :func:`check_run_folder`'s; ``on_progress`` is called after
    each file.
    """
    findings: list[Finding] = []
    files = list(files)
    for done, path in enumerate(files, start=1):
        if on_progress is not None and done > 1:
            on_progress(done - 1, len(files))
        name = path.relative_to(run_dir).as_posix()
        if name == RUN_LOG:
            log_text = FoundText("text", path.read_text(encoding="utf-8", errors="replace"))
            findings.extend(check_text(log_text, patient_ids, name))
            findings.extend(check_prose(log_text, rule, name))
            findings.extend(check_paths(log_text, name))
            continue
        try:
            tables, texts = tables_and_text(path)
        except SkippedFile as reason:
            log.info("check-outputs: %s: skipped: %s", name, reason)
            if skipped is not None:
                skipped.append(Skipped(name, str(reason)))
            continue
        except UnreadableFile as error:
            findings.append(Finding(name, "whole file", "unreadable", f"cannot be read ({error})"))
            continue
        except Exception as error:  # a file that cannot be read cannot be vouched for
            findings.append(
                Finding(name, "whole file", "unreadable", f"cannot be read back ({error})")
            )
            continue
        for table in tables:
            findings.extend(check_table(table, rule, name))
        for text in texts:
            findings.extend(check_text(text, patient_ids, name))
            findings.extend(check_prose(text, rule, name))
    if on_progress is not None and files:
        on_progress(len(files), len(files))
    return findings


def check_run_folder(
    run_dir: Path,
    on_progress: Callable[[int, int], None] | None = None,
    skipped: list[Skipped] | None = None,
) -> list[Finding]:
    """Every disclosure problem in the publishable files of one run (empty when it is clean).

    Args:
        run_dir: The run folder.
        on_progress: Called after each file with (files read, files in all).
        skipped: If given, each file not read (a font, an image other than PNG) is
            added to it with the reason.

    Raises:
        CheckOutputsError: ``run_dir`` is not a run folder or its patients table is missing.
    """
    run_dir = Path(run_dir)
    rule, data_folder = _rule_and_data_folder(run_dir)
    patient_ids = read_patient_ids(_patients_file(run_dir, data_folder))
    return check_files(publishable_files(run_dir), run_dir, rule, patient_ids, on_progress, skipped)
