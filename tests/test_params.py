"""The parameter schema: documented, strict, and clear about what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from pcfm.params import ParameterError, Params, load_params, params_from_dict
from pcfm.params.reference import parameter_reference

pytestmark = pytest.mark.unit


def _sections(model: type[BaseModel], prefix: str = "") -> list[tuple[str, object]]:
    found = []
    for name, field in model.model_fields.items():
        found.append((f"{prefix}{name}", field))
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found.extend(_sections(annotation, f"{prefix}{name}."))
    return found


def test_every_field_has_a_description() -> None:
    missing = [key for key, field in _sections(Params) if not (field.description or "").strip()]
    assert missing == []


def test_every_parameter_file_in_params_folder_loads(project_root: Path) -> None:
    files = sorted((project_root / "params").glob("*.yml"))
    assert files, "no parameter files"
    for path in files:
        assert load_params(path).run_name


def test_unknown_key_names_file_and_dotted_key(tmp_path: Path) -> None:
    path = tmp_path / "p.yml"
    path.write_text("run_name: x\nmodel:\n  familly: poisson\n")
    with pytest.raises(ParameterError) as error:
        load_params(path)
    assert str(path) in str(error.value)
    assert "model.familly: unknown key" in str(error.value)


def test_wrong_type_and_out_of_range_are_named(tmp_path: Path) -> None:
    path = tmp_path / "p.yml"
    path.write_text("run_name: x\nseed: -1\nallocation:\n  budget_gbp: lots\n")
    with pytest.raises(ParameterError) as error:
        load_params(path)
    message = str(error.value)
    assert "seed:" in message and "greater than or equal to 0" in message
    assert "allocation.budget_gbp:" in message and "'lots'" in message


def test_folder_source_needs_a_folder() -> None:
    with pytest.raises(ParameterError, match=r"data\.folder is required"):
        params_from_dict({"run_name": "x", "data": {"source": "folder"}})


def test_not_yaml_and_missing_file_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="cannot read"):
        load_params(tmp_path / "absent.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("run_name: [unclosed\n")
    with pytest.raises(ParameterError, match="not valid YAML"):
        load_params(bad)


def test_relative_folder_resolves_against_the_parameter_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "p.yml"
    path.parent.mkdir()
    path.write_text("run_name: x\ndata:\n  source: folder\n  folder: ../inputs\n")
    params = load_params(path).with_absolute_paths()
    assert params.data.folder == (tmp_path / "inputs").resolve()


def test_reference_lists_every_leaf_with_value(project_root: Path) -> None:
    params = load_params(project_root / "params" / "demo.yml")
    reference = parameter_reference(params)
    assert reference["description"].str.len().min() > 0
    row = reference.set_index("parameter").loc["allocation.budget_gbp"]
    assert row["value"] == params.allocation.budget_gbp
    assert "source_path" not in set(reference["parameter"])


def test_yaml_round_trip_gives_the_same_parameters(project_root: Path, tmp_path: Path) -> None:
    params = load_params(project_root / "params" / "demo.yml")
    copy = tmp_path / "copy.yml"
    copy.write_text(params.to_yaml())
    assert load_params(copy).model_dump() == params.model_dump()


def test_duplicate_keys_are_errors_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "p.yml"
    path.write_text("run_name: x\nallocation:\n  budget_gbp: 100\n  budget_gbp: 200\n")
    with pytest.raises(ParameterError, match=r"line 4: duplicate key 'budget_gbp'.*line 3"):
        load_params(path)


def test_anchor_bomb_is_refused_quickly_with_a_short_message(tmp_path: Path) -> None:
    # the "billion laughs": nine levels of nine aliases expand to 9**9 strings
    lines = ["run_name: x", 'a0: &a0 ["lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    path = tmp_path / "bomb.yml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ParameterError, match="anchors and aliases") as error:
        load_params(path)
    assert len(str(error.value)) < 500


def test_a_single_alias_is_refused_too(tmp_path: Path) -> None:
    path = tmp_path / "p.yml"
    path.write_text("run_name: x\nseed: &s 7\nmodel:\n  cv_folds: *s\n")
    with pytest.raises(ParameterError, match="line 2: YAML anchors"):
        load_params(path)


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan"])
def test_non_finite_numbers_are_errors(tmp_path: Path, value: str) -> None:
    path = tmp_path / "p.yml"
    path.write_text(f"run_name: x\nallocation:\n  budget_gbp: {value}\n")
    with pytest.raises(ParameterError, match=r"allocation\.budget_gbp: .*finite"):
        load_params(path)


def test_a_huge_value_is_shown_cut_short(tmp_path: Path) -> None:
    path = tmp_path / "p.yml"
    path.write_text(f"run_name: x\nallocation:\n  budget_gbp: {'9' * 5000}x\n")
    with pytest.raises(ParameterError) as error:
        load_params(path)
    assert "allocation.budget_gbp" in str(error.value)
    assert len(str(error.value)) < 500


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("threshold: 0", r"disclosure\.threshold: .*greater than or equal to 7"),
        ("rounding_base: 1", r"disclosure\.rounding_base: .*greater than or equal to 5"),
        ("rounding_base: 12", r"disclosure\.rounding_base: .*multiple of 5"),
    ],
)
def test_the_nhs_disclosure_rule_is_a_floor(tmp_path: Path, section: str, message: str) -> None:
    path = tmp_path / "p.yml"
    path.write_text(f"run_name: x\ndisclosure:\n  {section}\n")
    with pytest.raises(ParameterError, match=message):
        load_params(path)
    stricter = params_from_dict({"run_name": "x", "disclosure": {"threshold": 10}})
    assert stricter.disclosure.threshold == 10
    assert (
        params_from_dict(
            {"run_name": "x", "disclosure": {"rounding_base": 10}}
        ).disclosure.rounding_base
        == 10
    )


def test_the_reference_period_is_one_year_matching_days_in_year() -> None:
    folder = {"source": "folder", "folder": "data"}
    leap = params_from_dict(
        {
            "run_name": "x",
            "data": {
                **folder,
                "reference_period": {"start": "2023-04-01", "end": "2024-03-31"},
                "days_in_year": 366,
            },
        }
    )
    assert leap.data.reference_period.days == 366
    cases = {
        "is before start": {"start": "2025-04-01", "end": "2024-03-31"},
        "has 31 days": {"start": "2024-04-01", "end": "2024-05-01"},
    }
    for message, period in cases.items():
        with pytest.raises(ParameterError, match=message):
            params_from_dict({"run_name": "x", "data": {**folder, "reference_period": period}})
    with pytest.raises(ParameterError, match=r"data.days_in_year \(366\) is not the length"):
        params_from_dict({"run_name": "x", "data": {**folder, "days_in_year": 366}})
    with pytest.raises(ParameterError, match="the built-in synthetic ICB describes"):
        params_from_dict(
            {
                "run_name": "x",
                "data": {"reference_period": {"start": "2024-04-02", "end": "2025-04-01"}},
            }
        )


def test_the_parameter_reference_publishes_no_absolute_path(tmp_path: Path) -> None:
    folder = tmp_path / "someone" / "data" / "llr-public"
    params = params_from_dict(
        {"run_name": "x", "data": {"source": "folder", "folder": str(folder)}}
    )
    table = parameter_reference(params).set_index("parameter")
    assert table.loc["data.folder", "value"] == ".../llr-public"
    assert not table["value"].astype(str).str.contains(str(tmp_path), regex=False).any()
    relative = params_from_dict({"run_name": "x", "data": {"source": "folder", "folder": "../d"}})
    assert parameter_reference(relative).set_index("parameter").loc["data.folder", "value"] == (
        "../d"
    )
