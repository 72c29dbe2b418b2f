"""Transactions over the sandbox database, shared by the admin API and every system."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from sandbox.db import (
    AccessTokenRow,
    EventRow,
    IdempotencyRow,
    RecordKeyRow,
    RecordRow,
    SequenceRow,
    SettingRow,
    WebhookDeliveryRow,
    WebhookEventRow,
    create_tables,
    make_engine,
)

# What ``reset`` forgets. Credentials and webhook targets stay: they are the configuration a
# running dev stack relies on, not data. (A caller holding an access token asks for a new one.)
_RESET_TABLES = (
    AccessTokenRow,
    RecordKeyRow,
    RecordRow,
    EventRow,
    IdempotencyRow,
    SequenceRow,
    SettingRow,
    WebhookDeliveryRow,
    WebhookEventRow,
)

CommitHook = Callable[[Mapping[str, Any]], None]


def utc_now() -> str:
    """The current time as ISO 8601 UTC with a ``Z`` suffix, the form every timestamp uses."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class Store:
    """The database behind the sandbox.

    Transactions are serialised inside the process: ids are sequential and an idempotency key
    is checked and stored in the same transaction as the record it created.
    """

    def __init__(self, database_url: str) -> None:
        self.engine = make_engine(database_url)
        self.display_url = make_url(database_url).render_as_string(hide_password=True)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._lock = threading.RLock()
        self._commit_hooks: list[CommitHook] = []

    def create_tables(self) -> None:
        create_tables(self.engine)

    def on_commit(self, hook: CommitHook) -> None:
        """Call ``hook(session.info)`` after each committed transaction whose info is not empty.

        Work inside a transaction leaves notes in ``session.info`` (e.g. webhook events to
        deliver); the hook acts on them only once they are durable.
        """
        self._commit_hooks.append(hook)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session committed on success and rolled back on any exception."""
        with self._lock:
            with self._sessions.begin() as session:
                yield session
            info = dict(session.info)
        if info:
            for hook in self._commit_hooks:
                hook(info)

    def reset(self) -> None:
        """Drop records, events, idempotency keys, sequences, settings, tokens, webhook events.

        Credentials and webhook targets stay.
        """
        with self.transaction() as session:
            for table in _RESET_TABLES:
                session.execute(delete(table))

    def close(self) -> None:
        self.engine.dispose()
