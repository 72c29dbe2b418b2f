"""Sends webhook events in the background, retrying like a real provider.

An event is sent after the transaction that stored it commits, without holding up the request
that caused it. A 2xx answer delivers it; any other status, a timeout or a connection error
is retried after 0.5 s, 1 s, 2 s, 4 s... until the target's ``max_attempts`` (default 8), and
then the event is ``failed``. Every attempt is a row in ``sandbox_webhook_deliveries`` and a
``webhook_sent`` ledger event. Deliveries run as tasks of the server's event loop: a restart
resumes the events still ``pending``, starting their retry schedule again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select

from sandbox.db import WebhookDeliveryRow, WebhookEventRow, WebhookTargetRow
from sandbox.errors import ApiError, not_found
from sandbox.ledger import append_event
from sandbox.store import Store, utc_now
from sandbox.webhooks import (
    DELIVERED,
    EMITTED,
    FAILED,
    NO_TARGET,
    PENDING,
    SIGNATURE_HEADER,
    SIGNATURE_HEADERS,
    body_of,
    delivery_view,
    get_event,
    signature,
)

log = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 0.5


@dataclass(frozen=True)
class _Attempt:
    """What one POST of an event needs."""

    event_id: str
    url: str
    secret: str
    timeout_seconds: float
    max_attempts: int
    body: bytes
    header: str = SIGNATURE_HEADER


@dataclass(frozen=True)
class _Outcome:
    status: int | None
    error: str | None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class WebhookDispatcher:
    """Delivers the events of one sandbox app; lives as long as its event loop."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        store.on_commit(self._after_commit)

    async def start(self) -> None:
        """Begin delivering on the running loop, resuming the events left ``pending``."""
        self._loop = asyncio.get_running_loop()
        self._client = httpx.AsyncClient(trust_env=False, follow_redirects=False)
        for event_id in await asyncio.to_thread(self._pending_event_ids):
            self._spawn(event_id)

    async def stop(self) -> None:
        await self._cancel_tasks()
        self._loop = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def cancel_all(self) -> None:
        """Stop every delivery under way (from a worker thread, e.g. ``POST /_admin/reset``)."""
        loop = self._loop
        if loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            for task in self._tasks:
                task.cancel()
            return
        asyncio.run_coroutine_threadsafe(self._cancel_tasks(), loop).result(timeout=30)

    async def redeliver(self, event_id: str) -> dict[str, Any]:
        """Send an event once more, now (same id and body, a fresh signature); the attempt."""
        attempt = await asyncio.to_thread(self._prepare, event_id, False)
        assert attempt is not None  # a redelivery raises instead
        outcome = await self._post(attempt)
        delivery = await asyncio.to_thread(self._record, attempt, outcome, True)
        if delivery is None:
            raise not_found(f"webhook event {event_id!r}")
        return delivery

    def _after_commit(self, info: Mapping[str, Any]) -> None:
        loop = self._loop
        event_ids = list(info.get(EMITTED, ()))
        if loop is None or not event_ids:
            return
        for event_id in event_ids:
            try:
                loop.call_soon_threadsafe(self._spawn, event_id)
            except RuntimeError:  # the loop has closed: the event stays pending in the DB
                return

    def _spawn(self, event_id: str) -> None:
        task = asyncio.get_running_loop().create_task(self._deliver(event_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _cancel_tasks(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _deliver(self, event_id: str) -> None:
        tries = 0
        while True:
            attempt = await asyncio.to_thread(self._prepare, event_id, True)
            if attempt is None:
                return
            tries += 1
            outcome = await self._post(attempt)
            await asyncio.to_thread(self._record, attempt, outcome, False)
            if outcome.delivered:
                return
            if tries >= attempt.max_attempts:
                await asyncio.to_thread(self._give_up, event_id, tries)
                return
            await asyncio.sleep(BACKOFF_BASE_SECONDS * 2 ** (tries - 1))

    async def _post(self, attempt: _Attempt) -> _Outcome:
        if self._client is None:
            return _Outcome(None, "the sandbox is shutting down")
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            attempt.header: signature(attempt.secret, timestamp, attempt.body),
            "Webhook-Id": attempt.event_id,
            "User-Agent": "backoffice-sandbox-webhooks/1",
        }
        try:
            response = await self._client.post(
                attempt.url, content=attempt.body, headers=headers, timeout=attempt.timeout_seconds
            )
        except httpx.HTTPError as exc:
            return _Outcome(None, f"{type(exc).__name__}: {exc}"[:500])
        if 200 <= response.status_code < 300:
            return _Outcome(response.status_code, None)
        return _Outcome(response.status_code, f"the receiver answered HTTP {response.status_code}")

    def _pending_event_ids(self) -> list[str]:
        with self._store.transaction() as session:
            query = select(WebhookEventRow.id).where(WebhookEventRow.status == PENDING)
            return list(session.scalars(query.order_by(WebhookEventRow.seq)))

    def _prepare(self, event_id: str, automatic: bool) -> _Attempt | None:
        """The next attempt of an event; None when an automatic one has nothing left to do."""
        with self._store.transaction() as session:
            event = get_event(session, event_id)
            if event is None:
                if automatic:
                    return None
                raise not_found(f"webhook event {event_id!r}")
            if automatic and event.status != PENDING:
                return None
            target = session.get(WebhookTargetRow, event.system)
            if target is None:
                if automatic:
                    event.status = NO_TARGET
                    return None
                raise ApiError(
                    422,
                    "NO_WEBHOOK_TARGET",
                    f"{event.system} has no webhook target; set one with "
                    f"PUT /_admin/webhooks/{event.system}",
                )
            return _Attempt(
                event_id=event.id,
                url=target.url,
                secret=target.secret,
                timeout_seconds=target.timeout_seconds,
                max_attempts=target.max_attempts,
                body=body_of(event.payload),
                header=SIGNATURE_HEADERS.get(event.system, SIGNATURE_HEADER),
            )

    def _record(
        self, attempt: _Attempt, outcome: _Outcome, redelivery: bool
    ) -> dict[str, Any] | None:
        with self._store.transaction() as session:
            event = get_event(session, attempt.event_id)
            if event is None:  # forgotten by a reset meanwhile
                return None
            event.attempts += 1
            row = WebhookDeliveryRow(
                event_id=event.id,
                system=event.system,
                type=event.type,
                attempt=event.attempts,
                redelivery=redelivery,
                status=outcome.status,
                error=outcome.error,
                at=utc_now(),
            )
            session.add(row)
            if outcome.delivered:
                event.status = DELIVERED
                event.delivered_at = row.at
            append_event(
                session,
                system=event.system,
                action="webhook_sent",
                kind=event.record_kind,
                record_id=event.record_id,
                detail={
                    "event_id": event.id,
                    "type": event.type,
                    "attempt": row.attempt,
                    "redelivery": redelivery,
                    "status": outcome.status,
                    "error": outcome.error,
                },
            )
            session.flush()
            if not outcome.delivered:
                log.info("webhook %s attempt %d: %s", event.id, row.attempt, outcome.error)
            return delivery_view(row)

    def _give_up(self, event_id: str, tries: int) -> None:
        with self._store.transaction() as session:
            event = get_event(session, event_id)
            if event is None or event.status != PENDING:
                return
            event.status = FAILED
            append_event(
                session,
                system=event.system,
                action="webhook_failed",
                kind=event.record_kind,
                record_id=event.record_id,
                detail={"event_id": event.id, "type": event.type, "attempts": tries},
            )
