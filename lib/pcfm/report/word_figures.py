"""Alt text for the figures of a rendered Word document.

Quarto 1.10 writes a figure's ``fig-alt`` into the HTML ``alt`` and the PDF's tagged
figure, but leaves Word's picture description empty (``<wp:docPr descr="">``), so a
screen reader in Word says only "Picture". Every figure keeps its cross-reference label
as a bookmark just before its picture (``fig-imd-quintiles``); :func:`set_figure_alt_text`
writes the alt text of that label, taken from the run's executed notebooks (after
`pcfm.pipeline.render.with_run_alt_text`), into the picture's description.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from lxml import etree

from pcfm.report.word_tables import _write_zip_atomically

_DOCUMENT = "word/document.xml"
_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_WP = "http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing"
_PIC = "http://schemas.openxmlformats.org/drawingml/2006/picture"


def set_figure_alt_text(path: Path, alt_by_label: dict[str, str]) -> int:
    """Give each labelled picture of the ``.docx`` at ``path`` its alt text, in place.

    Returns the number of pictures described; the file is rewritten only if one was.
    """
    path = Path(path)
    with zipfile.ZipFile(path) as archive:
        members = [(info, archive.read(info)) for info in archive.infolist()]
    names = [info.filename for info, _ in members]
    if _DOCUMENT not in names:
        raise ValueError(f"{path} has no {_DOCUMENT}: not a Word document")
    index = names.index(_DOCUMENT)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    root = etree.fromstring(members[index][1], parser)
    described = 0
    label = None
    for element in root.iter(f"{{{_W}}}bookmarkStart", f"{{{_WP}}}docPr"):
        if element.tag == f"{{{_W}}}bookmarkStart":
            name = element.get(f"{{{_W}}}name", "")
            label = name if name.startswith("fig-") else label
            continue
        alt = alt_by_label.get(label or "")
        if not alt or element.get("descr"):
            continue
        element.set("descr", alt)
        picture = element.getparent().find(f".//{{{_PIC}}}cNvPr")
        if picture is not None:
            picture.set("descr", alt)
        described += 1
        label = None
    if not described:
        return 0
    members[index] = (
        members[index][0],
        etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True),
    )
    _write_zip_atomically(path, members)
    return described
