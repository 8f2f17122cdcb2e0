"""Place maps the project ships for ICBs whose places it knows (see README.md here)."""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).parent


def shipped_place_map(icb_code: str) -> Path | None:
    """The shipped places CSV of ``icb_code``, if there is one."""
    path = _HERE / f"{icb_code.strip().upper()}.csv"
    return path if path.is_file() else None
