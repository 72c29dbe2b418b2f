"""Transactions over the sandbox database, shared by the admin API and every system."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import delete
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from sandbox.db import (
    EventRow,
    IdempotencyRow,
    RecordKeyRow,
    RecordRow,
    SequenceRow,
    create_tables,
    make_engine,
)


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

    def create_tables(self) -> None:
        create_tables(self.engine)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session committed on success and rolled back on any exception."""
        with self._lock, self._sessions.begin() as session:
            yield session

    def reset(self) -> None:
        """Drop every record, event, idempotency key and sequence; credentials stay."""
        with self.transaction() as session:
            for table in (RecordKeyRow, RecordRow, EventRow, IdempotencyRow, SequenceRow):
                session.execute(delete(table))

    def close(self) -> None:
        self.engine.dispose()
