"""How long a call keeps retrying a transient failure (5xx, timeouts, 429) before it gives up.

A system down for hours is waited out, not compensated: before the point of no return a step
retries for days too (a run procurement already approved is not undone by an ERP upgrade);
after it nothing is undone, so a step (and a compensation) rides out an outage of a week instead
of leaving a signed deal or a sent invoice to manual cleanup. Runs that started with other
budgets keep theirs (they are part of the run's input).
"""

from datetime import timedelta

from pydantic import BaseModel


class RetryBudgets(BaseModel):
    before_commit: timedelta = timedelta(days=3)
    after_commit: timedelta = timedelta(days=7)
    compensation: timedelta = timedelta(days=3)
