"""Where the project's shipped files are: the notebooks, the methodology and the Quarto book.

They live at the top of the repository (``notebooks/``, ``methodology/``, ``index.qmd``,
``_quarto.yml``) so that a reader finds them beside the code. The wheel carries them inside
the package as ``pcfm/_project/`` (see ``[tool.hatch.build.targets.wheel.force-include]`` in
``pyproject.toml``), so an installed pcfm runs from any folder. An editable install
(``make venv``) has no ``_project`` and reads them from the source checkout. This module is
the only place that knows either location.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

#: A file every project folder holds, used to recognise one.
_MARKER = "_quarto.yml"


class ProjectFilesNotFoundError(FileNotFoundError):
    """Neither the installed package nor a source checkout holds the project's files."""


@cache
def project_dir() -> Path:
    """The folder holding ``notebooks/``, ``methodology/``, ``index.qmd`` and ``_quarto.yml``.

    Raises:
        ProjectFilesNotFoundError: if pcfm is installed without them (a broken wheel).
    """
    package = Path(str(resources.files("pcfm")))
    shipped = package / "_project"
    checkout = package.parent.parent  # lib/pcfm -> the repository
    for candidate in (shipped, checkout):
        if (candidate / _MARKER).is_file() and (candidate / "notebooks").is_dir():
            return candidate
    raise ProjectFilesNotFoundError(
        f"pcfm's notebooks and methodology are neither in {shipped} (an installed wheel) nor "
        f"in {checkout} (a source checkout): reinstall pcfm from its wheel or repository"
    )


def project_file(*parts: str) -> Path:
    """A shipped file or folder by its path in the repository, e.g. ``("notebooks", "x.ipynb")``."""
    return project_dir().joinpath(*parts)
