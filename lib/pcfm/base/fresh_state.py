"""The state a reused kernel gives each notebook: as a freshly started kernel's.

A reused kernel (`pcfm.base.live_kernel`) executes one notebook after another: the stage
notebooks of a run, and the practice statements, one practice after another. Before each
notebook it calls :func:`restore` in the kernel, which puts back what :func:`save` recorded
when the kernel had just started: the working directory, the environment variables,
``sys.path`` and the warning filters (with the record of warnings already shown, so a
warning is shown to every notebook that causes it); and it resets IPython, which empties
the user namespace and restarts the execution count at 1. Modules already imported stay
imported (that is the time saved), so code a notebook runs must keep no state in its
modules; `pcfm.report.statement` reads its inputs on every call.

Imports only the standard library and IPython (already loaded in a kernel).
"""

from __future__ import annotations

import os
import sys
import warnings
from dataclasses import dataclass


@dataclass(frozen=True)
class KernelState:
    """What :func:`restore` puts back."""

    cwd: str
    environ: dict[str, str]
    path: list[str]
    filters: list[tuple]


_saved: KernelState | None = None


def save() -> None:
    """Record the kernel's state as it starts (called once, before any notebook)."""
    global _saved
    _saved = KernelState(os.getcwd(), dict(os.environ), list(sys.path), list(warnings.filters))


def restore() -> None:
    """Put the state :func:`save` recorded back, and reset IPython's namespace and count."""
    from IPython import get_ipython

    if _saved is None:
        raise RuntimeError("pcfm.base.fresh_state.restore: save() was not called")
    os.chdir(_saved.cwd)
    os.environ.clear()
    os.environ.update(_saved.environ)
    sys.path[:] = _saved.path
    warnings.resetwarnings()  # also forgets which warnings were already shown
    warnings.filters[:] = _saved.filters
    warnings.onceregistry.clear()
    shell = get_ipython()
    if shell is None:
        raise RuntimeError("pcfm.base.fresh_state.restore: not in an IPython kernel")
    shell.reset(new_session=True)  # the user namespace emptied; execution count back to 1
