"""The output checker catches every kind of leak, in every format, and names the place.

Each test plants one leak in a small hand-made run folder that is otherwise clean, so a
finding can only come from the planted leak and a miss is a real miss.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import matplotlib
import nbformat
import pandas as pd
import pytest
from matplotlib.figure import Figure

from pcfm.base.disclosure.check import (
    CheckOutputsError,
    check_run_folder,
    is_searchable_identifier,
)
from pcfm.base.disclosure.columns import (
    is_controlled_count_column,
    is_count_column,
    is_list_size_column,
    normalise_column_name,
)
from pcfm.cli import main

pytestmark = pytest.mark.unit

PATIENT_IDS = ["S00000042", "S00000043", "9434765919", "77"]
LEAKED_ID = "S00000042"


def _notebook(cells: list[nbformat.NotebookNode]) -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook(cells=cells)
    for number, cell in enumerate(notebook.cells):
        cell["id"] = f"c{number}"
    return notebook


def _code_cell(source: str, outputs: list[dict]) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    cell.outputs = [nbformat.from_dict(o) for o in outputs]
    return cell


def _markdown_output(text: str) -> dict:
    return {"output_type": "display_data", "data": {"text/markdown": text}, "metadata": {}}


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A clean run folder: every format the checker reads, no leak anywhere."""
    root = tmp_path / "run"
    (root / "restricted" / "input").mkdir(parents=True)
    (root / "publishable" / "figures").mkdir(parents=True)
    (root / "notebooks" / "statements").mkdir(parents=True)
    (root / "report" / "site_libs").mkdir(parents=True)
    (root / "params.yml").write_text(
        "run_name: planted\ndisclosure:\n  threshold: 7\n  rounding_base: 5\n"
    )
    pd.DataFrame({"patient_id": PATIENT_IDS, "age": [1, 2, 3, 4]}).to_parquet(
        root / "restricted" / "input" / "patients.parquet"
    )
    pd.DataFrame(
        {"place": ["City", "County", "Rural"], "patients": ["8260", "*", "0"], "rate": [1, 2, 3]}
    ).to_csv(root / "publishable" / "summary.csv", index=False)
    pd.DataFrame({"practice_code": ["P1", "P2"], "registered_list": [502, 8]}).to_csv(
        root / "publishable" / "allocation.csv", index=False
    )
    (root / "publishable" / "summary.json").write_text(json.dumps({"n_practices": 3}))
    notebook = _notebook(
        [
            nbformat.v4.new_markdown_cell("# Data"),
            _code_cell(
                "show()",
                [
                    _markdown_output("| place | patients |\n|:--|--:|\n| City | 8260 |"),
                    {"output_type": "stream", "name": "stdout", "text": "fitted 3 models\n"},
                ],
            ),
        ]
    )
    nbformat.write(notebook, root / "notebooks" / "01_data.ipynb")
    (root / "report" / "index.html").write_text(
        "<html><body><table><tr><th>Place</th><th>Patients</th></tr>"
        "<tr><td>City</td><td>8,260</td></tr></table></body></html>"
    )
    (root / "report" / "site_libs" / "quarto.js").write_text(f"var x = '{LEAKED_ID}';")
    return root


def _kinds(run_dir: Path) -> list[tuple[str, str]]:
    return [(f.file, f.kind) for f in check_run_folder(run_dir)]


def test_the_clean_folder_passes(run_dir: Path) -> None:
    assert check_run_folder(run_dir) == []


def test_a_small_count_in_a_csv_is_caught_with_row_and_column(run_dir: Path) -> None:
    path = run_dir / "publishable" / "summary.csv"
    table = pd.read_csv(path, dtype=str)
    table.loc[1, "patients"] = "3"
    table.to_csv(path, index=False)
    findings = check_run_folder(run_dir)
    assert [(f.file, f.kind) for f in findings] == [("publishable/summary.csv", "small_count")]
    assert "row 2" in findings[0].place and "'patients'" in findings[0].place
    assert "threshold 7" in str(findings[0])


def test_an_unrounded_count_is_caught_but_an_unrounded_list_size_is_not(run_dir: Path) -> None:
    path = run_dir / "publishable" / "summary.csv"
    table = pd.read_csv(path, dtype=str)
    table.loc[0, "patients"] = "8261"
    table.to_csv(path, index=False)
    assert _kinds(run_dir) == [("publishable/summary.csv", "unrounded_count")]


def test_a_small_list_size_is_caught(run_dir: Path) -> None:
    pd.DataFrame({"practice_code": ["P1", "P2"], "registered_list": [502, 7]}).to_csv(
        run_dir / "publishable" / "allocation.csv", index=False
    )
    assert _kinds(run_dir) == [("publishable/allocation.csv", "small_count")]


def test_the_threshold_comes_from_the_run_parameters(run_dir: Path) -> None:
    (run_dir / "params.yml").write_text(
        "run_name: planted\ndisclosure:\n  threshold: 10\n  rounding_base: 5\n"
    )
    # registered_list 8 is now within the threshold
    assert _kinds(run_dir) == [("publishable/allocation.csv", "small_count")]


def test_a_looser_rule_edited_into_the_run_parameters_does_not_pass(run_dir: Path) -> None:
    (run_dir / "params.yml").write_text(
        "run_name: planted\ndisclosure:\n  threshold: 0\n  rounding_base: 1\n"
    )
    with pytest.raises(ValueError, match=r"disclosure\.threshold: .*greater than or equal to 7"):
        check_run_folder(run_dir)


def test_a_patient_id_in_a_csv_is_caught_without_printing_it(run_dir: Path) -> None:
    pd.DataFrame({"patient_id": [LEAKED_ID], "workload": [3.0]}).to_csv(
        run_dir / "publishable" / "leak.csv", index=False
    )
    findings = check_run_folder(run_dir)
    assert [(f.file, f.kind) for f in findings] == [("publishable/leak.csv", "patient_identifier")]
    assert LEAKED_ID not in str(findings[0])
    assert "line 2" in findings[0].place


def test_a_patient_id_in_a_notebook_output_is_caught_with_cell_and_output(run_dir: Path) -> None:
    path = run_dir / "notebooks" / "statements" / "P1.ipynb"
    notebook = _notebook(
        [_code_cell("x", [{"output_type": "stream", "name": "stdout", "text": f"{LEAKED_ID}\n"}])]
    )
    nbformat.write(notebook, path)
    findings = check_run_folder(run_dir)
    assert [(f.file, f.kind) for f in findings] == [
        ("notebooks/statements/P1.ipynb", "patient_identifier")
    ]
    assert findings[0].place.startswith("cell 1 output 1")


def test_a_small_count_in_a_notebook_markdown_table_is_caught(run_dir: Path) -> None:
    path = run_dir / "notebooks" / "01_data.ipynb"
    notebook = nbformat.read(path, as_version=4)
    notebook.cells[1].outputs[0]["data"]["text/markdown"] = (
        "| place | patients |\n|:--|--:|\n| City | 8260 |\n| Rutland | 4 |"
    )
    nbformat.write(notebook, path)
    findings = check_run_folder(run_dir)
    assert [(f.file, f.kind) for f in findings] == [("notebooks/01_data.ipynb", "small_count")]
    assert "cell 2 output 1" in findings[0].place and "row 2" in findings[0].place


def test_a_small_count_in_a_rendered_html_table_is_caught(run_dir: Path) -> None:
    (run_dir / "report" / "board-paper.html").write_text(
        "<table><thead><tr><th>PCN</th><th>Number of patients</th></tr></thead>"
        "<tbody><tr><td>A</td><td>1,200</td></tr><tr><td>B</td><td>2</td></tr></tbody></table>"
    )
    findings = check_run_folder(run_dir)
    assert [(f.file, f.kind) for f in findings] == [("report/board-paper.html", "small_count")]


def test_quartos_own_scripts_are_not_scanned(run_dir: Path) -> None:
    assert not any("site_libs" in f.file for f in check_run_folder(run_dir))


def _write_docx(path: Path, paragraph: str, rows: list[list[str]]) -> None:
    cells = "".join(
        "<w:tr>"
        + "".join(f"<w:tc><w:p><w:r><w:t>{c}</w:t></w:r></w:p></w:tc>" for c in row)
        + "</w:tr>"
        for row in rows
    )
    xml = (
        '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        f"<w:body><w:p><w:r><w:t>{paragraph}</w:t></w:r></w:p><w:tbl>{cells}</w:tbl>"
        "</w:body></w:document>"
    )
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("word/document.xml", xml)


def test_leaks_in_a_word_document_are_caught(run_dir: Path) -> None:
    path = run_dir / "report" / "board-paper.docx"
    _write_docx(path, "Nothing to see", [["Place", "Patients"], ["City", "8260"]])
    assert check_run_folder(run_dir) == []
    _write_docx(path, f"Patient {LEAKED_ID}", [["Place", "Patients"], ["City", "5"]])
    assert sorted(_kinds(run_dir)) == [
        ("report/board-paper.docx", "patient_identifier"),
        ("report/board-paper.docx", "small_count"),
    ]


def test_a_patient_id_in_a_pdf_is_caught(run_dir: Path) -> None:
    figure = Figure()
    figure.text(0.1, 0.5, f"Statement for {LEAKED_ID}")
    with matplotlib.rc_context({"pdf.fonttype": 42}):
        figure.savefig(run_dir / "report" / "statements.pdf")
    assert _kinds(run_dir) == [("report/statements.pdf", "patient_identifier")]


def test_a_small_count_in_the_workbook_and_json_is_caught(run_dir: Path) -> None:
    pd.DataFrame({"place": ["City"], "patients": [6]}).to_excel(
        run_dir / "publishable" / "tables.xlsx", index=False, sheet_name="by_place"
    )
    (run_dir / "publishable" / "summary.json").write_text(json.dumps({"n_patients": 6}))
    assert sorted(_kinds(run_dir)) == [
        ("publishable/summary.json", "small_count"),
        ("publishable/tables.xlsx", "small_count"),
    ]


CLEAN_LOG = (
    "2026-04-01 10:00:00,000 INFO    pcfm.pipeline.run: stage 2/12 01_data: started\n"
    "2026-04-01 10:00:01,000 DEBUG   pcfm.base.kernels: kernel-1a2b3c4d: started over IPC\n"
    "2026-04-01 10:00:09,000 INFO    pcfm.pipeline.run: executing <build>/.demo.x.partial/"
    "notebooks/01_data.ipynb with ~/.venv/bin/python\n"
)


def test_the_run_log_is_checked_for_patient_ids_and_home_folder_paths(run_dir: Path) -> None:
    log = run_dir / "run.log"
    log.write_text(CLEAN_LOG)
    assert check_run_folder(run_dir) == []
    log.write_text(
        CLEAN_LOG
        + f"2026-04-01 10:00:10,000 ERROR   pcfm.data: patient {LEAKED_ID} has no practice\n"
        + "2026-04-01 10:00:11,000 DEBUG   nbclient: File /home/alice/pcfm/.venv/lib/x.py\n"
        + "2026-04-01 10:00:12,000 DEBUG   papermill: C:\\Users\\bob\\pcfm\\notebooks\n"
    )
    findings = check_run_folder(run_dir)
    assert [(f.file, f.kind, f.place) for f in findings] == [
        ("run.log", "patient_identifier", "text, line 4"),
        ("run.log", "home_folder_path", "text, line 5"),
        ("run.log", "home_folder_path", "text, line 6"),
    ]
    shown = " ".join(str(f) for f in findings)
    assert LEAKED_ID not in shown and "alice" not in shown and "bob" not in shown


def test_this_machines_home_folder_is_found_wherever_it_is(run_dir: Path) -> None:
    from pcfm.base.disclosure.check import home_folder_paths

    assert home_folder_paths("at /srv/people/carol/pcfm", home="/srv/people/carol") == 1
    assert home_folder_paths("at /srv/people/carolyn/pcfm", home="/srv/people/carol") == 0
    assert home_folder_paths("at ~/pcfm and <build>/demo and /rooted", home="/srv/x") == 0
    assert home_folder_paths("/root/.cache and /Users/dave", home="/srv/x") == 2
    (run_dir / "run.log").write_text(f"DEBUG papermill: {Path.home() / 'pcfm'}\n")
    assert _kinds(run_dir) == [("run.log", "home_folder_path")]


def test_an_nhs_number_is_searched_but_a_short_numeric_id_is_not(run_dir: Path) -> None:
    (run_dir / "publishable" / "notes.md").write_text("Called 77 times; 9434765919 wrote.\n")
    assert _kinds(run_dir) == [("publishable/notes.md", "patient_identifier")]
    assert is_searchable_identifier("9434765919")
    assert not is_searchable_identifier("77")
    assert not is_searchable_identifier("123456789")
    assert is_searchable_identifier("S00000042")


def test_the_cli_exits_non_zero_naming_file_and_place(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check-outputs", str(run_dir)]) == 0
    (run_dir / "report" / "extra.html").write_text(f"<p>{LEAKED_ID}</p>")
    assert main(["check-outputs", str(run_dir)]) == 1
    out = capsys.readouterr().out
    assert "report/extra.html: text, line 1" in out
    assert LEAKED_ID not in out


def test_a_folder_that_is_not_a_run_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CheckOutputsError, match="not a run folder"):
        check_run_folder(tmp_path)
    (tmp_path / "params.yml").write_text("run_name: x\n")
    with pytest.raises(CheckOutputsError, match="cannot find the run's patients table"):
        check_run_folder(tmp_path)
    assert main(["check-outputs", str(tmp_path)]) == 1


def test_the_count_column_convention() -> None:
    assert normalise_column_name("Registered list") == "registered_list"
    assert is_list_size_column("Registered list") and not is_controlled_count_column(
        "Registered list"
    )
    controlled = ("patients", "Patients", "n_patients", "rows", "new_patients", "care_home_people")
    # person-years of a small group give away how many people it has
    for name in (*controlled, "person_years", "Person years"):
        assert is_controlled_count_column(name), name
    for name in ("need_weighted_list", "practices", "workload_per_person_year"):
        assert not is_count_column(name), name
