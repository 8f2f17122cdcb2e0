"""Benchmark: the practice statements stage for an LLR-sized ICB (127 practices), goal 20 s.

Times `pcfm.report.statements.execute_statements` as ``pcfm run`` calls it, on a run
folder of 127 practices: a copy of a finished run given with ``--run`` (e.g. ``build/demo``
after ``pcfm run params/demo.yml``), else one built here holding just what the statements
read (a published allocation of 127 synthetic practices, its summary and the parameters).

The baseline, measured in the same process: one statement executed as papermill does
alone, in a kernel of its own (`pcfm.report.statements.execute_in_fresh_kernel`), for the
first few practices one at a time. It prints the stage's time per statement as a ratio to
it. With ``--old`` it also times the stage as it was before kernels were reused: every
practice in a fresh kernel, ``--workers`` kernels at once.

Run: ``.venv/bin/python benchmarks/bench_statements.py [--run DIR] [--practices N]
[--workers N] [--old]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from pcfm.base.folder import RunFolder
from pcfm.base.resources import project_file
from pcfm.pipeline.run import SINGLE_THREADED
from pcfm.report.statements import (
    default_workers,
    execute_in_fresh_kernel,
    execute_statements,
    practice_codes,
)

#: Issue 13's goal for the statements of 127 practices on the project's two-core machine.
GOAL_S = 20.0
BASELINE_PRACTICES = 6


def llr_sized_run(root: Path, n_practices: int, seed: int = 1) -> RunFolder:
    """A run folder holding just what statements read, for ``n_practices`` practices."""
    rng = np.random.default_rng(seed)
    folder = RunFolder(root)
    folder.create()
    registered = rng.integers(2_000, 20_000, n_practices)
    need_index = rng.normal(1.0, 0.12, n_practices).clip(0.6, 1.6)
    need_weighted = registered * need_index
    funding = registered * rng.normal(125.0, 12.0, n_practices)
    per_nwp = funding / need_weighted
    average = funding.sum() / need_weighted.sum()
    ratio = per_nwp / average
    order = np.argsort(ratio)
    category = np.empty(n_practices, dtype=int)
    category[order] = np.arange(n_practices) * 4 // n_practices + 1
    eligible = category <= 2
    allocation = np.where(eligible, (average - per_nwp).clip(0) * need_weighted, 0.0)
    allocation = np.round(allocation * 2_850_000 / allocation.sum(), 2)
    parts = rng.dirichlet([3, 3, 2, 1], n_practices) * (need_index - 1)[:, None]
    table = pd.DataFrame(
        {
            "practice_code": [f"LLR{i:04d}" for i in range(1, n_practices + 1)],
            "practice_name": [f"Practice {i:03d}" for i in range(1, n_practices + 1)],
            "pcn_code": [f"PCN{i % 26:02d}" for i in range(n_practices)],
            "place": np.where(np.arange(n_practices) % 3 == 0, "City", "County"),
            "registered_list": registered,
            "need_weighted_list": need_weighted,
            "need_index": need_index,
            "need_index_low": need_index - 0.03,
            "need_index_high": need_index + 0.03,
            "current_funding_gbp": funding.round(2),
            "funding_per_nwp_gbp": per_nwp,
            "funding_ratio": ratio,
            "category": category,
            "eligible": eligible,
            "p_eligible": np.clip(1.5 - ratio * 0.5 + rng.normal(0, 0.1, n_practices), 0, 1),
            "allocation_gbp": allocation,
            "contribution_age_sex": parts[:, 0],
            "contribution_deprivation": parts[:, 1],
            "contribution_morbidity": parts[:, 2],
            "contribution_other": parts[:, 3],
        }
    )
    table.to_csv(folder.publishable / "allocation.csv", index=False)
    summary = {
        "policy": "top_up_to_average",
        "budget_gbp": 2_850_000.0,
        "allocated_gbp": float(allocation.sum()),
        "unallocated_gbp": 0.0,
        "icb_average_funding_per_nwp_gbp": float(average),
    }
    (folder.publishable / "allocation_summary.json").write_text(json.dumps(summary))
    folder.params_file.write_text("run_name: bench\nallocation:\n  policy: top_up_to_average\n")
    return folder


def fresh_kernel_each(run_dir: Path, notebook: Path, codes: list[str], workers: int) -> None:
    """The stage before kernels were reused: a fresh kernel per practice, ``workers`` at once."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for future in [
            pool.submit(execute_in_fresh_kernel, notebook, run_dir, code) for code in codes
        ]:
            future.result()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=None, help="a finished run folder to copy")
    parser.add_argument("--practices", type=int, default=127, help="without --run")
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--old", action="store_true", help="also time a fresh kernel each")
    args = parser.parse_args()
    os.environ.update(SINGLE_THREADED)  # as `pcfm run` does for its kernels
    notebook = project_file("notebooks", "06_practice_statement.ipynb")
    with tempfile.TemporaryDirectory(prefix="pcfm-bench-statements-") as scratch:
        root = Path(scratch) / "run"
        if args.run:
            shutil.copytree(args.run, root, ignore=shutil.ignore_patterns("statements"))
            where = f"a copy of {args.run}"
        else:
            llr_sized_run(root, args.practices)
            where = "a run folder built for the benchmark"
        codes = practice_codes(root)

        start_s = time.perf_counter()
        for code in codes[:BASELINE_PRACTICES]:
            execute_in_fresh_kernel(notebook, root, code)
        baseline_s = (time.perf_counter() - start_s) / BASELINE_PRACTICES

        old_s = None
        if args.old:
            start_s = time.perf_counter()
            fresh_kernel_each(root, notebook, codes, args.workers)
            old_s = time.perf_counter() - start_s

        start_s = time.perf_counter()
        execute_statements(root, notebook, codes, workers=args.workers)
        stage_s = time.perf_counter() - start_s

    per_statement_s = stage_s / len(codes)
    print(f"practice statements: {len(codes)} practices in {where}, {args.workers} kernels")
    print(f"  baseline: one statement in a fresh kernel of its own: {baseline_s:.2f} s")
    if old_s is not None:
        print(
            f"  before (a fresh kernel each, {args.workers} at once): {old_s:.1f} s, "
            f"{old_s / len(codes) / baseline_s:.2f}× baseline per statement"
        )
    print(
        f"  reused kernels: {stage_s:.1f} s, {per_statement_s:.3f} s per statement, "
        f"{per_statement_s / baseline_s:.2f}× baseline"
        + (f"; {old_s / stage_s:.1f} times faster than before" if old_s else "")
    )
    verdict = "met" if stage_s <= GOAL_S else "NOT met"
    print(f"  goal {GOAL_S:.0f} s for the stage: {verdict}")


if __name__ == "__main__":
    main()
