"""The benchmark harness behind `backoffice bench`: the application against the floor Temporal
sets (see docs/performance.md)."""
