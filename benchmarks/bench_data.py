"""Benchmark the data stage at LLR scale: generate, validate and aggregate to cells.

Prints the time of each step and its ratio to a baseline measured in the same process: the
time for pyarrow to read the same Parquet files. Validation and aggregation should be limited by
reading the files, so their ratios say how much work beyond reading they do.

Usage::

    .venv/bin/python benchmarks/bench_data.py                # 1.1 million patients
    .venv/bin/python benchmarks/bench_data.py --patients 100000
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq

from pcfm.inputs.synthetic import generate_synthetic_icb
from pcfm.params import params_from_dict

STEMS = ("patients", "activity", "practices", "areas")


def _timed(step: Callable[[], object]) -> tuple[float, object]:
    start_s = time.perf_counter()
    result = step()
    return time.perf_counter() - start_s, result


def _read_all(data_dir: Path) -> int:
    """The baseline: read every contract table with pyarrow; returns the rows read."""
    return sum(pq.read_table(data_dir / f"{stem}.parquet").num_rows for stem in STEMS)


def _optional(module: str, name: str) -> Callable | None:
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as error:
        print(f"  (skipped {module}.{name}: {error})")
        return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=1_100_000, help="patients to generate")
    parser.add_argument("--practices", type=int, default=127, help="practices to generate")
    parser.add_argument("--seed", type=int, default=20250401, help="random seed")
    parser.add_argument("--out", type=Path, default=None, help="folder to keep the data in")
    args = parser.parse_args(argv)

    data_dir = args.out or Path(tempfile.mkdtemp(prefix="pcfm_bench_"))
    params = params_from_dict({
        "run_name": "bench",
        "model": {"covariates": ["age_sex", "deprivation", "morbidity", "newly_registered",
                                 "care_home", "interpreter_needed"]},
    })  # fmt: skip
    try:
        generate_s, icb = _timed(
            lambda: generate_synthetic_icb(args.seed, args.patients, args.practices)
        )
        write_s, _ = _timed(lambda: icb.write(data_dir))
        n_patients, n_appointments = len(icb.patients), len(icb.activity)
        icb = None  # free the frames before reading the files back
        _read_all(data_dir)  # warm the file cache so the baseline and the steps compare fairly
        baseline_s, rows = _timed(lambda: _read_all(data_dir))

        timings: list[tuple[str, float]] = [
            ("generate (in memory)", generate_s),
            ("write Parquet + truth", write_s),
        ]
        validate_folder = _optional("pcfm.data.validate", "validate_folder")
        if validate_folder is not None:
            timings.append(
                ("validate_folder", _timed(lambda: validate_folder(data_dir, params.data))[0])
            )
        build_cells = _optional("pcfm.data.cells", "build_cells")
        if build_cells is not None:
            seconds, cells = _timed(lambda: build_cells(data_dir, params))
            timings.append((f"build_cells ({len(cells):,} cells)", seconds))

        size_mb = sum(p.stat().st_size for p in data_dir.rglob("*") if p.is_file()) / 1e6
        print(f"pcfm data benchmark: {n_patients:,} patients, {args.practices:,} practices, "
              f"{n_appointments:,} appointments, {size_mb:.1f} MB on disk")  # fmt: skip
        print(f"baseline: pyarrow reads the 4 tables ({rows:,} rows) in {baseline_s:.2f} s")
        print(f"{'step':<34}{'seconds':>9}{'x baseline':>12}")
        for name, seconds in timings:
            print(f"{name:<34}{seconds:>9.2f}{seconds / baseline_s:>12.1f}")
    finally:
        if args.out is None:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
