"""How big a benchmark run is: the full run (the documented figures) and the small one (CI)."""

from pydantic import BaseModel, Field


class Plan(BaseModel):
    name: str
    rounds: int = Field(ge=1)  # F0, F1 and A take turns this many times per measurement
    warmup_runs: int = Field(ge=1)
    drain_runs: int = Field(ge=1)  # backlog size per phase, at least
    drain_activities: int = Field(default=0, ge=0)  # or as many runs as make this many activities
    load_seconds: float = Field(gt=0)  # length of an open-loop phase
    load_min_runs: int = Field(ge=1)
    load_max_runs: int = Field(ge=1)
    loads: tuple[float, ...] = (0.3, 0.7)  # fractions of F0's saturation
    parked_runs: int = Field(ge=1)
    small_cache: int = Field(ge=0)  # `max_cached_workflows` of the small-cache measurement
    replays: int = Field(ge=1)
    history_sample: int = Field(ge=1)  # histories read per phase (resume latency, replays)
    phase_timeout_seconds: float = Field(gt=0)
    reconciliation_days: tuple[int, ...] = (1_000,)  # invoices of each reconciled day
    circuit_reads: int = Field(default=200, ge=1)  # breaker admissions timed
    subscriptions_waiting: int = Field(default=50, ge=1)  # left waiting for their next period
    subscription_periods: int = Field(default=3, ge=1)  # first periods billed per backlog
    quiet_seconds: float = Field(default=5.0, gt=0)  # each CPU window of the waiting ones


FULL = Plan(
    name="full",
    rounds=2,
    warmup_runs=5,
    drain_runs=12,
    drain_activities=240,
    load_seconds=12,
    load_min_runs=6,
    load_max_runs=200,
    parked_runs=10_000,
    small_cache=50,
    replays=1000,
    history_sample=100,
    phase_timeout_seconds=3600,
    reconciliation_days=(1_000, 10_000, 100_000),
    circuit_reads=5_000,
    subscriptions_waiting=10_000,
    subscription_periods=20,
    quiet_seconds=60.0,
)

SMALL = Plan(
    name="small",
    rounds=1,
    warmup_runs=1,
    drain_runs=5,
    load_seconds=3,
    load_min_runs=2,
    load_max_runs=4,
    parked_runs=50,
    small_cache=10,
    replays=40,
    history_sample=20,
    phase_timeout_seconds=240,
)

PLANS = {"full": FULL, "small": SMALL}
