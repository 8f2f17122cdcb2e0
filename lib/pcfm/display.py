"""Showing tables in notebooks so that Quarto renders them in HTML, PDF and Word alike."""

from __future__ import annotations

import pandas as pd
from IPython.display import Markdown


def as_markdown(table: pd.DataFrame, float_format: str = ",.3f") -> Markdown:
    """A pipe table: the one table form Quarto renders identically in all three formats."""
    return Markdown(table.to_markdown(index=False, floatfmt=float_format))
