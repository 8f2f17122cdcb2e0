"""pcfm: the Primary Care Funding Model.

Funds GP practices by their patients' need: a need-to-workload regression on
local patient-level data, need weights, a funding comparison and an allocation
by a stated policy, published as a reproducible methodology and allocation report.

Pipeline stages, each a sub-package with a ``stage`` module that the notebook of the
same number calls: parameters (`pcfm.params`) → data and cells (`pcfm.data`,
notebook 01) → workload model (`pcfm.model`, 02) → need weights (`pcfm.need`, 03) →
funding comparison and allocation (`pcfm.allocation`, 04) → report
(`pcfm.pipeline.render`).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pcfm")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
