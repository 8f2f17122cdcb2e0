"""Text from code or data reaches pandoc as literal text: escaping checked by pandoc itself."""

from __future__ import annotations

import json
import subprocess

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pcfm.base.disclosure.columns import is_count_column
from pcfm.base.disclosure.extract import pipe_tables
from pcfm.base.markdown import escape_markdown, unescape_markdown
from pcfm.base.tables import column_label, markdown_text, page_characters
from pcfm.report.documents import front_matter
from pcfm.report.word_style import quarto_or_none

pytestmark = pytest.mark.unit

HOSTILE = [
    "build/<run_name>/.",
    "<x>",
    "a*b*c",
    "_x_",
    "#h",
    "@sec-x",
    "$5 and $6",
    "//",
    "[a](b)",
    "back\\slash",
    "é ü — “q”",
    "1. item",
    "- item",
    "> q",
    "(@x)",
    "a--b---c",
    "x...y",
    'it\'s "q"',
    "&lt; &amp;",
    "a|b",
    "~s~ ^t^",
    "`code`",
    "{#id}",
    "![i](j)",
]


def _pandoc_json(markdown: str) -> dict:
    """The document pandoc reads from ``markdown``, as pandoc's JSON."""
    quarto = quarto_or_none()
    if not quarto:
        pytest.skip("Quarto (with its pandoc) is not installed: set PCFM_QUARTO")
    done = subprocess.run(
        [quarto, "pandoc", "-f", "markdown", "-t", "json"],
        input=markdown,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def _literal(nodes: object) -> str:
    """The literal text of pandoc JSON nodes ("<<Kind>>" marks any markup)."""
    out: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            kind = node.get("t")
            if kind == "Str":
                out.append(node["c"])
            elif kind in ("Space", "SoftBreak"):
                out.append(" ")
            else:
                if kind not in ("Para", "Plain", "MetaInlines"):
                    out.append(f"<<{kind}>>")
                walk(node.get("c"))

    walk(nodes)
    return "".join(out)


def _pandoc_text(markdown: str) -> str:
    """The literal text pandoc reads from the body of ``markdown``."""
    return _literal(_pandoc_json(markdown)["blocks"])


@pytest.mark.parametrize("text", HOSTILE)
def test_pandoc_reads_escaped_text_back_exactly(text: str) -> None:
    assert _pandoc_text(escape_markdown(text)) == text


@pytest.mark.parametrize("text", ["NHS Back\\slash ICB", "C:\\ICB\\n", "a\\\\b", *HOSTILE])
def test_front_matter_reads_back_exactly_through_pandoc(text: str) -> None:
    """A title, subtitle, author or date with a backslash is shown once, not doubled."""
    document = _pandoc_json(front_matter(text, text, text, date=text) + "\n\nBody.\n")
    for key in ("title", "subtitle", "author", "date"):
        assert _literal(document["meta"][key]) == text, key


def test_a_table_of_hostile_text_reads_back_exactly_through_pandoc() -> None:
    table = pd.DataFrame({"practice_name": HOSTILE, "registered_list": range(len(HOSTILE))})
    text = _pandoc_text(markdown_text(table))
    assert "<<Table>>" in text
    for value in HOSTILE:
        assert value in text, value


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"))))
def test_unescaping_gives_back_the_text(text: str) -> None:
    assert unescape_markdown(escape_markdown(text)) == text


def test_pipe_tables_read_back_the_literal_cells() -> None:
    table = pd.DataFrame({"name": ["a|b", "*", "x_y"], "patients": ["*", "10", "0"]})
    found = pipe_tables(markdown_text(table), "t")[0]
    assert found.header == ["Name", "Patients"]
    assert found.rows == [["a|b", "*"], ["*", "10"], ["x_y", "0"]]


@pytest.mark.parametrize(
    "name",
    [
        "patients",
        "registered_list",
        "n_patients",
        "people",
        "rows",
        "new_patients",
        "care_home_people",
        "need_index",
        "allocation_gbp",
        "practices_funded",
        "person_years",
    ],
)
def test_human_labels_keep_the_count_columns_recognisable(name: str) -> None:
    """The output checker knows a count column by its header, also after relabelling."""
    assert is_count_column(column_label(name)) == is_count_column(name)
    assert "_" not in column_label(name)


def test_numbers_are_formatted_and_right_aligned() -> None:
    table = pd.DataFrame({"code": ["A"], "registered_list": [12345], "ratio": [1.23456]})
    lines = markdown_text(table).splitlines()
    assert "12,345" in lines[2] and "1.235" in lines[2]
    rule = lines[1].strip("|").split("|")
    assert rule[0].startswith(":") and rule[1].endswith(":") and rule[2].endswith(":")


def test_a_squeezed_table_keeps_every_unbreakable_word_whole() -> None:
    """Columns wanting more than the page have: each keeps room for its longest word (and
    a one-word header), and the columns of sentences take the squeeze."""
    sentence = "a sentence that wraps onto several lines in a narrow column " * 2
    table = pd.DataFrame(
        {
            "table": ["patients", "activity"],
            "column": ["practice_code", "appointment_date"],
            "type": ["integer", "string"],
            "required": ["required", "optional"],
            "allowed_values": ["a code in practices.practice_code", "0 to 115"],
            "meaning": [sentence, sentence],
        }
    )
    rule = markdown_text(table).splitlines()[1].strip("|").split("|")
    widths = [len(part) - 2 for part in rule]  # ":---" is the width plus two
    longest = [len("patients"), len("appointment_date"), len("integer")]
    longest += [len("Required"), len("practices.practice_code"), len("sentence")]
    assert all(width >= word for width, word in zip(widths, longest, strict=True))
    assert sum(widths) <= page_characters(len(widths))
    assert widths[-1] < len(sentence) // 2  # the sentences wrap


def test_a_table_on_a_landscape_page_shares_its_width_by_what_columns_want() -> None:
    """Thirteen columns do not fit a portrait page even at their narrowest: there each
    column gets its least; on a landscape page a column of names gets room for a name."""
    table = pd.DataFrame(
        {
            "practice_code": ["SYNP0001", "SYNP0127"],
            "practice_name": ["City Practice 001", "Rural County Practice 127"],
            **{f"measure_{n}_of_need": [1234.567, 2.5] for n in range(11)},
        }
    )

    def widths(text: str) -> list[int]:
        return [len(part) - 2 for part in text.splitlines()[1].strip("|").split("|")]

    portrait = widths(markdown_text(table))
    assert sum(portrait) > page_characters(len(portrait))
    assert portrait[1] < len("Rural County Practice 127")  # the least: one word, "Practice"
    landscape = widths(markdown_text(table, landscape=True))
    assert sum(landscape) <= page_characters(len(landscape), landscape=True)
    assert landscape[1] >= len("Rural County Practice 127")
