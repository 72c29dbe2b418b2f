"""``Idempotency-Key`` bookkeeping: remember the first answer to a create, replay it on retries.

A key is scoped to one system. Its fingerprint covers method, path and the JSON body
(key order and whitespace ignored), so the same key with another body is a 409
``IDEMPOTENCY_KEY_REUSED``. Only successful (2xx) answers are stored: a refused create
leaves the key unused, and a retry is judged afresh.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from sandbox.db import IdempotencyRow, RecordRow
from sandbox.store import utc_now

MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class Reply:
    """What a create answered, and the record it made (if any) for the ledger."""

    status_code: int
    body: dict[str, Any]
    record: RecordRow | None = None
    replayed: bool = field(default=False)

    def response(self) -> JSONResponse:
        headers = {"Idempotent-Replayed": "true"} if self.replayed else {}
        return JSONResponse(self.body, status_code=self.status_code, headers=headers)


def fingerprint(method: str, path: str, body: bytes) -> str:
    """A hash of the request that a retry must repeat exactly to be a replay."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"))
        content = canonical.encode()
    except ValueError:
        content = body
    digest = hashlib.sha256(f"{method} {path}\n".encode())
    digest.update(content)
    return digest.hexdigest()


def lookup(session: Session, system: str, key: str) -> IdempotencyRow | None:
    return session.get(IdempotencyRow, (system, key))


def remember(session: Session, system: str, key: str, fingerprint: str, reply: Reply) -> None:
    if not 200 <= reply.status_code < 300:
        return
    session.add(
        IdempotencyRow(
            system=system,
            key=key,
            fingerprint=fingerprint,
            status_code=reply.status_code,
            response=reply.body,
            record_kind=reply.record.kind if reply.record else None,
            record_id=reply.record.id if reply.record else None,
            created_at=utc_now(),
        )
    )
