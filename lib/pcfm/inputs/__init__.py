"""Input generation, apart from stage 01: the synthetic ICB and the public-file adapters.

These write tables in the data contract of stage 01 (`pcfm.data.contract`); stage 01
reads them like any ICB's own extract and never imports this package.
"""
