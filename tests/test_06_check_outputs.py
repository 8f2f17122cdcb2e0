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
        {"place": ["City", "County", "Rural"], "patients": ["8260", "*", "0"], "rate": [1, "*", 3]}
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
    (root / "report" / "site_libs" / "quarto.js").write_text("var x = 'S0000004';")
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


def test_quartos_own_scripts_are_scanned_too(run_dir: Path) -> None:
    (run_dir / "report" / "site_libs" / "quarto.js").write_text(f"var x = '{LEAKED_ID}';")
    assert _kinds(run_dir) == [("report/site_libs/quarto.js", "patient_identifier")]


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


# Issue 14: every file type, every column of counts, derived cells, prose, embedded ids.


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    import zlib

    body = kind + data
    return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")


def test_a_small_count_in_a_tsv_is_caught(run_dir: Path) -> None:
    (run_dir / "publishable" / "by_pcn.tsv").write_text("pcn\tpatients\nA\t1200\nB\t3\n")
    findings = check_run_folder(run_dir)
    assert [(f.file, f.kind) for f in findings] == [("publishable/by_pcn.tsv", "small_count")]
    assert findings[0].place == "table, row 2, column 'patients'"


def test_a_small_count_in_a_parquet_file_is_caught(run_dir: Path) -> None:
    pd.DataFrame({"place": ["City", "Rutland"], "n": [1200, 3]}).to_parquet(
        run_dir / "publishable" / "summary.parquet"
    )
    findings = check_run_folder(run_dir)
    assert [(f.file, f.kind) for f in findings] == [("publishable/summary.parquet", "small_count")]
    assert findings[0].place == "table, row 2, column 'n'"


def test_a_small_count_in_a_csv_inside_a_zip_is_caught(run_dir: Path) -> None:
    with zipfile.ZipFile(run_dir / "publishable" / "tables.zip", "w") as archive:
        archive.writestr("fine.csv", "place,patients\nCity,1200\n")
        archive.writestr("inner/by_place.csv", "place,count\nCity,1200\nRutland,3\n")
    findings = check_run_folder(run_dir)
    assert [(f.file, f.kind) for f in findings] == [("publishable/tables.zip", "small_count")]
    assert findings[0].place == "member 'inner/by_place.csv', table, row 2, column 'count'"


def test_a_patient_id_in_a_png_text_chunk_is_caught(run_dir: Path) -> None:
    figure = Figure()
    figure.add_subplot().plot([1, 2], [3, 4])
    path = run_dir / "publishable" / "figures" / "rates.png"
    figure.savefig(path, metadata={"Comment": "fitted rates"})
    assert check_run_folder(run_dir) == []  # matplotlib's own chunks are clean
    figure.savefig(path, metadata={"Comment": f"outlier: patient_{LEAKED_ID}"})
    findings = check_run_folder(run_dir)
    assert [(f.file, f.kind) for f in findings] == [
        ("publishable/figures/rates.png", "patient_identifier")
    ]
    assert "PNG tEXt chunk" in findings[0].place and "'Comment'" in findings[0].place
    assert LEAKED_ID not in str(findings[0])


def test_compressed_png_text_chunks_are_read_too(run_dir: Path) -> None:
    import zlib

    text = zlib.compress(f"Only 3 patients; {LEAKED_ID}".encode("latin-1"))
    png = (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"zTXt", b"Description\x00\x00" + text)
        + _png_chunk(b"IEND", b"")
    )
    (run_dir / "publishable" / "figures" / "notes.png").write_bytes(png)
    assert sorted(_kinds(run_dir)) == [
        ("publishable/figures/notes.png", "patient_identifier"),
        ("publishable/figures/notes.png", "small_count"),
    ]


def test_a_small_count_in_prose_is_caught(run_dir: Path) -> None:
    (run_dir / "report" / "board-paper.html").write_text(
        "<html><body><p>Only <strong>3 patients</strong> were registered.</p></body></html>"
    )
    findings = check_run_folder(run_dir)
    assert [(f.file, f.kind) for f in findings] == [("report/board-paper.html", "small_count")]
    assert findings[0].place.startswith("html prose, line")
    assert "'3 patients'" in findings[0].message


@pytest.mark.parametrize(
    "sentence",
    [
        "Only 3 patients were seen.",
        "It covers 5 people.",
        "with 2 (1.2%) registrations",
        "7 persons",
    ],
)
def test_each_word_for_people_makes_a_small_number_a_count(run_dir: Path, sentence: str) -> None:
    (run_dir / "publishable" / "notes.md").write_text(f"# Notes\n\n{sentence}\n")
    assert _kinds(run_dir) == [("publishable/notes.md", "small_count")]


def test_numbers_that_are_not_counts_of_people_in_prose_pass(run_dir: Path) -> None:
    """Years, percentages, codes, page numbers, rates, ranges and large counts are not read."""
    (run_dir / "publishable" / "notes.md").write_text(
        "In 2023 the ICB had 8,260 patients; see page 3 and table 4. Practice P1 has 12 "
        "patients over 90, 3.5% of patients are new, about 5 contacts per person-year; "
        "counts of 1 to 7 people and 1\u20137 people are suppressed; 6 patient-level rows "
        "stay restricted; figure 2: 40 people.\n"
    )
    assert check_run_folder(run_dir) == []


def test_a_count_with_its_share_in_a_cell_is_caught(run_dir: Path) -> None:
    (run_dir / "report" / "allocation-report.html").write_text(
        "<table><tr><th>Place</th><th>Patients (%)</th></tr>"
        "<tr><td>City</td><td>1,200 (98.8%)</td></tr>"
        "<tr><td>Rutland</td><td>3 (1.2%)</td></tr></table>"
    )
    findings = check_run_folder(run_dir)
    assert [(f.file, f.kind) for f in findings] == [
        ("report/allocation-report.html", "small_count")
    ]
    assert "row 2" in findings[0].place and "'Patients (%)'" in findings[0].place


@pytest.mark.parametrize("column", ["n", "count", "contacts", "patient_count", "person_years"])
def test_every_column_of_counts_is_known(run_dir: Path, column: str) -> None:
    pd.DataFrame({"practice_code": ["P1", "P2"], column: [1200, 3]}).to_csv(
        run_dir / "publishable" / "counts.csv", index=False
    )
    assert _kinds(run_dir) == [("publishable/counts.csv", "small_count")]


def test_person_years_beside_a_suppressed_count_is_caught(run_dir: Path) -> None:
    """A 4-patient place published as '*, 4.0, 3.5' still tells its count (issue 14)."""
    pd.DataFrame(
        {
            "place": ["City", "Rutland"],
            "patients": ["1585", "*"],
            "person_years": ["1490", "4.0"],
            "workload_per_person_year": ["5.19", "3.5"],
        }
    ).to_csv(run_dir / "publishable" / "data_summary_by_place.csv", index=False)
    findings = check_run_folder(run_dir)
    assert [(f.kind, f.place) for f in findings] == [
        ("small_count", "table, row 2, column 'person_years'"),
        ("derived_from_small_count", "table, row 2, column 'person_years'"),
        ("derived_from_small_count", "table, row 2, column 'workload_per_person_year'"),
    ]


def test_a_practices_contacts_beside_its_suppressed_list_are_caught(run_dir: Path) -> None:
    pd.DataFrame(
        {
            "practice_code": ["P1", "P2"],
            "registered_list": ["8963", "*"],
            "observed_workload": ["40210.0", "14.0"],
            "allocation_gbp": ["£1,204", "£14"],
        }
    ).to_csv(run_dir / "publishable" / "model_calibration_by_practice.csv", index=False)
    findings = check_run_folder(run_dir)
    assert [(f.kind, f.place) for f in findings] == [
        ("derived_from_small_count", "table, row 2, column 'observed_workload'"),
        ("derived_from_small_count", "table, row 2, column 'allocation_gbp'"),
    ]


def test_a_patient_id_inside_a_longer_name_is_caught(run_dir: Path) -> None:
    (run_dir / "publishable" / "notes.md").write_text(
        f"see patient_{LEAKED_ID} and {LEAKED_ID}-notes; not S000000421 or xS00000042\n"
    )
    findings = check_run_folder(run_dir)
    assert [(f.file, f.kind, f.place) for f in findings] == [
        ("publishable/notes.md", "patient_identifier", "text, line 1")
    ]
    assert "2 patient identifier(s)" in findings[0].message


def test_an_unknown_binary_file_is_a_finding_and_a_font_is_listed_as_skipped(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pcfm.base.disclosure.check import Skipped

    (run_dir / "report" / "site_libs" / "icons.woff2").write_bytes(b"wOF2\x00\x01")
    skipped: list[Skipped] = []
    assert check_run_folder(run_dir, skipped=skipped) == []
    assert [(s.file, s.reason) for s in skipped] == [
        ("report/site_libs/icons.woff2", "a font: glyph outlines, no text")
    ]
    (run_dir / "publishable" / "model.bin").write_bytes(b"\x00\x01\x02patients 3")
    assert _kinds(run_dir) == [("publishable/model.bin", "unreadable")]
    main(["check-outputs", str(run_dir)])
    assert "report/site_libs/icons.woff2: skipped: a font" in capsys.readouterr().out


def test_prose_in_a_table_is_read_cell_by_cell_not_across_rows(run_dir: Path) -> None:
    path = run_dir / "publishable" / "data_sources.csv"
    path.write_text("item,value\nMergers carried,3\nPatients,as supplied\n")
    assert check_run_folder(run_dir) == []
    path.write_text("item,value\nNote,Only 3 patients moved\n")
    findings = check_run_folder(run_dir)
    assert [(f.file, f.kind, f.place) for f in findings] == [
        ("publishable/data_sources.csv", "small_count", "cells, line 2")
    ]
