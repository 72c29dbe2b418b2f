"""The webhook inbox: each provider event applied once, or kept as a dead letter to replay.

Statuses: `received` (being handed over), `delivered`, `ignored` (no process listens to that
event type), `dead_letter` (no running workflow for it, or its data was unusable), `replayed`.
"""

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from runtime.db import WebhookEvent
from starters.webhooks.routes import EventDataInvalid, SignalTarget, route

# A `received` row older than this belongs to a delivery that died half-way: take it over.
STALE_CLAIM = timedelta(seconds=60)
FINAL = {"delivered", "ignored", "dead_letter", "replayed"}


class EventOutcome(BaseModel):
    status: str
    workflow_id: str | None = None
    reason: str | None = None


class DeadLetter(BaseModel):
    id: int
    system: str
    event_id: str
    event_type: str
    workflow_id: str | None
    reason: str | None
    received_at: datetime
    deliveries: int


class Busy(Exception):
    """Another delivery of the same event is being handed over right now: try again later."""


class UnknownDeadLetter(Exception):
    """No dead letter with that id."""


class TemporalUnavailable(Exception):
    """Temporal did not take the signal (restarting, unreachable): nothing was applied, and the
    event is free to be delivered again at once."""


class WebhookInbox:
    def __init__(self, engine: Engine, client: Client) -> None:
        self._engine = engine
        self._client = client

    async def receive(self, system: str, event: dict[str, Any]) -> EventOutcome:
        """Apply one verified event; a redelivery of an applied event changes nothing."""
        row_id, previous = await asyncio.to_thread(self._claim, system, event)
        if previous is not None:
            return EventOutcome(status="duplicate", reason=f"already {previous}")
        return await self._hand_over(row_id, system, event)

    async def dead_letters(self) -> list[DeadLetter]:
        return await asyncio.to_thread(self._dead_letters)

    async def replay(self, dead_letter_id: int) -> EventOutcome:
        """Hand a dead letter to its workflow again (started since, perhaps)."""
        row = await asyncio.to_thread(self._load, dead_letter_id)
        outcome = await self._hand_over(row.id, row.system, json.loads(row.payload))
        if outcome.status == "delivered":
            await asyncio.to_thread(self._set, row.id, "replayed", outcome.workflow_id, None, None)
            outcome.status = "replayed"
        return outcome

    async def _hand_over(self, row_id: int, system: str, event: dict[str, Any]) -> EventOutcome:
        try:
            target = route(system, str(event["type"]), event.get("data") or {})
        except EventDataInvalid as exc:
            return await self._finish(row_id, "dead_letter", None, None, str(exc))
        if target is None:
            return await self._finish(row_id, "ignored", None, None, "no process listens to it")
        problem = await self._signal(row_id, target)
        if problem:
            return await self._finish(row_id, "dead_letter", target, target.signal, problem)
        return await self._finish(row_id, "delivered", target, target.signal, None)

    async def _signal(self, row_id: int, target: SignalTarget) -> str | None:
        try:
            await self._client.get_workflow_handle(target.workflow_id).signal(
                target.signal, target.arg
            )
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return f"no running workflow {target.workflow_id}"
            why = exc.status.name
        except RuntimeError:  # the client could not (re)connect to the server
            why = "unreachable"
        else:
            return None
        # Not applied: give the claim up, so the provider's next delivery (it retries on our
        # 503) hands the event over at once instead of finding it busy for a minute.
        await asyncio.to_thread(self._release, row_id)
        raise TemporalUnavailable(f"Temporal did not take signal {target.signal} ({why})")

    async def _finish(
        self,
        row_id: int,
        status: str,
        target: SignalTarget | None,
        signal: str | None,
        reason: str | None,
    ) -> EventOutcome:
        workflow_id = target.workflow_id if target else None
        await asyncio.to_thread(self._set, row_id, status, workflow_id, signal, reason)
        return EventOutcome(status=status, workflow_id=workflow_id, reason=reason)

    # ----- database (called off the event loop) ------------------------------------------

    def _claim(self, system: str, event: dict[str, Any]) -> tuple[int, str | None]:
        """Insert the event; (row id, None) when this delivery is to apply it."""
        now = datetime.now(UTC)
        try:
            with self._engine.begin() as conn:
                result = conn.execute(
                    insert(WebhookEvent).values(
                        system=system,
                        event_id=str(event["id"]),
                        event_type=str(event["type"]),
                        status="received",
                        payload=json.dumps(event),
                        deliveries=1,
                        received_at=now,
                        updated_at=now,
                    )
                )
                return int(result.inserted_primary_key[0]), None  # type: ignore[index]
        except IntegrityError:
            pass
        with self._engine.begin() as conn:
            existing = conn.execute(
                select(WebhookEvent.id, WebhookEvent.status, WebhookEvent.updated_at).where(
                    WebhookEvent.system == system, WebhookEvent.event_id == str(event["id"])
                )
            ).one()
            conn.execute(
                update(WebhookEvent)
                .where(WebhookEvent.id == existing.id)
                .values(deliveries=WebhookEvent.deliveries + 1)
            )
            if existing.status in FINAL:
                return existing.id, existing.status
            updated = existing.updated_at.replace(tzinfo=existing.updated_at.tzinfo or UTC)
            if now - updated < STALE_CLAIM:
                raise Busy(f"event {event['id']} is being handed over")
            conn.execute(
                update(WebhookEvent).where(WebhookEvent.id == existing.id).values(updated_at=now)
            )
            return existing.id, None

    def _release(self, row_id: int) -> None:
        """Make a `received` claim stale at once: the next delivery of the event takes it."""
        with self._engine.begin() as conn:
            conn.execute(
                update(WebhookEvent)
                .where(WebhookEvent.id == row_id, WebhookEvent.status == "received")
                .values(updated_at=datetime.now(UTC) - 2 * STALE_CLAIM)
            )

    def _set(
        self,
        row_id: int,
        status: str,
        workflow_id: str | None,
        signal: str | None,
        reason: str | None,
    ) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                update(WebhookEvent)
                .where(WebhookEvent.id == row_id)
                .values(
                    status=status,
                    workflow_id=workflow_id,
                    signal=signal,
                    reason=reason,
                    updated_at=datetime.now(UTC),
                )
            )

    def _dead_letters(self) -> list[DeadLetter]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(WebhookEvent)
                .where(WebhookEvent.status == "dead_letter")
                .order_by(WebhookEvent.id)
            )
            return [
                DeadLetter(
                    id=r.id,
                    system=r.system,
                    event_id=r.event_id,
                    event_type=r.event_type,
                    workflow_id=r.workflow_id,
                    reason=r.reason,
                    received_at=r.received_at,
                    deliveries=r.deliveries,
                )
                for r in rows
            ]

    def _load(self, dead_letter_id: int) -> WebhookEvent:
        with self._engine.connect() as conn:
            row = conn.execute(
                select(WebhookEvent).where(
                    WebhookEvent.id == dead_letter_id, WebhookEvent.status == "dead_letter"
                )
            ).one_or_none()
        if row is None:
            raise UnknownDeadLetter(f"no dead letter {dead_letter_id}")
        return row  # type: ignore[return-value]
