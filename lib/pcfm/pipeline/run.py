"""`pcfm run PARAMS.yml`: from a parameter file to a published report.

The run is built in a scratch folder beside ``build/<run-name>/`` and swapped into
place only when every stage has succeeded, so a failed run never leaves a folder that
looks complete and never destroys the previous successful run of the same name. The
last stage is the output checker (`pcfm.base.disclosure.check`): a run whose publishable
files hold a small count or a patient identifier fails.

While it works, the run tells a display (`pcfm.pipeline.progress`) each stage it starts and
ends and how far its long steps have got, and writes its own log, ``run.log`` at the root of
the run folder (`pcfm.pipeline.runlog`). Its kernels are started in a private folder of the
run's own, over IPC where the machine has it (`pcfm.base.kernels`), so two runs at once
cannot take each other's ports.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import nbformat
import papermill

from pcfm.base.disclosure.check import check_run_folder
from pcfm.base.folder import (
    RUN_MARKERS,
    FolderError,
    RunFolder,
    check_replaceable,
    exclusive_lock,
    recover_interrupted_swap,
    remove_stale_scratch,
    swap_into_place,
)
from pcfm.base.kernels import RunKernelManager, run_kernels
from pcfm.base.live_kernel import KernelTimeout, LiveKernel, execute_with_retries
from pcfm.base.outputs import write_workbook
from pcfm.base.progress_file import ProgressWatcher
from pcfm.base.resources import project_dir
from pcfm.data.contract import input_files
from pcfm.params import Params, load_params
from pcfm.params.timeouts import TimeoutParams
from pcfm.pipeline.executed import normalise_run_notebooks
from pcfm.pipeline.manifest import RunManifest, hash_inputs, pcfm_version, sha256_of
from pcfm.pipeline.progress import ProgressCallback, RunDisplay
from pcfm.pipeline.render import RenderResult, render_report
from pcfm.pipeline.runlog import LOG_ONLY, RUN_LOG, place_names, run_log
from pcfm.report.statement import StatementError
from pcfm.report.statements import execute_statements
from pcfm.stages import STATEMENT_NOTEBOOK, stage_notebooks

log = logging.getLogger(__name__)

#: The notebooks of the pipeline, in the order of the stage table (`pcfm.stages`).
NOTEBOOKS = stage_notebooks()
#: The stages of a run in order, as the manifest, the display and the log name them.
RUN_STAGES = (
    "input",
    *(name.removesuffix(".ipynb") for name in NOTEBOOKS),
    "statements",
    "workbook",
    "render",
    "check_outputs",
)

#: Findings of the output checker listed in a failed run's message (all are in the log).
FINDINGS_SHOWN = 20


class PipelineError(RuntimeError):
    """A run that failed; the message says which stage and where to look."""


@dataclass(frozen=True)
class RunResult:
    """Where a successful run's outputs are and how the report was rendered."""

    run_dir: Path
    render: RenderResult


def prepare_input(params: Params, folder: RunFolder) -> Path:
    """Make the input data available and return its folder.

    A synthetic run generates its ICB from the seed into the run's restricted area; a
    folder run reads the adopting ICB's own tables where they are.
    """
    if params.data.source == "synthetic":
        from pcfm.inputs.synthetic import write_synthetic_icb

        write_synthetic_icb(
            folder.input_data,
            seed=params.seed,
            n_patients=params.data.synthetic.n_patients,
            n_practices=params.data.synthetic.n_practices,
        )
        return folder.input_data
    data_dir = params.data.folder
    if data_dir is None or not data_dir.is_dir():
        raise PipelineError(
            f"{params.source_path}: data.folder: {data_dir} is not a folder (see the README for "
            "how to make the LLR-public input with `pcfm synth --from-public`)"
        )
    return data_dir


#: The kernels run linear algebra on one thread: multi-threaded BLAS sums in a different
#: order from run to run, which would change the last digits of published numbers.
SINGLE_THREADED = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def first_line(source: str) -> str:
    """The first line of a cell that says what it does (not a ``#|`` Quarto option)."""
    lines = [line.strip() for line in source.splitlines() if line.strip()]
    meaningful = [line for line in lines if not line.startswith("#|")]
    return (meaningful or lines or [""])[0]


def source_cell_index(notebook: Path, error: papermill.PapermillExecutionError) -> int:
    """Where the failed cell is in the notebook as written (papermill counts its own cells).

    Papermill's index counts the parameters cell it injects, and the executed notebook has its
    error banners too; the source notebook is what a reader opens, so the index is there.
    """
    try:
        cells = nbformat.read(notebook, as_version=4).cells
    except (OSError, ValueError):
        return error.cell_index
    matches = [number for number, cell in enumerate(cells) if cell.source == error.source]
    return matches[0] if len(matches) == 1 else error.cell_index


def cell_failure(name: str, index: int, error: papermill.PapermillExecutionError) -> str:
    """Which cell of which notebook failed, and how: for the message of a failed run."""
    line = first_line(error.source)
    if len(line) > 80:
        line = line[:77] + "..."
    return f"notebook {name} failed in cell {index} (`{line}`): {error.ename}: {error.evalue}"


class SharedKernel:
    """One kernel for every stage notebook of a run, started when first needed.

    Starting a kernel and importing pandas, matplotlib, statsmodels and pcfm into it takes a
    few seconds, seven times a run; the stage notebooks are thin and hand over only files, so
    they run one after another in one `pcfm.base.live_kernel.LiveKernel`, put back before
    each one as it started (`pcfm.base.fresh_state`: namespace, working directory,
    environment, ``sys.path``, warning filters), as the practice statements do.
    """

    def __init__(self, run_dir: Path, timeouts: TimeoutParams | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.timeouts = timeouts or TimeoutParams()
        self._kernel: LiveKernel | None = None

    def kernel(self) -> LiveKernel:
        """The running kernel, started in the run folder on first use."""
        if self._kernel is None:
            kernel = LiveKernel(self.run_dir, self.timeouts.kernel_start_s, name="stage-kernel")
            self._kernel = kernel
            kernel.start()
        return self._kernel

    def __enter__(self) -> SharedKernel:
        return self

    def __exit__(self, *exc: object) -> None:
        kernel, self._kernel = self._kernel, None
        if kernel is not None:
            kernel.shutdown()


def execute_notebook(
    name: str,
    folder: RunFolder,
    project_root: Path,
    shared: SharedKernel | None = None,
    limit_s: float | None = None,
) -> None:
    """Execute one notebook with papermill; it receives only the two paths it needs.

    With ``shared``, in that run's one kernel (reset first); otherwise in a kernel of its own.

    Args:
        limit_s: Seconds the notebook may run (``timeouts.notebook_s``); no limit if None.

    Raises:
        PipelineError: A cell raised; the message names the notebook, the cell (its index
            in ``notebooks/<name>``, counting from 0 as nbformat does, and its first line)
            and the error. The traceback is in the run's log. Or the kernel did not start,
            reset or finish the notebook within its limit (it is then killed).
    """
    source = project_root / "notebooks" / name
    output = folder.notebooks / name
    parameters = {"params_path": folder.params_file.name, "run_dir": "."}
    try:
        if shared is not None:
            shared.kernel().execute_notebook(
                source,
                output,
                parameters,
                limit_s=limit_s,
                what=f"notebook {name}",
                setting="timeouts.notebook_s",
            )
            return
        execute_with_retries(
            lambda: papermill.execute_notebook(
                str(source),
                str(output),
                parameters=parameters,
                cwd=str(folder.root),
                kernel_name="python3",
                kernel_manager_class=RunKernelManager,  # IPC, output to the log
                progress_bar=False,
                log_output=False,
                execution_timeout=limit_s,  # nbclient's limit per cell
                # the kernel's own start-up warnings are noise on a local run
                extra_arguments=["--IPKernelApp.log_level=ERROR"],
            )
        )
    except papermill.PapermillExecutionError as error:
        traceback = _ANSI_ESCAPE.sub("", "\n".join(error.traceback or []))
        index = source_cell_index(source, error)
        log.debug("%s, cell %d: traceback:\n%s", name, index, traceback)
        raise PipelineError(cell_failure(name, index, error)) from None
    except KernelTimeout as error:
        raise PipelineError(str(error)) from None
    except TimeoutError as error:  # nbclient's limit in a kernel of the notebook's own
        raise PipelineError(
            f"notebook {name} did not finish within {limit_s:g} s (timeouts.notebook_s): {error}"
        ) from None


def execute_practice_statements(
    folder: RunFolder,
    project_root: Path,
    params: Params,
    on_progress: ProgressCallback | None = None,
) -> list[Path]:
    """One statement per practice, executed in a few reused kernels (`pcfm.report.statements`)."""
    if not params.report.statements:
        return []
    try:
        return execute_statements(
            folder.root,
            project_root / "notebooks" / STATEMENT_NOTEBOOK,
            workers=params.report.statement_kernels or None,
            on_progress=on_progress,
            timeouts=params.timeouts,
        )
    except StatementError as error:
        raise PipelineError(str(error)) from None


def check_outputs(folder: RunFolder, on_progress: ProgressCallback | None = None) -> None:
    """Fail the run if any publishable file holds a small count or a patient identifier."""
    findings = check_run_folder(folder.root, on_progress=on_progress)
    for finding in findings:
        log.error("check-outputs: %s", finding)
    if findings:
        shown = "\n  ".join(str(f) for f in findings[:FINDINGS_SHOWN])
        more = (
            f"\n  … and {len(findings) - FINDINGS_SHOWN} more"
            if len(findings) > FINDINGS_SHOWN
            else ""
        )
        raise PipelineError(
            f"check-outputs found {len(findings)} disclosure problem(s) in the publishable "
            f"files:\n  {shown}{more}"
        )


def run_pipeline(
    params_path: str | Path,
    build_root: str | Path = "build",
    project_root: Path | None = None,
    display: RunDisplay | None = None,
) -> RunResult:
    """Run every stage for one parameter file and swap the finished run into place.

    Args:
        params_path: The YAML parameter file.
        build_root: Where ``<run-name>/`` goes.
        project_root: Where the notebooks and the Quarto project are; by default the ones
            shipped with the package (`pcfm.base.resources.project_dir`).
        display: What to tell about the stages as they run (`pcfm.pipeline.progress`);
            by default nothing. The run's log is written either way.
    """
    project_root = project_root or project_dir()
    params_path = Path(params_path)
    params = load_params(params_path).with_absolute_paths()
    for variable, value in SINGLE_THREADED.items():  # inherited by every kernel started below
        os.environ[variable] = value
    build_root = Path(build_root)
    build_root.mkdir(parents=True, exist_ok=True)
    try:
        with exclusive_lock(
            build_root / f".{params.run_name}.lock", f"a run named {params.run_name!r}"
        ):
            return _run_locked(
                params, params_path, build_root, project_root, display or RunDisplay()
            )
    except FolderError as error:
        raise PipelineError(str(error)) from None


class _Stages:
    """Each stage of one run, timed in the manifest, shown on the display, written to the log."""

    def __init__(self, manifest: RunManifest, display: RunDisplay) -> None:
        self.manifest = manifest
        self.display = display
        self.current: str | None = None

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Run one stage of :data:`RUN_STAGES`; a failure is shown and logged, then raised."""
        number = RUN_STAGES.index(name) + 1
        self.current = name
        self.display.stage_started(name, number, len(RUN_STAGES))
        log.info("stage %d/%d %s: started", number, len(RUN_STAGES), name)
        start = time.perf_counter()
        try:
            with self.manifest.stage(name):
                yield
        except BaseException:
            elapsed = time.perf_counter() - start
            self.display.stage_finished(name, elapsed, ok=False)
            log.info("stage %s: failed after %.1f s", name, elapsed)
            raise
        elapsed = time.perf_counter() - start
        self.display.stage_finished(name, elapsed, ok=True)
        log.info("stage %s: done in %.1f s", name, elapsed)
        self.current = None

    def counter(self, unit: str) -> ProgressCallback:
        """The progress callback of the running stage's counted work."""
        return self.display.counter(unit)


def _run_locked(
    params: Params,
    params_path: Path,
    build_root: Path,
    project_root: Path,
    display: RunDisplay,
) -> RunResult:
    """The run itself, while this process holds the lock of its name."""
    final = build_root / params.run_name
    recover_interrupted_swap(final)
    input_folder = params.data.folder if params.data.source == "folder" else None
    check_replaceable(final, RUN_MARKERS, keep=input_folder)  # before any work
    remove_stale_scratch(build_root, params.run_name)
    scratch = Path(
        tempfile.mkdtemp(prefix=f".{params.run_name}.", suffix=".partial", dir=build_root)
    )
    folder = RunFolder(scratch)
    folder.create()
    folder.params_file.write_text(params.to_yaml(), encoding="utf-8")
    manifest = RunManifest(
        run_name=params.run_name,
        seed=params.seed,
        parameters=params.model_dump(mode="json"),
        parameter_file={"path": params_path.name, "sha256": sha256_of(params_path)},
        project_root=project_root,
    )
    stages = _Stages(manifest, display)
    places = place_names(build_root, project_root, input_folder)
    try:
        with run_log(folder.root / RUN_LOG, places), run_kernels():
            try:
                log.info(
                    "pcfm run %s: run %r, seed %d, parameters %s",
                    pcfm_version(),
                    params.run_name,
                    params.seed,
                    params_path.name,
                )
                rendered = _run_stages(params, folder, project_root, manifest, stages)
            except BaseException as error:
                # the command line says so in its own words: here, for the log only
                log.error(
                    "run failed in stage %s: %s", stages.current, _describe(error), extra=LOG_ONLY
                )
                if not isinstance(error, PipelineError | KeyboardInterrupt):
                    log.debug("traceback of the failure", exc_info=error)
                raise
            log.info("run complete: %s", params.run_name)
    except BaseException as error:
        failed = build_root / f".{params.run_name}.failed"
        if failed.exists():
            shutil.rmtree(failed)
        scratch.rename(failed)
        (failed / "FAILED.txt").write_text(
            "This run failed and is kept only to look into why; it is not a report.\n"
            f"{type(error).__name__}: {error}\n",
            encoding="utf-8",
        )
        if isinstance(error, KeyboardInterrupt):
            raise
        where = f"stage {stages.current}: " if stages.current else ""
        raise PipelineError(
            f"{where}{_describe(error)}\n(the previous successful run in {final}, if any, is "
            f"untouched; this run's partial outputs are in {failed}, its log in "
            f"{failed / RUN_LOG})"
        ) from error
    swap_into_place(scratch, final, RUN_MARKERS, keep=input_folder)
    return RunResult(final, rendered)


def input_bytes(data_dir: Path) -> int:
    """The size of the files a run reads, which its notebooks' time limit scales with."""
    return sum(path.stat().st_size for path in input_files(data_dir))


def _describe(error: BaseException) -> str:
    """A failure in words: a PipelineError's own message, else the type and message."""
    return str(error) if isinstance(error, PipelineError) else f"{type(error).__name__}: {error}"


def _run_stages(
    params: Params,
    folder: RunFolder,
    project_root: Path,
    manifest: RunManifest,
    stages: _Stages,
) -> RenderResult:
    """Every stage of :data:`RUN_STAGES`, in order, in the run folder ``folder``."""
    with stages.stage("input"):
        data_dir = prepare_input(params, folder)
        manifest.inputs = hash_inputs(data_dir)
        limit_s = params.timeouts.notebook_limit_s(input_bytes(data_dir))
    manifest.write(folder.manifest)  # the appendices notebook reads the provenance
    with SharedKernel(folder.root, params.timeouts) as shared:
        for name in NOTEBOOKS:
            with (
                stages.stage(name.removesuffix(".ipynb")),
                ProgressWatcher(folder.root, stages.counter),  # a counted step's bar
            ):
                log.info("executing %s (at most %d s)", name, limit_s)
                execute_notebook(name, folder, project_root, shared, limit_s)
    with stages.stage("statements"):
        log.info("executing the practice statements")
        execute_practice_statements(folder, project_root, params, stages.counter("practices"))
    with stages.stage("workbook"):
        # The executed notebooks without this machine's paths or timings (reruns match).
        normalise_run_notebooks(folder.notebooks, folder.root)
        write_workbook(folder.publishable)
    with stages.stage("render"):
        rendered = render_report(
            folder, project_root, params.report, on_progress=stages.counter("documents")
        )
        for job, seconds in rendered.timings.items():
            log.debug("render: %s took %.1f s", job, seconds)
    manifest.write(folder.manifest)
    with stages.stage("check_outputs"):
        check_outputs(folder, stages.counter("files"))
    manifest.write(folder.manifest)
    return rendered
