"""Text from code or data made safe to put into the report's Markdown.

Every document is pandoc Markdown before it is HTML, Typst or Word, so any text that
comes from code or data — a parameter description, a practice name, an ICB name, a file
path — must reach pandoc as *literal text*. Left raw, ``build/<run_name>/`` loses its
``<run_name>`` as an HTML tag and the leftover ``//`` opens a Typst comment; ``@x``
becomes a citation, ``$`` starts an equation, ``*`` and ``_`` emphasis, ``|`` ends a
table cell and ``1.`` at the start of a line opens a list. Pandoc lets a backslash
escape any ASCII punctuation, and its writers then escape the literal text correctly for
HTML, Typst and Word, so one function escaping for pandoc serves all three formats.
"""

from __future__ import annotations

import re

#: Characters pandoc Markdown gives a meaning to anywhere in a line.
_INLINE_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#@$~^|!&\"'])")
#: Markers that open a block (list, quote, heading, definition) at the start of a line.
_LINE_START_MARKER = re.compile(r"^(\s*)(\d+)([.)])(?=\s|$)|^(\s*)([-+:])(?=\s|$)", re.MULTILINE)
#: Two or more hyphens: pandoc's ``smart`` extension would make dashes of them.
_HYPHEN_RUN = re.compile(r"-(?=-)")
#: Three full stops: ``smart`` would make an ellipsis of them.
_DOT_RUN = re.compile(r"\.(?=\.\.)")


def _escape_line_start(match: re.Match[str]) -> str:
    if match.group(2) is not None:
        return f"{match.group(1)}{match.group(2)}\\{match.group(3)}"
    return f"{match.group(4)}\\{match.group(5)}"


def escape_markdown(text: object, *, one_line: bool = False) -> str:
    """``text`` as pandoc Markdown that reads back as exactly ``text``.

    Args:
        text: Any value; it is shown as ``str(text)``.
        one_line: Join lines with spaces (for a table cell, where a newline ends the row).
    """
    value = str(text)
    if one_line:
        value = " ".join(value.split())
    value = _INLINE_SPECIAL.sub(r"\\\1", value)
    value = _HYPHEN_RUN.sub(r"-\\", value)
    value = _DOT_RUN.sub(r".\\", value)
    return _LINE_START_MARKER.sub(_escape_line_start, value)


_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")


def unescape_markdown(text: str) -> str:
    """The literal text of Markdown written by :func:`escape_markdown` (backslashes removed)."""
    return _ESCAPED.sub(r"\1", text)
