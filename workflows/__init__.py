"""Deterministic orchestration: one module per process, plus the saga and the approval gate."""
