"""Disclosure control, both sides, under one rule (`pcfm.params.disclosure.DisclosureParams`).

* `columns`: the one registry of which columns hold counts of people;
* `control`: the write side, applied to every published table by `pcfm.base.outputs`;
* `check` (with `extract`, which reads tables back from CSV, HTML, Word and PDF): the
  gate every publishable file of a run passes before the run succeeds.
"""
