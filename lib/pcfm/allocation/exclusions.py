"""Which practices the funding comparison counts, caps or leaves out: decided once, here.

Some practices' funding per need-weighted patient cannot be compared with the others':
a student practice whose core money sits in another payment line looks funded at a
fraction of the average, and special services (special allocation schemes, homeless and
inclusion health, asylum seekers) are paid for something other than their list. Left in,
they move the ICB average and take the top-up budget. :func:`decide_statuses` gives every
practice one **status**, with the reason in words naming the figure and the bound:

* ``excluded`` — left out of the ICB average and of the allocation: allocation 0, not
  eligible, no funding category; still listed in every table with its status.
* ``capped`` — the funding counted in the comparison is clipped to the bound
  (median × ``low`` or × ``high`` per need-weighted patient); the actual funding is still
  what the tables show as current funding.
* ``kept`` — counted as it is, but listed (an outlier or special service under ``keep``,
  or a special service within the bounds under ``cap``).
* ``ordinary`` — every other practice.

The rules, in order of precedence (parameters ``allocation.outliers``):

1. a practice in ``excluded_practices`` is excluded, with the ICB's reason;
2. a practice with a ``special_service`` follows ``special_services`` (``exclude`` whatever
   its funding; ``cap`` clipped when outside the bounds; ``keep`` listed);
3. any other practice whose funding per need-weighted patient is below ``low`` or above
   ``high`` times the **median** of the ordinary practices follows ``rule``.

The median is taken over the practices of rules 3 (neither named nor special), outliers
included: a median is not moved by the few it judges, so the decision is not circular.

The decision is made once, on the full sample with the main model's need, and the same
:class:`PracticeStatuses` — statuses and counted funding in pounds — is applied by the
comparison (`pcfm.allocation.funding`), every bootstrap replicate and every alternative
model of the sensitivity analysis, so a practice never changes status between them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pcfm.params.allocation import OutlierParams

ORDINARY = "ordinary"
EXCLUDED = "excluded"
CAPPED = "capped"
KEPT = "kept"
#: Every status, in the order the exclusions table lists them.
STATUSES = (EXCLUDED, CAPPED, KEPT, ORDINARY)

#: The published table of practices that are not ordinary, and its schema (always these
#: columns, no rows when nothing applies).
EXCLUSIONS_TABLE = "allocation_exclusions"
EXCLUSION_COLUMNS: dict[str, str] = {
    "practice_code": "str",
    "practice_name": "str",
    "pcn_code": "str",
    "place": "str",
    "special_service": "str",
    "status": "str",
    "rule": "str",
    "reason": "str",
    "funding_gbp": "float64",
    "counted_funding_gbp": "float64",
    "funding_per_nwp_gbp": "float64",
    "counted_funding_per_nwp_gbp": "float64",
    "ratio_to_median": "float64",
    "median_funding_per_nwp_gbp": "float64",
}


class ExclusionInputError(ValueError):
    """Practices or parameters the exclusion rules cannot be applied to, with the fault named."""


def _first(values, n: int = 5) -> str:
    return ", ".join(repr(v) for v in list(values)[:n])


def special_service_of(practices: pd.DataFrame) -> pd.Series:
    """Each practice's ``special_service`` as stripped text, ``""`` for an ordinary practice."""
    if "special_service" not in practices:
        return pd.Series("", index=practices.index, dtype=object)
    values = practices["special_service"]
    return values.where(values.notna(), "").astype(str).str.strip().astype(object)


def _ratio_text(ratio: float, bound: float) -> str:
    """The ratio to two decimals, or more where two would print it equal to the bound."""
    for decimals in range(2, 7):
        text = f"{ratio:.{decimals}f}"
        if float(text) != bound:
            return text
    return f"{ratio:.6f}"


def _bound_text(bound: float) -> str:
    return f"{bound:g}"


@dataclass(frozen=True)
class PracticeStatuses:
    """The one decision of the run: each practice's status and the funding it counts.

    Attributes:
        table: One row per practice, in practice-code order, with the columns of
            :data:`EXCLUSION_COLUMNS` and ``need_weighted_list``.
        median_funding_per_nwp_gbp: Median funding per need-weighted patient of the
            ordinary practices (NaN if it could not be taken).
        params: The rules applied.
    """

    table: pd.DataFrame
    median_funding_per_nwp_gbp: float
    params: OutlierParams

    def _aligned(self, practice_codes) -> pd.DataFrame:
        codes = pd.Index(pd.Series(practice_codes).astype(str))
        by_code = self.table.set_index("practice_code")
        unknown = codes.difference(by_code.index)
        if len(unknown) or len(codes) != len(by_code):
            missing = by_code.index.difference(codes)
            raise ExclusionInputError(
                "the practices do not match those the statuses were decided for: "
                f"{len(unknown)} unknown ({_first(unknown)}), {len(missing)} missing "
                f"({_first(missing)})"
            )
        return by_code.loc[codes]

    def status_of(self, practice_codes) -> np.ndarray:
        """The status of each practice in ``practice_codes``, in that order."""
        return self._aligned(practice_codes)["status"].to_numpy(dtype=object)

    def included(self, practice_codes) -> np.ndarray:
        """Whether each practice counts in the comparison (every status but excluded)."""
        return self.status_of(practice_codes) != EXCLUDED

    def counted_funding(self, practice_codes) -> np.ndarray:
        """The funding each practice counts in the comparison, in pounds (the full-sample
        decision: capped practices at the bound of the main model's need)."""
        return self._aligned(practice_codes)["counted_funding_gbp"].to_numpy(dtype=float)

    def counts(self) -> dict[str, int]:
        """Practices of each status."""
        found = self.table["status"].value_counts()
        return {status: int(found.get(status, 0)) for status in STATUSES}

    def exclusions_table(self) -> pd.DataFrame:
        """The practices that are not ordinary, excluded first, then capped, then kept;
        the columns of :data:`EXCLUSION_COLUMNS` (none rows when every practice is ordinary)."""
        listed = self.table.loc[self.table["status"] != ORDINARY].copy()
        listed["order"] = listed["status"].map({s: i for i, s in enumerate(STATUSES)})
        listed = listed.sort_values(["order", "practice_code"], kind="stable")
        out = pd.DataFrame(
            {
                column: pd.Series(listed[column].to_numpy(), dtype=dtype)
                for column, dtype in EXCLUSION_COLUMNS.items()
            }
        )
        return out.reset_index(drop=True)


def no_exclusions_table() -> pd.DataFrame:
    """The exclusions table with its columns and no rows."""
    return pd.DataFrame(
        {column: pd.Series(dtype=dtype) for column, dtype in EXCLUSION_COLUMNS.items()}
    )


def decide_statuses(
    need: pd.DataFrame, practices: pd.DataFrame, params: OutlierParams
) -> PracticeStatuses:
    """Give every practice its status under the rules of ``allocation.outliers``.

    Args:
        need: Per practice ``practice_code`` and ``need_weighted_list`` (the main model's).
        practices: The practices table: ``practice_code``, ``current_funding_gbp``, and
            ``practice_name``, ``pcn_code``, ``place``, ``special_service`` where present.
        params: The rules.

    Returns:
        The statuses, with the funding each practice counts and the reason in words.

    Raises:
        ExclusionInputError: a practice named in ``excluded_practices`` that is not in the
            practices table, or a rule that needs the median when there is none to take.
    """
    for column in ("practice_code", "need_weighted_list"):
        if column not in need:
            raise ExclusionInputError(f"need table: missing column {column}")
    for column in ("practice_code", "current_funding_gbp"):
        if column not in practices:
            raise ExclusionInputError(f"practices: missing column {column}")
    info = practices.drop(columns=["need_weighted_list"], errors="ignore")
    info = info.assign(practice_code=info["practice_code"].astype(str))
    info = info.assign(special_service=special_service_of(info))
    weighted = need.assign(practice_code=need["practice_code"].astype(str))
    table = weighted[["practice_code", "need_weighted_list"]].merge(
        info, on="practice_code", how="inner", validate="one_to_one"
    )
    if len(table) != len(weighted) or len(table) != len(info):
        raise ExclusionInputError("need table and practices table list different practices")
    table = table.sort_values("practice_code", kind="stable").reset_index(drop=True)
    for column in ("practice_name", "pcn_code", "place"):
        if column not in table:
            table[column] = ""
        table[column] = table[column].where(table[column].notna(), "").astype(str)

    unknown = sorted(set(params.excluded_practices) - set(table["practice_code"]))
    if unknown:
        raise ExclusionInputError(
            f"allocation.outliers.excluded_practices: {len(unknown)} practice code(s) not in "
            f"the practices table ({_first(unknown)}), or left out of the run as too small to "
            "publish (data_practice_adjustments)"
        )

    funding = pd.to_numeric(table["current_funding_gbp"], errors="coerce").to_numpy(float)
    nwl = table["need_weighted_list"].to_numpy(dtype=float)
    bad = ~(np.isfinite(funding) & (funding >= 0) & np.isfinite(nwl) & (nwl > 0))
    if bad.any():
        raise ExclusionInputError(
            "practices: current_funding_gbp must be a non-negative number and "
            f"need_weighted_list positive; {int(bad.sum())} practice(s) are not "
            f"({_first(table.loc[bad, 'practice_code'])})"
        )
    per_nwp = funding / nwl
    named = table["practice_code"].isin(list(params.excluded_practices)).to_numpy()
    special = (table["special_service"] != "").to_numpy() & ~named
    ordinary_pool = ~named & ~special
    median = float(np.median(per_nwp[ordinary_pool])) if ordinary_pool.any() else float("nan")
    judgeable = np.isfinite(median) and median > 0
    ratio = per_nwp / median if judgeable else np.full(len(table), np.nan)
    low, high = params.low, params.high
    below = judgeable & (ratio < low)
    above = judgeable & (ratio > high)
    needs_median = (ordinary_pool.any() and params.rule != "keep") or (
        special.any() and params.special_services == "cap"
    )
    if needs_median and not judgeable:
        raise ExclusionInputError(
            "allocation.outliers: the median funding per need-weighted patient of the ordinary "
            f"practices is {'not defined' if not ordinary_pool.any() else f'£{median:.2f}'}, so "
            "no practice can be judged against it; set allocation.outliers.rule (and "
            "special_services, if it is cap) to keep"
        )

    status = np.full(len(table), ORDINARY, dtype=object)
    rule = np.full(len(table), "", dtype=object)
    reason = np.full(len(table), "", dtype=object)
    counted = funding.copy()
    floor, ceiling = median * low, median * high
    for i in range(len(table)):
        figure = (
            f"funding £{per_nwp[i]:,.2f} per need-weighted patient is "
            f"{_ratio_text(ratio[i], low if below[i] else high)} of the ICB median "
            f"£{median:,.2f}"
            if judgeable
            else f"funding £{per_nwp[i]:,.2f} per need-weighted patient"
        )
        side = (
            f" (below {_bound_text(low)})"
            if below[i]
            else f" (above {_bound_text(high)})"
            if above[i]
            else ""
        )
        if named[i]:
            status[i], rule[i] = EXCLUDED, "excluded_practices"
            reason[i] = (
                f"excluded by the ICB: {params.excluded_practices[table['practice_code'][i]]}"
            )
            continue
        if special[i]:
            how = params.special_services
            rule[i] = f"special_services: {how}"
            kind = f"special service ({table['special_service'][i]}): "
            if how == "exclude":
                status[i] = EXCLUDED
                reason[i] = f"{kind}{figure}{side}; special services are left out of the comparison"
            elif how == "cap" and (below[i] or above[i]):
                status[i] = CAPPED
                counted[i] = (floor if below[i] else ceiling) * nwl[i]
                reason[i] = f"{kind}{figure}{side}; " + _counted_words(
                    below[i], floor, ceiling, low, high
                )
            else:
                status[i] = KEPT
                within = (
                    f", within {_bound_text(low)} to {_bound_text(high)}"
                    if judgeable and not (below[i] or above[i])
                    else side
                )
                reason[i] = f"{kind}{figure}{within}; counted as it is"
            continue
        if not (below[i] or above[i]):
            continue
        rule[i] = f"outliers: {params.rule}"
        if params.rule == "exclude":
            status[i] = EXCLUDED
            reason[i] = f"{figure}{side}"
        elif params.rule == "cap":
            status[i] = CAPPED
            counted[i] = (floor if below[i] else ceiling) * nwl[i]
            reason[i] = f"{figure}{side}; " + _counted_words(below[i], floor, ceiling, low, high)
        else:
            status[i] = KEPT
            reason[i] = f"{figure}{side}; counted as it is"

    table["status"] = status
    table["rule"] = rule
    table["reason"] = reason
    table["funding_gbp"] = funding
    table["counted_funding_gbp"] = counted
    table["funding_per_nwp_gbp"] = per_nwp
    table["counted_funding_per_nwp_gbp"] = counted / nwl
    table["ratio_to_median"] = ratio
    table["median_funding_per_nwp_gbp"] = median
    columns = [*EXCLUSION_COLUMNS, "need_weighted_list"]
    return PracticeStatuses(table[columns].copy(), median, params)


def _counted_words(below: bool, floor: float, ceiling: float, low: float, high: float) -> str:
    amount, bound = (floor, low) if below else (ceiling, high)
    return (
        f"counted as £{amount:,.2f} per need-weighted patient ({_bound_text(bound)} × the median)"
    )
