"""Benchmark: the need-index bootstrap at LLR scale (127 practices, about 200,000 cells).

Prints the time of the bootstrap as the package runs it (``allocation.bootstrap_refit:
newton``, Newton's method from the full-sample fit, with its check against full refits and
the largest difference in need index found) and, as baselines in the same process, the
time per replicate of the old full refit of every replicate (``bootstrap_refit: full``) and
of the plain approach (refit on the stacked resampled cells, predict every cell, rebuild
the tables with pandas), with the ratios. ``--patients`` adds the bootstrap of patients
within practices.

The bootstrap refits through the model's public API (`pcfm.model.PracticeResampler`,
`pcfm.model.NewtonRefitter`).

Run: ``.venv/bin/python benchmarks/bench_bootstrap.py [--replicates N] [--full-replicates N]
[--patients] [--negative-binomial]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from pcfm.allocation.bootstrap import bootstrap_need
from pcfm.allocation.funding import compare_funding
from pcfm.model import PracticeResampler, fit_workload_model
from pcfm.need.weights import practice_need
from pcfm.params.allocation import AllocationParams
from pcfm.params.model import ModelParams

AGE_BANDS = (*(f"{a}-{a + 4}" for a in range(0, 85, 5)), "85+")
LTC_BANDS = ("0", "1", "2", "3", "4+")


def llr_scale_cells(seed: int = 1, n_practices: int = 127) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Synthetic cells shaped like LLR: practices × age–sex × IMD decile × LTC band × new."""
    rng = np.random.default_rng(seed)
    grid = pd.MultiIndex.from_product(
        [range(n_practices), AGE_BANDS, ("F", "M"), range(1, 11), LTC_BANDS, (0, 1)],
        names=["p", "age_band", "sex", "imd_decile", "ltc_band", "newly_registered"],
    ).to_frame(index=False)
    grid["imd_quintile"] = (grid["imd_decile"] + 1) // 2
    position = rng.uniform(0, 1, n_practices)
    quintile_weight = np.exp(-2.0 * np.abs(grid["imd_decile"] / 10 - (1 - position[grid["p"]])))
    band = grid["age_band"].map({b: i for i, b in enumerate(AGE_BANDS)}).to_numpy()
    ltc = grid["ltc_band"].map({b: i for i, b in enumerate(LTC_BANDS)}).to_numpy()
    mean_patients = (
        9.0
        * quintile_weight
        * np.exp(-0.5 * np.abs(ltc - band / 5))
        * np.where(grid["newly_registered"] == 1, 0.1, 1.0)
    )
    grid["patients"] = rng.poisson(mean_patients)
    grid["rate"] = 3.0 * np.exp(0.02 * band) * 1.08 ** (5 - grid["imd_quintile"]) * 1.3**ltc
    cells = grid[grid["patients"] > 0].reset_index(drop=True)
    cells["exposure"] = cells["patients"] * np.where(cells["newly_registered"] == 1, 0.5, 1.0)
    cells["workload"] = rng.poisson(cells["exposure"] * cells.pop("rate")).astype(float)
    cells["practice_code"] = [f"P{p:03d}" for p in cells["p"]]
    cells["age_sex"] = cells["sex"] + ":" + cells["age_band"]
    cells = cells.drop(columns="p")
    registered = cells.groupby("practice_code")["patients"].sum()
    practices = pd.DataFrame(
        {
            "practice_code": registered.index,
            "registered_list": registered.to_numpy(),
            "current_funding_gbp": registered.to_numpy()
            * 160
            * rng.uniform(0.8, 1.2, len(registered)),
        }
    )
    return cells, practices


def plain_replicate(cells, practices, model_params, allocation_params, rng) -> None:
    """One replicate the plain way (the baseline)."""
    resampler = PracticeResampler.for_cells(cells, model_params)
    draw = rng.integers(0, resampler.n_practices, resampler.n_practices)
    model = fit_workload_model(resampler.stacked_sample(draw), model_params)
    need = practice_need(cells, model.predict_rate(cells), practices)
    compare_funding(need, practices, allocation_params)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=500)
    parser.add_argument("--full-replicates", type=int, default=10)
    parser.add_argument("--baseline-replicates", type=int, default=2)
    parser.add_argument(
        "--patients", action="store_true", help="also time resampling patients within practices"
    )
    parser.add_argument(
        "--negative-binomial",
        action="store_true",
        help="also time a negative-binomial fit (no shortcut applies; slow)",
    )
    args = parser.parse_args()

    cells, practices = llr_scale_cells()
    print(
        f"cells: {len(cells):,}; practices: {len(practices)}; patients: {cells['patients'].sum():,}"
    )
    full = ["age_sex", "deprivation", "morbidity", "newly_registered"]
    cases = [
        (["age_sex", "deprivation"], "poisson", "none", "practices"),
        (full, "poisson", "none", "practices"),
        (full, "poisson", "practice_effects", "practices"),
    ]
    if args.patients:
        cases.append((full, "poisson", "practice_effects", "patients_within_practices"))
    if args.negative_binomial:
        cases.append((full, "negative_binomial", "none", "practices"))
    for covariates, family, supply, resample in cases:
        model_params = ModelParams(
            covariates=covariates, family=family, supply_sterilisation=supply
        )
        fast_params = AllocationParams(policy="top_up_to_average", bootstrap_resample=resample)
        full_params = fast_params.model_copy(update={"bootstrap_refit": "full"})
        rng = np.random.default_rng(0)
        start = time.perf_counter()
        for _ in range(args.baseline_replicates):
            plain_replicate(cells, practices, model_params, full_params, rng)
        plain_s = (time.perf_counter() - start) / args.baseline_replicates

        start = time.perf_counter()
        old = bootstrap_need(
            cells, practices, model_params, full_params, args.full_replicates, seed=20250401
        )
        full_s = (time.perf_counter() - start) / old.n_replicates

        start = time.perf_counter()
        result = bootstrap_need(
            cells, practices, model_params, fast_params, args.replicates, seed=20250401
        )
        total_s = time.perf_counter() - start
        per_replicate_s = total_s / result.n_replicates
        check = (
            f"checked against {result.n_checked} full refits, largest need-index difference "
            f"{result.max_check_difference:.1e}"
            if result.n_checked
            else "no check"
        )
        print(
            f"covariates {'+'.join(covariates)}, {family}, supply {supply}, resample "
            f"{resample}: {result.n_replicates} replicates in {total_s:.1f} s "
            f"({per_replicate_s * 1000:.0f} ms each, {result.method}; {check}; failed refits "
            f"{result.n_failed}); old full refit {full_s * 1000:.0f} ms per replicate "
            f"(speed-up x{full_s / per_replicate_s:.1f}); plain {plain_s * 1000:.0f} ms per "
            f"replicate (x{plain_s / per_replicate_s:.1f}); replicates in 60 s: "
            f"{int(60 / per_replicate_s)}"
        )


if __name__ == "__main__":
    main()
