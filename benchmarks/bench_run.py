"""Benchmark of a whole run at LLR scale, minus rendering (issue 13's speed goals).

Executes the stage notebooks (01 data to 04 allocation, then the three 06 report
notebooks) of ``params/demo.yml`` (1.1 M synthetic patients, 127 practices, 500 bootstrap
replicates) exactly as ``pcfm run`` does, through papermill with the runner's own
`pcfm.pipeline.run.execute_notebook` in one shared kernel, on inputs already on disk, and
prints the total and each stage's time from the run's manifest. The practice statements,
the workbook and the Quarto rendering are left out.

Every time is also a ratio to the baseline measured in the same process: reading the input
Parquet files with pyarrow. The goals (seconds on the project's two-core machine) are the
guides of issue 13.

Run: ``.venv/bin/python benchmarks/bench_run.py [--params params/demo.yml] [--keep DIR]``.
The synthetic inputs are generated once into ``--inputs`` (``build/bench_run_input/``) and
reused by later runs with the same parameters.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

from pcfm.base.folder import RunFolder
from pcfm.base.kernels import run_kernels
from pcfm.base.resources import project_dir
from pcfm.params import load_params
from pcfm.pipeline.manifest import RunManifest
from pcfm.pipeline.run import (
    NOTEBOOKS,
    SINGLE_THREADED,
    SharedKernel,
    execute_notebook,
    prepare_input,
)

ROOT = Path(__file__).resolve().parents[1]

#: Issue 13's guides, seconds per stage at LLR scale (the whole run minus rendering: 30 s).
GOALS_S = {"01_data": 5.0, "02_workload_model": 8.0, "03_need_weights": 2.0, "04_allocation": 10.0}
TOTAL_GOAL_S = 30.0


def read_inputs(data_dir: Path) -> int:
    """The baseline: read every input Parquet file with pyarrow; returns the rows read."""
    return sum(pq.read_table(path).num_rows for path in sorted(data_dir.rglob("*.parquet")))


def cached_inputs(params_path: Path, cache: Path) -> Path:
    """The run's input tables, generated once into ``cache`` (keyed by the parameter file)."""
    params = load_params(params_path).with_absolute_paths()
    if params.data.source != "synthetic":
        return prepare_input(params, RunFolder(Path(tempfile.mkdtemp())))
    key = cache / "params.yml"
    wanted = params.to_yaml()
    if not (key.is_file() and key.read_text(encoding="utf-8") == wanted):
        shutil.rmtree(cache, ignore_errors=True)
        scratch = RunFolder(cache)
        scratch.create()
        prepare_input(params, scratch)
        key.write_text(wanted, encoding="utf-8")
    return RunFolder(cache).input_data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=ROOT / "params" / "demo.yml")
    parser.add_argument("--inputs", type=Path, default=ROOT / "build" / "bench_run_input")
    parser.add_argument("--keep", type=Path, default=None, help="keep the run folder here")
    args = parser.parse_args()

    os.environ.update(SINGLE_THREADED)  # as `pcfm run` does for its kernels
    params = load_params(args.params).with_absolute_paths()
    data_dir = cached_inputs(args.params, args.inputs)

    start_s = time.perf_counter()
    rows = read_inputs(data_dir)
    baseline_s = time.perf_counter() - start_s

    root = args.keep or Path(tempfile.mkdtemp(prefix="pcfm_bench_run_"))
    shutil.rmtree(root, ignore_errors=True)
    folder = RunFolder(root)
    folder.create()
    if params.data.source == "synthetic":  # the runner generates it here; copied, not timed
        shutil.copytree(data_dir, folder.input_data)
    folder.params_file.write_text(params.to_yaml(), encoding="utf-8")
    manifest = RunManifest(
        run_name=params.run_name,
        seed=params.seed,
        parameters=params.model_dump(mode="json"),
        parameter_file={"path": args.params.name, "sha256": ""},
        project_root=project_dir(),
    )
    manifest.write(folder.manifest)
    with run_kernels(), SharedKernel(folder.root) as shared:  # as `pcfm run` does
        for name in NOTEBOOKS:
            with manifest.stage(name.removesuffix(".ipynb")):
                execute_notebook(name, folder, project_dir(), shared)
    manifest.write(folder.manifest)

    stages = json.loads(folder.manifest.read_text(encoding="utf-8"))["stages"]
    total_s = sum(stage["duration_s"] for stage in stages)
    print(
        f"{params.run_name}: {params.data.synthetic.n_patients:,} patients, "
        f"{params.allocation.bootstrap_replicates} bootstrap replicates; "
        f"baseline: pyarrow reads the inputs ({rows:,} rows) in {baseline_s:.2f} s"
    )
    print(f"{'stage':<20} {'time':>8} {'× read':>8} {'goal':>7}")
    for stage in stages:
        goal_s = GOALS_S.get(stage["stage"])
        goal = f"{goal_s:5.0f} s" if goal_s else ""
        print(
            f"{stage['stage']:<20} {stage['duration_s']:6.1f} s "
            f"{stage['duration_s'] / baseline_s:7.1f}× {goal:>7}"
        )
    print(
        f"{'total (no render)':<20} {total_s:6.1f} s {total_s / baseline_s:7.1f}× "
        f"{TOTAL_GOAL_S:5.0f} s  goal {'met' if total_s <= TOTAL_GOAL_S else 'NOT met'}"
    )
    print(f"run folder: {root}")


if __name__ == "__main__":
    main()
