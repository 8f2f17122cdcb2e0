"""Tables in the report's documents: Markdown pipe tables with the figures exactly as formatted.

`pcfm.display.as_markdown` lets tabulate re-read numbers, which reformats text already
formatted for people (``'1,118,309.94'`` would become ``'1,118,309.940'``). The report's
display tables are formatted once, in `pcfm.report.headline`, and shown as they are;
columns of numbers are right-aligned.
"""

from __future__ import annotations

import re

import pandas as pd
from IPython.display import Markdown

_NUMBER_LIKE = re.compile(r"^[-+]?£?[\d,]*\.?\d+%?$|^\*$|^$")


def _alignment(column: pd.Series) -> str:
    values = column.astype(str).str.strip()
    return (
        "right"
        if len(values) and values.map(lambda v: bool(_NUMBER_LIKE.match(v))).all()
        else "left"
    )


def markdown_text(table: pd.DataFrame) -> str:
    """A pipe table of ``table`` with every value shown exactly as it is."""
    shown = table.astype(str).replace({"nan": "", "None": "", "<NA>": ""})
    alignment = tuple(_alignment(shown[column]) for column in shown.columns)
    return shown.to_markdown(index=False, disable_numparse=True, colalign=alignment)


def markdown_table(table: pd.DataFrame) -> Markdown:
    """:func:`markdown_text` for display in a notebook (Quarto renders it in every format)."""
    return Markdown(markdown_text(table))
