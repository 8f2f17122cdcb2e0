"""The command line takes its settings from the parameter schema, never its own copies."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from pcfm.cli import SYNTH_OPTIONS, build_parser, main
from pcfm.inputs.synthetic import write_synthetic_icb
from pcfm.params import Params, params_from_dict, schema_field

pytestmark = pytest.mark.unit


def _digests(folder: Path) -> dict[str, str]:
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_synth_defaults_are_the_schemas() -> None:
    args = build_parser().parse_args(["synth", "--out", "anywhere"])
    schema = params_from_dict({"run_name": "defaults"})
    assert args.seed == schema.seed
    assert args.patients == schema.data.synthetic.n_patients
    assert args.practices == schema.data.synthetic.n_practices


def test_synth_help_is_the_schemas_description(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "1000")  # no wrapping inside hyphenated words
    with pytest.raises(SystemExit):
        main(["synth", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    for option, key in SYNTH_OPTIONS.items():
        description = schema_field(key).description
        assert description
        assert option in shown
        assert " ".join(description.rstrip(".").split()) in shown, key


def test_schema_field_follows_dotted_keys() -> None:
    assert schema_field("seed") is Params.model_fields["seed"]
    assert schema_field("data.synthetic.n_practices").get_default() == 24
    with pytest.raises(KeyError, match="not in the parameter schema"):
        schema_field("data.synthetic.n_pcns")
    with pytest.raises(KeyError, match="not a section"):
        schema_field("seed.value")


def test_synth_writes_what_the_generator_writes(tmp_path: Path) -> None:
    options = ["--seed", "5", "--patients", "400", "--practices", "4"]
    assert main(["synth", "--out", str(tmp_path / "cli"), *options]) == 0
    write_synthetic_icb(tmp_path / "direct", seed=5, n_patients=400, n_practices=4)
    written = _digests(tmp_path / "cli")
    assert "patients.parquet" in written
    assert written == _digests(tmp_path / "direct")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--patients", "0"], "data.synthetic.n_patients: Input should be greater than 0"),
        (["--practices", "2001"], "data.synthetic.n_practices: Input should be less than"),
        (["--seed", "-1"], "seed: Input should be greater than or equal to 0"),
        (["--icb", "QK1"], "--icb is used only with --from-public"),
        (["--from-public", "nowhere"], "--from-public needs --icb"),
    ],
)
def test_synth_refuses_what_the_schema_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str], message: str
) -> None:
    assert main(["synth", "--out", str(tmp_path / "out"), *options]) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
