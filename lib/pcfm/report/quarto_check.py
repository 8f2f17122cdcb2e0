"""A static check of the Quarto project, for machines without Quarto.

Catches, without rendering, each failure seen with a real Quarto (see the developers'
notes): a chapter listed in `_quarto.yml` that does not exist, no root `index.qmd`, no
`book.author` when Typst is a format, an embed naming a notebook or cell label that
does not exist, a cross-reference with no target, and a line that starts with ``(@``
(pandoc reads it as a numbered-example list item, so the reference on it becomes "(1)").
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import yaml

EMBED = re.compile(r"\{\{<\s*embed\s+([^#\s>]+)#([A-Za-z0-9_-]+)\s*>\}\}")
CROSS_REFERENCE = re.compile(r"(?<![\w@/.-])@((?:fig|tbl|sec|eq)-[A-Za-z0-9_-]*[A-Za-z0-9])")
SECTION_ID = re.compile(r"^#+ .*\{#(sec-[A-Za-z0-9_-]+)[^}]*\}", re.MULTILINE)
EQUATION_ID = re.compile(r"\$\$\s*\{#(eq-[A-Za-z0-9_-]+)\}")
CELL_LABEL = re.compile(r"^#\|\s*label:\s*([A-Za-z0-9_-]+)\s*$", re.MULTILINE)
#: A line that pandoc reads as a numbered example, ``(@label)``: it eats the reference.
EXAMPLE_LIST_LINE = re.compile(r"^[ \t>]*\(@", re.MULTILINE)


def example_list_lines(text: str) -> list[int]:
    """Line numbers (from 1) of lines starting with ``(@``: write the reference mid-line."""
    return [text.count("\n", 0, match.start()) + 1 for match in EXAMPLE_LIST_LINE.finditer(text)]


def _chapters(config: dict) -> list[str]:
    book = config.get("book", {})
    listed: list[str] = []
    for key in ("chapters", "appendices"):
        for entry in book.get(key, []) or []:
            if isinstance(entry, str):
                listed.append(entry)
            elif isinstance(entry, dict):
                listed.extend(c for c in entry.get("chapters", []) if isinstance(c, str))
                if isinstance(entry.get("href"), str):
                    listed.append(entry["href"])
    return listed


def notebook_labels(path: Path) -> set[str]:
    """The ``#| label:`` of every code cell of a notebook."""
    notebook = nbformat.read(path, as_version=4)
    return {
        label
        for cell in notebook.cells
        if cell.cell_type == "code"
        for label in CELL_LABEL.findall(cell.source)
    }


def check_quarto_project(root: Path) -> list[str]:
    """Every problem found in the Quarto project at ``root`` (empty when it is valid)."""
    problems: list[str] = []
    config_path = root / "_quarto.yml"
    if not config_path.exists():
        return [f"{config_path}: missing"]
    config = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
    chapters = _chapters(config)
    if "index.qmd" not in chapters or not (root / "index.qmd").exists():
        problems.append("_quarto.yml: a book needs index.qmd at the root as its first chapter")
    formats = config.get("format", {}) or {}
    if "typst" in formats and not config.get("book", {}).get("author"):
        problems.append("_quarto.yml: book.author must be set when typst is a format")

    targets: set[str] = set()
    references: list[tuple[str, str]] = []
    for chapter in chapters:
        path = root / chapter
        if not path.exists():
            problems.append(f"_quarto.yml: chapter {chapter} does not exist")
            continue
        text = path.read_text(encoding="utf-8")
        problems.extend(
            f"{chapter}:{line}: a line starting with '(@' is a pandoc numbered-example list "
            "(the reference becomes '(1)'): move the reference off the start of the line"
            for line in example_list_lines(text)
        )
        targets.update(SECTION_ID.findall(text))
        targets.update(EQUATION_ID.findall(text))
        references.extend((chapter, ref) for ref in CROSS_REFERENCE.findall(text))
        for notebook, label in EMBED.findall(text):
            notebook_path = (path.parent / notebook).resolve()
            if not notebook_path.exists():
                problems.append(f"{chapter}: embed names {notebook}, which does not exist")
                continue
            labels = notebook_labels(notebook_path)
            if label not in labels:
                problems.append(
                    f"{chapter}: embed names {notebook}#{label}: no cell has that label"
                )
            else:
                targets.add(label)
    for chapter, reference in references:
        if reference not in targets:
            problems.append(f"{chapter}: cross-reference @{reference} has no target")
    return problems
