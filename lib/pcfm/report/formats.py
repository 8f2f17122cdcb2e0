"""How the documents write numbers: one set of rules for every document.

Standard library only, so the practice statement (a kernel per practice) stays light.
These are the rules the test of shown numbers (tests/test_06_numbers_traced.py) reads
back: pounds with thousands separators and pence (or whole pounds), percentages of
fractions, counts with thousands separators, indices to three decimals.
"""

from __future__ import annotations


def gbp(value: float, pence: bool = True) -> str:
    """``£1,234.56`` (or ``£1,235`` without pence)."""
    return f"£{value:,.2f}" if pence else f"£{value:,.0f}"


def money(value: float) -> str:
    """``1,234.56``: pounds in a table whose header says (£)."""
    return f"{value:,.2f}"


def count(value: float) -> str:
    """``12,345``: a whole number of people or practices."""
    return f"{int(value):,}"


def index(value: float) -> str:
    """``1.234``: a need index or a ratio to the ICB average."""
    return f"{value:.3f}"


def percent(fraction: float, decimals: int = 1) -> str:
    """``12.3%`` from the fraction 0.123."""
    return f"{fraction:.{decimals}%}"


def signed_percent(fraction: float) -> str:
    """``+12.3%`` or ``-4.0%``: a difference from an average."""
    return f"{fraction:+.1%}"


def more_or_less(fraction: float, decimals: int = 1) -> str:
    """``12.3% more`` or ``4.0% less``: a signed difference in words."""
    return f"{abs(fraction):.{decimals}%} {'more' if fraction >= 0 else 'less'}"
