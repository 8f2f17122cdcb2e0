"""The published report: output checking, house style, headline numbers, board paper, statements.

Kept free of heavy imports so that a practice-statement notebook, executed once per
practice, starts quickly: import the sub-module you need.
"""
