"""Practice statements: the statement notebook executed once per practice, in parallel.

Each practice's statement is `notebooks/06_practice_statement.ipynb` executed by papermill
with its ``practice_code``, kept in ``notebooks/statements/<code>.ipynb`` so that every
statement can be traced to an executed notebook. Starting a kernel dominates the time,
and it mostly waits on the disk and the other kernels, so several kernels run at once,
each driven from a thread. Threads, not processes: jupyter_client keeps the ports it
hands out per process, so kernels started from separate processes can collide on a
port. Papermill's ``cwd`` argument is not used because it changes the working directory
of the whole process (shared by the threads); the kernel is started in the run folder
through nbclient's ``resources`` instead.

The statements are then put together into one document, one practice per page, which
is faster to render than one document per practice (one start-up, not 127). With Quarto
installed that document is Markdown for pandoc (:func:`statements_markdown`), rendered by
Quarto's own pandoc and Typst without ``quarto render`` (`pcfm.pipeline.render`); without
it, a notebook for nbconvert (:func:`combine_statements`).
"""

from __future__ import annotations

import csv
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import nbformat
import papermill
from nbformat import NotebookNode

from pcfm.base.kernels import RunKernelManager
from pcfm.report.statement import StatementError

#: Quarto's page break, understood by its HTML, Typst and Word writers.
QUARTO_PAGE_BREAK = "{{< pagebreak >}}"
#: A page break for browsers printing the nbconvert HTML.
HTML_PAGE_BREAK = '<div style="break-after: page; page-break-after: always;"></div>'
#: A page break for pandoc: a raw block per format, each kept only by its own writer, as
#: Quarto's shortcode becomes. Pandoc alone knows no shortcodes (and in a ``quarto render``
#: to Typst, 127 shortcodes cost 13 s in a Markdown pass that reads them slowly).
PANDOC_PAGE_BREAK = "\n\n".join(
    (
        "```{=typst}\n#pagebreak()\n```",
        f"```{{=html}}\n{HTML_PAGE_BREAK}\n```",
        '```{=openxml}\n<w:p><w:r><w:br w:type="page"/></w:r></w:p>\n```',
    )
)


def default_workers() -> int:
    """Kernels to run at once: two per core, at most eight (kernels mostly wait)."""
    return max(1, min(8, 2 * (os.cpu_count() or 1)))


def practice_codes(run_dir: Path) -> list[str]:
    """The practices of a run, in the order of ``publishable/allocation.csv``."""
    path = run_dir / "publishable" / "allocation.csv"
    if not path.exists():
        raise StatementError(f"{path}: missing; the statements need the allocation")
    with path.open(encoding="utf-8", newline="") as handle:
        return [row["practice_code"] for row in csv.DictReader(handle)]


#: Attempts to start a kernel: another process can take the TCP port jupyter_client picked
#: for a kernel before the kernel binds it, and the kernel then dies on start-up.
KERNEL_START_ATTEMPTS = 3


def is_kernel_start_failure(error: BaseException) -> bool:
    """Whether an error is a kernel that died starting (worth a retry), not a notebook error."""
    return isinstance(error, RuntimeError) and "Kernel died before replying" in str(error)


def execute_with_retries(execute: Callable[[], object]) -> None:
    """Run ``execute`` (a papermill call), retrying when the kernel died starting."""
    for attempt in range(1, KERNEL_START_ATTEMPTS + 1):
        try:
            execute()
            return
        except RuntimeError as error:
            if attempt == KERNEL_START_ATTEMPTS or not is_kernel_start_failure(error):
                raise
            time.sleep(0.2 * attempt)


def execute_statement(notebook: Path, run_dir: Path, practice_code: str) -> Path:
    """Execute the statement notebook for one practice; return the executed notebook."""
    output = run_dir / "notebooks" / "statements" / f"{practice_code}.ipynb"
    try:
        execute_with_retries(
            lambda: papermill.execute_notebook(
                str(notebook),
                str(output),
                parameters={
                    "params_path": "params.yml",
                    "run_dir": ".",
                    "practice_code": practice_code,
                },
                kernel_name="python3",
                kernel_manager_class=RunKernelManager,  # IPC in the run's kernel folder
                # the kernel's working directory, without papermill's process-wide chdir
                resources={"metadata": {"path": str(run_dir)}},
                progress_bar=False,
                log_output=False,
                extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
            )
        )
    except papermill.PapermillExecutionError as error:
        raise StatementError(
            f"practice statement for {practice_code} failed: {error.ename}: {error.evalue}"
        ) from None
    return output


def execute_statements(
    run_dir: Path,
    notebook: Path,
    codes: Sequence[str] | None = None,
    workers: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> list[Path]:
    """Execute the statement notebook once per practice, ``workers`` kernels at a time.

    Args:
        run_dir: The run folder (its allocation must already be published).
        notebook: The statement notebook (`notebooks/06_practice_statement.ipynb`).
        codes: Practices to write statements for; every practice of the run by default.
        workers: Kernels at once; :func:`default_workers` by default.
        on_progress: Called after each practice with (statements done, statements in all).

    Returns:
        The executed notebooks, in the order of ``codes``.
    """
    run_dir = Path(run_dir)
    codes = list(codes) if codes is not None else practice_codes(run_dir)
    (run_dir / "notebooks" / "statements").mkdir(parents=True, exist_ok=True)
    if not codes:
        return []
    workers = min(workers or default_workers(), len(codes))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(execute_statement, notebook, run_dir, code) for code in codes]
        if on_progress is not None:
            for done, _ in enumerate(as_completed(futures), start=1):
                on_progress(done, len(codes))
        return [future.result() for future in futures]


def statement_markdown_of(executed: Path) -> str:
    """The Markdown a statement notebook displayed (its last Markdown output)."""
    notebook = nbformat.read(executed, as_version=4)
    for cell in reversed(notebook.cells):
        for output in reversed(cell.get("outputs", [])):
            markdown = output.get("data", {}).get("text/markdown")
            if markdown:
                return markdown if isinstance(markdown, str) else "".join(markdown)
    raise StatementError(f"{executed.name}: the statement notebook displayed no statement")


def combine_statements(
    executed: Sequence[Path], front_matter: str, page_break: str = QUARTO_PAGE_BREAK
) -> NotebookNode:
    """One document of every statement, a page each, as a notebook of Markdown cells.

    Args:
        executed: The executed statement notebooks, in the order to show them.
        front_matter: Quarto YAML front matter (with its ``---`` lines) for the document.
        page_break: What separates two statements: :data:`QUARTO_PAGE_BREAK` for Quarto,
            :data:`HTML_PAGE_BREAK` for nbconvert HTML.
    """
    cells = [nbformat.v4.new_raw_cell(front_matter)]
    for number, path in enumerate(executed):
        if number:
            cells.append(nbformat.v4.new_markdown_cell(page_break))
        cells.append(nbformat.v4.new_markdown_cell(statement_markdown_of(path)))
    document = nbformat.v4.new_notebook(cells=cells)
    document.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    for number, cell in enumerate(document.cells):
        cell["id"] = f"cell-{number}"
    return document


def statements_markdown(
    executed: Sequence[Path], front_matter: str, page_break: str = PANDOC_PAGE_BREAK
) -> str:
    """One Markdown document of every statement, a page each, for pandoc.

    Args:
        executed: The executed statement notebooks, in the order to show them.
        front_matter: YAML front matter (with its ``---`` lines) for the document.
        page_break: What separates two statements.
    """
    pages = [statement_markdown_of(path).strip() for path in executed]
    return f"{front_matter}\n\n" + f"\n\n{page_break}\n\n".join(pages) + "\n"
