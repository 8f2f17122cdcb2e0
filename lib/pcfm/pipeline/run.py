"""`pcfm run PARAMS.yml`: from a parameter file to a published report.

The run is built in a scratch folder beside ``build/<run-name>/`` and swapped into
place only when every stage has succeeded, so a failed run never leaves a folder that
looks complete and never destroys the previous successful run of the same name. The
last stage is the output checker (`pcfm.base.disclosure.check`): a run whose publishable
files hold a small count or a patient identifier fails.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

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
from pcfm.base.outputs import write_workbook
from pcfm.base.resources import project_dir
from pcfm.params import Params, load_params
from pcfm.pipeline.manifest import RunManifest, hash_inputs, sha256_of
from pcfm.pipeline.render import RenderResult, render_report
from pcfm.report.statement import StatementError
from pcfm.report.statements import execute_statements, execute_with_retries
from pcfm.stages import STATEMENT_NOTEBOOK, stage_notebooks

log = logging.getLogger(__name__)

#: The notebooks of the pipeline, in the order of the stage table (`pcfm.stages`).
NOTEBOOKS = stage_notebooks()

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


def execute_notebook(name: str, folder: RunFolder, project_root: Path) -> None:
    """Execute one notebook with papermill; it receives only the two paths it needs."""
    output = folder.notebooks / name
    try:
        execute_with_retries(
            lambda: papermill.execute_notebook(
                str(project_root / "notebooks" / name),
                str(output),
                parameters={"params_path": folder.params_file.name, "run_dir": "."},
                cwd=str(folder.root),
                kernel_name="python3",
                progress_bar=False,
                log_output=False,
                # the kernel's own start-up warnings are noise on a local run
                extra_arguments=["--IPKernelApp.log_level=ERROR"],
            )
        )
    except papermill.PapermillExecutionError as error:
        raise PipelineError(f"notebook {name} failed: {error.ename}: {error.evalue}") from None


def execute_practice_statements(
    folder: RunFolder, project_root: Path, params: Params
) -> list[Path]:
    """One statement per practice, executed in a few reused kernels (`pcfm.report.statements`)."""
    if not params.report.statements:
        return []
    try:
        return execute_statements(
            folder.root,
            project_root / "notebooks" / STATEMENT_NOTEBOOK,
            workers=params.report.statement_kernels or None,
        )
    except StatementError as error:
        raise PipelineError(str(error)) from None


def check_outputs(folder: RunFolder) -> None:
    """Fail the run if any publishable file holds a small count or a patient identifier."""
    findings = check_run_folder(folder.root)
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
) -> RunResult:
    """Run every stage for one parameter file and swap the finished run into place.

    Args:
        params_path: The YAML parameter file.
        build_root: Where ``<run-name>/`` goes.
        project_root: Where the notebooks and the Quarto project are; by default the ones
            shipped with the package (`pcfm.base.resources.project_dir`).
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
            return _run_locked(params, params_path, build_root, project_root)
    except FolderError as error:
        raise PipelineError(str(error)) from None


def _run_locked(
    params: Params, params_path: Path, build_root: Path, project_root: Path
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
    try:
        with manifest.stage("input"):
            data_dir = prepare_input(params, folder)
            manifest.inputs = hash_inputs(data_dir)
        manifest.write(folder.manifest)  # the appendices notebook reads the provenance
        for name in NOTEBOOKS:
            with manifest.stage(name.removesuffix(".ipynb")):
                log.info("executing %s", name)
                execute_notebook(name, folder, project_root)
        with manifest.stage("statements"):
            log.info("executing the practice statements")
            execute_practice_statements(folder, project_root, params)
        with manifest.stage("workbook"):
            write_workbook(folder.publishable)
        with manifest.stage("render"):
            rendered = render_report(folder, project_root, params.report)
        manifest.write(folder.manifest)
        with manifest.stage("check_outputs"):
            check_outputs(folder)
        manifest.write(folder.manifest)
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
        detail = (
            str(error) if isinstance(error, PipelineError) else f"{type(error).__name__}: {error}"
        )
        raise PipelineError(
            f"{detail}\n(the previous successful run in {final}, if any, is untouched; this "
            f"run's partial outputs are in {failed})"
        ) from error
    swap_into_place(scratch, final, RUN_MARKERS, keep=input_folder)
    return RunResult(final, rendered)
