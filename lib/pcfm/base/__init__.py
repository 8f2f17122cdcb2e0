"""The foundations every stage imports: run folder, context, outputs, house style, disclosure.

Nothing here imports a stage, the report or the runner (`pcfm.pipeline`), so any stage
can use it without a cycle (tests/test_architecture.py checks the direction).
"""
