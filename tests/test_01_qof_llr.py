"""The synthetic patients of LLR's real practices, calibrated to their QOF registers.

``pcfm synth --from-public``'s inputs for LLR (QK1) as :func:`assemble_public_icb` gives them,
generated twice with the same seed: by default and with each practice's QOF 2020-21
prevalence (:func:`practice_prevalence`), one practice's rows left out to stand for a practice
newer than the QOF year. The drawn prevalences are compared with the registers from the
patients table itself. Skipped, with the reason, where ``../shared/data/public`` is absent.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pcfm.data.contract import CAMBRIDGE_WEIGHTS
from pcfm.inputs.from_public import assemble_public_icb
from pcfm.inputs.public.qof_conditions import CONDITIONS_NOT_IN_QOF, practice_prevalence
from pcfm.inputs.synthetic import generate_icb_for_practices

pytestmark = pytest.mark.integration
real_files = pytest.mark.public_data

SEED = 20250401


@pytest.fixture(scope="module")
def llr(public_data_dir: Path):
    """LLR's practices as `pcfm synth --from-public` assembles them, default and calibrated.

    One practice's QOF rows are left out of the table, to stand for a practice newer than the
    QOF year.
    """
    inputs = assemble_public_icb(public_data_dir, "QK1")
    qof = practice_prevalence(public_data_dir, inputs.practices["practice_code"])
    new_practice = str(inputs.practices["practice_code"].iloc[3])
    table = qof.table[qof.table["practice_code"] != new_practice]
    default = generate_icb_for_practices(inputs.practices, inputs.list_by_age_sex, SEED)
    calibrated = generate_icb_for_practices(
        inputs.practices, inputs.list_by_age_sex, SEED, prevalence=table
    )
    return {"inputs": inputs, "qof": qof, "table": table, "new_practice": new_practice,
            "default": default.patients, "calibrated": calibrated}  # fmt: skip


def _z_scores(patients: pd.DataFrame, table: pd.DataFrame) -> pd.Series:
    """Drawn minus QOF prevalence per practice and condition, in binomial standard errors."""
    rows = []
    for (condition, min_age), targets in table.groupby(["condition", "min_age"]):
        eligible = patients[patients["age"] >= min_age]
        drawn = eligible.groupby("practice_code")[f"cond_{condition}"].agg(["mean", "size"])
        merged = targets.set_index("practice_code").join(drawn, how="inner")
        rows.append(merged.assign(condition=condition))
    merged = pd.concat(rows)
    p = merged["prevalence"]
    se = np.sqrt(p * (1 - p) / merged["size"])
    return ((merged["mean"] - p) / se).where(se > 0, 0.0)


@real_files
def test_01_qof_llr_practices_match_their_qof_prevalence(llr) -> None:
    z = _z_scores(llr["calibrated"].patients, llr["table"])
    assert len(z) == len(llr["table"]) > 1_700  # 127 practices x 14 conditions, a few excluded
    assert (z.abs() > 4).mean() < 0.005
    assert abs(z.mean()) < 0.15 and z.std() < 1.1  # conditional on frailty: at most binomial
    # The test can fail: the synthetic default misses many practices' registers by far more.
    z_default = _z_scores(llr["default"], llr["table"])
    assert (z_default.abs() > 4).mean() > 0.2


@real_files
def test_01_qof_llr_calibration_keeps_everything_else(llr) -> None:
    patients = llr["calibrated"].patients
    default = llr["default"]
    assert list(patients.columns) == list(default.columns)
    for column in ("patient_id", "practice_code", "age", "sex", "lsoa_code", "care_home"):
        assert patients[column].equals(default[column])
    # Conditions with no QOF register are drawn exactly as by default.
    for condition in CONDITIONS_NOT_IN_QOF:
        assert patients[f"cond_{condition}"].equals(default[f"cond_{condition}"])
    # The practice with no QOF row is untouched, and not reported as calibrated.
    new = patients["practice_code"] == llr["new_practice"]
    flags = [f"cond_{name}" for name in CAMBRIDGE_WEIGHTS] + ["ltc_count"]
    pd.testing.assert_frame_equal(patients.loc[new, flags], default.loc[new, flags])
    calibration = llr["calibrated"].morbidity_calibration
    assert llr["new_practice"] not in set(calibration["practice_code"])
    assert len(calibration) == len(llr["table"])
    # ltc_count stays the number of flags.
    assert (patients["ltc_count"] == patients[flags[:-1]].sum(axis=1)).all()
    # Within a practice the age pattern is kept: hypertension far commoner at 65+ than 18-64.
    for code in calibration["practice_code"].unique()[:20]:
        practice = patients[patients["practice_code"] == code]
        older = practice.loc[practice["age"] >= 65, "cond_hypertension"].mean()
        younger = practice.loc[practice["age"].between(18, 64), "cond_hypertension"].mean()
        assert older > 2 * younger


@real_files
def test_01_qof_llr_same_seed_same_patients(llr) -> None:
    inputs = llr["inputs"]
    again = generate_icb_for_practices(
        inputs.practices, inputs.list_by_age_sex, SEED, prevalence=llr["table"]
    )

    def digest(frame: pd.DataFrame) -> str:
        return hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).values).hexdigest()

    assert digest(again.patients) == digest(llr["calibrated"].patients)
    pd.testing.assert_frame_equal(
        again.morbidity_calibration, llr["calibrated"].morbidity_calibration
    )


@real_files
def test_01_qof_every_llr_practice_has_a_qof_row(llr) -> None:
    # Every practice kept from the latest registration extract has QOF 2020-21 registers, and
    # none of its rows is unusable; the "new practice" above is simulated by leaving one out.
    assert llr["qof"].missing_practices == ()
    assert llr["qof"].excluded.empty
