"""Benchmark: rendering an LLR-sized run with Quarto (HTML, PDF via Typst, Word), target 60 s.

Renders copies of a finished run (127 practices): ``--run DIR``, else ``build/demo`` when
``make report`` has made it, else a run of ``params/demo.yml`` built first in a temporary
folder (about 5 minutes). It times, in the same process:

* the baseline: every render job of the package alone, one after another, which gives the
  time of each document (the book once per format) and their sum, the render without
  parallel jobs;
* the package's way: `pcfm.pipeline.render.render_with_quarto`, the same jobs side by
  side (``--workers``, default `RENDER_WORKERS`);
* for reference, the practice statements through ``quarto render`` (as they were rendered
  before), against the package's statements by pandoc and Typst alone
  (``--skip-quarto-statements`` leaves it out: about 40 s).

It prints each time, the CPU seconds of the programs started (Quarto, pandoc, Typst), the
ratio of the parallel render to the baseline, and whether it is within the target. Wall
times depend on what else the machine runs, so the load average is printed too. Without
Quarto (``PCFM_QUARTO`` or ``quarto`` on PATH) it says so and exits.

Run: ``.venv/bin/python benchmarks/bench_render.py [--run DIR] [--workers N]``
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import nbformat

from pcfm.base.folder import RunFolder
from pcfm.base.resources import project_dir
from pcfm.params import load_params
from pcfm.pipeline.render import (
    RENDER_WORKERS,
    QuartoJob,
    house_formats,
    quarto_jobs,
    render_with_quarto,
    run_jobs,
    run_quarto,
    statement_notebooks,
    statements_front_matter,
)
from pcfm.pipeline.run import run_pipeline
from pcfm.report.documents import STATEMENTS_DOCUMENT
from pcfm.report.statements import QUARTO_PAGE_BREAK, combine_statements
from pcfm.report.word_style import quarto_or_none

#: The repository (for params/ and build/; the shipped project files come from project_dir).
PROJECT_ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 60.0


def children_cpu_s() -> float:
    """CPU seconds used so far by every finished child process (Quarto and its tools)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measured(step: Callable[[], object]) -> tuple[float, float]:
    """Wall and child-CPU seconds of ``step``."""
    cpu, start = children_cpu_s(), time.perf_counter()
    step()
    return time.perf_counter() - start, children_cpu_s() - cpu


def is_finished_run(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds what the render reads: parameters and executed notebooks."""
    return (run_dir / "params.yml").exists() and any((run_dir / "notebooks").glob("0*.ipynb"))


def finished_run(requested: Path | None, scratch: Path) -> Path:
    """The run to render: the one asked for, ``build/demo``, or a new one of params/demo.yml."""
    if requested is not None:
        if not is_finished_run(requested):
            raise SystemExit(f"{requested}: not a finished run (no params.yml or notebooks)")
        return requested
    demo = PROJECT_ROOT / "build" / "demo"
    if is_finished_run(demo):
        return demo
    print("no finished run in build/demo: running params/demo.yml first (about 5 minutes)")
    return run_pipeline(PROJECT_ROOT / "params" / "demo.yml", build_root=scratch).run_dir


def copy_of(run_dir: Path, scratch: Path, name: str) -> RunFolder:
    """A copy of the run to render into (rendering replaces its report folder)."""
    target = scratch / name
    shutil.copytree(run_dir, target, ignore=shutil.ignore_patterns("report", "_quarto"))
    (target / "report").mkdir()
    return RunFolder(target)


def quarto_statements(quarto: str, folder: RunFolder, scratch: Path) -> None:
    """The statements as one notebook through ``quarto render``, as they were rendered before."""
    report = load_params(folder.params_file).report
    job_folder = scratch / "statements-through-quarto"
    formats = house_formats(quarto, report, STATEMENTS_DOCUMENT, job_folder)
    notebook = combine_statements(
        statement_notebooks(folder),
        statements_front_matter(report, formats),
        QUARTO_PAGE_BREAK,
    )
    source = job_folder / f"{STATEMENTS_DOCUMENT.stem}.ipynb"
    nbformat.write(notebook, source)
    run_quarto(quarto, QuartoJob("the statements through quarto render", job_folder, source.name))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=None, help="a finished run folder")
    parser.add_argument("--workers", type=int, default=RENDER_WORKERS, help="jobs at once")
    parser.add_argument("--skip-quarto-statements", action="store_true")
    args = parser.parse_args()
    quarto = quarto_or_none()
    if quarto is None:
        print("bench_render: skipped, Quarto is not installed (set PCFM_QUARTO or put quarto")
        print("  on PATH; `make quarto` installs it where ../shared/tools/quarto exists)")
        return
    with tempfile.TemporaryDirectory(prefix="pcfm-bench-render-") as name:
        scratch = Path(name)
        run_dir = finished_run(args.run, scratch)
        report = load_params(run_dir / "params.yml").report
        practices = len(statement_notebooks(RunFolder(run_dir)))
        print(f"render of {run_dir} ({practices} practice statements) with {quarto}")
        print(f"  {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start")

        folder = copy_of(run_dir, scratch, "one-at-a-time")
        (scratch / "jobs").mkdir()
        jobs = quarto_jobs(quarto, folder, project_dir(), report, scratch / "jobs")
        baseline: dict[str, float] = {}
        baseline_wall, baseline_cpu = measured(lambda: baseline.update(run_jobs(jobs, 1)))
        print("  baseline, each job alone, one after another:")
        for job, seconds in baseline.items():
            print(f"    {job}: {seconds:.1f} s")
        print(f"    in all: {baseline_wall:.1f} s ({baseline_cpu:.0f} s of CPU)")

        folder = copy_of(run_dir, scratch, "package")
        timings: dict[str, float] = {}
        wall, cpu = measured(
            lambda: timings.update(
                render_with_quarto(quarto, folder, project_dir(), report, args.workers).timings
            )
        )
        print(f"  the package's render, {args.workers} jobs at once:")
        for job, seconds in timings.items():
            print(f"    {job}: {seconds:.1f} s (side by side)")
        print(
            f"    in all: {wall:.1f} s ({cpu:.0f} s of CPU), "
            f"ratio to baseline {wall / baseline_wall:.2f}"
        )

        if not args.skip_quarto_statements:
            folder = copy_of(run_dir, scratch, "statements")
            quarto_wall, _ = measured(lambda: quarto_statements(quarto, folder, scratch))
            ours = baseline[STATEMENTS_DOCUMENT.title]
            print(
                f"  statements through quarto render: {quarto_wall:.1f} s, against "
                f"{ours:.1f} s by pandoc and Typst (ratio {ours / quarto_wall:.2f})"
            )
    verdict = "within" if wall <= TARGET_S else "OVER"
    print(f"  render {wall:.1f} s: {verdict} the {TARGET_S:.0f} s target")


if __name__ == "__main__":
    main()
