"""How long a call keeps retrying a transient failure (5xx, timeouts, 429) before it gives up.

Before the point of no return a step that gives up is undone, so an hour is enough; after it
nothing is undone, so a step (and a compensation) rides out an outage of days instead of
leaving a signed deal or a sent invoice to manual cleanup.
"""

from datetime import timedelta

from pydantic import BaseModel


class RetryBudgets(BaseModel):
    before_commit: timedelta = timedelta(hours=1)
    after_commit: timedelta = timedelta(days=7)
    compensation: timedelta = timedelta(days=3)
