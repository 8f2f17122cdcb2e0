"""Adapters for public files as NHS England, OHID and MHCLG publish them.

One module per source; each returns a tidy, typed table and fails with a
:class:`PublicFileError` (a ``ValueError``) that names the file, the column and the
offending values when a file is not as published. Where to download each file is in
``docs/public-data.md``.
"""

from pcfm.inputs.public.common import PublicFileError, PublicFileLayoutError
from pcfm.inputs.public.deprivation import read_lsoa_imd, read_practice_imd
from pcfm.inputs.public.geography import read_practice_map
from pcfm.inputs.public.payments import LAYOUTS as PAYMENTS_LAYOUTS
from pcfm.inputs.public.payments import payments_years, read_payments, read_payments_file
from pcfm.inputs.public.qof import LAYOUTS as QOF_LAYOUTS
from pcfm.inputs.public.qof import qof_prevalence_files, qof_years, read_qof_prevalence
from pcfm.inputs.public.registered import read_registered_age_sex, registered_extract_dates

__all__ = [
    "PAYMENTS_LAYOUTS",
    "QOF_LAYOUTS",
    "PublicFileError",
    "PublicFileLayoutError",
    "payments_years",
    "qof_prevalence_files",
    "qof_years",
    "read_lsoa_imd",
    "read_payments",
    "read_payments_file",
    "read_practice_imd",
    "read_practice_map",
    "read_qof_prevalence",
    "read_registered_age_sex",
    "registered_extract_dates",
]
