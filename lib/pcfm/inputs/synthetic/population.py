"""The synthetic population: practices, their lists by age and sex, areas and patients.

Synthetic practices are drawn in LLR's places and PCNs (:mod:`.llr_shape`); real practices
come with their published lists (:func:`counts_from_list`). Either way each practice gets
areas around its deprivation score and patients with an age, an area and the flags of the
data contract (newly registered, care home, interpreter), all for one reference year.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pcfm.inputs.synthetic import llr_shape as shape
from pcfm.inputs.synthetic.truth import AGE_BANDS, SEXES
from pcfm.params.data import SYNTHETIC_REFERENCE_END, SYNTHETIC_REFERENCE_START

#: The reference year: a financial year, first day inclusive and last day exclusive (the
#: parameters' default data.reference_period, so a synthetic run's dates pass validation).
REFERENCE_YEAR_START = np.datetime64(SYNTHETIC_REFERENCE_START)
REFERENCE_YEAR_END = np.datetime64(SYNTHETIC_REFERENCE_END) + np.timedelta64(1, "D")
#: Days in the reference year (365); a patient registered all year has ``days_registered`` this.
DAYS_IN_YEAR = int((REFERENCE_YEAR_END - REFERENCE_YEAR_START) // np.timedelta64(1, "D"))


class SynthInputError(ValueError):
    """Inputs to the synthetic generator that cannot be used, with the offending values."""


# --- Lists of real practices ---------------------------------------------------------------


def _offending(values: pd.Series, limit: int = 5) -> str:
    shown = ", ".join(repr(v) for v in pd.unique(values)[:limit])
    return shown


def check_practices(practices: pd.DataFrame) -> pd.DataFrame:
    """Real practices as the generator needs them; refuse duplicate codes or missing places."""
    required = ("practice_code", "practice_name", "pcn_code", "pcn_name", "place")
    missing = [c for c in required if c not in practices.columns]
    if missing:
        raise SynthInputError(f"practices: missing column(s) {', '.join(missing)}")
    frame = practices.copy().reset_index(drop=True)
    duplicated = frame["practice_code"].duplicated(keep=False)
    if duplicated.any():
        raise SynthInputError(
            f"practices: column practice_code: {int(duplicated.sum())} rows share a code, e.g. "
            f"{_offending(frame.loc[duplicated, 'practice_code'])}"
        )
    no_place = frame["place"].isna()
    if no_place.any():
        raise SynthInputError(
            f"practices: column place: {int(no_place.sum())} rows have no place, e.g. practices "
            f"{_offending(frame.loc[no_place, 'practice_code'])}"
        )
    frame["practice_code"] = frame["practice_code"].astype(str)
    frame["pcn_code"] = frame["pcn_code"].fillna("(no PCN)").astype(str)
    return frame


def counts_from_list(list_by_age_sex: pd.DataFrame, practice_codes: pd.Series) -> np.ndarray:
    """Patients per practice, sex and 5-year band (85+ folded) as an array (practice, sex, band)."""
    table = "list_by_age_sex"
    missing = [c for c in ("practice_code", "sex", "age_band", "patients") if c not in
               list_by_age_sex.columns]  # fmt: skip
    if missing:
        raise SynthInputError(f"{table}: missing column(s) {', '.join(missing)}")
    frame = list_by_age_sex.loc[:, ["practice_code", "sex", "age_band", "patients"]].copy()
    frame["age_band"] = frame["age_band"].astype(str).str.replace("_", "-", regex=False)
    lower = pd.to_numeric(frame["age_band"].str.extract(r"^(\d+)", expand=False), errors="coerce")
    bad_band = lower.isna() | (lower % 5 != 0)
    if bad_band.any():
        raise SynthInputError(
            f"{table}: column age_band: {int(bad_band.sum())} rows are not 5-year bands like "
            f"'0-4' or '85+', e.g. {_offending(frame.loc[bad_band, 'age_band'])}"
        )
    band_index = np.minimum(lower.to_numpy(dtype=int) // 5, len(AGE_BANDS) - 1)
    sex = frame["sex"].astype(str)
    bad_sex = ~sex.isin(SEXES)
    if bad_sex.any():
        raise SynthInputError(
            f"{table}: column sex: {int(bad_sex.sum())} rows are not 'F' or 'M', e.g. "
            f"{_offending(sex[bad_sex])}"
        )
    patients = pd.to_numeric(frame["patients"], errors="coerce")
    bad_count = patients.isna() | (patients < 0) | (patients != np.floor(patients))
    if bad_count.any():
        raise SynthInputError(
            f"{table}: column patients: {int(bad_count.sum())} rows are not whole numbers >= 0, "
            f"e.g. {_offending(frame.loc[bad_count, 'patients'])}"
        )
    codes = pd.Index(practice_codes.astype(str))
    practice_index = codes.get_indexer(frame["practice_code"].astype(str))
    unknown = practice_index < 0
    if unknown.any():
        raise SynthInputError(
            f"{table}: column practice_code: {int(unknown.sum())} rows name practices not in "
            f"practices, e.g. {_offending(frame.loc[unknown, 'practice_code'])}"
        )
    counts = np.zeros((len(codes), len(SEXES), len(AGE_BANDS)), dtype=np.int64)
    np.add.at(
        counts,
        (practice_index, (sex == "M").to_numpy().astype(int), band_index),
        patients.to_numpy(dtype=np.int64),
    )
    empty = counts.sum(axis=(1, 2)) == 0
    if empty.any():
        raise SynthInputError(
            f"{table}: {int(empty.sum())} practices have no patients, e.g. "
            f"{_offending(pd.Series(codes[empty]))}"
        )
    return counts


# --- Synthetic practices -------------------------------------------------------------------


def _largest_remainder(total: int, weights: np.ndarray, minimum: int = 0) -> np.ndarray:
    """Split ``total`` into whole numbers proportional to ``weights``, each at least ``minimum``.

    Parts below the minimum are raised to it, taking the difference from the largest parts.
    """
    weights = np.asarray(weights, dtype=float)
    share = weights / weights.sum() * total
    whole = np.floor(share).astype(np.int64)
    order = np.argsort(-(share - whole), kind="stable")
    whole[order[: total - whole.sum()]] += 1
    while (whole < minimum).any() and whole.sum() >= minimum * whole.size:
        smallest = int(np.argmin(whole))
        largest = int(np.argmax(whole))
        whole[smallest] += 1
        whole[largest] -= 1
    return whole


def synthetic_practices(
    rng: np.random.Generator, n_patients: int, n_practices: int
) -> tuple[pd.DataFrame, np.ndarray]:
    """LLR-shaped practices in places and PCNs, and their lists (practice, sex, band).

    Each practice has a target IMD score from its place's spread and a list size from its
    place's median; patients are split by the largest-remainder rule so the total is exact.
    """
    places = shape.PLACES[: min(n_practices, len(shape.PLACES))]
    place_weights = np.array([shape.PRACTICES_PER_PLACE[p] for p in places], dtype=float)
    per_place = _largest_remainder(n_practices, place_weights, minimum=1)
    n_pcns = min(n_practices, max(round(n_practices * 26 / 127), 4))
    pcn_weights = np.array([shape.PCNS_PER_PLACE[p] for p in places], dtype=float)
    pcns_per_place = np.minimum(_largest_remainder(max(n_pcns, len(places)), pcn_weights, 1),
                                per_place)  # fmt: skip

    rows = []
    practice_number = 0
    pcn_number = 0
    for place, n_place, n_place_pcns in zip(places, per_place, pcns_per_place, strict=True):
        pcn_of_practice = np.sort(np.arange(n_place) % n_place_pcns)
        mean_score, sd_score = shape.PRACTICE_IMD_SCORE[place]
        scores = np.clip(rng.normal(mean_score, sd_score, n_place), 4.0, 65.0)
        sizes = shape.MEDIAN_LIST_SIZE[place] * np.exp(rng.normal(0, shape.LOG_LIST_SIZE_SD,
                                                                  n_place))  # fmt: skip
        for k in range(n_place):
            practice_number += 1
            pcn = pcn_number + pcn_of_practice[k] + 1
            rows.append({
                "practice_code": f"SYNP{practice_number:04d}",
                "practice_name": f"{place} Practice {practice_number:03d}",
                "pcn_code": f"SYNPCN{pcn:02d}",
                "pcn_name": f"{place} PCN {pcn:02d}",
                "place": place,
                "target_imd_score": scores[k],
                "size_weight": sizes[k],
            })  # fmt: skip
        pcn_number += n_place_pcns
    practices = pd.DataFrame(rows)
    list_sizes = _largest_remainder(n_patients, practices["size_weight"].to_numpy(), minimum=1)

    counts = np.zeros((n_practices, len(SEXES), len(AGE_BANDS)), dtype=np.int64)
    for index, place in enumerate(practices["place"]):
        profile = np.array([shape.LIST_BY_PLACE_SEX_BAND[place][s] for s in SEXES], dtype=float)
        probabilities = rng.dirichlet(300.0 * profile.ravel() / profile.sum())
        counts[index] = rng.multinomial(list_sizes[index], probabilities).reshape(profile.shape)
    practices = practices.drop(columns="size_weight")
    return practices, counts


# --- Areas and patients --------------------------------------------------------------------


def score_to_decile(score: np.ndarray) -> np.ndarray:
    """IMD decile (1 = most deprived) of an IMD score, by the England cut-points."""
    cuts = np.asarray(shape.IMD_DECILE_CUTPOINTS)[::-1]
    return (10 - np.searchsorted(cuts, score, side="right")).astype(np.int64)


def draw_areas(
    rng: np.random.Generator,
    practices: pd.DataFrame,
    target_scores: np.ndarray,
    list_sizes: np.ndarray,
) -> tuple[pd.DataFrame, list[np.ndarray]]:
    """Synthetic areas around each practice and, per practice, the area index of each patient.

    Each practice has its own areas, with log IMD scores spread around its target score, and
    takes a share of its patients from the other areas of its PCN, so neighbouring practices
    share areas as in real catchments.
    """
    sd = shape.LOG_LSOA_SCORE_SD
    n_areas = np.maximum(2, np.round(list_sizes / shape.PATIENTS_PER_AREA)).astype(np.int64)
    owner = np.repeat(np.arange(len(practices)), n_areas)
    log_centre = np.log(target_scores[owner]) - sd**2 / 2
    scores = np.clip(np.exp(rng.normal(log_centre, sd)), 0.5, 92.0)
    first_area = np.concatenate([[0], np.cumsum(n_areas)[:-1]])

    pcn_codes = practices["pcn_code"].to_numpy()
    areas_of_pcn = {code: np.flatnonzero(pcn_codes[owner] == code) for code in np.unique(pcn_codes)}
    area_of_patients: list[np.ndarray] = []
    for index in range(len(practices)):
        size = int(list_sizes[index])
        own = first_area[index] + rng.integers(0, n_areas[index], size)
        shared_pool = areas_of_pcn[pcn_codes[index]]
        take_shared = rng.random(size) < shape.SHARED_AREA_SHARE
        own[take_shared] = shared_pool[rng.integers(0, shared_pool.size, int(take_shared.sum()))]
        area_of_patients.append(own)

    deciles = score_to_decile(scores)
    areas = pd.DataFrame({
        "area_code": [f"SYN{i + 1:06d}" for i in range(scores.size)],
        "imd_score": np.round(scores, 3),
        "imd_decile": deciles,
        "imd_quintile": (deciles + 1) // 2,
    })  # fmt: skip
    return areas, area_of_patients


def shape_places(place: pd.Series, imd_scores: np.ndarray) -> np.ndarray:
    """The LLR-shape place whose turnover and interpreter figures apply to each practice.

    Synthetic practices use their own place. Real practices (other place names) use the city's
    figures when their IMD score is 25 or more (a deprived, urban practice) and the county's
    otherwise: an *assumption* for ICBs without LLR's places.
    """
    known = place.astype(str).isin(shape.PLACES).to_numpy()
    like = np.where(imd_scores >= 25.0, "City", "County")
    return np.where(known, place.astype(str).to_numpy(), like)


def target_imd_scores(practices: pd.DataFrame) -> np.ndarray:
    """The IMD score each practice's areas are drawn around.

    Synthetic practices carry their own target; real practices use their published score, and
    a practice without one the median of the others (or England's mean if none has one).
    """
    if "target_imd_score" in practices.columns:
        return practices["target_imd_score"].to_numpy(dtype=float)
    given = pd.to_numeric(practices["imd_score"], errors="coerce")
    fallback = given.median() if given.notna().any() else shape.ENGLAND_MEAN_IMD_SCORE
    return np.clip(given.fillna(fallback).to_numpy(dtype=float), 1.0, 90.0)


def reported_imd_scores(
    practices: pd.DataFrame, practice_imd: np.ndarray, real_funding: bool
) -> np.ndarray:
    """The practices' ``imd_score``: the published score where given, else their patients'."""
    if not real_funding or practices["imd_score"].isna().all():
        return np.round(practice_imd, 3)
    given = pd.to_numeric(practices["imd_score"], errors="coerce").to_numpy(dtype=float)
    return np.where(np.isnan(given), np.round(practice_imd, 3), given)


@dataclass(frozen=True)
class Population:
    """The simulated patients as arrays, one entry per patient (practice-major order).

    Attributes:
        practice_index: Row of each patient's practice in the practices table.
        is_male: Sex index into :data:`~.truth.SEXES` (0 = F, 1 = M).
        band_index: Five-year age band index into :data:`~.truth.AGE_BANDS`.
        age: Single year of age.
        area_index: Row of each patient's area in the areas table.
        quintile: IMD quintile of the patient's area (1 = most deprived).
        area_score: IMD score of the patient's area.
        newly_registered, care_home, interpreter: The contract's 0/1 flags.
        days_registered: Days registered in the reference year (1 to :data:`DAYS_IN_YEAR`).
    """

    practice_index: np.ndarray
    is_male: np.ndarray
    band_index: np.ndarray
    age: np.ndarray
    area_index: np.ndarray
    quintile: np.ndarray
    area_score: np.ndarray
    newly_registered: np.ndarray
    days_registered: np.ndarray
    care_home: np.ndarray
    interpreter: np.ndarray

    @property
    def exposure(self) -> np.ndarray:
        """Person-years registered in the reference year."""
        return self.days_registered / DAYS_IN_YEAR


def draw_patients(
    patients_rng: np.random.Generator,
    flags_rng: np.random.Generator,
    counts: np.ndarray,
    areas: pd.DataFrame,
    area_of_patients: list[np.ndarray],
    places: np.ndarray,
) -> Population:
    """Patients for the lists in ``counts`` (practice, sex, band), with ages, areas and flags.

    Ages come from ``patients_rng`` and flags from ``flags_rng``, so the two stay independent.
    Flag shares follow the LLR-shape place of the practice (:func:`shape_places`).
    """
    n_practices = counts.shape[0]
    list_sizes = counts.sum(axis=(1, 2))
    rng = patients_rng
    flat = counts.reshape(n_practices, -1)
    cell = np.tile(np.arange(flat.shape[1]), n_practices)
    cell_counts = flat.ravel()
    practice_index = np.repeat(np.repeat(np.arange(n_practices), flat.shape[1]), cell_counts)
    cell_of_patient = np.repeat(cell, cell_counts)
    n = practice_index.size
    is_male = cell_of_patient // len(AGE_BANDS)
    band_index = cell_of_patient % len(AGE_BANDS)
    age = 5 * band_index + rng.integers(0, 5, n)
    oldest = band_index == len(AGE_BANDS) - 1
    age[oldest] = 85 + np.minimum(np.floor(rng.exponential(4.5, int(oldest.sum()))), 30).astype(
        np.int64
    )
    area_index = np.concatenate(area_of_patients)
    quintile = areas["imd_quintile"].to_numpy()[area_index]
    area_score = areas["imd_score"].to_numpy()[area_index]

    rng = flags_rng
    place_of_patient = places[practice_index]
    new_share = pd.Series(shape.NEWLY_REGISTERED_SHARE).reindex(place_of_patient).to_numpy()
    young_adult = (age >= 18) & (age <= 34)
    # Scale the young-adult factor so the overall share stays near the stated place share.
    young_fraction = young_adult.mean() if n else 0.0
    norm = 1.0 / (1.0 + (shape.NEWLY_REGISTERED_YOUNG_ADULT_FACTOR - 1.0) * young_fraction)
    p_new = new_share * norm * np.where(young_adult, shape.NEWLY_REGISTERED_YOUNG_ADULT_FACTOR, 1)
    newly_registered = (rng.random(n) < p_new).astype(np.int8)
    days_registered = np.where(
        newly_registered == 1, rng.integers(1, DAYS_IN_YEAR + 1, n), DAYS_IN_YEAR
    ).astype(np.int64)

    care_share = np.array([shape.CARE_HOME_SHARE_BY_BAND.get(b, 0.0) for b in AGE_BANDS])
    care_home = (rng.random(n) < care_share[band_index]).astype(np.int8)

    interp_share = pd.Series(shape.INTERPRETER_SHARE).reindex(place_of_patient).to_numpy()
    interp_relative = np.exp(0.35 * (3 - quintile)) * np.where(age < 16, 0.5, 1.0)
    mean_relative = np.bincount(practice_index, interp_relative, n_practices) / np.maximum(
        list_sizes, 1
    )
    p_interp = np.clip(interp_share * interp_relative / mean_relative[practice_index], 0, 0.9)
    interpreter = (rng.random(n) < p_interp).astype(np.int8)
    return Population(
        practice_index=practice_index,
        is_male=is_male,
        band_index=band_index,
        age=age,
        area_index=area_index,
        quintile=quintile,
        area_score=area_score,
        newly_registered=newly_registered,
        days_registered=days_registered,
        care_home=care_home,
        interpreter=interpreter,
    )
