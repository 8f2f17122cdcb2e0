"""National reference data: published figures the model compares with or builds on.

Each module holds one source, with where it comes from; nothing here depends on a run.
"""
