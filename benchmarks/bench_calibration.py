"""Calibration study: does the workload model recover a known truth, seed after seed?

Repeats, for each seed: generate the project's synthetic ICB (``pcfm.inputs.synthetic``, a
stated true need model with deprivation-correlated supply and overdispersion), aggregate it to
cells exactly as a run does (``pcfm.data.cells.build_cells``), and fit the need model twice —
naive (``supply_sterilisation: none``) and sterilised (``practice_effects``). It prints, for
each fit:

* the coverage of the 95% intervals of every term, over all seeds (should be near 95%);
* the bias of the log rate ratios (mean estimate − truth, with its standard error), for the
  most-deprived quintile and on average over terms;
* the correlation and mean absolute error of the practice need index against the true need
  index, and how many practices fall in another need-index quintile than the truth's.

A benchmark, not a test: it takes minutes. ``--markdown FILE`` also writes the tables as the
methodology's calibration appendix (``methodology/_calibration-study.md``), with the settings
and the date, so the report shows the latest study. Tests keep a few fixed seeds
(``tests/test_02_model_truth.py``, ``tests/test_02_model_synth.py``).

Run: ``.venv/bin/python benchmarks/bench_calibration.py [--seeds 300] [--patients 100000]
[--practices 60] [--markdown methodology/_calibration-study.md]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from pcfm.base.tables import markdown_text
from pcfm.data.cells import build_cells
from pcfm.inputs.synthetic import generate_synthetic_icb
from pcfm.model import fit_workload_model
from pcfm.model.need_index import practice_need
from pcfm.params import params_from_dict
from pcfm.params.model import ALL_COVARIATES, ModelParams

FITS = {"naive (no practice effects)": "none", "sterilised (practice effects)": "practice_effects"}
DEPRIVED = "imd_quintile=1"


def one_seed(seed: int, n_patients: int, n_practices: int) -> list[dict[str, object]]:
    """Both fits on one synthetic ICB: per-term rows and one need-index row per fit."""
    icb = generate_synthetic_icb(seed, n_patients=n_patients, n_practices=n_practices)
    with tempfile.TemporaryDirectory() as folder:
        icb.write(Path(folder))
        cells = build_cells(Path(folder), params_from_dict({"run_name": "calibration"}))
    truth = icb.true_effects.set_index("term")["rate_ratio"]
    true_index = icb.true_need_index.set_index("practice_code")["need_index"]
    rows: list[dict[str, object]] = []
    for label, sterilisation in FITS.items():
        model = fit_workload_model(
            cells, ModelParams(covariates=ALL_COVARIATES, supply_sterilisation=sterilisation)
        )
        table = model.coefficients.assign(truth=lambda t: t["term"].map(truth))
        for term in table.itertuples(index=False):
            rows.append(
                {
                    "kind": "term",
                    "fit": label,
                    "seed": seed,
                    "term": term.term,
                    "covered": term.ci_low <= term.truth <= term.ci_high,
                    "log_error": float(np.log(term.rate_ratio) - np.log(term.truth)),
                }
            )
        need = practice_need(cells, model.predict_rate(cells), icb.practices)
        estimate = need.set_index("practice_code")["need_index"]
        true = true_index.loc[estimate.index]
        rows.append(
            {
                "kind": "need",
                "fit": label,
                "seed": seed,
                "r": float(np.corrcoef(estimate, true)[0, 1]),
                "mae": float((estimate - true).abs().mean()),
                "quintile_moves": int(
                    (
                        pd.qcut(estimate.rank(method="first"), 5, labels=False)
                        != pd.qcut(true.rank(method="first"), 5, labels=False)
                    ).sum()
                ),
            }
        )
    return rows


def summarise(rows: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The study's tables: coverage and bias by fit, and need-index recovery by fit."""
    terms = rows[rows["kind"] == "term"]
    need = rows[rows["kind"] == "need"]
    coverage = []
    for fit, group in terms.groupby("fit", sort=False):
        deprived = group[group["term"] == DEPRIVED]["log_error"]
        coverage.append(
            {
                "fit": fit,
                "terms x seeds": len(group),
                "95% CI coverage": group["covered"].mean(),
                "bias, log RR of IMD quintile 1": deprived.mean(),
                "its standard error": deprived.std(ddof=1) / np.sqrt(len(deprived)),
                "mean |bias| over terms": group.groupby("term")["log_error"].mean().abs().mean(),
            }
        )
    per_term = (
        terms.groupby(["fit", "term"], sort=False)["covered"].mean().unstack("fit").reset_index()
    )
    recovery = (
        need.groupby("fit", sort=False)
        .agg(
            r=("r", "mean"),
            lowest=("r", "min"),
            mae=("mae", "mean"),
            moves=("quintile_moves", "mean"),
        )
        .reset_index()
        .rename(
            columns={
                "r": "r with the true need index",
                "lowest": "lowest r of a seed",
                "mae": "mean absolute error",
                "moves": "practices in another need quintile",
            }
        )
    )
    return {
        "coverage and bias": pd.DataFrame(coverage),
        "need index against the truth": recovery,
        "coverage by term": per_term,
    }


def to_markdown(tables: dict[str, pd.DataFrame], settings: str) -> str:
    """The appendix text: settings, then each table."""
    parts = [
        "<!-- Written by benchmarks/bench_calibration.py --markdown; do not edit by hand. -->",
        "",
        settings,
        "",
    ]
    for name, table in tables.items():
        if name == "coverage by term":
            continue
        parts += [
            f"**{name[:1].upper() + name[1:]}.**",
            "",
            markdown_text(table, ",.3f"),
            "",
        ]
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=300)
    parser.add_argument("--first-seed", type=int, default=1000)
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--practices", type=int, default=60)
    parser.add_argument("--markdown", type=Path, help="also write the appendix to this file")
    args = parser.parse_args()

    start = time.perf_counter()
    rows = []
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    for seed in seeds:
        rows += one_seed(seed, args.patients, args.practices)
    elapsed = time.perf_counter() - start
    tables = summarise(pd.DataFrame(rows))
    for name, table in tables.items():
        print(f"\n{name}")
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    per_seed = elapsed / args.seeds
    print(f"\n{args.seeds} seeds in {elapsed:.1f} s ({per_seed:.1f} s a seed)")
    if args.markdown:
        settings = (
            f"{args.seeds} synthetic ICBs (seeds {seeds.start}–{seeds.stop - 1}), each of "
            f"{args.patients:,} patients in {args.practices} practices, drawn from the stated "
            "true need model with deprivation-correlated supply and overdispersion "
            "(`pcfm.inputs.synthetic`), aggregated to cells as a run does, and fitted with every "
            "covariate, Poisson with errors clustered by practice, without and with practice "
            "effects."
        )
        args.markdown.write_text(to_markdown(tables, settings) + "\n", encoding="utf-8")
        print(f"wrote {args.markdown}")


if __name__ == "__main__":
    main()
