"""Executed notebooks as they are kept: what they computed, not where or when.

Papermill and nbclient stamp an executed notebook with the absolute paths it was read from
and written to (which name the user's home folder), and with the start, end and duration of
the notebook and of every cell. Those stamps make two runs of the same inputs differ byte for
byte and can leak a user name into a folder that is shared. The runner therefore rewrites
every executed notebook of a run once its stages are done: paths become relative to the
project (``notebooks/<name>``) and the run folder, the timings go (the manifest keeps
each stage's time), and papermill's parameters cell gets a fixed id instead of a random one.
Cell outputs, parameters and the notebook's status are kept as they are.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

__all__ = ["VOLATILE_CELL_KEYS", "normalise_executed_notebook", "normalise_run_notebooks"]

#: Per-cell metadata that says when it ran (papermill's status and exception are kept).
VOLATILE_CELL_KEYS = ("execution",)
_VOLATILE_PAPERMILL_KEYS = ("duration", "start_time", "end_time")


def normalise_executed_notebook(path: Path, run_root: Path) -> bool:
    """Rewrite one executed notebook without paths of this machine or timings.

    Returns:
        Whether the file changed.
    """
    text = path.read_text(encoding="utf-8")
    notebook = nbformat.reads(text, as_version=nbformat.NO_CONVERT)
    papermill = notebook.metadata.get("papermill")
    if papermill is not None:
        for key in _VOLATILE_PAPERMILL_KEYS:
            papermill.pop(key, None)
        if papermill.get("input_path"):
            papermill["input_path"] = f"notebooks/{Path(papermill['input_path']).name}"
        if papermill.get("output_path"):
            papermill["output_path"] = path.relative_to(run_root).as_posix()
        papermill.pop("environment_variables", None)
    for cell in notebook.cells:
        if "injected-parameters" in cell.metadata.get("tags", ()):
            cell["id"] = "injected-parameters"  # papermill draws a random one
        for key in VOLATILE_CELL_KEYS:
            cell.metadata.pop(key, None)
        cell_papermill = cell.metadata.get("papermill")
        if cell_papermill is not None:
            for key in _VOLATILE_PAPERMILL_KEYS:
                cell_papermill.pop(key, None)
    normalised = nbformat.writes(notebook)
    if not normalised.endswith("\n"):
        normalised += "\n"
    if normalised == text:
        return False
    path.write_text(normalised, encoding="utf-8")
    return True


def normalise_run_notebooks(notebooks_dir: Path, run_root: Path) -> int:
    """Normalise every executed notebook under ``notebooks_dir``; returns how many changed."""
    return sum(
        normalise_executed_notebook(path, run_root)
        for path in sorted(Path(notebooks_dir).rglob("*.ipynb"))
    )
