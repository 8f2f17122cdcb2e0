"""Every table a document shows, as one kind of Markdown pipe table.

A pipe table is the one table form Quarto renders alike in HTML, PDF (Typst) and Word,
so every notebook shows its tables through :func:`markdown_table`. It makes the choices a
reader of a printed table needs, once for all of them:

* **headers for people**: ``registered_list`` is shown as "Registered list" (see
  :func:`column_label`; the output checker still knows a count column by its label,
  `pcfm.base.disclosure.columns`);
* **numbers formatted and right-aligned**: integers with thousands separators, other
  numbers with ``float_format``; text already formatted for people (``'£1,118,309.94'``)
  is shown as it is, never re-read as a number;
* **text escaped** (`pcfm.base.markdown`), so data can never break the document;
* **column widths per table**: a table that fits the page is left to the renderer's
  automatic widths; a wider one gets relative widths from what each column must show
  (a number cannot wrap; a header or a sentence can), written as the lengths of the
  dash line, which is how pandoc reads them. When the columns want more than the page
  has (:func:`page_characters`), every column first gets its longest unbreakable word
  and the columns of wrapping text share what is left, so that squeezing a table never
  makes a number or a one-word header overlap its neighbour. A table shown on a
  landscape page says so (``landscape=True``) and is sized for its width.
"""

from __future__ import annotations

import math
import re

import pandas as pd
from IPython.display import Markdown

from pcfm.base.markdown import escape_markdown

_NUMBER_LIKE = re.compile(r"^[-+−]?£?[\d,]*\.?\d+%?$|^\*$|^$")

#: Words of column names shown in capitals or as symbols.
_WORD_LABELS = {
    "imd": "IMD",
    "pcn": "PCN",
    "icb": "ICB",
    "ci": "CI",
    "ltc": "LTC",
    "acg": "ACG",
    "id": "ID",
    "gp": "GP",
    "sha256": "SHA-256",
    "nwp": "need-weighted patient",
    "vs": "vs",
    "p": "p",
}
#: Whole names whose label is not made word by word.
_PHRASE_LABELS = {"p_value": "p-value", "sha256": "SHA-256"}
#: Unit words of column names, shown at the end in brackets.
_UNIT_LABELS = {"gbp": "(£)", "pct": "(%)"}

#: Widest table (in characters of its Markdown lines) left to automatic column widths:
#: pandoc's default ``columns``, past which it reads relative widths from the dash line.
AUTO_WIDTH_LIMIT = 72
#: Characters a cell's inner margins take up, added to every column's width.
CELL_PADDING = 2
#: Widest a column of wrappable text is sized for, in characters.
TEXT_COLUMN_CAP = 36
#: Width of the text of a portrait A4 page, in points: the narrower of the documents'
#: (2 cm margins, 17 cm) and the book's (orange-book's 3 cm margins, 15 cm), since the same
#: table may be shown in both.
TEXT_WIDTH_PT = 425.0
#: The same on a landscape page (the book's 23.7 cm).
LANDSCAPE_TEXT_WIDTH_PT = 672.0
#: Width of an average lower-case character of Arial, in em (`_shown_length` counts
#: capitals and digits wider, and `BOLD_WIDER` the bold headers).
CHARACTER_EM = 0.5
#: Bold headers are about a tenth wider than the same word in body text.
BOLD_WIDER = 1.1


def table_text_pt(n_columns: int) -> float:
    """Size of a table's text in the PDF, as `templates/house-style.typ` sets it."""
    if n_columns >= 11:
        return 6.5
    if n_columns >= 8:
        return 7.5
    if n_columns >= 5:
        return 8.5
    return 9.0


def page_characters(n_columns: int, landscape: bool = False) -> int:
    """Average characters across the page in a table of ``n_columns`` columns."""
    width = LANDSCAPE_TEXT_WIDTH_PT if landscape else TEXT_WIDTH_PT
    return int(width / (CHARACTER_EM * table_text_pt(n_columns)))


def column_label(name: object) -> str:
    """The header a person reads for a column: ``funding_per_nwp_gbp`` → "Funding per
    need-weighted patient (£)". Other names keep their words, an identifier in them read
    as words ("family: negative_binomial" → "family: negative binomial")."""
    text = str(name)
    if text in _PHRASE_LABELS:
        return _PHRASE_LABELS[text]
    if not re.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)*", text):
        return re.sub(r"(?<=[a-z0-9])_(?=[a-z0-9])", " ", text)
    words = text.split("_")
    units = [_UNIT_LABELS[word] for word in words if word in _UNIT_LABELS]
    shown = [_WORD_LABELS.get(word, word) for word in words if word not in _UNIT_LABELS]
    if not shown:
        return " ".join(units)
    first = shown[0]
    shown[0] = first if first in _WORD_LABELS.values() else first[:1].upper() + first[1:]
    return " ".join([*shown, *units])


def _is_missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _format_value(value: object, float_format: str) -> str:
    """One cell: integers with thousands separators, other numbers by ``float_format``."""
    if _is_missing(value):
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return format(value, float_format)
    if hasattr(value, "item") and not isinstance(value, str):  # a numpy scalar
        return _format_value(value.item(), float_format)
    return str(value)


def _shown_column(column: pd.Series, float_format: str) -> list[str]:
    """The cells of one column as text, numbers formatted, text kept as written."""
    return [_format_value(value, float_format) for value in column.tolist()]


def _is_numeric(values: list[str]) -> bool:
    return bool(values) and all(_NUMBER_LIKE.match(v.strip()) for v in values)


#: Characters of Arial about half as wide as an average lower-case one.
_NARROW = frozenset(".,:;!|'ijlt")


def _shown_length(text: str) -> int:
    """Printed length of ``text`` in average lower-case characters of Arial (0.5 em):
    capitals (and £ % @ #, about 0.67 em) a third wider, digits (0.56 em) a ninth wider,
    full stops, commas and i, j, l, t about half as wide."""
    capitals = sum(1 for ch in text if ch.isupper() or ch in "£%@#")
    digits = sum(1 for ch in text if ch.isdigit())
    narrow = sum(1 for ch in text if ch in _NARROW)
    return len(text) + math.ceil(capitals / 3 + digits / 9 - narrow / 2)


def _width_least(header: str, values: list[str], numeric: bool) -> int:
    """Characters a column cannot do without: its longest unbreakable word, or number."""
    header_word = max((_shown_length(word) for word in header.split()), default=1)
    header_word = math.ceil(header_word * BOLD_WIDER)
    if numeric:
        content = max((_shown_length(v) for v in values), default=1)
    else:
        content = max((_shown_length(w) for v in values for w in v.split()), default=1)
    return max(header_word, content, 3) + CELL_PADDING


def _width_needed(header: str, values: list[str], numeric: bool) -> int:
    """Characters a column needs: a number or code shows whole, text and headers may wrap."""
    if numeric:
        return _width_least(header, values, numeric)
    content = min(max((_shown_length(v) for v in values), default=1), TEXT_COLUMN_CAP)
    return max(_width_least(header, values, numeric), content + CELL_PADDING)


def fit_widths(least: list[int], wanted: list[int], room: int) -> list[int]:
    """Column widths within ``room`` characters: what each wants when all fit; otherwise
    each its least, and the room left shared in proportion to what each still wants."""
    if sum(wanted) <= room:
        return wanted
    spare = room - sum(least)
    extra = [want - low for want, low in zip(wanted, least, strict=True)]
    if spare <= 0 or not sum(extra):
        return least
    return [low + spare * more // sum(extra) for low, more in zip(least, extra, strict=True)]


#: What a table with no rows shows: a header row with nothing under it reads as broken.
EMPTY_TABLE = "None."


def markdown_text(
    table: pd.DataFrame,
    float_format: str = ",.3f",
    landscape: bool = False,
    empty: str = EMPTY_TABLE,
) -> str:
    """``table`` as a pipe table for people (see the module docstring).

    ``landscape``: the document shows the table on a landscape page (a ``.landscape``
    div), so its columns share that page's width. ``empty``: the sentence shown instead
    of a table with no rows (an empty list is said in words).
    """
    if table.empty:
        return escape_markdown(empty)
    headers = [escape_markdown(column_label(name), one_line=True) for name in table.columns]
    raw_columns = [_shown_column(table[name], float_format) for name in table.columns]
    numeric = [_is_numeric(values) for values in raw_columns]
    columns = [[escape_markdown(v, one_line=True) for v in values] for values in raw_columns]
    natural = [
        max([len(header), *(len(v) for v in values)])
        for header, values in zip(headers, columns, strict=True)
    ]
    if sum(natural) + 3 * len(natural) + 1 <= AUTO_WIDTH_LIMIT:
        widths = natural
    else:
        described = [
            (column_label(name), values, number)
            for name, values, number in zip(table.columns, raw_columns, numeric, strict=True)
        ]
        widths = fit_widths(
            [_width_least(*column) for column in described],
            [_width_needed(*column) for column in described],
            page_characters(len(described), landscape),
        )
        # pandoc reads relative widths only when a line is longer than its column limit
        while sum(widths) + 3 * len(widths) + 1 <= AUTO_WIDTH_LIMIT:
            widths = [width + 1 for width in widths]

    def row(cells: list[str]) -> str:
        return (
            "| "
            + " | ".join(
                cell.rjust(width) if is_number else cell.ljust(width)
                for cell, width, is_number in zip(cells, widths, numeric, strict=True)
            )
            + " |"
        )

    rule = (
        "|"
        + "|".join(
            ("-" * (width + 1) + ":") if is_number else (":" + "-" * (width + 1))
            for width, is_number in zip(widths, numeric, strict=True)
        )
        + "|"
    )
    body = [row([values[i] for values in columns]) for i in range(len(table))]
    return "\n".join([row(headers), rule, *body])


def markdown_table(
    table: pd.DataFrame,
    float_format: str = ",.3f",
    landscape: bool = False,
    empty: str = EMPTY_TABLE,
) -> Markdown:
    """:func:`markdown_text` for display in a notebook (Quarto renders it in every format)."""
    return Markdown(markdown_text(table, float_format, landscape, empty))
