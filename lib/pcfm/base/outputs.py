"""Writing a run's outputs: publishable tables and figures, restricted files.

Every publishable table goes through disclosure control of its count columns here,
so no stage can publish a raw count by forgetting to. Files are written so that the
same inputs and parameters give byte-identical outputs (no timestamps, fixed SVG ids,
fixed ZIP dates in the workbook).
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
import pandas as pd

from pcfm.base.artefacts import Restricted
from pcfm.base.disclosure.control import apply_disclosure_control
from pcfm.base.folder import RunFolder
from pcfm.base.style import PNG_DPI, figure_png, remember_published_png, style_figure
from pcfm.params.disclosure import DisclosureParams

matplotlib.use("Agg")
matplotlib.rcParams["svg.hashsalt"] = "pcfm"  # stable ids inside SVG files

WORKBOOK_NAME = "tables.xlsx"
#: ZIP entries of the workbook get this date so the file's bytes do not depend on the clock.
_FIXED_ZIP_DATE = (2000, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Outputs:
    """Writes one run's outputs into its folder, applying disclosure control on the way out."""

    folder: RunFolder
    disclosure: DisclosureParams

    def publish_table(self, table: pd.DataFrame, name: str) -> pd.DataFrame:
        """Write ``publishable/<name>.csv`` with counts of people under disclosure control.

        Args:
            table: An aggregate table (never patient rows). Its count columns are those the
                registry (`pcfm.base.disclosure.columns`) recognises by name.
            name: File stem, also the workbook sheet name.

        Returns:
            The table as published, for display in the notebook.
        """
        published = apply_disclosure_control(table, self.disclosure)
        self.folder.publishable.mkdir(parents=True, exist_ok=True)
        published.to_csv(self.folder.publishable / f"{name}.csv", index=False, lineterminator="\n")
        return published

    def publish_json(self, content: dict[str, Any], name: str) -> None:
        """Write ``publishable/<name>.json`` with sorted keys."""
        path = self.folder.publishable / f"{name}.json"
        path.write_text(json.dumps(content, indent=2, sort_keys=True) + "\n", encoding="utf-8")

    def publish_figure(self, figure: Any, name: str) -> None:
        """Write a matplotlib figure as ``figures/<name>.png`` and ``.svg``, without dates.

        Every published figure gets the house style here (`pcfm.base.style`), so the
        stages' figures and the report's look alike.
        """
        style_figure(figure)
        self.folder.figures.mkdir(parents=True, exist_ok=True)
        png = figure_png(figure, PNG_DPI)
        (self.folder.figures / f"{name}.png").write_bytes(png)
        remember_published_png(figure, png)
        # drawing the PNG fixed the layout: the SVG is the same without laying it out again
        figure.set_layout_engine("none")
        figure.savefig(self.folder.figures / f"{name}.svg", metadata={"Date": None})

    def restricted_path(self, artefact: Restricted) -> Path:
        """Where ``artefact`` lives: ``restricted/<name><suffix>``."""
        if not isinstance(artefact, Restricted):
            raise TypeError(
                f"restricted artefacts are named by pcfm.base.artefacts, not {artefact!r}"
            )
        return self.folder.restricted / artefact.filename

    def write_restricted(self, table: pd.DataFrame, artefact: Restricted) -> Path:
        """Write a patient-level or small-cell table to ``restricted/<name>.parquet``."""
        path = self._parquet_path(artefact)
        path.parent.mkdir(parents=True, exist_ok=True)
        table.to_parquet(path, index=False)
        return path

    def read_restricted(self, artefact: Restricted) -> pd.DataFrame:
        """Read back a table written by :meth:`write_restricted`."""
        return pd.read_parquet(self._parquet_path(artefact))

    def write_restricted_json(self, content: dict[str, Any], artefact: Restricted) -> Path:
        """Write a JSON artefact with sorted keys and no NaN (strict, byte-stable JSON)."""
        path = self._path_with_suffix(artefact, ".json")
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(content, indent=1, sort_keys=True, allow_nan=False)
        path.write_text(text + "\n", encoding="utf-8")
        return path

    def read_restricted_json(self, artefact: Restricted) -> dict[str, Any]:
        """Read back a JSON artefact written by :meth:`write_restricted_json`."""
        return json.loads(self._path_with_suffix(artefact, ".json").read_text(encoding="utf-8"))

    def _parquet_path(self, artefact: Restricted) -> Path:
        return self._path_with_suffix(artefact, ".parquet")

    def _path_with_suffix(self, artefact: Restricted, suffix: str) -> Path:
        path = self.restricted_path(artefact)
        if artefact.suffix != suffix:
            raise TypeError(f"{artefact.name} is a {artefact.suffix} artefact, not {suffix}")
        return path

    def read_published(self, name: str) -> pd.DataFrame:
        """Read back a published CSV table (counts as text where suppressed)."""
        return pd.read_csv(self.folder.publishable / f"{name}.csv")


def write_workbook(publishable: Path) -> Path:
    """Collect every published CSV into one XLSX workbook, a sheet per table.

    Sheets are the CSV stems in alphabetical order (Excel limits names to 31 characters).
    """
    path = publishable / WORKBOOK_NAME
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        for csv_path in sorted(publishable.glob("*.csv")):
            pd.read_csv(csv_path, dtype=str, keep_default_na=False).to_excel(
                writer, sheet_name=csv_path.stem[:31], index=False
            )
        properties = writer.book.properties
        properties.created = properties.modified = pd.Timestamp("2000-01-01").to_pydatetime()
        properties.creator = "pcfm"
    path.write_bytes(_with_fixed_zip_dates(buffer.getvalue()))
    return path


_MODIFIED = re.compile(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)")


def _with_fixed_zip_dates(content: bytes) -> bytes:
    """Rewrite a ZIP archive with every entry dated ``_FIXED_ZIP_DATE``.

    openpyxl stamps the save time into ``docProps/core.xml`` whatever the workbook's
    properties say, so that stamp is replaced too.
    """
    source = zipfile.ZipFile(io.BytesIO(content))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            info = zipfile.ZipInfo(item.filename, date_time=_FIXED_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            data = source.read(item.filename)
            if item.filename == "docProps/core.xml":
                data = _MODIFIED.sub(rb"\g<1>2000-01-01T00:00:00Z\g<2>", data)
            target.writestr(info, data)
    return out.getvalue()
