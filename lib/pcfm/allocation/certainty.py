"""Whether a practice's eligibility is robust or uncertain: decided once, here, for every document.

Two sources of doubt are weighed. The bootstrap (`pcfm.allocation.bootstrap`) gives each
practice ``p_eligible``, the share of replicates in which it is eligible; the sensitivity
analysis (`pcfm.allocation.sensitivity`) gives its eligibility under each alternative
specification, declared credible or a benchmark. A practice's eligibility is **robust** when

* it is eligible in the run and in at least ``allocation.uncertain_high`` of the replicates
  (``p_eligible >= uncertain_high``), or not eligible in the run and in at most
  ``allocation.uncertain_low`` of them (``p_eligible <= uncertain_low``; with the default
  band 0.1–0.9 this is "not eligible in at least 90% of replicates"), **and**
* it has the same eligibility under every credible alternative;

otherwise it is **uncertain**. Benchmarks (e.g. age–sex only) do not count: they answer a
question the run has already decided (what need is). Without a bootstrap the decision is
not made (missing), as before; without a sensitivity analysis it rests on the bootstrap.

Stage 04 writes the decision into the published allocation table: ``eligibility_certainty``
(``robust`` or ``uncertain``), ``eligibility_uncertain`` (the same as a flag) and
``eligibility_flips_under`` (the credible alternatives under which the practice's
eligibility changes, ``"; "``-separated). The uncertain set, its count in the headline
numbers and ``allocation_summary.json``, the board paper and the practice statements all
read those columns, so they cannot disagree.
"""

from __future__ import annotations

import pandas as pd

from pcfm.params.allocation import AllocationParams

#: The published columns that hold the decision.
UNCERTAIN_COLUMN = "eligibility_uncertain"
CERTAINTY_COLUMN = "eligibility_certainty"
FLIPS_COLUMN = "eligibility_flips_under"
ROBUST = "robust"
UNCERTAIN = "uncertain"
#: Why an uncertain practice is uncertain (``uncertain_because`` of the uncertain set).
BECAUSE_BOOTSTRAP = "bootstrap"
BECAUSE_ALTERNATIVES = "credible alternative"
BECAUSE_BOTH = "bootstrap and credible alternative"


def bootstrap_certain(
    eligible: pd.Series, p_eligible: pd.Series, low: float, high: float
) -> pd.Series:
    """Whether the replicates agree with the run's eligibility (nullable; missing where
    ``p_eligible`` is): ``p >= high`` for an eligible practice, ``p <= low`` otherwise."""
    p = pd.to_numeric(p_eligible, errors="coerce")
    yes = eligible.fillna(False).astype(bool).to_numpy()
    agree = pd.Series((yes & (p >= high).to_numpy()) | (~yes & (p <= low).to_numpy()), p.index)
    return agree.astype("boolean").mask(p.isna(), pd.NA)


def flips_under(eligible: pd.Series, credible_eligible: pd.DataFrame | None) -> pd.Series:
    """Per practice, the credible alternatives (columns of ``credible_eligible``, in order)
    under which its eligibility differs from ``eligible``, ``"; "``-separated."""
    if credible_eligible is None or credible_eligible.shape[1] == 0:
        return pd.Series("", index=eligible.index, dtype=object)
    yes = eligible.fillna(False).astype(bool)
    differs = credible_eligible.fillna(False).astype(bool).ne(yes, axis=0)
    names = list(credible_eligible.columns)
    return pd.Series(
        ["; ".join(n for n, d in zip(names, row, strict=True) if d) for row in differs.to_numpy()],
        index=eligible.index,
        dtype=object,
    )


def eligibility_certainty(
    eligible: pd.Series,
    p_eligible: pd.Series,
    credible_eligible: pd.DataFrame | None,
    low: float,
    high: float,
) -> pd.DataFrame:
    """The decision of the module docstring, per practice.

    Args:
        eligible: The run's eligibility of each practice.
        p_eligible: Its share of bootstrap replicates in which it is eligible (missing
            without a bootstrap).
        credible_eligible: Its eligibility under each credible alternative (one column per
            alternative, same index); None or no columns without a sensitivity analysis.
        low: ``allocation.uncertain_low``.
        high: ``allocation.uncertain_high``.

    Returns:
        Columns :data:`CERTAINTY_COLUMN` (``robust``/``uncertain``, missing without a
        bootstrap), :data:`UNCERTAIN_COLUMN` (nullable boolean) and :data:`FLIPS_COLUMN`.
    """
    agree = bootstrap_certain(eligible, p_eligible, low, high)
    flips = flips_under(eligible, credible_eligible)
    robust = agree & (flips == "")
    uncertain = (~robust).astype("boolean").mask(agree.isna(), pd.NA)
    label = pd.Series(
        [pd.NA if pd.isna(u) else (UNCERTAIN if u else ROBUST) for u in uncertain],
        index=eligible.index,
        dtype=object,
    )
    return pd.DataFrame({CERTAINTY_COLUMN: label, UNCERTAIN_COLUMN: uncertain, FLIPS_COLUMN: flips})


def uncertain_because(table: pd.DataFrame, params: AllocationParams) -> pd.Series:
    """Why each practice of ``table`` (with the decision's columns) is uncertain: the
    bootstrap, a credible alternative or both (empty for a robust practice)."""
    agree = bootstrap_certain(
        table["eligible"], table["p_eligible"], params.uncertain_low, params.uncertain_high
    )
    by_bootstrap = ~agree.fillna(True).astype(bool)
    by_alternative = table[FLIPS_COLUMN].fillna("").astype(str) != ""
    words = [
        BECAUSE_BOTH if b and a else BECAUSE_BOOTSTRAP if b else BECAUSE_ALTERNATIVES if a else ""
        for b, a in zip(by_bootstrap, by_alternative, strict=True)
    ]
    return pd.Series(words, index=table.index, dtype=object)


def mark_uncertain_eligibility(
    table: pd.DataFrame,
    params: AllocationParams,
    credible_eligible: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The allocation table with the decision's columns placed after ``p_eligible``.

    Args:
        table: The allocation table (``practice_code``, ``eligible``, ``p_eligible``).
        params: The band ``uncertain_low``/``uncertain_high``.
        credible_eligible: Eligibility under each credible alternative, indexed by
            practice code (`pcfm.allocation.sensitivity.SensitivityResult.eligible`).
    """
    credible = None
    if credible_eligible is not None:
        credible = credible_eligible.reindex(table["practice_code"].to_numpy())
        credible.index = table.index
    decision = eligibility_certainty(
        table["eligible"],
        table["p_eligible"],
        credible,
        params.uncertain_low,
        params.uncertain_high,
    )
    out = table.drop(columns=list(decision.columns), errors="ignore")
    at = out.columns.get_loc("p_eligible") + 1
    for offset, column in enumerate(decision.columns):
        out.insert(at + offset, column, decision[column].to_numpy())
    return out
