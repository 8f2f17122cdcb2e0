"""Benchmark: practice statements for an LLR-sized ICB (127 practices), target under 3 minutes.

Builds, in a temporary folder, what the statement stage reads from a run (the published
allocation of 127 synthetic practices, its summary and the parameters), then times:

* the baseline, in the same process: statements executed one kernel at a time for the
  first few practices, giving the time per statement without parallel kernels;
* the package's way: every statement, several kernels at once
  (`pcfm.report.statements.execute_statements`), then the combined HTML document.

It prints both, their ratio (per statement), and whether all statements fit in 3 minutes.

Run: ``.venv/bin/python benchmarks/bench_statements.py [--practices N] [--workers N]``
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from pcfm.base.folder import RunFolder
from pcfm.base.resources import project_file
from pcfm.params.report import ReportParams
from pcfm.pipeline.render import HTMLExporter, export_html, standalone_notebooks
from pcfm.report.statements import HTML_PAGE_BREAK, default_workers, execute_statements

TARGET_S = 180.0
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--practices", type=int, default=127)
    parser.add_argument("--workers", type=int, default=default_workers())
    args = parser.parse_args()
    notebook = project_file("notebooks", "06_practice_statement.ipynb")
    with tempfile.TemporaryDirectory(prefix="pcfm-bench-statements-") as scratch:
        folder = llr_sized_run(Path(scratch) / "run", args.practices)
        codes = pd.read_csv(folder.publishable / "allocation.csv")["practice_code"].tolist()

        start = time.perf_counter()
        execute_statements(folder.root, notebook, codes[:BASELINE_PRACTICES], workers=1)
        baseline_per_statement_s = (time.perf_counter() - start) / BASELINE_PRACTICES

        start = time.perf_counter()
        execute_statements(folder.root, notebook, codes, workers=args.workers)
        statements_s = time.perf_counter() - start

        start = time.perf_counter()
        documents = standalone_notebooks(folder, ReportParams(), HTML_PAGE_BREAK)
        for document, combined in documents:
            export_html(combined, folder.report / f"{document.stem}.html", HTMLExporter(), "x")
        html_s = time.perf_counter() - start

    per_statement_s = statements_s / len(codes)
    total_s = statements_s + html_s
    print(f"practice statements: {len(codes)} practices, {args.workers} kernels at once")
    print(f"  baseline (one kernel at a time): {baseline_per_statement_s:.2f} s per statement")
    print(
        f"  parallel: {statements_s:.1f} s in all, {per_statement_s:.2f} s per statement "
        f"(ratio to baseline {per_statement_s / baseline_per_statement_s:.2f})"
    )
    print(f"  combined HTML document: {html_s:.1f} s")
    verdict = "within" if total_s < TARGET_S else "OVER"
    print(f"  total {total_s:.1f} s: {verdict} the {TARGET_S:.0f} s target")


if __name__ == "__main__":
    main()
