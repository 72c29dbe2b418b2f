"""Process wiring shared by the worker, the starters and the dev stack."""
