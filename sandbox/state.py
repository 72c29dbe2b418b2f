"""What one running sandbox app holds: its store, its in-memory behaviour, its systems, its token.

In memory (a restart clears them): fault rules, rate-limit buckets and deliveries under way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import Request

from sandbox.delivery import WebhookDispatcher
from sandbox.faults import FaultBook
from sandbox.ratelimit import RateLimiter
from sandbox.store import Store

if TYPE_CHECKING:
    from sandbox.system import System


@dataclass(frozen=True)
class SandboxState:
    store: Store
    faults: FaultBook
    rate_limits: RateLimiter
    webhooks: WebhookDispatcher
    systems: Mapping[str, System]
    admin_token: str | None


def state_of(request: Request) -> SandboxState:
    state = request.app.state.sandbox
    assert isinstance(state, SandboxState)
    return state
