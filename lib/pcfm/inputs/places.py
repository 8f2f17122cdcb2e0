"""Which place of the ICB each practice is in, and how that was decided.

An ICB's places are its own decision, so they come from a map the ICB supplies (a CSV of
practice or PCN codes and places). Where the map says nothing the default is the practice's
clinical commissioning group before the 2020 mergers (its CCG in NHS Payments 2019-20): those
CCGs mostly matched local authorities, which is what most ICBs' places follow (North Central
London's five boroughs, for example, where today's single sub-ICB location gives one "place").
A practice new since then takes the CCG most of its PCN's practices had; failing that, its
sub-ICB location. Every practice's place and the rule that gave it are published.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from pcfm.inputs.public.common import (
    PublicFileError,
    describe_bad_values,
    most_common,
    read_columns,
    read_header,
    resolve_columns,
)

#: Payments year whose CCGs give the default places (the last before the April 2020 mergers).
LEGACY_CCG_YEAR = "2019-20"
#: Words kept lower case when a CCG name is turned into a place name.
_SMALL_WORDS = {"and", "of", "on", "upon", "the", "in", "with", "under"}


@dataclass(frozen=True)
class PlaceMap:
    """A map from practices and PCNs to places (what a ``places.csv`` holds)."""

    by_practice: dict[str, str] = field(default_factory=dict)
    by_pcn: dict[str, str] = field(default_factory=dict)
    source: str = ""


def read_place_map(path: str | Path) -> PlaceMap:
    """Read a places CSV: a ``place`` column and ``practice_code`` and/or ``pcn_code``.

    Each row maps a practice (when practice_code is filled) or a PCN to a place.

    Raises:
        PublicFileError: naming the file, the column and the rows at fault.
    """
    path = Path(path)
    if not path.is_file():
        raise PublicFileError(f"{path}: no such places file (data.public.places_csv)")
    header = read_header(path)
    keys = [name for name in ("practice_code", "pcn_code") if name in header]
    if "place" not in header or not keys:
        raise PublicFileError(
            f"{path}: a places file needs a column 'place' and a column 'practice_code' or "
            f"'pcn_code'; found {header}"
        )
    frame = read_columns(path, [*keys, "place"])
    frame = frame.apply(lambda column: column.str.strip())
    empty_place = frame["place"].isna() | (frame["place"] == "")
    if empty_place.any():
        rows = [str(i + 2) for i in frame.index[empty_place]]
        raise PublicFileError(
            f"{path}: column 'place' is empty in row(s) {describe_bad_values(pd.Series(rows))}"
        )
    result: dict[str, dict[str, str]] = {"practice_code": {}, "pcn_code": {}}
    for key in keys:
        rows = frame[frame[key].notna() & (frame[key] != "")]
        if "practice_code" in keys and key == "pcn_code":
            rows = rows[rows["practice_code"].isna() | (rows["practice_code"] == "")]
        codes = rows[key].str.upper()
        repeated = codes[codes.duplicated(keep=False)]
        if not repeated.empty:
            raise PublicFileError(
                f"{path}: column {key!r} maps the same code more than once in "
                f"{describe_bad_values(repeated)}"
            )
        result[key] = dict(zip(codes, rows["place"], strict=True))
    return PlaceMap(result["practice_code"], result["pcn_code"], path.name)


def place_name_of_ccg(ccg_name: str) -> str:
    """``'NHS EAST LEICESTERSHIRE AND RUTLAND CCG'`` → ``'East Leicestershire and Rutland'``."""
    text = re.sub(r"^NHS\s+|\s+CCG$", "", str(ccg_name).strip(), flags=re.IGNORECASE)
    words = text.lower().split()
    return " ".join(
        word if (i and word in _SMALL_WORDS) else word[:1].upper() + word[1:]
        for i, word in enumerate(words)
    )


def read_legacy_ccg_places(payments_file: Path) -> pd.Series:
    """Practice code → place named after its CCG in one payments file (2019-20 by default)."""
    header = read_header(payments_file)
    try:
        spelling = resolve_columns(header, ["Practice Code", "CCG Name"])
    except KeyError:
        raise PublicFileError(
            f"{payments_file}: no columns 'Practice Code' and 'CCG Name' to take the default "
            f"places from; found {header}"
        ) from None
    frame = read_columns(payments_file, list(spelling.values()))
    frame.columns = ["practice_code", "ccg_name"]
    frame = frame.dropna()
    codes = frame["practice_code"].str.strip().str.upper()
    return pd.Series(
        frame["ccg_name"].map(place_name_of_ccg).to_numpy(), index=codes, dtype="string"
    )


def assign_places(
    practices: pd.DataFrame,
    place_map: PlaceMap | None,
    legacy: pd.Series | None,
    legacy_pcn: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Each practice's place and how it was decided.

    Args:
        practices: practice_code, pcn_code, sub_icb_name.
        place_map: The ICB's map, if it supplied one.
        legacy: Practice code → place of its pre-2020 CCG (:func:`read_legacy_ccg_places`).
        legacy_pcn: practice_code and pcn_code of the practices the PCN majority is taken
            over (default: ``practices``).

    Returns:
        ``place`` and ``place_source`` (in words), indexed like ``practices``.
    """
    place = pd.Series(pd.NA, index=practices.index, dtype="string")
    source = pd.Series(pd.NA, index=practices.index, dtype="string")

    def fill(values: pd.Series, how: str) -> None:
        # As text: a lookup in an empty map gives a float column of NaN.
        values = values.astype("object").where(values.notna(), None).astype("string")
        todo = place.isna() & values.notna()
        place[todo] = values[todo]
        source[todo] = how

    if place_map is not None:
        fill(practices["practice_code"].map(place_map.by_practice), f"{place_map.source}: practice")
        fill(practices["pcn_code"].map(place_map.by_pcn), f"{place_map.source}: PCN")
    if legacy is not None and not legacy.empty:
        fill(
            practices["practice_code"].map(legacy),
            f"CCG before the 2020 mergers (NHS Payments {LEGACY_CCG_YEAR})",
        )
        members = practices if legacy_pcn is None else legacy_pcn
        by_pcn = (
            members.assign(place=members["practice_code"].map(legacy))
            .dropna(subset=["place", "pcn_code"])
            .groupby("pcn_code")["place"]
            .agg(most_common)
        )
        fill(
            practices["pcn_code"].map(by_pcn),
            f"most of its PCN's practices' CCG before the 2020 mergers ({LEGACY_CCG_YEAR})",
        )
    fill(practices["sub_icb_name"].astype("string"), "sub-ICB location")
    return pd.DataFrame({"place": place, "place_source": source})
