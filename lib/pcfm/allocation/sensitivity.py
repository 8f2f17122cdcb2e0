"""Sensitivity of allocations to the model: the same policy on several need tables.

Each alternative model (other covariates, family, supply sterilisation…) gives its own
need table; running the same funding comparison and policy on each shows, per practice,
how much its allocation depends on the modelling choice, and how many practices change
funding category or eligibility against the first (main) alternative. Every alternative
applies the same decision on outliers and special services (`pcfm.allocation.exclusions`):
the main model's, so a practice is excluded or capped under all of them or under none,
and the changes counted are those of the need model alone.

Each alternative is declared *credible* or a *benchmark* (:func:`describe_alternative`), with
what it assumes. Credible alternatives keep the need model's covariates and change only how
the same model is estimated or coded (count family, supply sterilisation, banding of
deprivation, measure of morbidity, age–sex interacted or additive): a reasonable analyst
could have chosen them instead, so a practice whose eligibility changes under one is not
robustly eligible (or ineligible). Benchmarks change what need *is* (morbidity dropped or
added, age and sex alone): they show how far the answer moves with the need model, but the
run has already decided those questions, so they do not make a practice's eligibility
uncertain (`pcfm.allocation.certainty`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from pcfm.allocation.exclusions import PracticeStatuses, decide_statuses
from pcfm.allocation.funding import compare_funding
from pcfm.allocation.policies import AllocationResult, allocate
from pcfm.params.allocation import AllocationParams

#: The published ``allocation_sensitivity`` table's schema: always these columns, in order
#: (no rows when the analysis is switched off), so readers need not guess.
SENSITIVITY_TABLE = "allocation_sensitivity"
SENSITIVITY_COLUMNS: dict[str, str] = {
    "alternative": "str",
    "assumes": "str",
    "credible": "bool",
    "n_eligibility_changed": "int64",
    "n_became_eligible": "int64",
    "n_became_ineligible": "int64",
    "practices_changing_eligibility": "str",
    "n_category_changed": "int64",
    "allocated_gbp": "float64",
    "max_abs_change_gbp": "float64",
    "total_abs_change_gbp": "float64",
}


#: Label of the specification in the parameter file (`pcfm.model.alternatives.SPECIFIED`).
SPECIFIED = "as specified"


@dataclass(frozen=True)
class AlternativeKind:
    """What an alternative specification assumes and whether it is credible.

    Attributes:
        assumes: In words, what the alternative changes and what it keeps.
        credible: Whether it is a credible alternative to the specification (it keeps the
            need covariates), as opposed to a benchmark.
    """

    assumes: str
    credible: bool


#: Every label `pcfm.model.alternatives.alternative_specifications` makes, by its start:
#: what the alternative assumes and whether it is credible (module docstring: why).
ALTERNATIVE_KINDS: dict[str, AlternativeKind] = {
    SPECIFIED: AlternativeKind("the specification in the parameter file", True),
    "family: ": AlternativeKind(
        "the same covariates and supply treatment; the other count family (Poisson with "
        "errors clustered by practice, or negative binomial)",
        True,
    ),
    # Before the general supply entry: the first matching start wins.
    "supply sterilisation: none": AlternativeKind(
        "benchmark: one intercept, so practices' supply is read as need (biased toward a "
        "deprivation rate ratio of one; see the calibration study)",
        False,
    ),
    "supply sterilisation: ": AlternativeKind(
        "the same covariates; supply treated the other way (practice effects absorbed and "
        "need predicted at reference supply, or one intercept)",
        True,
    ),
    "deprivation: ": AlternativeKind(
        "the same covariates; IMD coded in the other banding (deciles or quintiles)", True
    ),
    "morbidity: ": AlternativeKind(
        "the same covariates; morbidity measured another way (LTC count, Cambridge score or "
        "ACG band)",
        True,
    ),
    "age and sex ": AlternativeKind(
        "the same covariates; age and sex coded the other way (interacted or additive)", True
    ),
    "without morbidity": AlternativeKind(
        "benchmark: morbidity left out of need (age, sex, deprivation and the flags only)", False
    ),
    "with morbidity": AlternativeKind("benchmark: morbidity (LTC count) added to need", False),
    "age-sex only": AlternativeKind(
        "benchmark: need from age and sex alone, like the national formula's workload curve",
        False,
    ),
}


def describe_alternative(label: str) -> AlternativeKind:
    """What the alternative labelled ``label`` assumes and whether it is credible.

    Raises:
        ValueError: the label is not declared in :data:`ALTERNATIVE_KINDS` (every
            alternative must say whether it is credible before it can be published).
    """
    if label == SPECIFIED:
        return ALTERNATIVE_KINDS[SPECIFIED]
    for start, kind in ALTERNATIVE_KINDS.items():
        if start != SPECIFIED and label.startswith(start):
            return kind
    raise ValueError(
        f"sensitivity alternative {label!r} is not declared credible or a benchmark "
        "(pcfm.allocation.sensitivity.ALTERNATIVE_KINDS)"
    )


@dataclass(frozen=True)
class SensitivityResult:
    """Allocations of one policy under several need tables.

    Attributes:
        allocations: One row per practice: ``practice_code``, then per alternative
            ``need_index__<name>``, ``category__<name>`` and ``allocation_gbp__<name>``.
        changes: One row per alternative (:data:`SENSITIVITY_COLUMNS`): ``alternative``,
            ``assumes`` and ``credible`` (:func:`describe_alternative`), the practices
            changing eligibility against the baseline (count, how many become eligible and
            ineligible, and their codes), ``n_category_changed``, ``allocated_gbp``,
            ``max_abs_change_gbp`` and ``total_abs_change_gbp`` (against the baseline).
        baseline: The name of the alternative the others are compared with.
        results: The full allocation result of each alternative.
        eligible: Practices (index ``practice_code``, baseline order) × alternatives
            (columns, display order): eligible under each.
    """

    allocations: pd.DataFrame
    changes: pd.DataFrame
    baseline: str
    results: dict[str, AllocationResult]
    eligible: pd.DataFrame

    @property
    def credible(self) -> list[str]:
        """The credible alternatives other than the baseline, in display order."""
        credible = self.changes.set_index("alternative")["credible"]
        return [name for name in self.results if name != self.baseline and credible[name]]


def allocation_sensitivity(
    need_tables: Mapping[str, pd.DataFrame],
    practices: pd.DataFrame,
    allocation_params: AllocationParams,
    previous_allocations: pd.DataFrame | None = None,
    baseline: str | None = None,
    statuses: PracticeStatuses | None = None,
    kinds: Mapping[str, AlternativeKind] | None = None,
) -> SensitivityResult:
    """Run the comparison and the policy on every need table and set them side by side.

    Args:
        need_tables: Need table per alternative (from the one kernel,
            :func:`pcfm.model.need_index.practice_need`; stage 02 hands them over as
            ``need_by_specification``), in display order.
        practices: The practices table.
        allocation_params: The policy and its parameters (the same for every alternative).
        previous_allocations: Last year's allocations for the transition rule, if any.
        baseline: The alternative to compare with; default the first.
        statuses: The run's decision on outliers and special services, applied to every
            alternative; when None it is decided once from the baseline's need table.
        kinds: What each alternative assumes and whether it is credible, by name; default
            :func:`describe_alternative` of its label (the baseline is the specification).

    Returns:
        The side-by-side allocations and the count of changes per alternative.
    """
    if not need_tables:
        raise ValueError("allocation_sensitivity needs at least one need table")
    names = list(need_tables)
    baseline = baseline or names[0]
    if baseline not in need_tables:
        raise ValueError(f"baseline {baseline!r} is not one of the alternatives ({names})")
    if statuses is None:
        statuses = decide_statuses(need_tables[baseline], practices, allocation_params.outliers)
    results = {
        name: allocate(
            compare_funding(table, practices, allocation_params, statuses),
            allocation_params,
            previous_allocations,
        )
        for name, table in need_tables.items()
    }
    base = results[baseline].table.set_index("practice_code")
    wide = pd.DataFrame(index=base.index)
    rows = []
    eligible = pd.DataFrame(index=base.index)
    base_eligible = base["eligible"].astype(bool)
    for name, result in results.items():
        table = result.table.set_index("practice_code").reindex(base.index)
        kind = kind_of(name, baseline, kinds)
        wide[f"need_index__{name}"] = table["need_index"]
        wide[f"category__{name}"] = table["category"]
        wide[f"allocation_gbp__{name}"] = table["allocation_gbp"]
        is_eligible = table["eligible"].fillna(False).astype(bool)
        eligible[name] = is_eligible
        changed = is_eligible != base_eligible
        difference = (table["allocation_gbp"] - base["allocation_gbp"]).abs()
        rows.append(
            {
                "alternative": name,
                "assumes": kind.assumes,
                "credible": kind.credible,
                "n_eligibility_changed": int(changed.sum()),
                "n_became_eligible": int((is_eligible & ~base_eligible).sum()),
                "n_became_ineligible": int((~is_eligible & base_eligible).sum()),
                "practices_changing_eligibility": "; ".join(
                    str(code) for code in base.index[changed.to_numpy()]
                ),
                # An excluded practice has no category (0 here) under every alternative.
                "n_category_changed": int(
                    (table["category"].fillna(0) != base["category"].fillna(0)).sum()
                ),
                "allocated_gbp": result.summary["allocated_gbp"],
                "max_abs_change_gbp": float(difference.max()),
                "total_abs_change_gbp": float(difference.sum()),
            }
        )
    return SensitivityResult(
        allocations=wide.reset_index(),
        changes=pd.DataFrame(rows, columns=list(SENSITIVITY_COLUMNS)),
        baseline=baseline,
        results=results,
        eligible=eligible,
    )


def kind_of(
    name: str, baseline: str, kinds: Mapping[str, AlternativeKind] | None
) -> AlternativeKind:
    """What the alternative ``name`` assumes: from ``kinds`` if given there, else the
    specification's for the baseline, else :func:`describe_alternative`."""
    if kinds is not None and name in kinds:
        return kinds[name]
    if name == baseline:
        return ALTERNATIVE_KINDS[SPECIFIED]
    return describe_alternative(name)


def no_sensitivity_table() -> pd.DataFrame:
    """The published table of a run with ``allocation.sensitivity`` off: the columns, no rows."""
    return pd.DataFrame(
        {column: pd.Series(dtype=dtype) for column, dtype in SENSITIVITY_COLUMNS.items()}
    )
