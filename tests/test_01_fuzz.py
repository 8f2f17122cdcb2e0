"""Fuzzing the input tables: every mutated folder is either cleanly rejected or a valid input.

The tiny synthetic ICB's four tables are mutated under a fixed seed, a bounded number of
times: values (extremes, not-a-number, text, dates out of the year), types (booleans,
text, fractions, dates where numbers belong), columns and rows dropped or repeated,
encodings (Latin-1, UTF-16, semicolons, NUL bytes) and files cut short. For each folder,
``pcfm validate`` either exits 1 with a short message naming a file and no traceback, or
exits 0 and stage 01 (`pcfm.data.stage.run_data_stage`, the body of notebook 01) then builds
cells and a practice table of finite numbers. One rejected folder also goes through
``pcfm run`` itself, to show the run fails naming the file and keeps the previous run.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _quick_run import skip_the_heavy_stages

from pcfm.base.context import RunContext
from pcfm.base.folder import RunFolder
from pcfm.cli import main
from pcfm.data.contract import TABLES
from pcfm.data.stage import run_data_stage
from pcfm.inputs.synthetic import write_synthetic_icb

pytestmark = pytest.mark.integration

SEED = 14
#: Mutated folders per run of the test: enough to meet every kind a few times, within CI's
#: minute (each is validated in well under a second).
CASES = 36
#: Values a hostile or careless extract holds.
HOSTILE = (
    -1,
    0,
    0.5,
    130,
    2**63,
    1e20,
    1e308,
    -1e308,
    math.nan,
    math.inf,
    "",
    "abc",
    "1,5",
    " 12 ",
    "NULL",
    "é",
    "1900-01-01",
    "2099-12-31",
    True,
)
STEMS = tuple(TABLES)
TEXT_COLUMNS = {c.name for t in TABLES.values() for c in t.columns if c.dtype == "string"}


@pytest.fixture(scope="module")
def clean_tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    folder = tmp_path_factory.mktemp("synthetic")
    write_synthetic_icb(folder, seed=7, n_patients=600, n_practices=4)
    return {stem: pd.read_parquet(folder / f"{stem}.parquet") for stem in STEMS}


def _write(frame: pd.DataFrame, path: Path) -> None:
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
        return
    try:
        frame.to_parquet(path, index=False)
    except (TypeError, ValueError, OverflowError):  # a column of mixed types: as text
        frame.astype({c: str for c in frame.columns if frame[c].dtype == object}).to_parquet(
            path, index=False
        )


def _hostile_values(rng, frame, stem):
    column = str(rng.choice(frame.columns))
    rows = rng.choice(len(frame), size=min(len(frame), int(rng.integers(1, 6))), replace=False)
    value = HOSTILE[int(rng.integers(len(HOSTILE)))]
    frame[column] = frame[column].astype(object)
    frame.loc[frame.index[rows], column] = value
    return frame, f"{stem}.{column} = {value!r} in {len(rows)} rows"


def _wrong_type(rng, frame, stem):
    numeric = [c for c in frame.columns if c not in TEXT_COLUMNS]
    column = str(rng.choice(numeric or list(frame.columns)))
    kind = str(rng.choice(["bool", "str", "fraction", "date"]))
    if kind == "bool":
        frame[column] = pd.to_numeric(frame[column], errors="coerce").fillna(0) > 0
    elif kind == "str":
        frame[column] = frame[column].astype(str)
    elif kind == "fraction":
        frame[column] = pd.to_numeric(frame[column], errors="coerce") + 0.25
    else:
        frame[column] = pd.Timestamp("2024-06-01")
    return frame, f"{stem}.{column} as {kind}"


def _drop_column(rng, frame, stem):
    column = str(rng.choice(frame.columns))
    return frame.drop(columns=column), f"{stem}: no {column}"


def _rows(rng, frame, stem):
    kind = str(rng.choice(["repeat", "drop", "none"]))
    if kind == "repeat":
        frame = pd.concat([frame, frame.sample(n=min(3, len(frame)), random_state=1)])
    elif kind == "drop":
        frame = frame.iloc[max(1, len(frame) // 3) :]
    else:
        frame = frame.iloc[:0]
    return frame.reset_index(drop=True), f"{stem}: rows {kind}"


MUTATIONS: tuple[Callable, ...] = (_hostile_values, _wrong_type, _drop_column, _rows)


def _mutate_bytes(rng, path: Path) -> str:
    """An encoding broken or the file cut short, after it was written."""
    data = path.read_bytes()
    kind = str(rng.choice(["truncate", "empty", "nul", "latin1", "utf16", "semicolon"]))
    if path.suffix != ".csv" and kind in ("latin1", "utf16", "semicolon"):
        kind = "truncate"
    if kind == "truncate":
        path.write_bytes(data[: int(rng.integers(1, max(2, len(data))))])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "nul":
        middle = len(data) // 2
        path.write_bytes(data[:middle] + b"\x00" + data[middle:])
    elif kind == "latin1":
        text = data.decode("utf-8").splitlines(keepends=True)
        text.insert(2, text[1].replace(",", ",é", 1))
        path.write_bytes("".join(text).encode("latin-1"))
    elif kind == "utf16":
        path.write_bytes(data.decode("utf-8").encode("utf-16"))
    else:
        path.write_bytes(data.replace(b",", b";"))
    return f"{path.name}: {kind}"


def _mutated_folder(rng, clean: dict[str, pd.DataFrame], folder: Path) -> str:
    folder.mkdir(parents=True)
    fmt = str(rng.choice(["csv", "parquet"]))
    tables = {stem: frame.copy() for stem, frame in clean.items()}
    target = str(rng.choice(STEMS))
    by_bytes = rng.random() < 0.25
    what = ""
    if not by_bytes:
        mutation = MUTATIONS[int(rng.integers(len(MUTATIONS)))]
        tables[target], what = mutation(rng, tables[target], target)
    for stem, frame in tables.items():
        _write(frame, folder / f"{stem}.{fmt}")
    if by_bytes:
        what = _mutate_bytes(rng, folder / f"{target}.{fmt}")
    return what


def _params(folder: Path, data: Path, run_name: str = "fuzz") -> Path:
    path = folder / f"{run_name}.yml"
    path.write_text(
        f"run_name: {run_name}\nseed: 7\ndata:\n  source: folder\n  folder: {data}\n"
        "model:\n  supply_sterilisation: none\nreport:\n  statements: false\n",
        encoding="utf-8",
    )
    return path


def _assert_clean_rejection(err: str, what: str) -> None:
    assert err.startswith("pcfm: error: "), what
    assert "Traceback" not in err, what
    assert any(f"{stem}." in err for stem in STEMS), f"{what}: no file named in {err!r}"
    assert len(err.splitlines()) <= 30 and max(map(len, err.splitlines())) < 600, what


def test_mutated_tables_are_cleanly_rejected_or_valid(
    clean_tables: dict[str, pd.DataFrame],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rng = np.random.default_rng(SEED)
    outcomes = {"rejected": 0, "accepted": 0}
    for case in range(CASES):
        data = tmp_path / f"case{case:02d}"
        what = _mutated_folder(rng, clean_tables, data)
        params = _params(tmp_path, data)
        code = main(["validate", "--data", str(data), "--params", str(params)])
        err = capsys.readouterr().err
        assert code in (0, 1), what
        if code == 1:
            _assert_clean_rejection(err, what)
            outcomes["rejected"] += 1
            continue
        # accepted: stage 01 must make cells and practices of finite numbers from it
        run_dir = tmp_path / f"run{case:02d}"
        RunFolder(run_dir).create()
        result = run_data_stage(RunContext.open(params, run_dir))
        cells = pd.read_parquet(run_dir / "restricted" / "cells.parquet")
        practices = pd.read_parquet(run_dir / "restricted" / "practices.parquet")
        for frame in (cells, practices, result.summary_by_place):
            numbers = frame.select_dtypes("number").to_numpy(dtype=float)
            assert np.isfinite(numbers).all(), what
        assert (cells["exposure"] > 0).all() and (cells["exposure"] <= cells["patients"]).all()
        outcomes["accepted"] += 1
        shutil.rmtree(run_dir)
    # the fuzz meets both outcomes, so neither check is vacuous
    assert outcomes["rejected"] >= CASES // 2 and outcomes["accepted"] >= 1, outcomes


def test_a_rejected_folder_fails_the_run_by_name_and_keeps_the_previous_run(
    clean_tables: dict[str, pd.DataFrame],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    build = tmp_path / "build"
    data = tmp_path / "data"
    data.mkdir()
    for stem, frame in clean_tables.items():
        frame.to_parquet(data / f"{stem}.parquet", index=False)
    params = _params(tmp_path, data)
    with monkeypatch.context() as quick:  # a previous successful run of the same name
        skip_the_heavy_stages(quick)
        assert main(["run", "-q", str(params), "--build-root", str(build)]) == 0
    previous = (build / "fuzz" / "manifest.json").read_bytes()
    practices = clean_tables["practices"].copy()
    practices.loc[0, "current_funding_gbp"] = 1e308
    practices.to_parquet(data / "practices.parquet", index=False)
    capsys.readouterr()
    assert main(["run", "-q", str(params), "--build-root", str(build)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("pcfm: run failed: stage 01_data: notebook 01_data.ipynb failed")
    assert "practices.parquet: column current_funding_gbp: 1 row out of range" in err
    assert "Traceback" not in err
    assert (build / "fuzz" / "manifest.json").read_bytes() == previous
