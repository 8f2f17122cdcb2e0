"""Practice statements: the statement notebook executed for every practice in a few kernels.

Each practice's statement is `notebooks/06_practice_statement.ipynb` executed by papermill
with its ``practice_code``, kept in ``notebooks/statements/<code>.ipynb`` so that every
statement can be traced to an executed notebook. Starting a kernel costs twenty times
more than executing a statement, so a few kernels (``report.statement_kernels``, two per
core by default) are started once, in the run folder, and each executes practice after
practice: papermill injects the parameters, executes and writes the notebook as ever, in a
`pcfm.base.live_kernel.LiveKernel` already running, put back before each practice in the
state it started in (`pcfm.base.fresh_state`: namespace emptied, execution count back to 1,
working directory, environment, ``sys.path`` and warning filters restored), so a
statement's cells and outputs are the same, byte for byte, whichever kernel executed it
after whichever practice; only papermill's times and the random id of its parameters cell
differ, as they do from one run to the next. A kernel that dies starting is started
again; a statement that fails stops every kernel after its current practice, with an
error naming the practice and the cell; a kernel that does not start within
``timeouts.kernel_start_s`` or a statement that does not finish within
``timeouts.statement_s`` is killed, and the error names the practice and the limit. Each
kernel is driven from a thread of its own; threads, not processes, because jupyter_client
keeps the ports it hands out per process, so kernels started from separate processes can
collide.

The statements are then put together into one document, one practice per page, which
is faster to render than one document per practice (one start-up, not 127). With Quarto
installed that document is Markdown for pandoc (:func:`statements_markdown`), rendered by
Quarto's own pandoc and Typst without ``quarto render`` (`pcfm.pipeline.render`); without
it, a notebook for nbconvert (:func:`combine_statements`).
"""

from __future__ import annotations

import csv
import os
import queue
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import nbformat
import papermill
from nbformat import NotebookNode

from pcfm.base.kernels import RunKernelManager
from pcfm.base.live_kernel import KERNEL_QUIET, KernelTimeout, LiveKernel, execute_with_retries
from pcfm.params.timeouts import TimeoutParams
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
    """Kernels to run at once: two per core, at most eight.

    A kernel executing one statement after another still spends about half of its time
    waiting on messages to and from this process, so two per core keep the cores busy
    (`benchmarks/bench_statements.py` on two cores: four kernels took 7 to 9 s for 127
    practices, two took 6 to 11 s).
    """
    return max(1, min(8, 2 * (os.cpu_count() or 1)))


def practice_codes(run_dir: Path) -> list[str]:
    """The practices of a run, in the order of ``publishable/allocation.csv``."""
    path = run_dir / "publishable" / "allocation.csv"
    if not path.exists():
        raise StatementError(f"{path}: missing; the statements need the allocation")
    with path.open(encoding="utf-8", newline="") as handle:
        return [row["practice_code"] for row in csv.DictReader(handle)]


def statement_parameters(practice_code: str) -> dict[str, str]:
    """The parameters papermill injects into the statement notebook of one practice."""
    return {"params_path": "params.yml", "run_dir": ".", "practice_code": practice_code}


def statement_path(run_dir: Path, practice_code: str) -> Path:
    """Where the executed statement of one practice is kept."""
    return run_dir / "notebooks" / "statements" / f"{practice_code}.ipynb"


def statement_error(practice_code: str, error: BaseException) -> StatementError:
    """The error of one practice's statement, naming the practice (and the cell, if any)."""
    if isinstance(error, KernelTimeout):
        return StatementError(f"practice statement for {practice_code}: {error}")
    if isinstance(error, papermill.PapermillExecutionError):
        first_line = (error.source or "").strip().splitlines()[:1]
        cell = f"cell [{error.exec_count}]" + (f" ({first_line[0]})" if first_line else "")
        return StatementError(
            f"practice statement for {practice_code} failed in {cell}: "
            f"{error.ename}: {error.evalue}"
        )
    return StatementError(
        f"practice statement for {practice_code} failed: {type(error).__name__}: {error}"
    )


def execute_in_fresh_kernel(notebook: Path, run_dir: Path, practice_code: str) -> Path:
    """Execute one practice's statement as papermill does alone, in a kernel of its own.

    The reference the reused kernels are measured and tested against
    (``benchmarks/bench_statements.py``, ``tests/test_06_statements_and_gate.py``).
    """
    output = statement_path(run_dir, practice_code)
    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        execute_with_retries(
            lambda: papermill.execute_notebook(
                str(notebook),
                str(output),
                parameters=statement_parameters(practice_code),
                kernel_name="python3",
                kernel_manager_class=RunKernelManager,  # IPC in the run's kernel folder
                # the kernel's working directory, without papermill's process-wide chdir
                resources={"metadata": {"path": str(run_dir)}},
                progress_bar=False,
                log_output=False,
                extra_arguments=[KERNEL_QUIET],  # nbclient keeps the history in memory
            )
        )
    except papermill.PapermillExecutionError as error:
        raise statement_error(practice_code, error) from None
    return output


def _kernel_worker(
    run_dir: Path,
    notebook: Path,
    todo: queue.SimpleQueue[str],
    done: queue.SimpleQueue[tuple[str | None, BaseException | None]],
    stop: threading.Event,
    timeouts: TimeoutParams,
) -> None:
    """Start a kernel, execute practices from ``todo`` until none is left, report to ``done``."""
    kernel = LiveKernel(run_dir, timeouts.kernel_start_s, name=threading.current_thread().name)
    code: str | None = None
    try:
        kernel.start()
        while not stop.is_set():
            try:
                code = todo.get_nowait()
            except queue.Empty:
                return
            kernel.execute_notebook(
                notebook,
                statement_path(run_dir, code),
                statement_parameters(code),
                timeouts.statement_s,
                "the statement",
                "timeouts.statement_s",
                request_save_on_cell_execute=False,  # written once, when executed
            )
            done.put((code, None))
            code = None
    except BaseException as error:  # reported to the caller's thread, which raises it
        done.put((code, error))
    finally:
        kernel.shutdown()


def execute_statements(
    run_dir: Path,
    notebook: Path,
    codes: Sequence[str] | None = None,
    workers: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    timeouts: TimeoutParams | None = None,
) -> list[Path]:
    """Execute the statement notebook once per practice, in ``workers`` reused kernels.

    Args:
        run_dir: The run folder (its allocation must already be published).
        notebook: The statement notebook (`notebooks/06_practice_statement.ipynb`).
        codes: Practices to write statements for; every practice of the run by default.
        workers: Kernels at once; :func:`default_workers` by default.
        on_progress: Called after each practice with (practices done, practices in all),
            from the caller's thread.
        timeouts: How long a kernel may take to start and a statement to finish
            (``timeouts``; its defaults if not given). A kernel over its limit is killed.

    Returns:
        The executed notebooks, in the order of ``codes``.

    Raises:
        StatementError: A statement failed (naming the practice and the cell), its kernel
            died or went over its limit; the other kernels stop after the practice they are
            executing.
    """
    run_dir = Path(run_dir)
    timeouts = timeouts or TimeoutParams()
    codes = list(codes) if codes is not None else practice_codes(run_dir)
    (run_dir / "notebooks" / "statements").mkdir(parents=True, exist_ok=True)
    if not codes:
        return []
    workers = min(workers or default_workers(), len(codes))
    todo: queue.SimpleQueue[str] = queue.SimpleQueue()
    for code in codes:
        todo.put(code)
    done: queue.SimpleQueue[tuple[str | None, BaseException | None]] = queue.SimpleQueue()
    stop = threading.Event()
    threads = [
        threading.Thread(
            target=_kernel_worker,
            args=(run_dir, notebook, todo, done, stop, timeouts),
            name=f"pcfm-statement-kernel-{number}",
            daemon=True,
        )
        for number in range(workers)
    ]
    for thread in threads:
        thread.start()
    finished = 0
    try:
        while finished < len(codes):
            try:
                code, error = done.get(timeout=1.0)
            except queue.Empty:
                if done.empty() and not any(thread.is_alive() for thread in threads):
                    raise StatementError(
                        f"practice statements: the kernels stopped after {finished} of "
                        f"{len(codes)} practices"
                    ) from None
                continue
            if error is not None:
                if code is None:
                    if isinstance(error, KernelTimeout):
                        raise StatementError(f"practice statements: {error}") from None
                    raise StatementError(
                        f"practice statements: a kernel could not start: "
                        f"{type(error).__name__}: {error}"
                    ) from error
                raise statement_error(code, error) from (
                    None if isinstance(error, papermill.PapermillExecutionError) else error
                )
            finished += 1
            if on_progress is not None:
                on_progress(finished, len(codes))
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    return [statement_path(run_dir, code) for code in codes]


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
