"""The shape of a run, as the floor workflows replay it: its activities (with their payload
sizes), its waits for people (signals and updates, with or without a timeout) and its child
runs, in order. Read from a real run's history (`bench.histories.shape_of`), so the floor
keeps the processes' shape when they change.
"""

from typing import Literal

from pydantic import BaseModel

StepKind = Literal["activity", "signal", "update", "child"]


class FloorStep(BaseModel):
    kind: StepKind
    # Plain (decoded) payload bytes: an activity's input and result, a signal's or update's
    # argument.
    input_bytes: int = 0
    result_bytes: int = 0
    # The wait has a timeout, i.e. a durable timer (approvals, payment reminders).
    timer: bool = False
    child: "FloorShape | None" = None


class FloorShape(BaseModel):
    process: str
    input_bytes: int
    result_bytes: int
    steps: list[FloorStep]

    def count(self, kind: StepKind) -> int:
        """Steps of `kind`, child runs included."""
        own = sum(1 for s in self.steps if s.kind == kind)
        return own + sum(s.child.count(kind) for s in self.steps if s.child is not None)

    def waits(self) -> int:
        return self.count("signal") + self.count("update")


class FloorInput(BaseModel):
    shape: FloorShape
    http: bool  # F1: one trivial HTTP call per activity
    echo_url: str
    padding: str  # the process's workflow input size


class FloorResult(BaseModel):
    body: str


class FloorActivityInput(BaseModel):
    index: int
    http: bool
    echo_url: str
    result_bytes: int
    body: str


class FloorActivityResult(BaseModel):
    body: str


class Proceed(BaseModel):
    """What a person sends to a waiting floor run: which wait, and a payload of the size of
    the process's own signal or update argument."""

    index: int
    body: str
