"""pcfm: the Primary Care Funding Model.

Funds GP practices by their patients' need: a need-to-workload regression on
local patient-level data, need weights, a funding comparison and an allocation
by a stated policy, published as a reproducible methodology and allocation report.

The stages are declared once in `pcfm.stages`: each a sub-package whose ``stage``
module the notebook of the same number calls, from data and cells (`pcfm.data`, 01)
to the documents (`pcfm.report`, 06). They stand on the foundations in `pcfm.base`
and the parameters in `pcfm.params`; `pcfm.inputs` makes input data, and
`pcfm.pipeline` runs it all.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pcfm")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
