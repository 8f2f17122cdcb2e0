"""Funding comparison, allocation policies, rounding to the penny and uncertainty."""
