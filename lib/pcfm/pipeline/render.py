"""Rendering a run's report: Quarto when it is installed, nbconvert HTML when it is not.

Four kinds of document come out of one run, all from its executed notebooks:

* the **methodology** book in `_quarto.yml`. Quarto renders it without executing
  anything (``execute: enabled: false``): the Quarto sources are staged in a scratch
  folder inside the run next to a copy of the executed notebooks, so the chapters'
  ``{{< embed ../notebooks/... >}}`` shortcodes resolve to this run;
* the **allocation report** and the **board paper**, each an executed notebook rendered
  alone (`pcfm.report.documents.STANDALONE_DOCUMENTS`);
* the **practice statements**, one executed notebook per practice put together into one
  document with a page per practice.

With Quarto every document is rendered to HTML, PDF (Typst) and Word; without it,
nbconvert writes HTML with the code hidden, captions and alt text kept.

Speed (two cores, LLR scale). A Quarto call is nearly all one process at a time on one
core: pandoc running Quarto's Lua filters, then deno post-processing, then Typst. So the
render is split into independent jobs run side by side (`RENDER_WORKERS`), roughly the
longest first: the book once per format, each in its own copy of the staged project (a
book render cleans its output folder, so formats cannot share one), and the allocation
report and the board paper each in one call. The statements skip ``quarto render``: they
are plain Markdown (no cross-references, figures or callouts), for which Quarto's filters
cost about 30 s of CPU over 127 pages, so Quarto's own pandoc and Typst render them
directly (:func:`render_statements`) with the same house style.
``benchmarks/bench_render.py`` prints the time of each job.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import yaml
from nbconvert import HTMLExporter
from nbformat import NotebookNode

from pcfm.base.folder import RunFolder
from pcfm.base.markdown import escape_markdown
from pcfm.base.style import NHS_BLUE
from pcfm.params.report import ReportParams
from pcfm.report import house_style
from pcfm.report.accessible_html import make_report_accessible
from pcfm.report.documents import (
    STANDALONE_DOCUMENTS,
    STATEMENTS_DOCUMENT,
    Document,
    front_matter,
    read_front_matter,
    set_front_matter,
)
from pcfm.report.house_style import LANGUAGE, DocumentIdentity
from pcfm.report.statements import (
    HTML_PAGE_BREAK,
    QUARTO_PAGE_BREAK,
    combine_statements,
    statements_markdown,
)
from pcfm.report.word_figures import set_figure_alt_text
from pcfm.report.word_tables import tidy_word_tables

#: Files and folders of the Quarto project, relative to the project root.
QUARTO_SOURCES = ("_quarto.yml", "index.qmd", "methodology")

HOW_TO_GET_QUARTO = (
    "Quarto is not on PATH, so the report was rendered as HTML notebooks only. For the full "
    "report (HTML, PDF via Typst, Word) install Quarto by one of: `conda env create -f "
    "environment.yml` (conda-forge quarto); `pip install quarto-cli` on a machine with internet "
    "access; or the installer from https://quarto.org/docs/get-started/ — then run `make report` "
    "again."
)


class RenderError(RuntimeError):
    """Quarto or nbconvert failed to render the report."""


@dataclass(frozen=True)
class RenderResult:
    """How the report was rendered, what was written, and how long each job took (s)."""

    renderer: str
    documents: list[Path]
    message: str
    timings: dict[str, float] = field(default_factory=dict)


def render_workers() -> int:
    """Render jobs at once: one per core (each job keeps one core busy), at least two."""
    return max(2, os.cpu_count() or 1)


#: Render jobs at once (`render_with_quarto`).
RENDER_WORKERS = render_workers()
#: The formats of the book, each rendered by its own ``quarto render --to``.
BOOK_FORMATS = ("html", "typst", "docx")

#: Executed notebooks that are not chapters of the book, kept out of the staged book.
NOT_IN_BOOK = ("statements", *(document.notebook for document in STANDALONE_DOCUMENTS))


#: Called with (documents rendered, documents in all) as the render proceeds.
OnProgress = Callable[[int, int], None]


def render_report(
    folder: RunFolder,
    project_root: Path,
    report: ReportParams,
    on_progress: OnProgress | None = None,
) -> RenderResult:
    """Render every document of the run in ``folder`` into ``folder.report``.

    ``on_progress`` is called after each render job (Quarto) or HTML page (nbconvert).
    """
    quarto = shutil.which("quarto")
    if quarto:
        return render_with_quarto(quarto, folder, project_root, report, on_progress=on_progress)
    return render_with_nbconvert(folder, report, on_progress=on_progress)


def subtitle_of(report: ReportParams) -> str:
    """The subtitle every document carries: the ICB and the financial year."""
    return f"{report.icb_name}, {report.financial_year}"


def statement_notebooks(folder: RunFolder) -> list[Path]:
    """The executed practice statements of the run, in practice order."""
    return sorted((folder.notebooks / "statements").glob("*.ipynb"))


def statements_front_matter(report: ReportParams, formats: dict[str, Any] | None = None) -> str:
    """The front matter of the combined practice statements."""
    return front_matter(
        STATEMENTS_DOCUMENT.title,
        subtitle_of(report),
        report.author,
        toc=True,
        date=report.date_text,
        formats=formats,
    )


def standalone_notebooks(
    folder: RunFolder,
    report: ReportParams,
    page_break: str,
    formats_of: Callable[[Document], dict[str, Any]] | None = None,
    statements: bool = True,
) -> list[tuple[Document, NotebookNode]]:
    """Each stand-alone document of the run as a notebook with this run's front matter.

    ``formats_of`` gives a document's Quarto formats (the house style's, when Quarto
    renders); by default those of `pcfm.report.documents.FORMATS`. ``statements``: include
    the combined practice statements (as one notebook).
    """
    documents = []
    for document in STANDALONE_DOCUMENTS:
        path = folder.notebooks / document.notebook
        if not path.exists():
            continue
        notebook = with_run_alt_text(nbformat.read(path, as_version=4))
        title = str((read_front_matter(notebook) or {}).get("title") or document.title)
        formats = formats_of(document) if formats_of else None
        set_front_matter(
            notebook, title, subtitle_of(report), report.author, report.date_text, formats
        )
        documents.append((document, notebook))
    executed = statement_notebooks(folder) if statements else []
    if executed:
        matter = statements_front_matter(
            report, formats_of(STATEMENTS_DOCUMENT) if formats_of else None
        )
        documents.append((STATEMENTS_DOCUMENT, combine_statements(executed, matter, page_break)))
    return documents


def stage_quarto_project(
    folder: RunFolder, project_root: Path, report: ReportParams, quarto: str
) -> Path:
    """Copy the Quarto sources and this run's executed notebooks into ``<run>/_quarto``.

    The staged ``_quarto.yml`` carries the run's author, ICB and date, and the house style
    (`pcfm.report.house_style`), so the title page and every page describe this run.
    """
    staging = folder.root / "_quarto"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    for name in QUARTO_SOURCES:
        source = project_root / name
        if source.is_dir():
            shutil.copytree(source, staging / name)
        else:
            shutil.copy2(source, staging / name)
    shutil.copytree(
        folder.notebooks, staging / "notebooks", ignore=shutil.ignore_patterns(*NOT_IN_BOOK)
    )
    with_run_alt_text_in(staging / "notebooks")
    config_path = staging / "_quarto.yml"
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    book = config["book"]
    subtitle = f"Methodology and allocation report: {report.icb_name}, {report.financial_year}"
    book["author"] = escape_markdown(report.author)
    book["subtitle"] = escape_markdown(subtitle)
    book["date"] = escape_markdown(report.date_text)
    config["date-format"] = house_style.DATE_FORMAT
    identity = DocumentIdentity(report.icb_name, str(book["title"]), report.date_text)
    formats = config.setdefault("format", {})
    formats.setdefault("html", {}).update(house_style.html_options(toc=True))
    formats.setdefault("typst", {}).update(
        house_style.typst_options(house_style.write_typst_style(staging, identity), None)
    )
    formats.setdefault("docx", {}).update(
        house_style.docx_options(
            house_style.write_word_style(staging, identity, quarto),
            toc=bool(formats.get("docx", {}).get("toc", True)),
        )
    )
    # the book's Typst template (orange-book) takes its main colour from the brand
    config["brand"] = {"color": {"primary": NHS_BLUE}}
    config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return staging


@dataclass(frozen=True)
class QuartoJob:
    """One ``quarto render`` call: what to render, where, in which formats (all: empty)."""

    name: str
    folder: Path
    target: str | None
    formats: tuple[str, ...] = ()


def quarto_environment() -> dict[str, str]:
    """The environment of every Quarto call: this Python for Jupyter (``QUARTO_PYTHON``)."""
    return {**os.environ, "QUARTO_PYTHON": sys.executable}


def run_quarto(quarto: str, job: QuartoJob) -> None:
    """Run one ``quarto render``; a failure becomes a RenderError with Quarto's own words."""
    command = [quarto, "render"] + ([job.target] if job.target else [])
    if job.formats:
        command += ["--to", ",".join(job.formats)]
    done = subprocess.run(
        command, cwd=job.folder, env=quarto_environment(), capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RenderError(
            f"quarto render of {job.name} failed (exit {done.returncode}):\n"
            f"{quarto_errors(done.stderr)}"
        )


def quarto_errors(stderr: str, limit: int = 4000) -> str:
    """The part of Quarto's error output that says what went wrong: its first errors."""
    lines = stderr.splitlines()
    first = next(
        (i for i, line in enumerate(lines) if "error" in line.lower() or "ERROR" in line), 0
    )
    return "\n".join(lines[first:])[:limit]


def run_tool(name: str, command: Sequence[str | os.PathLike[str]], folder: Path) -> None:
    """Run one of Quarto's tools (``quarto pandoc``, ``quarto typst``) in ``folder``."""
    done = subprocess.run(
        [os.fspath(part) for part in command],
        cwd=folder,
        env=quarto_environment(),
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RenderError(f"{name} failed (exit {done.returncode}):\n{done.stderr[-4000:]}")


#: Pandoc metadata of the statements in every format.
STATEMENTS_METADATA: dict[str, Any] = {"lang": LANGUAGE, "toc-title": "Practices"}
#: And in Typst only (pandoc's HTML would take ``fontsize`` too): the house page and type.
STATEMENTS_TYPST_METADATA: dict[str, Any] = {
    "papersize": "a4",
    "margin": dict(house_style.TYPST_MARGIN),
    "fontsize": "10pt",
}


def render_statements(
    quarto: str, markdown: str, folder: Path, identity: DocumentIdentity, stem: str
) -> list[Path]:
    """Render the combined statements to HTML, PDF (Typst) and Word in ``folder``.

    Quarto's pandoc and Typst do the work, without ``quarto render``: the statements are
    plain Markdown, which pandoc alone renders as Quarto would, in a seventh of the time
    (8 s against 60 s at LLR scale, ``benchmarks/bench_render.py``). The PDF has the
    house style, page setup and title block of the documents Quarto renders
    (`pcfm.report.house_style`); the Word file their reference document; the HTML is one
    file with the statements' CSS and a list of practices.
    """
    source = folder / f"{stem}.md"
    source.write_text(markdown, encoding="utf-8")
    metadata = folder / "statements-metadata.yml"
    metadata.write_text(yaml.safe_dump(STATEMENTS_METADATA), encoding="utf-8")
    typst_metadata = folder / "statements-typst.yml"
    typst_metadata.write_text(yaml.safe_dump(STATEMENTS_TYPST_METADATA), encoding="utf-8")
    typst_template, css_header = house_style.write_statements_style(folder)
    includes = [
        *house_style.write_typst_style(folder, identity),
        house_style.write_title_block(folder),
    ]
    reference = house_style.write_word_style(folder, identity, quarto)
    pandoc = [quarto, "pandoc", "-f", "markdown", source.name, "--metadata-file", metadata.name]
    run_tool(
        "pandoc (statements, HTML)",
        [*pandoc, "--standalone", "--toc", "--toc-depth=2", "-H", css_header, "-o", f"{stem}.html"],
        folder,
    )
    run_tool(
        "pandoc (statements, Word)",
        [*pandoc, "--reference-doc", reference, "-o", f"{stem}.docx"],
        folder,
    )
    run_tool(
        "pandoc (statements, Typst)",
        [
            *pandoc,
            "--metadata-file",
            typst_metadata.name,
            "--standalone",
            "--template",
            typst_template,
            *(part for name in includes for part in ("-H", name)),
            "--shift-heading-level-by=-1",
            "-o",
            f"{stem}.typ",
        ],
        folder,
    )
    run_tool(
        "typst (statements)", [quarto, "typst", "compile", f"{stem}.typ", f"{stem}.pdf"], folder
    )
    for scratch in (source, metadata, typst_metadata, folder / f"{stem}.typ"):
        scratch.unlink()
    return [folder / f"{stem}.{suffix}" for suffix in ("html", "pdf", "docx")]


@dataclass(frozen=True)
class RenderJob:
    """One piece of the render that runs by itself, and where it leaves its documents.

    ``outputs`` is the folder whose files are published into the report once every job
    has finished; files named in ``sources`` (inputs, house style) are left behind.
    """

    name: str
    run: Callable[[], object]
    outputs: Path
    sources: frozenset[str] = frozenset()


def run_jobs(
    jobs: Sequence[RenderJob], workers: int, on_progress: OnProgress | None = None
) -> dict[str, float]:
    """Run ``jobs`` ``workers`` at a time, in the order given; the seconds each took.

    The first failure cancels the jobs not yet started and is raised once the running
    ones have finished, so a broken document fails the run without waiting for the rest.
    ``on_progress`` is called after each job that succeeds, with (jobs done, jobs in all).
    """
    timings: dict[str, float] = {}
    lock = threading.Lock()

    def timed(job: RenderJob) -> None:
        start = time.perf_counter()
        job.run()
        with lock:
            timings[job.name] = round(time.perf_counter() - start, 1)
            if on_progress is not None:
                on_progress(len(timings), len(jobs))

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = [pool.submit(timed, job) for job in jobs]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        errors = [f.exception() for f in futures if f in done and f.exception() is not None]
        if errors:
            for future in futures:
                future.cancel()
            raise errors[0]
    return {job.name: timings[job.name] for job in jobs}


def publish(source: Path, target: Path, skip: frozenset[str] = frozenset()) -> None:
    """Move every file and folder of ``source`` into ``target``, merging folders.

    Names in ``skip`` and hidden names (Quarto's ``.quarto`` caches) stay behind.
    """
    target.mkdir(parents=True, exist_ok=True)
    for produced in sorted(source.iterdir()):
        if produced.name in skip or produced.name.startswith("."):
            continue
        destination = target / produced.name
        if produced.is_dir() and destination.is_dir():
            publish(produced, destination)
            continue
        if destination.exists():
            shutil.rmtree(destination) if destination.is_dir() else destination.unlink()
        shutil.move(produced, destination)


def house_formats(
    quarto: str, report: ReportParams, document: Document, job_folder: Path
) -> dict[str, Any]:
    """Make ``job_folder`` with a document's house style files; its Quarto formats."""
    job_folder.mkdir()
    identity = DocumentIdentity(report.icb_name, document.title, report.date_text)
    typst = house_style.typst_options(
        house_style.write_typst_style(job_folder, identity),
        house_style.write_title_block(job_folder),
    )
    return {
        "html": house_style.html_options(toc=True),
        "typst": typst,
        "docx": house_style.docx_options(
            house_style.write_word_style(job_folder, identity, quarto)
        ),
    }


def quarto_jobs(
    quarto: str, folder: RunFolder, project_root: Path, report: ReportParams, scratch: Path
) -> list[RenderJob]:
    """Every job of the report, with its sources staged in ``scratch``.

    Roughly the longest first, so that the workers finish together (at LLR scale, alone:
    the book's HTML 23 s, one page per chapter; its PDF 16 s; the allocation report 17 s;
    the book's Word file 13 s; the board paper 10 s; the statements 8 s).
    """
    staging = stage_quarto_project(folder, project_root, report, quarto)
    book: dict[str, RenderJob] = {}
    for number, fmt in enumerate(BOOK_FORMATS):
        copy = staging if number == 0 else scratch / f"book-{fmt}"
        if number:
            shutil.copytree(staging, copy)
        job = QuartoJob(f"the methodology book ({fmt})", copy, None, (fmt,))
        book[fmt] = RenderJob(job.name, lambda job=job: run_quarto(quarto, job), copy / "_book")

    def styled_formats(document: Document) -> dict[str, Any]:
        return house_formats(quarto, report, document, scratch / document.stem)

    documents: list[RenderJob] = []
    for document, notebook in standalone_notebooks(
        folder, report, QUARTO_PAGE_BREAK, styled_formats, statements=False
    ):
        source = scratch / document.stem / f"{document.stem}.ipynb"
        nbformat.write(notebook, source)
        job = QuartoJob(document.title, source.parent, source.name)
        documents.append(
            RenderJob(
                job.name,
                lambda job=job: run_quarto(quarto, job),
                source.parent,
                frozenset({source.name, *house_style.STYLE_FILES}),
            )
        )
    jobs = [book["html"], book["typst"], *documents[:1], book["docx"], *documents[1:]]
    executed = statement_notebooks(folder)
    if executed:
        stem = STATEMENTS_DOCUMENT.stem
        statements_folder = scratch / stem
        statements_folder.mkdir()
        markdown = statements_markdown(executed, statements_front_matter(report))
        identity = DocumentIdentity(report.icb_name, STATEMENTS_DOCUMENT.title, report.date_text)
        jobs.append(
            RenderJob(
                STATEMENTS_DOCUMENT.title,
                lambda: render_statements(quarto, markdown, statements_folder, identity, stem),
                statements_folder,
                house_style.STYLE_FILES,
            )
        )
    return jobs


def render_with_quarto(
    quarto: str,
    folder: RunFolder,
    project_root: Path,
    report: ReportParams,
    workers: int | None = None,
    on_progress: OnProgress | None = None,
) -> RenderResult:
    """Render the book and every stand-alone document to HTML, PDF and Word.

    The jobs (:func:`quarto_jobs`) run ``workers`` at a time (`RENDER_WORKERS` by default);
    their documents are published into ``folder.report`` when all have succeeded.
    ``on_progress`` is called after each job.
    """
    with tempfile.TemporaryDirectory(prefix="pcfm-render-") as scratch:
        jobs = quarto_jobs(quarto, folder, project_root, report, Path(scratch))
        timings = run_jobs(jobs, workers or RENDER_WORKERS, on_progress)
        if folder.report.exists():
            shutil.rmtree(folder.report)
        for job in jobs:
            publish(job.outputs, folder.report, job.sources)
        shutil.rmtree(folder.root / "_quarto")
    without_build_paths(folder.report, folder.root / "_quarto")
    make_report_accessible(folder.report)
    documents = sorted(
        p for p in folder.report.rglob("*") if p.suffix in {".html", ".pdf", ".docx"}
    )
    alt_by_label = figure_alt_texts(folder.notebooks)
    for document in documents:
        if document.suffix == ".docx":  # Quarto frames captioned tables: make them real again
            tidy_word_tables(document)
            set_figure_alt_text(document, alt_by_label)  # and leaves pictures undescribed
    return RenderResult(
        "quarto", documents, f"Quarto rendered {len(documents)} documents.", timings
    )


def without_build_paths(report_dir: Path, staging: Path) -> int:
    """Take the staging folder's absolute path out of the rendered HTML; returns files changed.

    Quarto marks every embedded notebook cell with the notebook's absolute path
    (``data-notebook="/…/build/.<run>.<random>.partial/_quarto/notebooks/…"``): a path of
    this machine, which names the user and changes on every run. It is written relative to
    the run folder instead (``notebooks/…``, where the executed notebooks are kept).
    """
    prefixes = sorted(
        {f"{staging.absolute().as_posix()}/", f"{staging.resolve().as_posix()}/"},
        key=len,
        reverse=True,
    )
    changed = 0
    for page in sorted(report_dir.rglob("*.html")):
        text = page.read_text(encoding="utf-8")
        cleaned = text
        for prefix in prefixes:
            cleaned = cleaned.replace(prefix, "")
        if cleaned != text:
            page.write_text(cleaned, encoding="utf-8")
            changed += 1
    return changed


_CELL_OPTION = re.compile(r"^#\|\s*([a-z-]+):\s*(.*)$", re.MULTILINE)
_FIG_ALT_OPTION = re.compile(r"^#\|\s*fig-alt:.*$", re.MULTILINE)


def run_alt_text(cell: NotebookNode) -> str | None:
    """The alt text a figure cell's output carries from the run (`pcfm.base.style.show_figure`)."""
    for output in cell.get("outputs", []):
        alt = output.get("metadata", {}).get("image/png", {}).get("alt")
        if alt:
            return str(alt)
    return None


def with_run_alt_text(notebook: NotebookNode) -> NotebookNode:
    """``notebook`` with each figure's ``fig-alt`` option replaced by the alt text its
    output carries: written from this run's published numbers (the finding included), which
    a cell option fixed in the notebook's source cannot be. Changes ``notebook`` in place."""
    for cell in notebook.cells:
        alt = run_alt_text(cell) if cell.cell_type == "code" else None
        if alt is None:
            continue
        line = f"#| fig-alt: {json.dumps(alt, ensure_ascii=False)}"
        if _FIG_ALT_OPTION.search(cell.source):
            cell.source = _FIG_ALT_OPTION.sub(lambda _, line=line: line, cell.source, count=1)
        else:
            cell.source = f"{line}\n{cell.source}"
    return notebook


def figure_alt_texts(notebooks: Path) -> dict[str, str]:
    """Each figure's alt text by its label, from the run's executed notebooks (the run's
    own alt text where a figure has one, else its ``fig-alt`` option)."""
    alts: dict[str, str] = {}
    for path in sorted(notebooks.glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "code":
                continue
            options = cell_options(cell.source)
            label = options.get("label", "")
            alt = run_alt_text(cell) or options.get("fig-alt")
            if label.startswith("fig-") and alt:
                alts[label] = alt
    return alts


def with_run_alt_text_in(folder: Path) -> None:
    """:func:`with_run_alt_text` on every notebook in ``folder`` (the staged book's)."""
    for path in sorted(folder.glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        nbformat.write(with_run_alt_text(notebook), path)


def cell_options(source: str) -> dict[str, str]:
    """The ``#| key: value`` options of a code cell (values unquoted)."""
    options = {}
    for key, value in _CELL_OPTION.findall(source):
        try:
            loaded = yaml.safe_load(value)
        except yaml.YAMLError:
            loaded = value
        options[key] = str(loaded)
    return options


#: A fenced div's opening or closing line (``::: {.landscape}``, ``:::``): Quarto markup.
_DIV_FENCE = re.compile(r"^:::+.*$", re.MULTILINE)
#: A fenced div with a title (a callout): without Quarto its title becomes a bold line.
_TITLED_DIV = re.compile(r'^:::+\s*\{[^}\n]*title="([^"\n]*)"[^}\n]*\}[ \t]*$', re.MULTILINE)
_HEADING_ID = re.compile(r"^(#+ .*?)[ \t]*\{#([A-Za-z0-9_-]+)[^}]*\}[ \t]*$", re.MULTILINE)
_REFERENCE = re.compile(r"(?<![\w@/.-])@((?:fig|tbl|sec)-[A-Za-z0-9_-]*[A-Za-z0-9])")


def reference_names(notebook: NotebookNode) -> dict[str, str]:
    """What Quarto would call each label: 'Table 2', 'Figure 1', or a section's title."""
    names: dict[str, str] = {}
    counters = {"tbl": 0, "fig": 0}
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            for title, identifier in _HEADING_ID.findall(cell.source):
                names[identifier] = f"“{title.lstrip('#').strip()}”"
        elif cell.cell_type == "code":
            label = cell_options(cell.source).get("label", "")
            kind = label.split("-", 1)[0]
            if kind in counters:
                counters[kind] += 1
                names[label] = f"{'Table' if kind == 'tbl' else 'Figure'} {counters[kind]}"
    return names


def for_html(notebook: NotebookNode) -> NotebookNode:
    """A copy readable without Quarto: the front matter as a title, captions and alt text.

    Figures become ``<figure>`` elements with their ``fig-alt`` as alt text and
    ``fig-cap`` as caption; tables get their ``tbl-cap`` above them; tables and figures
    are numbered as Quarto numbers them, and cross-references and heading ids written
    for Quarto become plain words.
    """
    notebook = with_run_alt_text(nbformat.from_dict(notebook))
    names = reference_names(notebook)

    def resolve(text: str) -> str:
        text = _TITLED_DIV.sub(lambda match: f"**{match.group(1)}**", text)
        text = _DIV_FENCE.sub("", text).replace(QUARTO_PAGE_BREAK, HTML_PAGE_BREAK)
        text = _HEADING_ID.sub(lambda match: match.group(1), text)
        return _REFERENCE.sub(lambda match: names.get(match.group(1), match.group(0)), text)

    matter = read_front_matter(notebook)
    notebook.metadata["title"] = page_title(notebook, matter)
    if matter is not None:
        heading = f"# {matter.get('title', '')}"
        if matter.get("subtitle"):
            heading += f"\n\n*{matter['subtitle']}*"
        if matter.get("author"):
            heading += f"\n\n{matter['author']}"
        notebook.cells[0] = nbformat.v4.new_markdown_cell(heading)
        notebook.cells[0]["id"] = "title"
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            cell.source = resolve(cell.source)
            continue
        if cell.cell_type != "code":
            continue
        options = cell_options(cell.source)
        number = names.get(options.get("label", ""), "")
        outputs = []
        for output in cell.get("outputs", []):
            image = output.get("data", {}).get("image/png")
            if image and "fig-cap" in options:
                alt = html.escape(options.get("fig-alt", options["fig-cap"]), quote=True)
                caption = html.escape(options["fig-cap"])
                figure_html = (
                    f'<figure><img src="data:image/png;base64,{image.strip()}" alt="{alt}" '
                    f'style="max-width:100%"><figcaption><em>{number or "Figure"}: {caption}'
                    "</em></figcaption></figure>"
                )
                output = nbformat.v4.new_output("display_data", data={"text/html": figure_html})
            elif "tbl-cap" in options and output.get("data", {}).get("text/markdown"):
                caption = html.escape(f"{number or 'Table'}: {options['tbl-cap']}")
                outputs.append(  # made the table's <caption> by pcfm.report.accessible_html
                    nbformat.v4.new_output(
                        "display_data",
                        data={"text/html": f'<p class="pcfm-table-caption">{caption}</p>'},
                    )
                )
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                continue
            markdown = output.get("data", {}).get("text/markdown")
            if isinstance(markdown, str):
                output["data"]["text/markdown"] = resolve(markdown)
            outputs.append(output)
        cell.outputs = outputs
    return notebook


def page_title(notebook: NotebookNode, matter: dict[str, Any] | None) -> str:
    """A page's title: its front matter's, else its first heading's (nbconvert: "Notebook")."""
    if matter and matter.get("title"):
        return str(matter["title"])
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            heading = re.search(r"^#+\s+(.+?)\s*(?:\{[^}]*\})?\s*$", cell.source, re.MULTILINE)
            if heading:
                return heading.group(1)
    return "Primary Care Funding Model"


#: nbconvert's lab template with no script from the web (`templates/nbconvert/pcfm-html`).
NBCONVERT_TEMPLATES = Path(house_style.TEMPLATES) / "nbconvert"


def _html_exporter() -> HTMLExporter:
    return HTMLExporter(
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        extra_template_basedirs=[str(NBCONVERT_TEMPLATES)],
        template_name="pcfm-html",
    )


def export_html(notebook: NotebookNode, target: Path, exporter: HTMLExporter, name: str) -> Path:
    """Write one notebook as HTML (code hidden); nbconvert failures become RenderError."""
    try:
        body, _ = exporter.from_notebook_node(for_html(notebook))
    except Exception as error:  # nbconvert raises many types; report them all the same way
        raise RenderError(f"nbconvert failed on {name}: {error}") from error
    target.write_text(body, encoding="utf-8")
    return target


def render_with_nbconvert(
    folder: RunFolder, report: ReportParams | None = None, on_progress: OnProgress | None = None
) -> RenderResult:
    """An HTML page per document (code hidden) and an index page linking them.

    ``on_progress`` is called after each page, with (pages written, pages in all).
    """
    report = report or ReportParams()
    exporter = _html_exporter()
    folder.report.mkdir(parents=True, exist_ok=True)
    standalone = {document.notebook for document in STANDALONE_DOCUMENTS}
    chapters = [p for p in sorted(folder.notebooks.glob("*.ipynb")) if p.name not in standalone]
    documents = standalone_notebooks(folder, report, HTML_PAGE_BREAK)
    pages = len(chapters) + len(documents)

    def written(path: Path) -> Path:
        if on_progress is not None:
            on_progress(len(methodology) + len(others) + 1, pages)
        return path

    methodology: list[Path] = []
    others: list[tuple[Document, Path]] = []
    for notebook_path in chapters:
        notebook = nbformat.read(notebook_path, as_version=4)
        target = folder.report / f"{notebook_path.stem}.html"
        methodology.append(written(export_html(notebook, target, exporter, notebook_path.name)))
    for document, notebook in documents:
        target = folder.report / f"{document.stem}.html"
        others.append(
            (document, written(export_html(notebook, target, exporter, document.notebook)))
        )
    document_links = "\n".join(
        f'<li><a href="{path.name}">{html.escape(document.title)}</a></li>'
        for document, path in others
    )
    methodology_links = "\n".join(
        f'<li><a href="{p.name}">{html.escape(p.stem.replace("_", " "))}</a></li>'
        for p in methodology
    )
    index = folder.report / "index.html"
    index.write_text(
        f"<!DOCTYPE html>\n<html lang='{LANGUAGE}'><head><meta charset='utf-8'>"
        f"<title>Primary Care Funding Model: {html.escape(subtitle_of(report))}</title>"
        "<style>body{font-family:Arial,sans-serif;max-width:50em;margin:2em auto;"
        "color:#231f20}h1{color:#005eb8}</style></head>"
        f"<body><h1>Primary Care Funding Model</h1>\n<p>{html.escape(subtitle_of(report))}</p>"
        f"\n<h2>Documents</h2>\n<ul>\n{document_links}\n</ul>"
        f"\n<h2>Methodology (executed notebooks)</h2>\n<ul>\n{methodology_links}\n</ul>"
        f"\n<p>{HOW_TO_GET_QUARTO}</p></body></html>\n",
        encoding="utf-8",
    )
    make_report_accessible(folder.report)
    return RenderResult(
        "nbconvert", [index, *methodology, *(path for _, path in others)], HOW_TO_GET_QUARTO
    )
