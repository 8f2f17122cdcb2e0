"""The synthetic ICB as a whole: generating it from a seed and writing it to a folder.

Orchestrates the parts of the package in a fixed order, each with its own random stream
(:func:`_streams`): the population (:mod:`.population`), its morbidity (:mod:`.morbidity`),
the true need (:mod:`.truth`), the delivered activity (:mod:`.activity`) and the funding
(:mod:`.funding`). Changing one part's draws leaves the others' untouched, and the same seed
gives byte-identical files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pcfm.data.contract import TABLES
from pcfm.inputs.synthetic import activity, funding, morbidity, population, truth
from pcfm.inputs.synthetic.population import SynthInputError


@dataclass
class SyntheticICB:
    """The four contract tables of a synthetic ICB and the truth they were drawn from.

    Attributes:
        patients, activity, practices, areas: The data-contract tables.
        true_effects: True need rate ratios (term, rate_ratio) with a ``(baseline)`` row.
        true_need_index: True need index per practice (practice_code, need_index).
        true_supply: Per practice: supply_factor (delivered ÷ needed contacts), expected needed
            and delivered contacts in the year. Written to ``truth/true_supply.csv``.
        morbidity_calibration: Per practice and condition calibrated to a given prevalence
            (``generate_icb_for_practices(..., prevalence=...)``): the target, the synthetic
            prevalence it replaced, the intercept shift and the prevalence drawn
            (:func:`.morbidity.draw_conditions`). Empty, and not written, when nothing was
            calibrated; otherwise written to ``truth/morbidity_calibration.csv``.
    """

    patients: pd.DataFrame
    activity: pd.DataFrame
    practices: pd.DataFrame
    areas: pd.DataFrame
    true_effects: pd.DataFrame
    true_need_index: pd.DataFrame
    true_supply: pd.DataFrame = field(default_factory=pd.DataFrame)
    morbidity_calibration: pd.DataFrame = field(default_factory=pd.DataFrame)

    def write(self, out_dir: Path) -> None:
        """Write the tables as Parquet and the truth as CSV; same data give identical bytes."""
        out_dir = Path(out_dir)
        (out_dir / "truth").mkdir(parents=True, exist_ok=True)
        for stem in ("patients", "activity", "practices", "areas"):
            _write_parquet(getattr(self, stem), out_dir / f"{stem}.parquet")
        truth = {
            "true_effects": self.true_effects,
            "true_need_index": self.true_need_index,
            "true_supply": self.true_supply,
            "morbidity_calibration": self.morbidity_calibration,
        }
        for name, frame in truth.items():
            if name in ("true_supply", "morbidity_calibration") and frame.empty:
                continue
            frame.to_csv(out_dir / "truth" / f"{name}.csv", index=False, lineterminator="\n")


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Write a frame with plain string columns (not dictionary) and no index."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    columns = []
    for column in table.columns:
        if pa.types.is_dictionary(column.type) or pa.types.is_large_string(column.type):
            column = column.cast(pa.string())
        columns.append(column)
    table = pa.Table.from_arrays(columns, names=table.column_names)
    pq.write_table(table, path, compression="zstd")


def generate_synthetic_icb(seed: int, n_patients: int, n_practices: int) -> SyntheticICB:
    """Generate an LLR-shaped synthetic ICB from the seed.

    Args:
        seed: Seed of every random draw; the same seed gives the same ICB.
        n_patients: Patients to generate (LLR: about 1.1 million).
        n_practices: Practices (LLR: 127). Three places and several PCNs are kept while there
            are enough practices.

    The sizes have no defaults here: a run takes them from ``data.synthetic`` and
    ``pcfm synth`` from the same schema, so there is one place that says what they are.

    Raises:
        SynthInputError: if the sizes are not positive or there are fewer patients than practices.
    """
    if n_practices < 1 or n_patients < 1:
        raise SynthInputError(
            f"synthetic ICB: n_patients ({n_patients}) and n_practices ({n_practices}) must be "
            "at least 1"
        )
    if n_patients < n_practices:
        raise SynthInputError(
            f"synthetic ICB: {n_patients} patients cannot fill {n_practices} practices"
        )
    streams = _streams(seed)
    practices, counts = population.synthetic_practices(
        streams["practices"], n_patients, n_practices
    )
    return _simulate(practices, counts, streams, real_funding=False)


def generate_icb_for_practices(
    practices: pd.DataFrame,
    list_by_age_sex: pd.DataFrame,
    seed: int,
    prevalence: pd.DataFrame | None = None,
) -> SyntheticICB:
    """Simulate patients, areas, morbidity and activity for real practices and their lists.

    Args:
        practices: The contract's practice columns (practice_code, practice_name, pcn_code,
            pcn_name, place, registered_list, current_funding_gbp; optional
            carr_hill_weighted_list and imd_score). Real ``current_funding_gbp`` is kept where
            given; missing funding is made from the Carr-Hill 2007 age-sex weights.
        list_by_age_sex: practice_code, sex ('F'/'M'), age_band ('0-4', ..., '85+', or finer
            bands up to '95+', folded into '85+'), patients.
        seed: Seed of every random draw.
        prevalence: Optional per-practice prevalence of some conditions, e.g. from the QOF
            registers (:func:`pcfm.inputs.public.qof_conditions.practice_prevalence`, its
            ``.table``): practice_code, condition (a key of ``CAMBRIDGE_WEIGHTS``), prevalence
            (a fraction of the practice's patients aged min_age and over) and min_age. Each
            practice and condition given is drawn so that its expected prevalence among the
            synthetic patients aged min_age and over equals the one given, by shifting the
            condition's intercept for the practice; age, sex, deprivation and frailty keep
            their effects within the practice, and ``ltc_count`` is the sum of the flags drawn.
            Practices with no row (e.g. practices newer than the QOF year) and conditions with
            no row (those without a QOF register) keep the synthetic prevalence, drawn exactly
            as without ``prevalence``. What was calibrated is returned in
            ``morbidity_calibration``. None (the default) draws every condition synthetically.

    Returns:
        The synthetic ICB; ``registered_list`` is the number of simulated patients, which equals
        the total of ``list_by_age_sex`` for the practice.

    Raises:
        SynthInputError: naming the table, column, number of rows and the first offending values.
    """
    practices = population.check_practices(practices)
    counts = population.counts_from_list(list_by_age_sex, practices["practice_code"])
    targets = (
        None
        if prevalence is None
        else morbidity.prevalence_targets(prevalence, practices["practice_code"])
    )
    streams = _streams(seed)
    if "imd_score" not in practices.columns:
        practices["imd_score"] = np.nan
    return _simulate(practices, counts, streams, real_funding=True, targets=targets)


def write_synthetic_icb(
    out_dir: Path, seed: int, n_patients: int, n_practices: int
) -> SyntheticICB:
    """Generate the LLR-shaped synthetic ICB and write it to ``out_dir``."""
    icb = generate_synthetic_icb(seed, n_patients=n_patients, n_practices=n_practices)
    icb.write(Path(out_dir))
    return icb


def _streams(seed: int) -> dict[str, np.random.Generator]:
    """Independent random streams per stage, so changing one stage leaves the others alone."""
    names = ("practices", "areas", "patients", "flags", "conditions", "supply", "activity",
             "funding")  # fmt: skip
    children = np.random.SeedSequence(seed).spawn(len(names))
    return {name: np.random.default_rng(child) for name, child in zip(names, children, strict=True)}


def _simulate(
    practices: pd.DataFrame,
    counts: np.ndarray,
    streams: dict[str, np.random.Generator],
    real_funding: bool,
    targets: morbidity.PrevalenceTargets | None = None,
) -> SyntheticICB:
    """Patients, activity, funding and truth for practices with lists ``counts``."""
    n_practices = len(practices)
    list_sizes = counts.sum(axis=(1, 2))

    target_scores = population.target_imd_scores(practices)
    areas, area_of_patients = population.draw_areas(
        streams["areas"], practices, target_scores, list_sizes
    )
    places = population.shape_places(practices["place"], target_scores)
    people = population.draw_patients(
        streams["patients"], streams["flags"], counts, areas, area_of_patients, places
    )
    conditions, ltc_count, calibration = morbidity.draw_conditions(
        streams["conditions"],
        people.age,
        people.is_male,
        people.quintile,
        practice_index=people.practice_index,
        targets=targets,
    )

    need_rate = truth.need_rate(
        people.is_male,
        people.band_index,
        people.quintile,
        ltc_count,
        people.newly_registered,
        people.care_home,
        people.interpreter,
    )
    exposure = people.exposure
    need = exposure * need_rate
    practice_index = people.practice_index
    practice_imd = np.bincount(practice_index, people.area_score, n_practices) / np.maximum(
        list_sizes, 1
    )
    supply = activity.draw_supply(streams["supply"], practice_imd)
    rng = streams["activity"]
    contacts = activity.draw_contacts(rng, need * supply[practice_index])

    n = practice_index.size
    patient_ids = pd.array(
        pc.binary_join_element_wise(
            "S", pc.utf8_lpad(pa.array(np.arange(1, n + 1)).cast(pa.string()), 8, "0"), ""
        ),
        dtype="str",
    )
    practice_codes = practices["practice_code"].astype(str).to_numpy()
    patients = pd.DataFrame({
        "patient_id": patient_ids,
        "practice_code": _take_strings(practice_codes, practice_index),
        "age": people.age.astype(np.int64),
        "sex": _take_strings(np.array(truth.SEXES), people.is_male),
        "lsoa_code": _take_strings(areas["area_code"].to_numpy(), people.area_index),
        "days_registered": people.days_registered,
        "newly_registered": people.newly_registered,
        "care_home": people.care_home,
        "interpreter_needed": people.interpreter,
        "ltc_count": ltc_count,
        **conditions,
    })  # fmt: skip
    appointments = activity.appointments(
        rng, patient_ids, contacts, people.days_registered, people.care_home, people.interpreter
    )

    out = practices.loc[:, ["practice_code", "practice_name", "pcn_code", "pcn_name", "place"]]
    out = out.copy()
    out["registered_list"] = list_sizes.astype(np.int64)
    weighted_list = funding.carr_hill_weighted_list(
        people.is_male, people.age, practice_index, n_practices
    )
    out["current_funding_gbp"], out["carr_hill_weighted_list"] = funding.practice_funding(
        streams["funding"], practices, weighted_list, real_funding
    )
    reported_imd = population.reported_imd_scores(practices, practice_imd, real_funding)
    out["imd_score"] = reported_imd.astype(float)
    for column in PASSED_THROUGH:  # what the real practices' sources say, kept as given
        if column in practices.columns:
            out[column] = practices[column].to_numpy()
    out = out.reset_index(drop=True)

    need_by_practice, need_index = truth.practice_need(need, exposure, practice_index, n_practices)
    true_need_index = pd.DataFrame(
        {"practice_code": out["practice_code"], "need_index": need_index}
    )
    true_supply = pd.DataFrame({
        "practice_code": out["practice_code"],
        "supply_factor": supply,
        "expected_need_contacts": need_by_practice,
        "expected_delivered_contacts": need_by_practice * supply,
    })  # fmt: skip

    _check_contract_columns("patients", patients)
    _check_contract_columns("activity", appointments)
    _check_contract_columns("practices", out)
    _check_contract_columns("areas", areas)
    return SyntheticICB(
        patients=patients,
        activity=appointments,
        practices=out,
        areas=areas,
        true_effects=truth.true_effects_frame(),
        true_need_index=true_need_index,
        true_supply=true_supply,
        morbidity_calibration=calibration if targets is not None else pd.DataFrame(),
    )


def _take_strings(values: np.ndarray, index: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """``values[index]`` as a pandas string array, built in Arrow (fast for millions of rows)."""
    return pd.array(pa.array(values.astype(str), type=pa.string()).take(index), dtype="str")


#: Optional practice columns of real practices that the generator passes through unchanged.
PASSED_THROUGH = ("place_source", "special_service")


def _check_contract_columns(stem: str, frame: pd.DataFrame) -> None:
    """Guard against drift: every required contract column is produced, and nothing unknown."""
    table = TABLES[stem]
    known = {c.name for c in table.columns}
    missing = [c for c in table.required_columns if c not in frame.columns]
    unknown = [c for c in frame.columns if c not in known]
    if missing or unknown:
        raise AssertionError(f"synthetic {stem}: missing {missing}, not in contract {unknown}")
