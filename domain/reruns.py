"""Re-runs of a business key: a new run of a key whose last run ended without success.

A retry, a worker crash or a reset of one run must never create a record twice, so idempotency
keys come from the workflow id and the step; a re-run must create new records, so the starter
numbers it (memo `rerun`: 1, 2, ...; absent for the first run), every activity call of the run
carries that number in a header, and the activities fold it into their idempotency keys.
"""

RERUN_MEMO = "rerun"
RERUN_HEADER = "backoffice-rerun"
