"""Tracing and metrics (issue 7, items 4 and 5)."""
