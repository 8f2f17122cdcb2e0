"""Undo Quarto's layout table around cross-referenced tables in a rendered Word document.

Quarto 1.10 writes a table with a cross-reference id (``: Caption {#tbl-x}``, or a notebook
cell with ``#| label: tbl-x`` and ``#| tbl-cap:``) as a one-cell *layout table* holding the
caption and the real table (see :mod:`pcfm.report.word_style`). That costs three things:

* being nested, the real table is cut off at the end of the page in LibreOffice and may not
  repeat its header row in Word (``w:tblHeader`` only works on a top-level table);
* the layout cell's ``center`` is appended as a second ``w:jc`` to every cell paragraph,
  after pandoc's own alignment, so right-aligned numbers come out centred;
* the caption paragraph gets two ``w:pPr`` (Quarto issue #10587), the second out of schema
  order, which is not valid WordprocessingML;
* the caption is in the style "Image Caption", the one of figures, not "Table Caption".

:func:`tidy_word_tables` rewrites ``word/document.xml`` so that the caption and the real
table stand in the body where the layout table was, with one alignment per paragraph,
valid paragraph properties and the caption in "Table Caption" (when the document has that
style, as pandoc's reference documents do). Every other member of the package is copied
unchanged, so the header, footer and styles of the reference document survive as rendered.
"""

from __future__ import annotations

import itertools
import os
import tempfile
import zipfile
from pathlib import Path

from lxml import etree

_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_DOCUMENT = "word/document.xml"


def _w(local: str) -> str:
    """Clark name of a WordprocessingML element, for lxml look-ups."""
    return f"{{{_W}}}{local}"


_TBL, _TR, _TC, _P, _PPR, _JC = (_w(n) for n in ("tbl", "tr", "tc", "p", "pPr", "jc"))
_TCPR, _PSTYLE, _VAL = _w("tcPr"), _w("pStyle"), _w("val")
_STYLES = "word/styles.xml"
#: Style ids of pandoc's caption styles: Quarto's tables get the figures' one.
IMAGE_CAPTION, TABLE_CAPTION = "ImageCaption", "TableCaption"

#: Children of ``w:pPr`` in the order the schema requires (CT_PPr). Word refuses or
#: misreads a paragraph whose properties are out of this order.
_PPR_ORDER = {
    _w(name): index
    for index, name in enumerate(
        (
            *("pStyle", "keepNext", "keepLines", "pageBreakBefore", "framePr"),
            *("widowControl", "numPr", "suppressLineNumbers", "pBdr", "shd", "tabs"),
            *("suppressAutoHyphens", "kinsoku", "wordWrap", "overflowPunct"),
            *("topLinePunct", "autoSpaceDE", "autoSpaceDN", "bidi", "adjustRightInd"),
            *("snapToGrid", "spacing", "ind", "contextualSpacing", "mirrorIndents"),
            *("suppressOverlap", "jc", "textDirection", "textAlignment"),
            *("textboxTightWrap", "outlineLvl", "divId", "cnfStyle", "rPr", "sectPr"),
            "pPrChange",
        )
    )
}


def tidy_word_tables(path: Path) -> int:
    """Unwrap Quarto's layout tables in the ``.docx`` at ``path``, in place.

    Returns how many layout tables were unwrapped. The file is rewritten only if something
    changed, so a document without layout tables or duplicate properties keeps its bytes
    (and a second run is a no-op). When rewritten, members keep their order, names, dates
    and compression, so the same input always gives the same output; the new file is
    written beside the old one and moved over it, so a failure never leaves half a file.
    """
    path = Path(path)
    with zipfile.ZipFile(path) as archive:
        members = [(info, archive.read(info)) for info in archive.infolist()]
    names = [info.filename for info, _ in members]
    if _DOCUMENT not in names:
        raise ValueError(f"{path} has no {_DOCUMENT}: not a Word document")
    index = names.index(_DOCUMENT)
    source = members[index][1]

    # resolve_entities off and no network: a rendered document needs neither.
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    root = etree.fromstring(source, parser)
    styles = next((data for info, data in members if info.filename == _STYLES), b"")
    unwrapped = _unwrap_layout_tables(root, f'w:styleId="{TABLE_CAPTION}"'.encode() in styles)
    fixed = _fix_paragraph_properties(root)
    if not unwrapped and not fixed:
        return 0
    members[index] = (
        members[index][0],
        etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True),
    )
    _write_zip_atomically(path, members)
    return unwrapped


def _unwrap_layout_tables(root: etree._Element, restyle_captions: bool = True) -> int:
    """Replace each table whose cells hold a table by the contents of its cells.

    Outermost first, and again until none is left, so layouts nested in layouts (panels
    of sub-tables) end up flat as well. The cell's trailing empty paragraph is dropped:
    Word requires a cell to end with a paragraph, the body does not, and kept it would be
    a blank line after every table. With ``restyle_captions``, a caption in "Image
    Caption" just before a table of the frame is put in "Table Caption".
    """
    count = 0
    while True:
        frame = next((t for t in root.iter(_TBL) if _is_layout(t)), None)
        if frame is None:
            return count
        parent = frame.getparent()
        position = parent.index(frame)
        contents: list[etree._Element] = []
        for row in frame.iterchildren(_TR):
            for cell in row.iterchildren(_TC):
                contents.extend(child for child in cell if child.tag != _TCPR)
        contents = _drop_trailing_empty_paragraph(contents)
        if restyle_captions:
            _restyle_table_captions(contents)
        _carry_tail(frame, contents)
        parent.remove(frame)
        for offset, element in enumerate(contents):
            parent.insert(position + offset, element)
        count += 1


def _restyle_table_captions(contents: list[etree._Element]) -> None:
    """Give "Table Caption" to each "Image Caption" paragraph whose next block is a table."""
    blocks = [e for e in contents if e.tag in (_P, _TBL)]
    for paragraph, following in itertools.pairwise(blocks):
        if paragraph.tag != _P or following.tag != _TBL:
            continue
        for style in paragraph.iterchildren(_PPR):
            for name in style.iterchildren(_PSTYLE):
                if name.get(_VAL) == IMAGE_CAPTION:
                    name.set(_VAL, TABLE_CAPTION)


def _is_layout(table: etree._Element) -> bool:
    """True for a table with a table in one of its own cells (Quarto's layout frame)."""
    return any(
        cell.find(_TBL) is not None
        for row in table.iterchildren(_TR)
        for cell in row.iterchildren(_TC)
    )


def _drop_trailing_empty_paragraph(contents: list[etree._Element]) -> list[etree._Element]:
    """Drop the empty paragraph that ends a cell whose last block is a table.

    Only a paragraph with nothing in it but (optional) properties is dropped, and only
    after a table, so text never goes missing.
    """
    blocks = [e for e in contents if e.tag in (_P, _TBL)]
    if len(blocks) < 2 or blocks[-1].tag != _P or blocks[-2].tag != _TBL:
        return contents
    last = blocks[-1]
    if any(child.tag != _PPR for child in last) or (last.text or "").strip():
        return contents
    return [e for e in contents if e is not last]


def _carry_tail(frame: etree._Element, contents: list[etree._Element]) -> None:
    """Keep the whitespace after the frame after the last moved element (no visible effect,
    but the text nodes between body elements stay as pandoc wrote them)."""
    if contents:
        contents[-1].tail = frame.tail
    for element in contents[:-1]:
        element.tail = None


def _fix_paragraph_properties(root: etree._Element) -> int:
    """Give every paragraph one valid ``w:pPr``: merged, one element per kind, schema order.

    A paragraph with several ``w:pPr`` (the caption, #10587) is merged into its *last* one,
    which holds the paragraph's own properties; the earlier ones are the layout cell's
    ``center`` that Quarto put in front, and only fill in kinds the last one lacks. Within
    one ``w:pPr`` the *first* of each kind is kept: in cell paragraphs that is pandoc's
    column alignment, and the later ``center`` is the layout cell's. Returns how many
    paragraphs changed; untouched paragraphs keep their element order exactly.
    """
    changed = 0
    for paragraph in root.iter(_P):
        properties = paragraph.findall(_PPR)
        if not properties:
            continue
        merged = len(properties) > 1 or paragraph[0] is not properties[0]
        keep = properties[-1]
        for other in reversed(properties[:-1]):
            for child in list(other):
                keep.append(child)
            paragraph.remove(other)
        duplicates = _drop_duplicates(keep)
        if merged or duplicates or not _in_order(keep):
            _sort(keep)
            if paragraph[0] is not keep:
                paragraph.remove(keep)
                paragraph.insert(0, keep)
            changed += 1
    return changed


def _drop_duplicates(properties: etree._Element) -> int:
    """Remove every child that repeats the kind of an earlier child; return how many."""
    seen: set[str] = set()
    removed = 0
    for child in list(properties):
        if not isinstance(child.tag, str):  # comments and processing instructions
            continue
        if child.tag in seen:
            properties.remove(child)
            removed += 1
        else:
            seen.add(child.tag)
    return removed


def _order_keys(properties: etree._Element) -> list[int]:
    """Schema position of each child; an unknown child sorts with the known one before it."""
    keys: list[int] = []
    last = -1
    for child in properties:
        last = _PPR_ORDER.get(child.tag, last) if isinstance(child.tag, str) else last
        keys.append(last)
    return keys


def _in_order(properties: etree._Element) -> bool:
    """True if the children already follow the schema order."""
    keys = _order_keys(properties)
    return all(a <= b for a, b in itertools.pairwise(keys))


def _sort(properties: etree._Element) -> None:
    """Put the children in schema order (stable) and tidy the whitespace between them."""
    children = list(properties)
    keys = _order_keys(properties)
    order = sorted(range(len(children)), key=lambda i: (keys[i], i))
    ordered = [children[i] for i in order]
    for child in children:
        properties.remove(child)
    properties.text = None
    for child in ordered:
        child.tail = None
        properties.append(child)


def _write_zip_atomically(path: Path, members: list[tuple[zipfile.ZipInfo, bytes]]) -> None:
    """Write the package to a temporary file beside ``path`` and move it over ``path``.

    Each member gets a fresh ``ZipInfo`` with the input's name, date, compression and
    attributes, so the output depends only on the input (no clock, no umask).
    """
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream, zipfile.ZipFile(stream, "w") as archive:
            for old, data in members:
                info = zipfile.ZipInfo(old.filename, date_time=old.date_time)
                info.compress_type = old.compress_type
                info.external_attr = old.external_attr
                info.create_system = old.create_system
                archive.writestr(info, data)
        os.chmod(temporary, path.stat().st_mode & 0o7777)  # mkstemp makes it private
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
