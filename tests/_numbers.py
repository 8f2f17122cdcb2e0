"""Every number a document shows, traced to a published table (used by test_06_numbers_traced).

The rule of "found", exactly:

* **What is read.** The outputs of the executed notebooks a reader sees: the book's stage
  chapters (``01_data`` … ``04_allocation``), the allocation report, the board paper and
  every practice statement (Markdown and plain-text outputs and printed text; not images,
  and not the authors' own Markdown cells, which hold no run numbers). The appendices
  notebook is not read: it prints reference data from the code and the manifest (the data
  contract, SHA-256 hashes, package versions, the assumptions log) and the parameters,
  whose values are allowed below.
* **What is a number.** A run of digits, with thousands separators and decimals, an optional
  ``£`` before and ``%`` after, not part of a word (``SYNP0001``) and not inside text that a
  published table holds verbatim (a practice name such as "City Practice 001" or a model name
  such as "deprivation: decile"). Signs are not compared: documents write them as words
  ("11.8% less") as often as symbols.
* **When it is found.** A number shown with *d* decimals is found when some published value
  *v* — any numeric cell of ``publishable/*.csv`` or number in ``publishable/*.json`` —
  formats to the same digits: ``format(abs(v), f",.{d}f")`` for a plain number and
  ``format(abs(v) * 100, f",.{d}f")`` for a percentage (thousands separators ignored). So
  "£1,234.57" is found from 1234.567 and "12.3%" from -0.1234; "8,963" is *not* found from
  8965.
* **Allowed without a table.** The values of the run's ``params.yml`` (published as the
  parameters appendix), numbers inside its text values (the financial year "2025-26"), and
  :data:`NON_DATA_NUMBERS`, each with its reason.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pandas as pd
import yaml

#: Numbers the documents may show that are not data, and why.
NON_DATA_NUMBERS = {
    0.0: "zero: nothing allocated, no change, a contribution of +0.000",
    1.0: "the ICB average need index (= 1, 1.000); quintile/category 1 is the most deprived/"
    "under-funded; the 1 April date of the documents",
    5.0: "quintiles are fifths (IMD quintile 5 = least deprived)",
    0.95: "the 95% interval of the bootstrap and of the rate ratios (shown as 95%)",
    2019.0: "IMD 2019, the deprivation index named in text",
}
#: Executed notebooks that are documents of numbers (their outputs are read).
DOCUMENT_NOTEBOOKS = (
    "01_data.ipynb",
    "02_workload_model.ipynb",
    "03_need_weights.ipynb",
    "04_allocation.ipynb",
    "06_allocation_report.ipynb",
    "06_board_paper.ipynb",
)

_NUMBER = re.compile(
    r"(?<![\w.])£?((?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?)(?:[eE]([-+]?\d+))?(%?)(?![\w])"
)
_MAX_DECIMALS = 6


@dataclass(frozen=True)
class ShownNumber:
    """One number as a document shows it."""

    source: str
    text: str
    digits: str  # without separators or sign
    percent: bool
    context: str


def published_values(publishable: Path) -> tuple[list[float], list[str]]:
    """Every number of every published CSV and JSON, and every text cell holding a digit."""
    numbers: list[float] = []
    texts: list[str] = []
    for path in sorted(publishable.glob("*.csv")):
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
        for value in table.to_numpy().ravel():
            _add(value, numbers, texts)
        texts.extend(str(c) for c in table.columns if re.search(r"\d", str(c)))
    for path in sorted(publishable.glob("*.json")):
        for value in _walk(json.loads(path.read_text(encoding="utf-8"))):
            _add(value, numbers, texts)
    return numbers, texts


def parameter_values(params_path: Path) -> list[float]:
    """Every number of the run's parameter file, including those inside text values."""
    values: list[float] = []
    for value in _walk(yaml.safe_load(params_path.read_text(encoding="utf-8"))):
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float):
            values.append(float(value))
        elif isinstance(value, str):
            values.extend(float(m) for m in re.findall(r"\d+(?:\.\d+)?", value))
    return values


def _walk(node: object) -> Iterator[object]:
    if isinstance(node, dict):
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)
    else:
        yield node


def _add(value: object, numbers: list[float], texts: list[str]) -> None:
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, int | float):
        numbers.append(float(value))
        return
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        if re.search(r"\d", text):
            texts.append(text)
        return
    if math.isfinite(number):
        numbers.append(number)


def formatted_forms(values: Iterable[float]) -> tuple[set[str], set[str]]:
    """The digits each value shows at 0 to 6 decimals, as a number and as a percentage."""
    plain: set[str] = set()
    percent: set[str] = set()
    for value in values:
        if not math.isfinite(value):
            continue
        magnitude = abs(value)
        for decimals in range(_MAX_DECIMALS + 1):
            plain.add(f"{magnitude:.{decimals}f}")
            percent.add(f"{magnitude * 100:.{decimals}f}")
        plain.add(f"{magnitude:.2e}")
        plain.add(f"{magnitude:.3e}")
    return plain, percent


def document_texts(run_dir: Path) -> Iterator[tuple[str, str]]:
    """(source, text) of every output a reader sees, notebook by notebook."""
    notebooks = [run_dir / "notebooks" / name for name in DOCUMENT_NOTEBOOKS]
    notebooks += sorted((run_dir / "notebooks" / "statements").glob("*.ipynb"))
    for path in notebooks:
        notebook = nbformat.read(path, as_version=4)
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type != "code":
                continue
            for output in cell.get("outputs", []):
                source = f"{path.relative_to(run_dir).as_posix()} cell {index}"
                data = output.get("data", {})
                if "text/markdown" in data:
                    yield source, data["text/markdown"]
                elif "text/plain" in data and not any(k.startswith("image/") for k in data):
                    yield source, data["text/plain"]
                elif output.get("output_type") == "stream":
                    yield source, output.get("text", "")


def shown_numbers(source: str, text: str, verbatim: list[str]) -> Iterator[ShownNumber]:
    """The numbers of one output, leaving out text a published table holds verbatim."""
    text = text.replace("\\", "")  # Markdown escapes
    for phrase in verbatim:
        if phrase in text:
            text = text.replace(phrase, " ")
    for match in _NUMBER.finditer(text):
        digits, exponent, percent = match.groups()
        digits = digits.replace(",", "")
        if exponent is not None:
            decimals = len(digits.split(".")[1]) if "." in digits else 0
            digits = f"{float(digits + 'e' + exponent):.{decimals}e}"
        start, end = match.span()
        yield ShownNumber(
            source, match.group(0), digits, bool(percent), text[max(0, start - 50) : end + 20]
        )


def untraced_numbers(run_dir: Path) -> list[ShownNumber]:
    """Numbers the run's documents show that no published table or allowed value gives."""
    numbers, texts = published_values(run_dir / "publishable")
    allowed = numbers + parameter_values(run_dir / "params.yml") + list(NON_DATA_NUMBERS)
    plain, percent = formatted_forms(allowed)
    verbatim = sorted(set(texts), key=len, reverse=True)
    missing = []
    for source, text in document_texts(run_dir):
        for shown in shown_numbers(source, text, verbatim):
            forms = percent if shown.percent else plain
            if shown.digits not in forms:
                missing.append(shown)
    return missing
