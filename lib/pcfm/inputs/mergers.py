"""Practices that merged between the payments year and the registration extract.

The payments year is older than the extract. A practice that merged in between is paid in the
payments file but gone from the extract, and its patients are on its successor's list; without
carrying its money over, the successor looks under-funded for its list (Willows Health, Y00137,
whose list grew ×5 after absorbing five Leicester practices). The ICB knows its mergers and can
say so in a successors file; without one, they are found from the public files — a practice
gone from the extract, and a practice of the same PCN whose list grew by at least most of the
gone practice's list — and listed for review.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pcfm.inputs.public.common import (
    PublicFileError,
    describe_bad_values,
    read_columns,
    read_header,
)

#: A successor's unexplained list growth must be at least this share of the predecessor's list.
MIN_GROWTH_SHARE = 0.5
#: Columns of the mergers table.
MERGER_COLUMNS = ("predecessor_code", "predecessor_name", "successor_code", "how")


def read_successors(path: str | Path) -> pd.DataFrame:
    """Read a successors CSV (columns predecessor_code, successor_code).

    Raises:
        PublicFileError: naming the file, the column and the rows at fault.
    """
    path = Path(path)
    if not path.is_file():
        raise PublicFileError(f"{path}: no such successors file (data.public.successors_csv)")
    header = read_header(path)
    missing = [name for name in ("predecessor_code", "successor_code") if name not in header]
    if missing:
        raise PublicFileError(f"{path}: missing column(s) {missing}; found {header}")
    frame = read_columns(path, ["predecessor_code", "successor_code"])
    frame = frame.apply(lambda column: column.str.strip().str.upper())
    for column in ("predecessor_code", "successor_code"):
        bad = ~frame[column].str.fullmatch(r"[A-Z0-9]{6}").fillna(False)
        if bad.any():
            raise PublicFileError(
                f"{path}: column {column!r} is not a 6-character practice code in "
                f"{describe_bad_values(frame.loc[bad, column].fillna('<empty>'))}"
            )
    repeated = frame["predecessor_code"].duplicated(keep=False)
    if repeated.any():
        raise PublicFileError(
            f"{path}: a predecessor has more than one successor in "
            f"{describe_bad_values(frame.loc[repeated, 'predecessor_code'])}"
        )
    both = set(frame["predecessor_code"]) & set(frame["successor_code"])
    if both:
        raise PublicFileError(
            f"{path}: codes are both predecessor and successor (chains are not followed; "
            f"name the final successor): {sorted(both)}"
        )
    return frame


def stated_mergers(successors: pd.DataFrame, gone: pd.DataFrame, source: str) -> pd.DataFrame:
    """The successors file's mergers of practices paid in the payments year."""
    names = gone.set_index("practice_code")["practice_name"]
    rows = successors[successors["predecessor_code"].isin(names.index)]
    return pd.DataFrame(
        {
            "predecessor_code": rows["predecessor_code"],
            "predecessor_name": rows["predecessor_code"].map(names),
            "successor_code": rows["successor_code"],
            "how": f"stated in {source}",
        },
        columns=list(MERGER_COLUMNS),
    ).reset_index(drop=True)


def found_mergers(gone: pd.DataFrame, kept: pd.DataFrame) -> pd.DataFrame:
    """Mergers found from the public files, for review.

    Args:
        gone: Practices of the ICB paid in the payments year but absent from the extract:
            practice_code, practice_name, pcn_code (payments year), payments_registered_list.
        kept: Practices of the extract: practice_code, pcn_code, payments_pcn_code,
            payments_registered_list, registered_list (the extract's).

    Returns:
        One row per merger found (:data:`MERGER_COLUMNS`). Each gone practice, largest first,
        goes to the practice of its PCN (then or now) with the most list growth not yet
        explained by earlier predecessors, if that growth is at least
        :data:`MIN_GROWTH_SHARE` of its list.
    """
    growth = (kept["registered_list"] - kept["payments_registered_list"].fillna(0)).astype(float)
    grew = dict(zip(kept["practice_code"], growth, strict=True))
    unexplained = dict(grew)
    rows = []
    ordered = gone.sort_values(
        ["payments_registered_list", "practice_code"], ascending=[False, True]
    )
    for predecessor in ordered.itertuples(index=False):
        if pd.isna(predecessor.pcn_code):
            continue
        same_pcn = kept[
            (kept["pcn_code"] == predecessor.pcn_code)
            | (kept["payments_pcn_code"] == predecessor.pcn_code)
        ]
        if same_pcn.empty:
            continue
        candidates = sorted(same_pcn["practice_code"], key=lambda code: (-unexplained[code], code))
        best = candidates[0]
        needed = MIN_GROWTH_SHARE * float(predecessor.payments_registered_list)
        if unexplained[best] < needed:
            continue
        unexplained[best] -= float(predecessor.payments_registered_list)
        rows.append(
            {
                "predecessor_code": predecessor.practice_code,
                "predecessor_name": predecessor.practice_name,
                "successor_code": best,
                "how": (
                    f"found: gone from the extract; {best} of the same PCN "
                    f"({predecessor.pcn_code}) grew by {grew[best]:,.0f} "
                    "patients (for review)"
                ),
            }
        )
    return pd.DataFrame(rows, columns=list(MERGER_COLUMNS))
